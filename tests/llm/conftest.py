"""The tiny chat model the LLM tests share (built once per session, no hub)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import DATA
from tiny_chat import build_tiny_chat_model


@pytest.fixture(scope="session")
def tiny_chat(tmp_path_factory) -> Path:
    from plm_recipes.llm import prompts

    texts = [p.read_text(encoding="utf-8") for p in sorted((DATA / "llm").iterdir())]
    texts += [prompts.SYSTEM_PROMPT, prompts.CLASSIFY_TEMPLATE, prompts.MATCH_TEMPLATE,
              prompts.EXTRACT_FIELDS_TEMPLATE, prompts.EXTRACT_TRIPLES_TEMPLATE]
    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-chat"), texts)
