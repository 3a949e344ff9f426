"""The parser that fills the recipes' argument dataclasses.

Values come, lowest priority first, from: the dataclass defaults, the recipe's own defaults, a config file
(``--config recipe.yaml`` or ``.json``, a run's ``run_config.yaml`` included) and the command line. So
``--config x.yaml --learning_rate 1e-4`` runs the config with another learning rate. YAML values are converted and
checked as the command line would do it, with the file and the key named; an unknown key is answered with the
closest argument names.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from transformers import HfArgumentParser, TrainingArguments
from transformers.hf_argparser import string_to_bool

from .devices import launch_defaults
from .errors import ArgumentError


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
    if any(isinstance(t, type) and issubclass(t, TrainingArguments) for t in dataclass_types):
        values = {**launch_defaults(), **values}  # a distributed launch on a CPU: use_cpu (gloo)
    source = {name: "recipe defaults" for name in values}
    if known.config:
        from_file = load_config_file(known.config)
        values.update(from_file)
        source.update({name: f"--config {known.config}" for name in from_file})

    # A flag on the command line replaces the alternative to it that the defaults or the config file set
    # (--template over a config's template_file, --dataset_name over its data files): a dataclass names them in
    # ``command_line_replaces`` (a name, or a tuple of names).
    given = {arg[2:].split("=", 1)[0] for arg in argv if arg.startswith("--")}
    for dataclass_type in dataclass_types:
        for name, others in getattr(dataclass_type, "command_line_replaces", {}).items():
            for other in (others,) if isinstance(others, str) else others:
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
