"""``plm-recipes predict text-classification``: label names with scores for each text."""

from __future__ import annotations

import argparse

from ..cli import add_io_arguments, in_batches, positive_int, texts_from_args, write_jsonl


def predict(args: argparse.Namespace) -> None:
    from .predictor import TextClassifier

    texts = texts_from_args(args)
    classifier = TextClassifier(args.model, device=args.device, batch_size=args.batch_size)
    predictions = in_batches(lambda chunk: classifier.predict(chunk, top_k=args.top_k), texts, args.batch_size,
                             progress=not args.no_progress, what="classifying")
    if args.output:
        write_jsonl(args.output, [{"text": t, "predictions": p} for t, p in zip(texts, predictions)])
        return
    for text, labels in zip(texts, predictions):
        print(text + "\t" + ", ".join(f"{p['label']} {p['score']:.4f}" for p in labels))


def add_commands(commands: argparse._SubParsersAction, predict_tasks: argparse._SubParsersAction) -> None:
    p = predict_tasks.add_parser("text-classification", help="Label names with scores for each text.")
    add_io_arguments(p)
    p.add_argument("--top_k", type=positive_int, default=1, help="How many labels to show per text (default 1).")
    p.set_defaults(func=predict)
