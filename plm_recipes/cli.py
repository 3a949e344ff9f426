"""The ``plm-recipes`` command.

    plm-recipes predict text-classification --model outputs/text_classification --text "这个笔记本电脑运行很快"
    plm-recipes predict text-classification --model outputs/text_classification --file texts.txt --top_k 3
    plm-recipes predict matching --model outputs/matching_dssm --labels types_desc.txt --text "屏幕很清晰"
    plm-recipes embed --model outputs/matching_dssm --input texts.txt --output embeddings.npy

Training runs the recipes themselves (``python recipes/<name>.py`` or ``accelerate launch recipes/<name>.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .data import read_text_lines
from .errors import PlmRecipesError


def _texts(args: argparse.Namespace) -> list[str]:
    texts = list(args.text or [])
    if args.file:
        texts += read_text_lines(args.file)
    if not texts:
        raise PlmRecipesError("nothing to predict: pass --text TEXT (repeatable) or --file FILE (one text per line)")
    return texts


def _add_io_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="A saved model folder (a recipe's output_dir) or a hub id.")
    parser.add_argument("--text", action="append", help="A text to predict; repeat for several.")
    parser.add_argument("--file", help="A UTF-8 file with one text per line.")
    parser.add_argument("--output", help="Write JSON lines here instead of printing a table.")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: GPU when there is one).")


def _write_jsonl(path: str, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} predictions to {path}", file=sys.stderr)


def predict_text_classification(args: argparse.Namespace) -> None:
    from .inference import TextClassifier

    texts = _texts(args)
    classifier = TextClassifier(args.model, device=args.device, batch_size=args.batch_size)
    predictions = classifier.predict(texts, top_k=args.top_k)
    if args.output:
        _write_jsonl(args.output, [{"text": t, "predictions": p} for t, p in zip(texts, predictions)])
        return
    for text, labels in zip(texts, predictions):
        print(text + "\t" + ", ".join(f"{p['label']} {p['score']:.4f}" for p in labels))


def predict_matching(args: argparse.Namespace) -> None:
    from .data.matching import read_categories
    from .inference import Matcher

    texts = _texts(args)
    categories = read_categories(args.labels)
    matcher = Matcher.from_pretrained(args.model, device=args.device, batch_size=args.batch_size)
    ranked = matcher.rank(texts, categories, threshold=args.threshold, top_k=args.top_k)
    if args.output:
        _write_jsonl(args.output, [{"text": t, "matches": [{"label": n, "score": s} for n, s in r]}
                                   for t, r in zip(texts, ranked)])
        return
    for text, matches in zip(texts, ranked):
        print(f"{text}\t{matches}")


def embed(args: argparse.Namespace) -> None:
    import numpy as np

    from .inference import BiEncoderMatcher, Matcher

    texts = read_text_lines(args.input)
    matcher = Matcher.from_pretrained(args.model, device=args.device, batch_size=args.batch_size, use_cache=False)
    if not isinstance(matcher, BiEncoderMatcher):
        raise PlmRecipesError(f"{args.model} is a {matcher.kind}: it scores pairs and has no embeddings of its own; "
                              "use a bi-encoder (matching_dssm or matching_sentence_transformer)")
    embeddings = matcher.encode(texts) if args.normalize else matcher.model.encode(
        texts, batch_size=args.batch_size, convert_to_numpy=True, show_progress_bar=False)
    np.save(args.output, embeddings.astype(np.float32), allow_pickle=False)
    print(f"wrote {embeddings.shape[0]} x {embeddings.shape[1]} embeddings to {args.output}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plm-recipes", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    predict = commands.add_parser("predict", help="Predict with a trained model.")
    tasks = predict.add_subparsers(dest="task", required=True)
    p = tasks.add_parser("text-classification", help="Label names with scores for each text.")
    _add_io_arguments(p)
    p.add_argument("--top_k", type=int, default=1, help="How many labels to show per text (default 1).")
    p.set_defaults(func=predict_text_classification)

    p = tasks.add_parser("matching", help="Rank the categories of a description file for each text.")
    _add_io_arguments(p)
    p.add_argument("--labels", required=True,
                   help="Category file: id<TAB>name<TAB>description lines (e.g. types_desc.txt).")
    p.add_argument("--threshold", type=float, default=None,
                   help="Show categories scoring at least this (default: the model's, from matching_config.json).")
    p.add_argument("--top_k", type=int, default=None, help="Show at most this many categories per text.")
    p.set_defaults(func=predict_matching)

    p = commands.add_parser("embed", help="Embed texts with a bi-encoder and save them as a .npy matrix.")
    p.add_argument("--model", required=True, help="A bi-encoder folder (matching_dssm, matching_sentence_transformer).")
    p.add_argument("--input", required=True, help="A UTF-8 file with one text per line.")
    p.add_argument("--output", required=True, help="Where to write the (n_texts, dim) float32 .npy file.")
    p.add_argument("--normalize", action="store_true", help="L2-normalise the embeddings (dot product = cosine).")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--device", default=None)
    p.set_defaults(func=embed)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except PlmRecipesError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
