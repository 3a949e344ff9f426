"""Prompt learning: classify by asking a language model to fill a blank (PET) or with learned prompt vectors
(p-tuning). A :class:`Template` writes each example around a blank, a :class:`Verbalizer` maps labels to words,
and :class:`PromptLMModel` scores each label's words at the blank with a masked or a causal LM."""

from ..families import Family, FolderKind
from .configuration import PromptLMConfig
from .data import PromptCollator, encode_prompts, read_prompt_examples
from .losses import VerbalizerLoss
from .modeling import PromptLMModel, SoftPromptEncoder
from .template import Template, piece_ids
from .verbalizer import Verbalizer, label_scores

__all__ = [
    "PromptCollator",
    "PromptLMConfig",
    "PromptLMModel",
    "SoftPromptEncoder",
    "Template",
    "Verbalizer",
    "VerbalizerLoss",
    "encode_prompts",
    "label_scores",
    "piece_ids",
    "read_prompt_examples",
]

# What the family declares to the core (the plm_recipes.families entry point in setup.cfg).
FAMILY = Family("prompting", commands="plm_recipes.prompting.cli:add_commands", folder_kinds=(
    FolderKind("a PET / p-tuning classifier", "plm-recipes predict pet", model_type="prompt_lm"),))
