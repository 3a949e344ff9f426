"""A chat model behind an OpenAI-compatible HTTP server (:class:`OpenAIBackend`): vLLM, TGI, llama.cpp's server or
``plm-recipes llm serve``."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..chat import TEMPLATE_KWARGS, Conversation, render_chat, turn_end_text
from ..errors import ArgumentError, PlmRecipesError
from ..loading import load_or_explain


class ServerAnswerError(PlmRecipesError):
    """An OpenAI-compatible server answered with an HTTP error ``status``."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class OpenAIBackend:
    """A model behind an OpenAI-compatible server (vLLM, TGI, llama.cpp's server, ``plm-recipes llm serve``).

    Generation uses ``POST {base_url}/chat/completions`` (temperature 0, ``max_tokens``, and
    ``chat_template_kwargs: {"enable_thinking": false}``, which vLLM and llama.cpp's server read).

    Option scoring needs the log-probabilities of given text, which only the legacy completions endpoint returns
    (``POST {base_url}/completions`` with ``echo: true, logprobs: 1, max_tokens: 1``): vLLM and
    ``plm-recipes llm serve`` support it; TGI does not, nor does llama-cpp-python's server (it answers a list of
    prompts with a 500, and its echoed log-probabilities are one position off: ``bench/llm_engines.py``), so use
    ``--method generate`` with them. The prompt is rendered here with the model's chat template, so scoring
    needs ``tokenizer``.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000/v1``.
        model: the model name the server expects (``GET /v1/models`` lists them); default: its first model.
        tokenizer: the model's tokenizer (a folder or hub id), for option scoring.
        api_key: sent as ``Authorization: Bearer ...`` (default: ``$OPENAI_API_KEY`` when set).
    """

    def __init__(self, base_url: str, *, model: str | None = None, tokenizer: Any = None, api_key: str | None = None,
                 timeout: float = 600.0, batch_size: int = 8, progress: bool = True):
        if not base_url.startswith(("http://", "https://")):
            raise ArgumentError(f"--base_url {base_url}: expected an http:// or https:// address ending in /v1")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout = timeout
        self.batch_size = batch_size
        self.progress = progress
        if isinstance(tokenizer, str):
            from transformers import AutoTokenizer

            name = tokenizer
            tokenizer = load_or_explain(lambda: AutoTokenizer.from_pretrained(name), name, "tokenizer")
        self.tokenizer = tokenizer
        self.model = model or self._first_model()

    def _request(self, path: str, payload: dict | None = None) -> dict:
        url = self.base_url + path
        data = None if payload is None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(url, data=data, method="GET" if payload is None else "POST")
        request.add_header("Content-Type", "application/json")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            detail = " ".join(e.read().decode("utf-8", "replace").split())[:300]
            raise ServerAnswerError(f"{url}: the server answered {e.code} {e.reason}: {detail}", e.code) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise PlmRecipesError(f"{url}: cannot reach the server ({reason}); is it running at --base_url "
                                  f"{self.base_url}?") from None

    def _first_model(self) -> str:
        models = self._request("/models").get("data") or []
        if not models:
            raise PlmRecipesError(f"{self.base_url}/models lists no model; pass --served_model NAME")
        return models[0]["id"]

    def _each(self, items: Sequence, description: str):
        from tqdm.auto import tqdm

        return tqdm(items, desc=description, unit="item", disable=not self.progress or len(items) <= 1)

    def generate(self, conversations: Sequence[Conversation], max_new_tokens: int) -> list[str]:
        answers = []
        for messages in self._each(conversations, "generating"):
            reply = self._request("/chat/completions", {
                "model": self.model, "messages": list(messages), "max_tokens": max_new_tokens, "temperature": 0,
                "chat_template_kwargs": TEMPLATE_KWARGS,
            })
            answers.append((reply["choices"][0]["message"].get("content") or "").strip())
        return answers

    def score_options(self, conversations: Sequence[Conversation], options: Sequence[str]) -> np.ndarray:
        if self.tokenizer is None:
            raise ArgumentError("option scoring over HTTP renders the chat template here: pass --tokenizer (the "
                                "served model's tokenizer folder or hub id), or use --method generate")
        end = turn_end_text(self.tokenizer)
        scores = np.zeros((len(conversations), len(options)))
        for i, messages in enumerate(self._each(conversations, "scoring options")):
            prompt = render_chat(self.tokenizer, messages)
            texts = [prompt + option + end for option in options]
            try:
                reply = self._request("/completions", {"model": self.model, "prompt": texts, "max_tokens": 1,
                                                       "echo": True, "logprobs": 1, "temperature": 0})
            except ServerAnswerError as e:
                raise PlmRecipesError(f"{e} -- this server cannot score options (it needs /v1/completions with a "
                                      "list of prompts, echo: true, logprobs and max_tokens: 1, as vLLM and "
                                      "plm-recipes llm serve answer them): use --method generate") from None
            choices = sorted(reply.get("choices", []), key=lambda c: c.get("index", 0))
            if len(choices) != len(texts):
                raise PlmRecipesError(f"{self.base_url}/completions answered {len(choices)} choices for "
                                      f"{len(texts)} prompts; the server does not score given text")
            for j, choice in enumerate(choices):
                scores[i, j] = _answer_logprob(choice, len(prompt), len(texts[j]), self.base_url)
        return scores


def _answer_logprob(choice: dict, prompt_chars: int, text_chars: int, base_url: str) -> float:
    """The summed log-probability of the tokens of an echoed completion (``logprobs.tokens``, ``token_logprobs``,
    ``text_offset``) that start at or after character ``prompt_chars`` and before ``text_chars``, the end of the
    text sent: the token generated after it (the request asks for one: vLLM refuses ``max_tokens: 0`` in some
    versions, llama-cpp-python reads it as "no limit") is not the option's."""
    logprobs = choice.get("logprobs") or {}
    offsets, values = logprobs.get("text_offset"), logprobs.get("token_logprobs")
    if not offsets or not values:
        raise PlmRecipesError(f"{base_url}/completions returned no log-probabilities of the prompt (echo + "
                              "logprobs); this server cannot score options: use --method generate")
    total = 0.0
    for offset, value in zip(offsets, values):
        if prompt_chars <= offset < text_chars:
            if value is None:
                raise PlmRecipesError(f"{base_url}/completions returned a null log-probability inside the answer")
            total += value
    return total
