"""Every command the docs show works as written, as far as it can be checked without the models and data it names.

Each ``bash`` block of README.md and docs/*.md is read command by command (continuation lines joined, comments
dropped). A recipe command (``python recipes/x.py``, ``accelerate launch ... recipes/x.py``, ``torchrun ...
recipes/x.py``) must be a recipe whose parser takes every flag and every ``--config`` key with its value, up to the
point where the run would start; a ``plm-recipes`` command must parse with the command line's own parser; a file
under ``data/``, ``recipes/`` or ``accelerate_configs/`` that a command names must exist. A file outside the
project (``../shared/data``, an ``outputs/`` folder a previous command writes) and a hub model are not opened.
The quick start's commands also run whole, on the bundled samples (tests/classification).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from helpers import ROOT, load_recipe
from transformers import HfArgumentParser

from plm_recipes import cli
from plm_recipes.errors import ArgumentError

PAGES = [ROOT / "README.md", ROOT / "accelerate_configs" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROJECT_DIRS = ("data/", "recipes/", "accelerate_configs/")


def documented_commands(page: Path) -> list[tuple[int, str]]:
    """``(line, command)`` of every command in the page's ``bash`` blocks."""
    found, block, start, pending = [], False, 0, ""
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("```"):
            block = line.strip() == "```bash"
            continue
        if not block:
            continue
        text = line.split("  #")[0].rstrip() if not line.lstrip().startswith("#") else ""
        if not pending:
            start = number
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        command = (pending + text).strip()
        pending = ""
        if command:
            found.append((start, command))
    return found


def recipe_argv(words: list[str]) -> tuple[str, list[str]] | None:
    """The recipe and its arguments of a command that runs one, else ``None``."""
    for i, word in enumerate(words):
        if re.fullmatch(r"recipes/\w+\.py", word):
            launcher = words[:i]
            if launcher and launcher[0] not in ("python", "accelerate", "torchrun") and "=" not in launcher[0]:
                return None
            return Path(word).stem, words[i + 1:]
    return None


class Parsed(Exception):
    """Raised in place of the run once a recipe's arguments are parsed."""


COMMANDS = [pytest.param(page, line, command, id=f"{page.relative_to(ROOT)}:{line}")
            for page in PAGES for line, command in documented_commands(page)]


def test_the_docs_show_commands():
    assert len(COMMANDS) > 40
    assert {page.name for page, *_ in (c.values for c in COMMANDS)} >= {"README.md", "running.md", "uie.md"}


@pytest.mark.parametrize(("page", "line", "command"), COMMANDS)
def test_documented_command(page, line, command, monkeypatch):
    command = re.split(r" \| | > | && |; ", command)[0].removesuffix(" &")
    if "$(" in command or command.startswith(("pip ", "cd ", "export ", "curl ", "hf ", "git ")):
        return
    words = shlex.split(command)
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # environment settings before the command
        words = words[1:]
    for word in words:
        path = word.split("=", 1)[-1]
        if path.startswith(PROJECT_DIRS) and not any(c in path for c in "*{<"):
            assert (ROOT / path).exists(), f"{page.name}:{line}: {path} does not exist"
    if words[:1] == ["plm-recipes"]:
        if "--help" not in words:
            cli.build_parser().parse_args(words[1:])  # argparse exits on an unknown command or flag
        return
    recipe = recipe_argv(words)
    if recipe is None:
        return
    name, argv = recipe
    assert (ROOT / "recipes" / f"{name}.py").is_file(), f"{page.name}:{line}: no recipe {name}"
    original = HfArgumentParser.parse_args_into_dataclasses

    def parse_then_stop(self, *args, **kwargs):
        original(self, *args, **kwargs)
        raise Parsed

    monkeypatch.setattr(HfArgumentParser, "parse_args_into_dataclasses", parse_then_stop)
    monkeypatch.chdir(ROOT)
    try:
        load_recipe(name).main(argv)
    except Parsed:
        return
    except ArgumentError as e:  # a file outside the project: not checked here
        if "file not found" in str(e) and not any(d in str(e) for d in PROJECT_DIRS):
            return
        raise
    pytest.fail(f"{page.name}:{line}: the recipe ran without parsing its arguments")


def test_bench_readme_is_written_from_the_tables():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    assert report.main(["--check"]) == 0, "bench/README.md is stale: run python bench/report.py"
