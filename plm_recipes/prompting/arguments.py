"""The prompt-learning recipes' arguments: template, verbalizer and data columns; the training config."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import ClassVar

from ..args import DataArguments, RecipeTrainingArguments
from ..errors import ArgumentError
from .configuration import LM_TYPES, PROMPT_ENCODERS
from .verbalizer import TOKEN_REDUCTIONS, WORD_REDUCTIONS


@dataclass
class PromptDataArguments(DataArguments):
    """Labelled texts (``label<TAB>text[<TAB>text_b]`` lines, or csv/json columns), the template and the verbalizer."""

    template: str | None = field(
        default=None,
        metadata={"help": "The template, e.g. '这是一条{MASK}评论：{textA}。' ({MASK}, {textA}, {textB}, {soft:N}). "
                  "Default: the trained model's, or the recipe's. On the command line it replaces a config "
                  "file's template_file."},
    )
    template_file: str | None = field(
        default=None,
        metadata={"help": "A file whose first line is the template (instead of --template; on the command line it "
                  "replaces a config file's template)."},
    )
    verbalizer_file: str | None = field(
        default=None,
        metadata={"help": "label<TAB>word,word lines: the words that stand for each label. Needed to train; a trained "
                  "model keeps its own."},
    )
    text_column: str = field(default="text", metadata={"help": "Text column of csv/json data."})
    text_b_column: str = field(default="text_b", metadata={"help": "Second text's column (templates with {textB})."})
    label_column: str = field(default="label", metadata={"help": "Label column of csv/json data."})

    # one of these on the command line replaces the other set in a config file (plm_recipes.parsing.parse_args)
    command_line_replaces: ClassVar[dict[str, str | tuple[str, ...]]] = {
        **DataArguments.command_line_replaces, "template": "template_file", "template_file": "template"}

    def __post_init__(self):
        super().__post_init__()
        if self.template and self.template_file:
            raise ArgumentError("pass --template or --template_file, not both")
        for name in ("template_file", "verbalizer_file"):
            path = getattr(self, name)
            if path is not None and not os.path.isfile(path):
                raise ArgumentError(f"--{name} {path}: file not found")

    def read_template(self) -> str | None:
        """The template given by ``--template`` or ``--template_file`` (None when neither)."""
        if self.template_file:
            with open(self.template_file, encoding="utf-8") as f:
                line = f.readline().strip()
            if not line:
                raise ArgumentError(f"--template_file {self.template_file}: the first line is empty")
            return line
        return self.template

    def columns(self) -> dict[str, str]:
        return {"text": self.text_column, "text_b": self.text_b_column, "label": self.label_column}


@dataclass
class PromptTrainingConfig(RecipeTrainingArguments):
    """Training configuration of ``recipes/pet.py`` and ``recipes/p_tuning.py``: how label words are scored, the
    learned prompt, R-Drop, and what trains."""

    lm_type: str | None = field(
        default=None,
        metadata={"help": f"{' or '.join(LM_TYPES)}: how the model fills the blank. Default: masked when the "
                  "checkpoint has a masked-LM class (BERT, XLM-R, ERNIE, ...), else causal (gemma, Qwen, GPT-2)."},
    )
    token_reduction: str = field(
        default="mean", metadata={"help": f"A label word's score from its tokens' log-probs: {', '.join(TOKEN_REDUCTIONS)}."}
    )
    word_reduction: str = field(
        default="mean", metadata={"help": f"A label's score from its words' scores: {', '.join(WORD_REDUCTIONS)}."}
    )
    prompt_encoder: str = field(
        default="lstm",
        metadata={"help": f"How {{soft}} vectors are produced: {', '.join(PROMPT_ENCODERS)} (P-tuning's LSTM + MLP, "
                  "an MLP, or free vectors)."},
    )
    rdrop_alpha: float = field(
        default=0.0,
        metadata={"help": "R-Drop weight: read each batch twice (two dropout masks) and add alpha times the "
                  "symmetric KL between the two predictions (0: off; Liang et al., 2021)."},
    )
    freeze_backbone: bool = field(
        default=False,
        metadata={"help": "Train only the learned prompt vectors (p-tuning with a frozen language model); the "
                  "template needs {soft} vectors."},
    )

    def __post_init__(self):
        super().__post_init__()
        if self.lm_type is not None and self.lm_type not in LM_TYPES:
            raise ArgumentError(f"--lm_type must be one of {LM_TYPES}, got {self.lm_type!r}")
        for name, choices in (("token_reduction", TOKEN_REDUCTIONS), ("word_reduction", WORD_REDUCTIONS),
                              ("prompt_encoder", PROMPT_ENCODERS)):
            if getattr(self, name) not in choices:
                raise ArgumentError(f"--{name} must be one of {choices}, got {getattr(self, name)!r}")
        if self.rdrop_alpha < 0:
            raise ArgumentError(f"--rdrop_alpha must be >= 0, got {self.rdrop_alpha}")
