"""The OpenAI-compatible backend (``--backend openai``) against ``plm-recipes llm serve`` on loopback, serving the tiny
random chat model (tiny_chat.py): the same answers and option scores as the model in this process, errors in one
line, and servers that cannot score options."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import DATA
from loopback import start_server, stop_server

from plm_recipes.errors import ArgumentError, PlmRecipesError
from plm_recipes.llm import (
    OpenAIBackend,
    classification_messages,
    classify,
    read_labels,
)
from plm_recipes.llm.openai_backend import _answer_logprob

LLM = DATA / "llm"
TEXTS = ["西瓜很新鲜，切开是沙瓤的", "房间干净", "屏幕色彩鲜艳，看视频很舒服，续航一天没问题"]
MESSAGES = [{"role": "user", "content": "苹果很甜，这是哪一类？"}]


@pytest.fixture(scope="module")
def labels() -> list[str]:
    return read_labels(LLM / "labels.txt")


def test_http_backend_against_a_loopback_server(server, backend, labels):
    remote = OpenAIBackend(server.base_url, tokenizer=backend.tokenizer, progress=False)
    assert remote.model == "tiny-chat"  # the first model GET /v1/models lists
    conversations = [classification_messages(t, labels) for t in TEXTS]
    assert remote.generate(conversations, 10) == backend.generate(conversations, 10)
    np.testing.assert_allclose(remote.score_options(conversations, labels),
                               backend.score_options(conversations, labels), atol=1e-3)
    local = classify(backend, TEXTS, labels)
    over_http = classify(remote, TEXTS, labels)
    assert [c.label for c in over_http] == [c.label for c in local]


def test_http_errors_are_one_line(server, backend):
    remote = OpenAIBackend(server.base_url, tokenizer=backend.tokenizer, progress=False)
    with pytest.raises(PlmRecipesError, match="answered 400 Bad Request: .*'messages' must be"):
        remote._request("/chat/completions", {"model": "tiny-chat", "messages": []})
    with pytest.raises(PlmRecipesError, match="answered 404"):
        remote._request("/embeddings", {"input": "x"})
    with pytest.raises(ArgumentError, match="pass --tokenizer"):
        OpenAIBackend(server.base_url, model="tiny-chat", progress=False).score_options([[{"role": "user",
                                                                                          "content": "x"}]], ["a", "b"])
    port = server.server_address[1]
    with pytest.raises(PlmRecipesError, match="cannot reach the server"):
        OpenAIBackend("http://127.0.0.1:9/v1", model="x", progress=False).generate([[{"role": "user",
                                                                                      "content": "x"}]], 4)
    assert port != 9


# --- the HTTP backend against servers that cannot score options -----------------------------------------------


def test_option_scoring_on_a_server_that_cannot_says_what_to_use(backend, monkeypatch):

    server = start_server(backend)
    try:
        def refuse(prompt):  # as llama-cpp-python's server answers a list of prompts: an assertion, a 500
            raise AssertionError("len(body.prompt) <= 1")

        monkeypatch.setattr(server, "prompt_logprobs", refuse)
        remote = OpenAIBackend(server.base_url, tokenizer=backend.tokenizer, progress=False)
        with pytest.raises(PlmRecipesError, match=r"answered 500 .*this server cannot score options .*use --method "
                                                  r"generate$") as e:
            remote.score_options([MESSAGES], ["水果", "酒店"])
        assert "\n" not in str(e.value)
    finally:
        stop_server(server)


def test_tokens_a_server_generates_after_the_text_are_not_the_options():
    """The token a server generates after the text sent (max_tokens 1; llama-cpp-python reads max_tokens 0 as "no
    limit") is not scored as part of the option."""
    choice = {"logprobs": {"text_offset": [0, 5, 7, 9, 12], "token_logprobs": [None, -0.5, -1.0, -2.0, -4.0]}}
    assert _answer_logprob(choice, prompt_chars=5, text_chars=9, base_url="u") == -1.5
