"""Doctest setup: the examples in ``plm_recipes``' docstrings run as written (``pytest --doctest-modules``, which
the README's test command turns on), from a folder laid out as they assume: ``outputs/text_classification``,
``outputs/matching_dssm``, ``outputs/uie``, ``outputs/pet``, ``outputs/t5_qa`` and ``outputs/t5_filling`` (tiny models trained
here, two steps on the bundled samples) and ``data/``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def example_folder(tmp_path_factory) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from helpers import DATA, build_tiny_bert, build_tiny_t5, character_vocab, load_recipe

    folder = tmp_path_factory.mktemp("examples")
    (folder / "data").symlink_to(DATA, target_is_directory=True)
    model = build_tiny_bert(folder / "tiny-bert", character_vocab(sorted(DATA.rglob("*.txt"))))
    quick = ["--model_name_or_path", str(model), "--do_train", "--max_steps", "2", "--use_cpu",
             "--disable_tqdm", "true", "--eval_strategy", "no", "--save_strategy", "no",
             "--load_best_model_at_end", "false", "--log_level", "error"]
    load_recipe("text_classification").main([
        *quick, "--train_file", str(DATA / "classification" / "train.txt"),
        "--label_mapping_file", str(DATA / "classification" / "label_mapping.txt"),
        "--output_dir", str(folder / "outputs" / "text_classification")])
    load_recipe("matching_dssm").main([
        *quick, "--train_file", str(DATA / "matching" / "train.txt"),
        "--output_dir", str(folder / "outputs" / "matching_dssm")])
    load_recipe("uie").main([
        *quick, "--train_file", str(DATA / "extraction" / "train.txt"),
        "--output_dir", str(folder / "outputs" / "uie")])
    load_recipe("pet").main([
        *quick, "--train_file", str(DATA / "prompting" / "train.txt"),
        "--verbalizer_file", str(DATA / "prompting" / "verbalizer.txt"),
        "--output_dir", str(folder / "outputs" / "pet")])
    t5 = build_tiny_t5(folder / "tiny-t5", character_vocab(sorted(DATA.rglob("*.txt")) + sorted(DATA.rglob("*.jsonl"))))
    quick[1] = str(t5)
    load_recipe("t5_qa").main([
        *quick, "--train_file", str(DATA / "seq2seq" / "qa_train.jsonl"),
        "--output_dir", str(folder / "outputs" / "t5_qa")])
    load_recipe("t5_filling").main([
        *quick, "--train_file", str(DATA / "seq2seq" / "corpus.txt"),
        "--output_dir", str(folder / "outputs" / "t5_filling")])
    return folder


@pytest.fixture(autouse=True)
def _run_doctests_in_the_example_folder(request, monkeypatch):
    if isinstance(request.node, DoctestItem) and "outputs/" in request.node.dtest.docstring:
        monkeypatch.chdir(request.getfixturevalue("example_folder"))
