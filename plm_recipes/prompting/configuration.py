"""``PromptLMConfig``: what a prompt classifier (:class:`~plm_recipes.prompting.modeling.PromptLMModel`) is made of:
the template, the verbalizer's label words and their token ids, how word scores reduce to label scores, the
prompt encoder of p-tuning, and the backbone language model's config (``model_type: "prompt_lm"``)."""

from __future__ import annotations

from transformers import AutoConfig, PretrainedConfig

from ..errors import ArgumentError
from ..loading import nested_config
from .template import Template
from .verbalizer import TOKEN_REDUCTIONS, WORD_REDUCTIONS

LM_TYPES = ("masked", "causal")
PROMPT_ENCODERS = ("lstm", "mlp", "none")


class PromptLMConfig(PretrainedConfig):
    """Configuration of :class:`PromptLMModel`.

    Args:
        backbone: the language model's config (a config or its dict).
        lm_type: ``"masked"`` or ``"causal"``.
        template: the template string (:class:`~plm_recipes.prompting.template.Template`).
        label_words: each label's words, in label order (``{"水果": ["水果"], ...}``); ``id2label`` follows it.
        word_token_ids: each label word's token ids (:meth:`Verbalizer.word_ids`), word by word.
        token_reduction, word_reduction: how token log-probabilities become a word's score and word scores a
            label's (:func:`~plm_recipes.prompting.verbalizer.label_scores`).
        prompt_encoder: how the ``{soft}`` vectors are produced: ``lstm`` (P-tuning's bidirectional LSTM + MLP over
            the learned embeddings), ``mlp``, or ``none`` (the embeddings themselves, as in prompt tuning).
        max_seq_length: the longest input in tokens (template, blank and learned vectors included).
    """

    model_type = "prompt_lm"
    sub_configs = {"backbone": AutoConfig}

    def __init__(
        self,
        backbone: PretrainedConfig | dict | None = None,
        lm_type: str = "masked",
        template: str = "{MASK}{textA}",
        label_words: dict[str, list[str]] | None = None,
        word_token_ids: list[list[int]] | None = None,
        token_reduction: str = "mean",
        word_reduction: str = "mean",
        prompt_encoder: str = "lstm",
        max_seq_length: int = 256,
        **kwargs,
    ):
        self.backbone = nested_config(backbone)
        self.lm_type = lm_type
        self.template = template
        self.label_words = dict(label_words or {})
        self.word_token_ids = [list(ids) for ids in word_token_ids or []]
        self.token_reduction = token_reduction
        self.word_reduction = word_reduction
        self.prompt_encoder = prompt_encoder
        self.max_seq_length = max_seq_length
        if self.label_words:
            kwargs.setdefault("id2label", dict(enumerate(self.label_words)))
            kwargs.setdefault("label2id", {label: i for i, label in enumerate(self.label_words)})
        super().__init__(**kwargs)

    @property
    def labels(self) -> list[str]:
        """The label names in id order (``id2label``: a saved config's JSON keeps ``label_words`` sorted by key)."""
        return [self.id2label[i] for i in range(len(self.id2label))] if self.label_words else []

    @property
    def word_labels(self) -> list[int]:
        """The label id of each of ``word_token_ids``: label by label, in id order, each label's words in order."""
        return [i for i, label in enumerate(self.labels) for _ in self.label_words[label]]

    @property
    def blank_length(self) -> int:
        """Tokens of the longest label word: a masked LM's blank is that many mask tokens."""
        return max((len(ids) for ids in self.word_token_ids), default=1)

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
