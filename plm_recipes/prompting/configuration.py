"""``PromptLMConfig``: what a prompt classifier (:class:`~plm_recipes.prompting.modeling.PromptLMModel`) is made of:
the template, the verbalizer's label words and their token ids, how word scores reduce to label scores, the
prompt encoder of p-tuning, and the backbone language model's config (``model_type: "prompt_lm"``)."""

from __future__ import annotations

from ..errors import ArgumentError
from . import modeling_prompt_lm
from .modeling_prompt_lm import TOKEN_REDUCTIONS, WORD_REDUCTIONS
from .template import Template

LM_TYPES = ("masked", "causal")
PROMPT_ENCODERS = ("lstm", "mlp", "none")


class PromptLMConfig(modeling_prompt_lm.PromptLMConfig):
    """Configuration of :class:`PromptLMModel`: the fields of the standalone
    :class:`~plm_recipes.prompting.modeling_prompt_lm.PromptLMConfig` (the one a p-tuning folder carries for
    ``trust_remote_code``, which this package builds on; its docstring lists them), and :meth:`validate`."""

    def __init__(self, *args, **kwargs):  # transformers gives a config class without an __init__ a dataclass's
        super().__init__(*args, **kwargs)

    def validate(self) -> None:
        """Check the settings that do not fit together (raises :class:`~plm_recipes.errors.ArgumentError`)."""
        if self.lm_type not in LM_TYPES:
            raise ArgumentError(f"lm_type must be one of {LM_TYPES}, got {self.lm_type!r}")
        if self.token_reduction not in TOKEN_REDUCTIONS:
            raise ArgumentError(f"token_reduction must be one of {TOKEN_REDUCTIONS}, got {self.token_reduction!r}")
        if self.word_reduction not in WORD_REDUCTIONS:
            raise ArgumentError(f"word_reduction must be one of {WORD_REDUCTIONS}, got {self.word_reduction!r}")
        if self.prompt_encoder not in PROMPT_ENCODERS:
            raise ArgumentError(f"prompt_encoder must be one of {PROMPT_ENCODERS}, got {self.prompt_encoder!r}")
        template = Template(self.template)
        if self.lm_type == "causal" and template.soft_after_blank:
            raise ArgumentError(f"template {self.template!r}: a causal LM reads the text up to the blank once and "
                                "then each label word; put the {soft} vectors before {MASK}")
        if sorted(self.labels) != sorted(self.label_words):
            raise ArgumentError(f"id2label {self.labels} does not name the labels of label_words {list(self.label_words)}")
        if len(self.word_token_ids) != len(self.word_labels):
            raise ArgumentError("word_token_ids needs the token ids of every label word")
