"""Fixtures of the RLHF tests: a tiny causal LM over a character tokenizer covering data/rlhf."""

from __future__ import annotations

from pathlib import Path

import pytest
from rlhf_helpers import RLHF, char_tokenizer, save_tiny_llama


@pytest.fixture(scope="session")
def chars() -> str:
    return "".join(sorted({c for p in sorted(RLHF.iterdir()) for c in p.read_text(encoding="utf-8")} - {"\n"}))


@pytest.fixture(scope="session")
def causal_lm(tmp_path_factory, chars) -> Path:
    return save_tiny_llama(tmp_path_factory.mktemp("policy") / "policy", char_tokenizer(chars))


