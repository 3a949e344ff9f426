"""The record a run leaves: ``run_config.yaml``, every argument the recipe was given, by dataclass, which
``--config <output_dir>/run_config.yaml`` reads back to rerun the run; the settings that differ from their defaults
go into the model card."""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from enum import Enum
from typing import Any

import yaml
from transformers import TrainingArguments

RUN_CONFIG_NAME = "run_config.yaml"

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
