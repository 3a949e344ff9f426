"""The ``plm-recipes`` command.

    plm-recipes predict text-classification --model outputs/text_classification --text "这个笔记本电脑运行很快"
    plm-recipes predict text-classification --model outputs/text_classification --file texts.txt --top_k 3

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plm-recipes", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    predict = commands.add_parser("predict", help="Predict with a trained model.")
    tasks = predict.add_subparsers(dest="task", required=True)
    p = tasks.add_parser("text-classification", help="Label names with scores for each text.")
    _add_io_arguments(p)
    p.add_argument("--top_k", type=int, default=1, help="How many labels to show per text (default 1).")
    p.set_defaults(func=predict_text_classification)
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
