"""``plm-recipes predict similarity``: the cosine similarity of text pairs with a sentence encoder."""

from __future__ import annotations

import argparse

from ..cli import write_jsonl
from ..data.pairs import PAIR_FIELDS
from ..data.readers import read_records
from ..errors import PlmRecipesError


def pairs_from_args(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """The pairs of ``--a``/``--b`` (repeatable, matched in order) and ``--file`` (``text_a<TAB>text_b`` lines, a
    label after them is ignored; csv/json with ``text_a``/``text_b`` columns)."""
    a, b = list(args.a or []), list(args.b or [])
    if len(a) != len(b):
        raise PlmRecipesError(f"--a and --b pair up in order: got {len(a)} --a and {len(b)} --b")
    if args.file:
        for record in read_records(args.file, PAIR_FIELDS, optional=("label",)):
            a.append(record["text_a"])
            b.append(record["text_b"])
    if not a:
        raise PlmRecipesError("nothing to score: pass --a TEXT --b TEXT (repeatable) or --file PAIRS")
    return a, b


def predict(args: argparse.Namespace) -> None:
    from .predictor import SentenceSimilarity

    text_a, text_b = pairs_from_args(args)
    scorer = SentenceSimilarity(args.model, device=args.device, batch_size=args.batch_size)
    threshold = scorer.threshold if args.threshold is None else args.threshold
    scores = scorer.similarity(text_a, text_b)
    rows = [{"text_a": a, "text_b": b, "score": round(float(s), 4),
             **({"match": bool(s >= threshold)} if threshold is not None else {})}
            for a, b, s in zip(text_a, text_b, scores)]
    if args.output:
        write_jsonl(args.output, rows)
        return
    for row in rows:
        decision = "" if threshold is None else ("match\t" if row["match"] else "no match\t")
        print(f"{row['score']:.4f}\t{decision}{row['text_a']}\t{row['text_b']}")


def add_commands(commands: argparse._SubParsersAction, predict_tasks: argparse._SubParsersAction) -> None:
    from ..cli import score_threshold

    p = predict_tasks.add_parser("similarity", help="Cosine similarity of text pairs with a sentence encoder.")
    p.add_argument("--model", required=True, help="A sentence-transformers folder (simcse, matching_dssm, ...).")
    p.add_argument("--a", action="append", help="First text of a pair; repeat --a/--b for several pairs.")
    p.add_argument("--b", action="append", help="Second text of a pair.")
    p.add_argument("--file", help="Pairs: text_a<TAB>text_b lines (a third label field is ignored), or csv/json.")
    p.add_argument("--threshold", type=score_threshold, default=None,
                   help="Say match at or above this cosine (default: the model's, from matching_config.json).")
    p.add_argument("--output", help="Write JSON lines here instead of printing.")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: GPU when there is one).")
    p.set_defaults(func=predict)
