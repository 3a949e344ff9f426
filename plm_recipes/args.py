"""Argument dataclasses shared by the recipes, the parser that fills them, and the record a run leaves.

Values come, lowest priority first, from: the dataclass defaults, the recipe's own defaults, a config file
(``--config recipe.yaml`` or ``.json``) and the command line. So ``--config x.yaml --learning_rate 1e-4`` runs
the config with another learning rate.

A recipe's own training settings are fields of a ``TrainingArguments`` subclass (TRL's pattern: ``RewardConfig``,
``PPOConfig``), built from :class:`RecipeSettings`; everything a run was given is written to its output folder
as ``run_config.yaml`` (:class:`RunConfig`), which ``--config`` reads back to rerun it.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from enum import Enum
from typing import Any

import torch
import yaml
from transformers import HfArgumentParser, TrainingArguments
from transformers.hf_argparser import string_to_bool

from .errors import ArgumentError

DEFAULT_MODEL = "bert-base-chinese"

RUN_CONFIG_NAME = "run_config.yaml"

# The training defaults every fine-tuning recipe starts from (each adds its output_dir, learning rate and
# metric_for_best_model): evaluate and save every epoch and keep the best checkpoint only. Batches are drawn at
# random: grouping them by length pads less but cost text classification quality over a full run
# (bench/defaults.py); the recipes whose loss allows it pad less by splitting each batch instead
# (``micro_batches_by_length``).
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


def trl_cpu_defaults(argv: Sequence[str] | None) -> dict[str, Any]:
    """Defaults for a TRL trainer's config (``SFTConfig``, ``RLOOConfig``, ``PPOConfig``) when training runs on a
    CPU (no GPU, or ``--use_cpu``): TRL turns on ``bf16`` (autocast to bfloat16) and ``gradient_checkpointing``.
    On a CPU without bfloat16 instructions the autocast's matrix products fall back to PyTorch's generic,
    single-threaded kernel (on these 2-core machines a LoRA SFT step of qwen2.5-0.5b took minutes and the first
    RLOO step of gemma-3-270m did not finish in 25 minutes), and checkpointing recomputes activations to save
    accelerator memory; both are turned off. A flag on the command line or in ``--config`` still wins."""
    if torch.cuda.is_available() and "--use_cpu" not in (argv if argv is not None else sys.argv[1:]):
        return {}
    return {"bf16": False, "gradient_checkpointing": False}


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


@dataclass
class RecipeSettings:
    """Training settings the recipes add to a ``TrainingArguments`` class.

    Mix it into a recipe's config, ``@dataclass class MyConfig(RecipeSettings, TrainingArguments)`` (or TRL's
    ``RewardConfig``, ``Seq2SeqTrainingArguments``, ...), so that the settings are saved with the run like every
    other training argument. :class:`~plm_recipes.trainer.RecipeTrainerMixin` reads them.
    """

    freeze_word_embeddings: bool | None = field(
        default=False,
        metadata={
            "help": "Do not train the input word embedding matrix (a speed setting: multilingual encoders keep most "
            "of their parameters there, 96M of multilingual-e5-small's 117M, and their update is much of a CPU "
            "step; it cost text classification dev macro F1 over a 6-epoch run in bench/defaults.py). false (the "
            "default): they train. null: frozen when fine-tuning a pretrained checkpoint whose word embeddings are "
            "not tied to an output layer, trained when they are new or tied (the default of earlier versions, so "
            "that their run_config.yaml reruns as it ran)."
        },
    )
    micro_batches_by_length: int | None = field(
        default=None,
        metadata={
            "help": "Run each training batch as up to N pieces of texts of similar length, each padded to its own "
            "longest text, and add up their gradients (each piece's loss weighted by its share of the rows): the "
            "same batches and the same gradient as whole batches, with less padding (plm_recipes.batching). For "
            "recipes whose loss is a mean over independent rows (text classification, pointwise matching without "
            "the listwise loss); others train on whole batches. Unset (the default): 4 when training in one process "
            "on a CPU, where padding is paid in full, 1 (off) on GPUs, whose small batches cost little more padded. "
            "Unlike --train_sampling_strategy group_by_length it does not change which texts are trained together."
        },
    )
    freeze_layers: int = field(
        default=0,
        metadata={
            "help": "Do not train the embeddings and the first N transformer layers (counted from the input; an "
            "encoder-decoder's two stacks alike): the layers above, any head, weights the checkpoint does not have "
            "and word embeddings tied to an output layer train. 0 (the default): every layer trains. For a model "
            "whose lower layers already know what the task needs (bench/simcse.py: SimCSE on multilingual-e5-small "
            "with 8 of its 12 layers frozen)."
        },
    )
    new_parameters_learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "Learning rate for the weights the checkpoint does not have (the new task head, and a pooler "
            "when the checkpoint has none, as multilingual-e5 does); default: --learning_rate."
        },
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Train into an --output_dir that holds another run, replacing it. Without it such a folder is "
            "refused (--resume_from_checkpoint continues the run there instead)."
        },
    )
    license: str | None = field(
        default=None,
        metadata={"help": "The model's license, as a Hub license id (apache-2.0, mit, cc-by-4.0, other, ...), written "
                  "into its model card; check the base model's and the data's licenses."},
    )

    def __post_init__(self):
        self.freeze_layers = self.freeze_layers or 0  # `freeze_layers: null` in a config file
        if self.freeze_layers < 0:
            raise ArgumentError(f"--freeze_layers must be 0 or more, found {self.freeze_layers}")
        output_dir = getattr(self, "output_dir", None)  # said before any model loads, not when the run saves
        if output_dir and os.path.exists(output_dir) and not os.path.isdir(output_dir):
            raise ArgumentError(f"--output_dir {output_dir} is a file; give a folder (it is made when missing)")
        if self.micro_batches_by_length is not None and self.micro_batches_by_length < 1:
            raise ArgumentError(f"--micro_batches_by_length must be 1 (off) or more, found {self.micro_batches_by_length}")
        if hasattr(super(), "__post_init__"):  # the TrainingArguments class this is mixed into
            super().__post_init__()


@dataclass
class RecipeTrainingArguments(RecipeSettings, TrainingArguments):
    """``transformers.TrainingArguments`` with :class:`RecipeSettings`: the config of a recipe that trains with
    :class:`~plm_recipes.trainer.RecipeTrainer`. A recipe with settings of its own subclasses it."""


# Training arguments that say where a run's files go: not part of what made the model, and left out of the model
# card's settings (secrets, the *_token arguments, are never written at all).
_LOCATION_KEYS = {"output_dir", "logging_dir", "run_name", "hub_model_id", "resume_from_checkpoint",
                  "overwrite_output_dir"}


def _plain(value: Any) -> Any:
    """``value`` as YAML can write it (enums by value, tuples as lists)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _argument_values(arguments: Any) -> dict[str, Any]:
    if isinstance(arguments, TrainingArguments):
        values = arguments.to_dict()  # transformers' own serialisation: enums by value, tokens masked
    else:
        values = {f.name: getattr(arguments, f.name) for f in fields(arguments) if f.init}
    return {k: _plain(v) for k, v in values.items() if not k.endswith("_token")}


def _argument_defaults(arguments: Any) -> dict[str, Any]:
    """Each field's declared default. (Not an instance built with no arguments: building a ``TrainingArguments``
    sets up the process's accelerator state, which would undo a distributed launch.)"""
    declared = {}
    for f in fields(arguments):
        if f.init and f.default is not MISSING:
            declared[f.name] = _plain(f.default)
        elif f.init and f.default_factory is not MISSING:
            declared[f.name] = _plain(f.default_factory())
    return declared


@dataclass
class RunConfig:
    """Everything a run was given: every argument of every dataclass the recipe parsed, by name.

    Saved as ``run_config.yaml`` in the output folder (and in each checkpoint) by
    :class:`~plm_recipes.trainer.RecipeTrainerMixin`; ``--config <output_dir>/run_config.yaml`` reruns the run.
    The settings that differ from their defaults go into the model card.

    Attributes:
        recipe: the recipe's name (``recipes/<recipe>.py``).
        sections: dataclass name -> {argument: value}, in the order the recipe parsed them.
        defaults: argument -> its default.
        own: the settings the recipe's config adds to its trainer's arguments (``listwise_weight``, ...).
    """

    recipe: str
    sections: dict[str, dict[str, Any]]
    defaults: dict[str, Any]
    own: list[str] = field(default_factory=list)

    @classmethod
    def from_arguments(cls, recipe: str, *arguments: Any) -> RunConfig:
        """The record of the parsed argument dataclasses ``arguments`` (as returned by :func:`parse_args`)."""
        sections, defaults, own = {}, {}, []
        for instance in arguments:
            if not is_dataclass(instance):
                raise TypeError(f"expected argument dataclasses, got {type(instance).__name__}")
            values = _argument_values(instance)
            if isinstance(instance, TrainingArguments):  # the recipe's own settings first, then the trainer's
                base = _library_fields(type(instance))
                own += [k for k in values if k not in base]
                values = {**{k: v for k, v in values.items() if k not in base},
                          **{k: v for k, v in values.items() if k in base}}
            sections[type(instance).__name__] = values
            defaults.update(_argument_defaults(instance))
        return cls(recipe=recipe, sections=sections, defaults=defaults, own=own)

    @property
    def values(self) -> dict[str, Any]:
        """All arguments in one flat mapping, as ``--config`` reads them."""
        return {k: v for section in self.sections.values() for k, v in section.items()}

    def changed(self) -> dict[str, Any]:
        """The settings that differ from their defaults, without output locations."""
        return {k: v for k, v in self.values.items()
                if k not in _LOCATION_KEYS and not _same_setting(v, self.defaults.get(k, MISSING))}

    def card_settings(self) -> dict[str, Any]:
        """What the model card lists: the recipe's own settings (also at their defaults) and every other setting
        that differs from its default."""
        own = {k: self.values[k] for k in self.own if self.values.get(k) is not None and k not in _LOCATION_KEYS}
        return {**own, **self.changed()}

    def to_yaml(self) -> str:
        from . import __version__

        versions = _library_versions()
        lines = [
            f"# The full configuration of a run of recipes/{self.recipe}.py (plm-recipes {__version__}).",
            f"# Rerun it: python recipes/{self.recipe}.py --config {RUN_CONFIG_NAME} [--flag value ...]",
            "# Libraries: " + ", ".join(f"{name} {version}" for name, version in versions.items()),
            "# Lines marked '# default: ...' are the settings this run changed.",
        ]
        changed = self.changed()
        for section, values in self.sections.items():
            lines += ["", f"# --- {section}"]
            for key, value in values.items():
                line = yaml.safe_dump({key: value}, allow_unicode=True, default_flow_style=True, width=10_000,
                                      sort_keys=False).strip().removeprefix("{").removesuffix("}")
                if key in changed and key in self.defaults:
                    line += f"  # default: {json.dumps(self.defaults[key], ensure_ascii=False)}"
                lines.append(line)
        return "\n".join(lines) + "\n"

    def save(self, directory: str | os.PathLike) -> str:
        """Write ``run_config.yaml`` into ``directory``; returns its path."""
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, RUN_CONFIG_NAME)
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_yaml())
        return path


def _library_fields(cls: type) -> set[str]:
    """The fields of the first class in ``cls``'s bases that comes from a library (transformers,
    sentence-transformers, TRL): what the recipe's config did not add."""
    for base in cls.__mro__:
        if base.__module__.split(".")[0] in ("transformers", "sentence_transformers", "trl"):
            return {f.name for f in fields(base)}
    return {f.name for f in fields(TrainingArguments)}


def _same_setting(value: Any, default: Any) -> bool:
    """Whether ``value`` is ``default`` as ``TrainingArguments.__post_init__`` normalises it: ``None`` becomes
    ``False`` or ``[]``, ``report_to="none"`` becomes ``[]``, ``accelerator_config=None`` its defaults."""
    if default is MISSING:
        return False
    if value == default:
        return True
    empty = (None, False, "", "none", (), [], {})
    if any(value == e and type(value) is type(e) for e in empty) and any(
            default == e and type(default) is type(e) for e in empty):
        return True
    if isinstance(value, dict) and default is None:  # accelerator_config: None means its defaults
        from transformers.trainer_pt_utils import AcceleratorConfig

        defaults = _plain(AcceleratorConfig().to_dict())
        return all(defaults.get(k) == v for k, v in value.items())
    return False


def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "accelerate", "datasets", "sentence-transformers", "trl", "peft"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


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
    for action in parser._actions:
        # HfArgumentParser makes a ``bool | None = None`` field take a value; let ``--flag`` alone mean true, as
        # for a plain bool (``--flag`` / ``--flag false``; unset stays None)
        if action.type is string_to_bool and action.nargs is None and action.default is None:
            action.nargs, action.const = "?", True
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="YAML or JSON file of argument values; flags given on the command line override it.",
    )
    argv = list(sys.argv[1:] if args is None else args)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    pre.add_argument("--do_train", nargs="?", const="true")
    for name in _TRAINING_ONLY_DEFAULTS:
        pre.add_argument(f"--{name}")
    known, _ = pre.parse_known_args(argv)

    values: dict[str, Any] = dict(defaults or {})
    source = {name: "recipe defaults" for name in values}
    if known.config:
        from_file = load_config_file(known.config)
        values.update(from_file)
        source.update({name: f"--config {known.config}" for name in from_file})

    # A flag on the command line replaces the alternative to it that the defaults or the config file set
    # (--template over a config's template_file): a dataclass names them in ``command_line_replaces``.
    given = {arg[2:].split("=", 1)[0] for arg in argv if arg.startswith("--")}
    for dataclass_type in dataclass_types:
        for name, other in getattr(dataclass_type, "command_line_replaces", {}).items():
            if name in given and other not in given:
                values.pop(other, None)

    # A run that does not train (--do_eval / --do_predict with a trained model) has no evaluations or checkpoints
    # during training: the recipe defaults for them would make TrainingArguments turn --do_eval on and ask for
    # --validation_file. Settings the user gave are kept.
    trains = string_to_bool(known.do_train) if known.do_train is not None else bool(values.get("do_train"))
    if not trains:
        for name, value in _TRAINING_ONLY_DEFAULTS.items():
            if source.get(name) == "recipe defaults" and getattr(known, name) is None:
                values[name] = value

    actions = {a.dest: a for a in parser._actions if a.dest not in ("help", "config")}
    unknown = [name for name in values if name not in actions]
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, list(actions), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ArgumentError(f"{source[name]}: unknown argument {name!r}{hint}")
    for action in parser._actions:
        if action.dest in values:
            action.default = _file_value(action, values[action.dest], source[action.dest])
            action.required = False
    try:
        outputs = parser.parse_args_into_dataclasses(args=argv)
    except ArgumentError:
        raise
    except (ValueError, TypeError) as e:  # a dataclass refusing a combination (TrainingArguments' own checks)
        raise ArgumentError(" ".join(str(e).split())) from e
    return tuple(outputs[: len(dataclass_types)])  # drop the namespace holding --config


# What the recipe defaults for evaluation and checkpoints during training become in a run that does not train.
_TRAINING_ONLY_DEFAULTS = {"eval_strategy": "no", "save_strategy": "no", "load_best_model_at_end": False}

_EXPECTED = {int: "a whole number", float: "a number", string_to_bool: "true or false"}


def _file_value(action: argparse.Action, value: Any, source: str) -> Any:
    """A value from the recipe defaults or a config file, converted and checked as the command line would do it:
    YAML reads 2e-5 as a string (YAML 1.1 wants 2.0e-5), and ``num_train_epochs: three`` must be refused here, in
    one line naming the file and the setting, not with a traceback from deep inside the trainer."""
    if value is None:
        return None
    if isinstance(value, list) and action.nargs in ("+", "*"):
        return [_file_value(action, item, source) for item in value]
    expected = action.type
    try:
        if isinstance(value, str) and callable(expected) and expected is not str:
            value = expected(value)
        elif expected is int and (isinstance(value, bool) or not isinstance(value, int)):
            if not (isinstance(value, float) and value.is_integer()):
                raise ValueError
            value = int(value)
        elif expected is float and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError
        elif expected is string_to_bool and not isinstance(value, bool):
            raise ValueError
    except (ValueError, TypeError, argparse.ArgumentTypeError):
        what = _EXPECTED.get(expected, "a valid value")
        raise ArgumentError(f"{source}: {action.dest}: expected {what}, found {value!r}") from None
    if action.choices is not None and value not in action.choices:
        raise ArgumentError(f"{source}: {action.dest}: {value!r} is not one of: "
                            f"{', '.join(map(str, action.choices))}")
    return value


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
