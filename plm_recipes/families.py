"""The task families, as they declare themselves to the core.

The core names no family. Each family package (and the pair layer) defines a :class:`Family` called ``FAMILY`` in
its ``__init__.py``, and ``setup.cfg`` lists it under the ``plm_recipes.families`` entry points; another installed
package adds a family of its own the same way. The core reads the declarations for two things: the ``plm-recipes``
commands each family adds (:mod:`plm_recipes.cli`), and what a saved folder is when a command of another family is
given it (:func:`folder_kind`: "a UIE extraction model; use `plm-recipes predict uie`").

Model classes that must load with ``AutoModel.from_pretrained`` once ``plm_recipes`` is imported are listed under
the ``plm_recipes.auto_models`` entry points (modules that register them on import; see ``plm_recipes/__init__.py``).
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points

from .files import read_json_object

FAMILIES_GROUP = "plm_recipes.families"
AUTO_MODELS_GROUP = "plm_recipes.auto_models"


@dataclass(frozen=True)
class FolderKind:
    """A kind of saved folder a family writes, recognised by its ``config.json``'s ``model_type`` or by a file it
    holds, and the command that uses it."""

    description: str  # in a few words, for messages: "a UIE extraction model"
    command: str  # "plm-recipes predict uie"
    model_type: str | None = None
    marker_file: str | None = None

    def matches(self, folder: str, config: dict) -> bool:
        if self.model_type is not None and config.get("model_type") == self.model_type:
            return True
        return self.marker_file is not None and os.path.isfile(os.path.join(folder, self.marker_file))

    def __str__(self) -> str:
        return f"{self.description}; use `{self.command}`"


@dataclass(frozen=True)
class Family:
    """What a family declares to the core.

    Args:
        name: the package's name (``"extraction"``).
        commands: ``"module:function"`` of a function ``add_commands(commands, predict_tasks)`` that adds its
            subcommands to ``plm-recipes`` and its tasks to ``plm-recipes predict`` (imported when the parser is
            built), or ``None``.
        folder_kinds: the kinds of folder its recipes save that other families' commands must refuse by name.
    """

    name: str
    commands: str | None = None
    folder_kinds: tuple[FolderKind, ...] = ()

    def add_commands(self) -> Callable | None:
        if self.commands is None:
            return None
        module, _, function = self.commands.partition(":")
        return getattr(importlib.import_module(module), function)


@functools.cache
def families() -> tuple[Family, ...]:
    """Every registered family, by name; none where the package runs from a source folder it was not installed
    from (then the command line refuses to start, and no folder is recognised as a family's)."""
    found = [point.load() for point in entry_points(group=FAMILIES_GROUP)]
    for family in found:
        if not isinstance(family, Family):
            raise TypeError(f"a {FAMILIES_GROUP} entry point must name a plm_recipes.families.Family, got {family!r}")
    return tuple(sorted(found, key=lambda family: family.name))


def folder_kind(folder: str) -> tuple[Family, FolderKind] | None:
    """The family and kind of a local folder one of the families wrote, or ``None`` (not a local folder, or a
    folder of no family's kind: a plain transformers or sentence-transformers model)."""
    if not os.path.isdir(folder):
        return None
    config = read_json_object(os.path.join(folder, "config.json")) or {}
    for family in families():
        for kind in family.folder_kinds:
            if kind.matches(folder, config):
                return family, kind
    return None


def register_auto_models() -> None:
    """Import the modules of the ``plm_recipes.auto_models`` entry points, which register the families' model
    classes with transformers' Auto classes."""
    for point in entry_points(group=AUTO_MODELS_GROUP):
        point.load()
