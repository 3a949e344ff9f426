"""``plm-recipes predict uie`` (extraction by schema), ``plm-recipes uie convert`` (doccano export -> UIE data) and
``plm-recipes uie convert-paddle`` (PaddleNLP UIE checkpoint -> a model folder)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..cli import add_io_arguments, in_batches, texts_from_args, write_jsonl
from ..files import refuse_output_is_input


def predict(args: argparse.Namespace) -> None:
    from .predictor import UIEPredictor
    from .schema import parse_schema

    schema = parse_schema(args.schema)  # before loading the model: a typo costs nothing
    texts = texts_from_args(args)
    uie = UIEPredictor(args.model, schema=schema, threshold=args.threshold, batch_size=args.batch_size,
                       device=args.device)
    results = in_batches(uie, texts, args.batch_size, progress=not args.no_progress, what="extracting")
    if args.output:
        write_jsonl(args.output, [{"text": t, "result": r} for t, r in zip(texts, results)])
        return
    for text, result in zip(texts, results):
        print(text)
        print(json.dumps(result, ensure_ascii=False, indent=2))


def convert(args: argparse.Namespace) -> None:
    from .doccano import SPLIT_NAMES, convert_doccano, read_doccano, write_splits

    for name in SPLIT_NAMES:
        refuse_output_is_input(os.path.join(args.output_dir, f"{name}.txt"), {"--doccano_file": args.doccano_file},
                               output_flag="--output_dir")
    texts = read_doccano(args.doccano_file)
    converted = convert_doccano(texts, splits=args.splits, negative_ratio=args.negative_ratio,
                                relation_template=args.relation_template, seed=args.seed, shuffle=not args.no_shuffle)
    paths = write_splits(converted, args.output_dir, overwrite=args.overwrite)
    for name, path in paths.items():
        examples = converted[name]
        negatives = sum(not e["result_list"] for e in examples)
        print(f"{path}: {len(examples)} examples ({negatives} negative)", file=sys.stderr)


def convert_paddle(args: argparse.Namespace) -> None:
    from .convert import convert_paddle_checkpoint

    convert_paddle_checkpoint(args.paddle_dir, args.output_dir)
    print(f"wrote a UIE model to {args.output_dir} (plm-recipes predict uie --model {args.output_dir} ...)",
          file=sys.stderr)


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a probability between 0 and 1, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a probability between 0 and 1, got {value}")
    return value


def add_commands(commands: argparse._SubParsersAction, predict_tasks: argparse._SubParsersAction) -> None:
    from .schema import DEFAULT_RELATION_TEMPLATE

    p = predict_tasks.add_parser("uie", help="Extract entities and relations by schema (recipes/uie.py models).")
    add_io_arguments(p)
    p.add_argument("--schema", required=True,
                   help="What to extract: JSON or a Python literal, e.g. '[\"人物\", \"地点\"]' or "
                        "'{\"人物\": [\"父亲\"]}', or names separated by commas.")
    p.add_argument("--threshold", type=_threshold, default=None,
                   help="Span probability threshold (default: the model's, 0.5).")
    p.set_defaults(func=predict)

    uie = commands.add_parser("uie", help="UIE data and checkpoints.")
    tasks = uie.add_subparsers(dest="uie_command", required=True)
    c = tasks.add_parser("convert", help="doccano relation export (JSON lines) -> UIE train/dev/test files.")
    c.add_argument("--doccano_file", required=True, help="doccano export: {text, entities, relations} per line.")
    c.add_argument("--output_dir", required=True, help="Where train.txt, dev.txt and test.txt go.")
    c.add_argument("--splits", type=float, nargs=3, default=[0.8, 0.1, 0.1], metavar=("TRAIN", "DEV", "TEST"),
                   help="Fractions of the texts per split (default 0.8 0.1 0.1).")
    c.add_argument("--negative_ratio", type=int, default=5,
                   help="Negative examples per positive one in training data (-1: all); dev/test keep all.")
    c.add_argument("--relation_template", default=DEFAULT_RELATION_TEMPLATE,
                   help="Relation prompt from {subject} and {relation} (default: '{subject}的{relation}').")
    c.add_argument("--seed", type=int, default=1000)
    c.add_argument("--no_shuffle", action="store_true", help="Split the texts in file order.")
    c.add_argument("--overwrite", action="store_true", help="Replace train/dev/test files already in --output_dir.")
    c.set_defaults(func=convert, output=None)

    k = tasks.add_parser("convert-paddle", help="PaddleNLP UIE checkpoint folder -> a model folder for this package.")
    k.add_argument("--paddle_dir", required=True,
                   help="Folder with model_state.pdparams, model_config.json (or config.json) and vocab.txt.")
    k.add_argument("--output_dir", required=True)
    k.set_defaults(func=convert_paddle, output=None)
