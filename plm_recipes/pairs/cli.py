"""The commands of a saved sentence encoder: ``plm-recipes predict similarity`` (the cosine similarity of text pairs,
and match decisions at the model's threshold) and ``plm-recipes embed`` (embeddings as a ``.npy`` matrix)."""

from __future__ import annotations

import argparse
import sys

from ..cli import add_progress_argument, in_batches, positive_int, score_threshold, write_jsonl
from ..data import read_text_lines
from ..data.readers import read_records
from ..errors import PlmRecipesError
from ..files import atomic_write
from .data import PAIR_FIELDS


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
    from .encoder import SentenceEncoder

    text_a, text_b = pairs_from_args(args)
    scorer = SentenceEncoder(args.model, device=args.device, batch_size=args.batch_size)
    threshold = scorer.threshold if args.threshold is None else args.threshold
    scores = in_batches(lambda chunk: scorer.similarity([a for a, _ in chunk], [b for _, b in chunk]),
                        list(zip(text_a, text_b)), args.batch_size, progress=not args.no_progress,
                        what="scoring pairs")
    rows = [{"text_a": a, "text_b": b, "score": round(float(s), 4),
             **({"match": bool(s >= threshold)} if threshold is not None else {})}
            for a, b, s in zip(text_a, text_b, scores)]
    if args.output:
        write_jsonl(args.output, rows)
        return
    for row in rows:
        decision = "" if threshold is None else ("match\t" if row["match"] else "no match\t")
        print(f"{row['score']:.4f}\t{decision}{row['text_a']}\t{row['text_b']}")


def embed(args: argparse.Namespace) -> None:
    import numpy as np

    from .encoder import SentenceEncoder

    texts = read_text_lines(args.input)
    encoder = SentenceEncoder(args.model, device=args.device, batch_size=args.batch_size)
    embeddings = np.stack(in_batches(lambda chunk: encoder.embed(chunk, normalize=args.normalize), texts,
                                     args.batch_size, progress=not args.no_progress, what="embedding"))
    with atomic_write(args.output, "wb") as f:  # exactly --output (np.save given a name would add .npy to it)
        np.save(f, embeddings.astype(np.float32), allow_pickle=False)
    print(f"wrote {embeddings.shape[0]} x {embeddings.shape[1]} embeddings to {args.output}", file=sys.stderr)


def add_commands(commands: argparse._SubParsersAction, predict_tasks: argparse._SubParsersAction) -> None:
    p = predict_tasks.add_parser("similarity", help="Cosine similarity of text pairs with a sentence encoder.")
    p.add_argument("--model", required=True, help="A sentence-transformers folder (simcse, matching_dssm, ...).")
    p.add_argument("--a", action="append", help="First text of a pair; repeat --a/--b for several pairs.")
    p.add_argument("--b", action="append", help="Second text of a pair.")
    p.add_argument("--file", help="Pairs: text_a<TAB>text_b lines (a third label field is ignored), or csv/json.")
    p.add_argument("--threshold", type=score_threshold, default=None,
                   help="Say match at or above this cosine (default: the model's, from matching_config.json).")
    p.add_argument("--output", help="Write JSON lines here instead of printing.")
    p.add_argument("--batch_size", type=positive_int, default=32)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: GPU when there is one).")
    add_progress_argument(p)
    p.set_defaults(func=predict)

    p = commands.add_parser("embed", help="Embed texts with a sentence encoder and save them as a .npy matrix.")
    p.add_argument("--model", required=True,
                   help="A sentence-transformers folder (simcse, matching_dssm, matching_sentence_transformer).")
    p.add_argument("--input", required=True, help="A UTF-8 file with one text per line.")
    p.add_argument("--output", required=True, help="Where to write the (n_texts, dim) float32 .npy file.")
    p.add_argument("--normalize", action="store_true", help="L2-normalise the embeddings (dot product = cosine).")
    p.add_argument("--batch_size", type=positive_int, default=32)
    p.add_argument("--device", default=None)
    add_progress_argument(p)
    p.set_defaults(func=embed)
