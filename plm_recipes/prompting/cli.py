"""``plm-recipes predict pet`` (also ``p-tuning``): the label of each text from a saved prompt model."""

from __future__ import annotations

import argparse

from ..cli import add_io_arguments, in_batches, texts_from_args, write_jsonl


def predict(args: argparse.Namespace) -> None:
    from .predictor import PromptClassifier

    texts = texts_from_args(args)
    classifier = PromptClassifier(args.model, device=args.device, batch_size=args.batch_size)
    predictions = in_batches(classifier.predict, texts, args.batch_size, progress=not args.no_progress,
                             what="classifying")
    if args.output:
        write_jsonl(args.output, [{"text": t, **p} for t, p in zip(texts, predictions)])
        return
    for text, prediction in zip(texts, predictions):
        print(f"{text}\t{prediction['label']} {prediction['score']:.4f}")


def add_commands(commands: argparse._SubParsersAction, predict_tasks: argparse._SubParsersAction) -> None:
    for name in ("pet", "p-tuning"):
        p = predict_tasks.add_parser(name, help="The label of each text, from a PET / p-tuning model.")
        add_io_arguments(p)
        p.set_defaults(func=predict)
