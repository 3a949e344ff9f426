"""Argument dataclasses shared by the recipes, and the parser that fills them.

Values come, lowest priority first, from: the dataclass defaults, the recipe's own defaults, a config file
(``--config recipe.yaml`` or ``.json``) and the command line. So ``--config x.yaml --learning_rate 1e-4`` runs
the config with another learning rate.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from transformers import HfArgumentParser

from .errors import ArgumentError

DEFAULT_MODEL = "bert-base-chinese"

# The training defaults every fine-tuning recipe starts from (each adds its output_dir, learning rate and
# metric_for_best_model): evaluate and save every epoch, keep the best checkpoint only.
TRAINING_DEFAULTS: dict[str, Any] = {
    "num_train_epochs": 3,
    "per_device_train_batch_size": 16,
    "per_device_eval_batch_size": 64,
    "warmup_steps": 0.1,  # a float below 1 is a ratio of the total steps
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "logging_steps": 10,
    "load_best_model_at_end": True,
    "save_total_limit": 1,
}


@dataclass
class ModelArguments:
    """Which model, config and tokenizer to start from."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": f"Pretrained model: a local folder or a Hugging Face Hub id (default: {DEFAULT_MODEL}). "
            "Leave it unset and pass --config_name to train from scratch."
        },
    )
    config_name: str | None = field(
        default=None,
        metadata={
            "help": "Config to train from scratch instead of a checkpoint: a folder, a config.json file, a hub id, "
            "or a model type such as 'bert' (tune it with --config_overrides)."
        },
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Override config values when training from scratch, e.g. 'hidden_size=128,num_hidden_layers=2'."},
    )
    tokenizer_name: str | None = field(
        default=None, metadata={"help": "Tokenizer folder or hub id, if not the same as the model's."}
    )
    train_tokenizer_vocab_size: int | None = field(
        default=None,
        metadata={
            "help": "Train a new WordPiece tokenizer of (at most) this size on the training texts. Only for "
            "training from scratch (the quick start); real use starts from a pretrained model and its tokenizer."
        },
    )
    freeze_word_embeddings: bool = field(
        default=False,
        metadata={
            "help": "Do not train the word embedding matrix. Multilingual models spend most parameters (and "
            "optimizer time) there; freezing it is much faster on CPU and rarely costs accuracy on small data."
        },
    )
    new_parameters_learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "Learning rate for the weights the checkpoint does not have (the new task head, and a pooler "
            "when the checkpoint has none, as multilingual-e5 does); default: --learning_rate."
        },
    )
    cache_dir: str | None = field(default=None, metadata={"help": "Where to store models downloaded from the hub."})
    model_revision: str = field(default="main", metadata={"help": "Branch, tag or commit of a hub model."})
    trust_remote_code: bool = field(
        default=False,
        metadata={"help": "Allow models that ship their own code on the hub. Only for repositories you trust."},
    )

    def __post_init__(self):
        if self.model_name_or_path is None and self.config_name is None:
            self.model_name_or_path = DEFAULT_MODEL
        if self.config_overrides and self.model_name_or_path is not None:
            raise ArgumentError("--config_overrides only applies when training from scratch (--config_name, "
                                "without --model_name_or_path)")
        if self.model_name_or_path is None and not (self.tokenizer_name or self.train_tokenizer_vocab_size):
            if not (self.config_name and os.path.isdir(self.config_name)):
                raise ArgumentError(
                    "training from scratch needs a tokenizer: pass --tokenizer_name or --train_tokenizer_vocab_size"
                )

    @property
    def from_scratch(self) -> bool:
        return self.model_name_or_path is None

    def hub_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for every ``from_pretrained`` call."""
        return {"cache_dir": self.cache_dir, "revision": self.model_revision, "trust_remote_code": self.trust_remote_code}


@dataclass
class DataArguments:
    """Data files and how to cut them."""

    train_file: str | None = field(default=None, metadata={"help": "Training data (.txt/.tsv, .csv, .json, .jsonl)."})
    validation_file: str | None = field(default=None, metadata={"help": "Evaluation data, same format."})
    test_file: str | None = field(
        default=None, metadata={"help": "Data to predict with --do_predict (labels optional), same format."}
    )
    max_seq_length: int = field(
        default=128, metadata={"help": "Longest input in tokens after tokenization; longer inputs are truncated."}
    )
    pad_to_max_length: bool = field(
        default=False,
        metadata={
            "help": "Pad every input to --max_seq_length. By default batches are padded to their own longest "
            "input (dynamic padding), which is faster."
        },
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Keep only the first N training examples (for quick runs)."}
    )
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep only the first N evaluation examples."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Keep only the first N test examples."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for tokenization."})

    def __post_init__(self):
        for name in ("train_file", "validation_file", "test_file"):
            path = getattr(self, name)
            if path is not None and not os.path.isfile(path):
                raise ArgumentError(f"--{name} {path}: file not found")


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Argument values from a YAML or JSON file (a flat mapping of argument name to value)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ArgumentError(f"--config {path}: file not found")
    with open(path, encoding="utf-8") as f:
        try:
            values = json.load(f) if path.endswith(".json") else yaml.safe_load(f)
        except (json.JSONDecodeError, yaml.YAMLError) as e:
            raise ArgumentError(f"--config {path}: cannot parse it: {e}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ArgumentError(f"--config {path}: expected a mapping of argument names to values")
    return values


def parse_args(
    dataclass_types: Sequence[type],
    args: Sequence[str] | None = None,
    *,
    defaults: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> tuple[Any, ...]:
    """Fill ``dataclass_types`` from recipe ``defaults``, an optional ``--config`` file and the command line.

    Args:
        dataclass_types: e.g. ``(ModelArguments, DataArguments, TrainingArguments)``.
        args: the command line (``sys.argv[1:]`` when ``None``).
        defaults: the recipe's own defaults for any field (e.g. ``{"eval_strategy": "epoch"}``).

    Returns:
        One instance per dataclass, in order.
    """
    parser = HfArgumentParser(dataclass_types, description=description)
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="YAML or JSON file of argument values; flags given on the command line override it.",
    )
    argv = list(sys.argv[1:] if args is None else args)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)

    values: dict[str, Any] = dict(defaults or {})
    source = {name: "recipe defaults" for name in values}
    if known.config:
        from_file = load_config_file(known.config)
        values.update(from_file)
        source.update({name: f"--config {known.config}" for name in from_file})

    actions = {a.dest: a for a in parser._actions if a.dest not in ("help", "config")}
    unknown = [name for name in values if name not in actions]
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, list(actions), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ArgumentError(f"{source[name]}: unknown argument {name!r}{hint}")
    for action in parser._actions:
        if action.dest in values:
            value = values[action.dest]
            # YAML reads 2e-5 as a string (YAML 1.1 wants 2.0e-5): convert the way the command line would.
            if isinstance(value, str) and action.type not in (None, str) and callable(action.type):
                value = action.type(value)
            action.default = value
            action.required = False
    outputs = parser.parse_args_into_dataclasses(args=argv)
    return tuple(outputs[: len(dataclass_types)])  # drop the namespace holding --config


@dataclass
class PairDataArguments(DataArguments):
    """Labelled pairs for the matching recipes: ``text_a<TAB>text_b<TAB>0/1`` lines, or csv/json columns."""

    text_a_column: str = field(default="text_a", metadata={"help": "First text's column in csv/json data."})
    text_b_column: str = field(default="text_b", metadata={"help": "Second text's column in csv/json data."})
    label_column: str = field(default="label", metadata={"help": "0/1 label column in csv/json data."})
    threshold: float | None = field(
        default=None,
        metadata={
            "help": "Score at or above which a pair is a match. Default: 0.5 for models trained towards 0/1 "
            "(pointwise, DSSM); for a model trained to rank (CoSENT), the best-F1 threshold on the training "
            "pairs, chosen after training. Saved with the model for prediction."
        },
    )

    categories_file: str | None = field(
        default=None,
        metadata={"help": "Category file (id<TAB>name<TAB>description) whose 'name：description' texts are the "
                          "text_a side of the pairs; needed by --negatives_per_positive."},
    )
    negatives_per_positive: int = field(
        default=0,
        metadata={"help": "Add this many negative training pairs per positive one: the same text with other "
                          "categories of --categories_file, drawn at random (assumes one category per text)."},
    )

    def __post_init__(self):
        super().__post_init__()
        if self.negatives_per_positive and not self.categories_file:
            raise ArgumentError("--negatives_per_positive needs --categories_file")

    def columns(self) -> dict[str, str]:
        return {"text_a": self.text_a_column, "text_b": self.text_b_column, "label": self.label_column}


def data_files(data_args: DataArguments, training_args: Any) -> dict[str, str]:
    """The files each requested stage reads: ``train`` (--do_train), ``validation`` (--do_eval, or evaluation
    during training), ``test`` (--do_predict). Raises when a stage lacks its file."""
    evaluates = training_args.do_eval or str(getattr(training_args.eval_strategy, "value", training_args.eval_strategy)) != "no"
    files = {
        "train": data_args.train_file if training_args.do_train else None,
        "validation": data_args.validation_file if training_args.do_eval or (training_args.do_train and evaluates) else None,
        "test": data_args.test_file if training_args.do_predict else None,
    }
    if not (training_args.do_train or training_args.do_eval or training_args.do_predict):
        raise ArgumentError("nothing to do: pass --do_train, --do_eval and/or --do_predict")
    for split, flag in (("train", "do_train"), ("test", "do_predict")):
        if getattr(training_args, flag) and files[split] is None:
            raise ArgumentError(f"--{flag} needs --{split}_file")
    if files["validation"] is None and (training_args.do_eval or (training_args.do_train and evaluates)):
        raise ArgumentError(
            "evaluation needs --validation_file (to train without it: --eval_strategy no --save_strategy epoch "
            "--load_best_model_at_end false)"
        )
    return {split: path for split, path in files.items() if path is not None}
