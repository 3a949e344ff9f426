"""LLM applications: zero/few-shot classification, matching and information extraction with a chat model, and
LoRA fine-tuning of it (``recipes/llm_sft.py``).

- :mod:`.prompts`: label sets, few-shot example files, extraction schemas, and the chat messages built from them;
- :mod:`.scoring`: constrained choice by scoring each option's log-likelihood (:class:`OptionScorer`);
- :mod:`.backends`: the model in this process (:class:`TransformersBackend`, :mod:`.transformers_backend`, LoRA
  adapters included) or behind an OpenAI-compatible server (:class:`OpenAIBackend`, :mod:`.openai_backend`), both
  rendering chats as :mod:`.chat` does;
- :mod:`.extraction`: JSON answers repaired, checked against the schema and grounded in the text;
- :mod:`.tasks`: :func:`classify`, :func:`match`, :func:`extract`;
- :mod:`.server`: a small OpenAI-compatible server for a local model (``plm-recipes llm serve``; its HTTP side in
  :mod:`.http_handler`, echoed log-probabilities in :mod:`.echo`, the requests it reads in :mod:`.openai_api`,
  token-by-token decoding in :mod:`.decoding`);
- :mod:`.data`, :mod:`.arguments`: the SFT recipe's data (TRL's prompt / completion and messages forms) and its
  arguments (TRL's ``ModelConfig``: ``--use_peft``, ``--load_in_4bit`` ...; ``SFTConfig``) and trainer;
- :mod:`.metrics`: the benchmark's metrics.
"""

from ..families import Family
from .backends import OpenAIBackend, TransformersBackend, render_chat
from .extraction import Extraction, parse_extraction, repair_json
from .prompts import (
    MATCH_OPTIONS,
    NOT_MENTIONED,
    ChoiceExample,
    ExtractionExample,
    classification_messages,
    extraction_messages,
    matching_messages,
    parse_labels,
    parse_schema,
    read_choice_examples,
    read_extraction_examples,
    read_labels,
)
from .scoring import OptionScorer, option_probabilities
from .tasks import Choice, choice_from_answer, choose, classify, extract, match

__all__ = [
    "MATCH_OPTIONS",
    "NOT_MENTIONED",
    "Choice",
    "ChoiceExample",
    "Extraction",
    "ExtractionExample",
    "OpenAIBackend",
    "OptionScorer",
    "TransformersBackend",
    "choice_from_answer",
    "choose",
    "classification_messages",
    "classify",
    "extract",
    "extraction_messages",
    "match",
    "matching_messages",
    "option_probabilities",
    "parse_extraction",
    "parse_labels",
    "parse_schema",
    "read_choice_examples",
    "read_extraction_examples",
    "read_labels",
    "render_chat",
    "repair_json",
]

# What the family declares to the core (the plm_recipes.families entry point in setup.cfg).
FAMILY = Family("llm", commands="plm_recipes.llm.cli:add_commands")
