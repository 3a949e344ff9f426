"""The families' registry: every family declares itself through an entry point, and the core recognises the
folders they write without naming any of them."""

from __future__ import annotations

import json

import pytest

from plm_recipes.families import Family, FolderKind, families, folder_kind


def test_every_family_package_is_registered():
    names = {family.name for family in families()}
    assert {"classification", "matching", "pairs", "seq2seq", "extraction", "prompting", "rlhf", "llm"} <= names
    for family in families():
        assert family.commands is None or callable(family.add_commands())


def test_the_command_line_has_every_family_command():
    from plm_recipes.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    tasks = next(a for a in commands["predict"]._actions if a.dest == "task").choices
    assert {"predict", "embed", "push"} <= set(commands)
    assert {"text-classification", "matching", "similarity", "uie", "pet", "qa"} <= set(tasks)


@pytest.mark.parametrize(("files", "expected"), [
    ({"config.json": {"model_type": "uie"}}, "a UIE extraction model; use `plm-recipes predict uie`"),
    ({"config.json": {"model_type": "prompt_lm"}}, "a PET / p-tuning classifier; use `plm-recipes predict pet`"),
    ({"config.json": {"model_type": "bert"}, "matching_config.json": {"kind": "bi-encoder", "threshold": 0.5}},
     "a text-matching model (it has matching_config.json); use `plm-recipes predict matching`"),
    ({"config.json": {"model_type": "bert"}}, None),
    ({}, None),
])
def test_folder_kind(tmp_path, files, expected):
    for name, content in files.items():
        (tmp_path / name).write_text(json.dumps(content))
    found = folder_kind(str(tmp_path))
    assert (None if found is None else str(found[1])) == expected


def test_folder_kind_of_what_is_no_folder():
    assert folder_kind("user/some-hub-model") is None


def test_family_add_commands_resolves_module_function():
    family = Family("x", commands="plm_recipes.classification.cli:add_commands",
                    folder_kinds=(FolderKind("a thing", "plm-recipes predict x", model_type="x"),))
    from plm_recipes.classification.cli import add_commands

    assert family.add_commands() is add_commands and Family("y").add_commands() is None


def test_without_registered_families_the_command_says_how_to_install(monkeypatch, capsys):
    from plm_recipes import cli

    monkeypatch.setattr(cli, "families", lambda: ())
    with pytest.raises(SystemExit) as e:
        cli.main(["predict", "text-classification", "--model", "x", "--text", "y"])
    assert e.value.code == 2 and "no task family is registered: install the package (pip install -e .)" in \
        capsys.readouterr().err
