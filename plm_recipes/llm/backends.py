"""Where the model runs: in this process through ``transformers`` (:class:`TransformersBackend`), or behind an
OpenAI-compatible HTTP server such as vLLM, TGI or llama.cpp's server (:class:`OpenAIBackend`).

Both do the two things the tasks need:

- ``generate(conversations, max_new_tokens)``: the assistant's answer to each chat, greedy (deterministic);
- ``score_options(conversations, options)``: the log-likelihood of each option as the assistant's whole answer,
  an array of shape ``(len(conversations), len(options))`` (see :mod:`plm_recipes.llm.scoring`).

Chat templates that think before answering (Qwen3's ``enable_thinking``) are rendered with thinking turned off
(:mod:`.chat`). Each backend has its module (:mod:`.transformers_backend`, :mod:`.openai_backend`); this one names
what they share and keeps the names importable from one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from ..chat import TEMPLATE_KWARGS, Conversation, render_chat, turn_end_text
from .openai_backend import OpenAIBackend, ServerAnswerError
from .transformers_backend import TransformersBackend, context_length

__all__ = ["TEMPLATE_KWARGS", "Backend", "Conversation", "OpenAIBackend", "ServerAnswerError", "TransformersBackend",
           "context_length", "render_chat", "turn_end_text"]


class Backend(Protocol):
    """What the tasks call; see the module docstring."""

    def generate(self, conversations: Sequence[Conversation], max_new_tokens: int) -> list[str]: ...

    def score_options(self, conversations: Sequence[Conversation], options: Sequence[str]) -> np.ndarray: ...

