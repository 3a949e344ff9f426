"""Fixtures: a tiny BERT whose vocabulary covers the bundled samples, and a recipe loader."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import DATA, build_tiny_bert, build_tiny_t5, character_vocab, load_recipe

# Nothing in the tests may reach a model hub; fail fast instead of waiting on the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A tiny BERT whose vocabulary covers every character of the bundled data/ samples."""
    vocab = character_vocab(sorted(DATA.rglob("*.txt")) + sorted(DATA.rglob("*.csv")) + sorted(DATA.rglob("*.jsonl")))
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), vocab)


@pytest.fixture(scope="session")
def tiny_t5(tmp_path_factory) -> Path:
    """A tiny T5 with a character vocabulary covering the bundled samples and sentinels extra0 ... extra19."""
    vocab = character_vocab(sorted(DATA.rglob("*.txt")) + sorted(DATA.rglob("*.jsonl")) + sorted(DATA.rglob("*.csv")))
    return build_tiny_t5(tmp_path_factory.mktemp("tiny-t5"), vocab)


@pytest.fixture
def recipe():
    return load_recipe
