"""``plm-recipes predict matching``: rank the categories of a description file for texts."""

from __future__ import annotations

import argparse

from ..cli import add_io_arguments, in_batches, positive_int, score_threshold, texts_from_args, write_jsonl
from ..errors import PlmRecipesError


def predict(args: argparse.Namespace) -> None:
    from .data import read_categories
    from .predictor import Matcher

    texts = texts_from_args(args)
    categories = read_categories(args.labels)
    matcher = Matcher.from_pretrained(args.model, device=args.device, batch_size=args.batch_size)
    if args.threshold is not None and args.threshold < 0 and matcher.kind == "cross-encoder":
        raise PlmRecipesError(f"--threshold {args.threshold}: {args.model} is a cross-encoder, whose scores are match "
                              f"probabilities; give a threshold from 0 to 1")
    ranked = in_batches(lambda chunk: matcher.rank(chunk, categories, threshold=args.threshold, top_k=args.top_k),
                        texts, args.batch_size, progress=not args.no_progress, what="matching")
    if args.output:
        write_jsonl(args.output, [{"text": t, "matches": [{"label": n, "score": s} for n, s in r]}
                                  for t, r in zip(texts, ranked)])
        return
    for text, matches in zip(texts, ranked):
        print(f"{text}\t{matches}")


def add_commands(commands: argparse._SubParsersAction, predict_tasks: argparse._SubParsersAction) -> None:
    p = predict_tasks.add_parser("matching", help="Rank the categories of a description file for each text.")
    add_io_arguments(p)
    p.add_argument("--labels", required=True,
                   help="Category file: id<TAB>name<TAB>description lines (e.g. types_desc.txt).")
    p.add_argument("--threshold", type=score_threshold, default=None,
                   help="Show categories scoring at least this (default: the model's, from matching_config.json).")
    p.add_argument("--top_k", type=positive_int, default=None, help="Show at most this many categories per text.")
    p.set_defaults(func=predict)

