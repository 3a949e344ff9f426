"""What the LLM tests share: the tiny chat model (built once per session, no hub), the backend over it, and
``plm-recipes llm serve`` serving it on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import DATA
from loopback import start_server, stop_server
from tiny_chat import build_tiny_chat_model


@pytest.fixture(scope="session")
def tiny_chat(tmp_path_factory) -> Path:
    from plm_recipes.llm import prompts

    texts = [p.read_text(encoding="utf-8") for p in sorted((DATA / "llm").iterdir())]
    texts += [prompts.SYSTEM_PROMPT, prompts.CLASSIFY_TEMPLATE, prompts.MATCH_TEMPLATE,
              prompts.EXTRACT_FIELDS_TEMPLATE, prompts.EXTRACT_TRIPLES_TEMPLATE]
    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-chat"), texts)


@pytest.fixture(scope="module")
def backend(tiny_chat):
    from plm_recipes.llm import TransformersBackend

    return TransformersBackend.from_pretrained(str(tiny_chat), device="cpu", progress=False)


@pytest.fixture(scope="module")
def server(backend) -> Iterator:
    server = start_server(backend)
    yield server
    stop_server(server)
