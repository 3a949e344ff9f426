"""The UIE recipe's arguments: its data (prompt-format files, windows over long texts) and its training config."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..args import DataArguments, RecipeTrainingArguments
from ..errors import ArgumentError
from .schema import DEFAULT_RELATION_TEMPLATE, check_relation_template


@dataclass
class UIEDataArguments(DataArguments):
    """UIE prompt-format JSON lines (one example per line, any file extension)
    ``{"content", "result_list": [{"text", "start", "end"}], "prompt"}`` (``plm-recipes uie convert`` writes them
    from a doccano export), or ``--dataset_name`` with the same columns."""

    max_seq_length: int = field(
        default=512,
        metadata={"help": "Longest input in tokens (prompt + text + special tokens). Longer texts are read in "
                          "overlapping windows, each with the whole prompt; nothing is cut off."},
    )
    doc_stride: int = field(
        default=128,
        metadata={"help": "Tokens of text two consecutive windows share: a span shorter than this is always whole "
                          "in some window."},
    )

    content_column: str = field(
        default="content", metadata={"help": "--dataset_name's column holding the texts (UIE's 'content')."})
    prompt_column: str = field(
        default="prompt", metadata={"help": "--dataset_name's column holding the prompts (UIE's 'prompt')."})
    result_list_column: str = field(
        default="result_list",
        metadata={"help": "--dataset_name's column holding the answer spans, a list of {text, start, end} (UIE's "
                          "'result_list')."},
    )

    def __post_init__(self):
        super().__post_init__()
        if self.doc_stride < 0:
            raise ArgumentError(f"--doc_stride must be >= 0, got {self.doc_stride}")


@dataclass
class UIETrainingConfig(RecipeTrainingArguments):
    """Training configuration of ``recipes/uie.py``: ``TrainingArguments`` with the recipes' shared settings,
    how relation prompts are written, and the span threshold used in evaluation and saved with the model."""

    relation_template: str = field(
        default=DEFAULT_RELATION_TEMPLATE,
        metadata={"help": "How relation prompts are written from a subject and a relation name (PaddleNLP's Chinese "
                          "UIE: '{subject}的{relation}'). Saved with the model for the predictor; per-prompt "
                          "metrics group relation prompts by it."},
    )
    threshold: float = field(
        default=0.5,
        metadata={"help": "Probability above which a token starts or ends a span (evaluation and prediction)."},
    )

    def __post_init__(self):
        super().__post_init__()
        check_relation_template(self.relation_template)
        if not 0 < self.threshold < 1:
            raise ArgumentError(f"--threshold must be between 0 and 1, got {self.threshold}")
        if not self.eval_do_concat_batches:
            raise ArgumentError("--eval_do_concat_batches false: span decoding needs the predictions of all windows "
                                "as one array, one row per window")
