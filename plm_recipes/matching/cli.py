"""``plm-recipes predict matching`` (rank categories for texts) and ``plm-recipes embed`` (bi-encoder embeddings)."""

from __future__ import annotations

import argparse
import sys

from ..cli import add_io_arguments, positive_int, score_threshold, texts_from_args, write_jsonl
from ..data import read_text_lines
from ..errors import PlmRecipesError
from ..files import atomic_write


def predict(args: argparse.Namespace) -> None:
    from .data import read_categories
    from .predictor import Matcher

    texts = texts_from_args(args)
    categories = read_categories(args.labels)
    matcher = Matcher.from_pretrained(args.model, device=args.device, batch_size=args.batch_size)
    if args.threshold is not None and args.threshold < 0 and matcher.kind == "cross-encoder":
        raise PlmRecipesError(f"--threshold {args.threshold}: {args.model} is a cross-encoder, whose scores are match "
                              f"probabilities; give a threshold from 0 to 1")
    ranked = matcher.rank(texts, categories, threshold=args.threshold, top_k=args.top_k)
    if args.output:
        write_jsonl(args.output, [{"text": t, "matches": [{"label": n, "score": s} for n, s in r]}
                                  for t, r in zip(texts, ranked)])
        return
    for text, matches in zip(texts, ranked):
        print(f"{text}\t{matches}")


def embed(args: argparse.Namespace) -> None:
    import numpy as np

    from .predictor import BiEncoderMatcher, Matcher

    texts = read_text_lines(args.input)
    matcher = Matcher.from_pretrained(args.model, device=args.device, batch_size=args.batch_size, use_cache=False)
    if not isinstance(matcher, BiEncoderMatcher):
        raise PlmRecipesError(f"{args.model} is a {matcher.kind}: it scores pairs and has no embeddings of its own; "
                              "use a bi-encoder (matching_dssm or matching_sentence_transformer)")
    embeddings = matcher.encode(texts) if args.normalize else matcher.model.encode(
        texts, batch_size=args.batch_size, convert_to_numpy=True, show_progress_bar=False)
    with atomic_write(args.output, "wb") as f:  # exactly --output (np.save given a name would add .npy to it)
        np.save(f, embeddings.astype(np.float32), allow_pickle=False)
    print(f"wrote {embeddings.shape[0]} x {embeddings.shape[1]} embeddings to {args.output}", file=sys.stderr)


def add_commands(commands: argparse._SubParsersAction, predict_tasks: argparse._SubParsersAction) -> None:
    p = predict_tasks.add_parser("matching", help="Rank the categories of a description file for each text.")
    add_io_arguments(p)
    p.add_argument("--labels", required=True,
                   help="Category file: id<TAB>name<TAB>description lines (e.g. types_desc.txt).")
    p.add_argument("--threshold", type=score_threshold, default=None,
                   help="Show categories scoring at least this (default: the model's, from matching_config.json).")
    p.add_argument("--top_k", type=positive_int, default=None, help="Show at most this many categories per text.")
    p.set_defaults(func=predict)

    p = commands.add_parser("embed", help="Embed texts with a bi-encoder and save them as a .npy matrix.")
    p.add_argument("--model", required=True, help="A bi-encoder folder (matching_dssm, matching_sentence_transformer).")
    p.add_argument("--input", required=True, help="A UTF-8 file with one text per line.")
    p.add_argument("--output", required=True, help="Where to write the (n_texts, dim) float32 .npy file.")
    p.add_argument("--normalize", action="store_true", help="L2-normalise the embeddings (dot product = cosine).")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--device", default=None)
    p.set_defaults(func=embed)
