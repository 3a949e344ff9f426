"""The seq2seq recipes' arguments: data for question answering and for mask filling, and a training config
(``Seq2SeqTrainingArguments`` with the recipes' shared settings) that generates when it evaluates."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from transformers import Seq2SeqTrainingArguments

from ..args import DataArguments, RecipeSettings, StreamingDataArguments
from ..errors import ArgumentError
from ..lora import LoraArguments

SEQ2SEQ_SOURCE_TEMPLATE = "问题：{question}原文：{context}"


@dataclass
class Seq2SeqRecipeConfig(LoraArguments, RecipeSettings, Seq2SeqTrainingArguments):
    """Training configuration of the seq2seq recipes: ``Seq2SeqTrainingArguments`` (``--predict_with_generate``,
    ``--generation_max_length``, ``--generation_num_beams``) with the recipes' shared settings and LoRA
    (``--use_peft``, :class:`~plm_recipes.lora.LoraArguments`: the output folder is then the adapter, which
    ``plm-recipes predict qa`` loads over its base model)."""

    _VALID_DICT_FIELDS = [*Seq2SeqTrainingArguments._VALID_DICT_FIELDS, "learning_rate_mapping"]

    learning_rate_mapping: dict | str | None = field(
        default=None,
        metadata={"help": "Learning rates for parts of the model, as JSON: parameter-name regular expressions to "
                          "rates (sentence-transformers' argument of the same name). A T5 trained from scratch "
                          "learns its relative position biases, a few hundred numbers that start near 0 and must reach "
                          "several units before attention can pick out a neighbouring token, at Adam's pace of about "
                          "one --learning_rate per step: '{\"relative_attention_bias\": 0.03}' lets it copy spans "
                          "of its input within hundreds of steps instead of thousands."},
    )

    def __post_init__(self):
        super().__post_init__()
        mapping = self.learning_rate_mapping
        if mapping is None:
            return
        if not isinstance(mapping, dict):
            raise ArgumentError(f"--learning_rate_mapping should be a JSON object of pattern: rate, found {mapping!r}")
        for pattern, rate in mapping.items():
            try:
                re.compile(pattern)
            except re.error as e:
                raise ArgumentError(f"--learning_rate_mapping: {pattern!r} is not a regular expression ({e})") from None
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
                raise ArgumentError(f"--learning_rate_mapping: the rate for {pattern!r} should be a number above 0, "
                                    f"found {rate!r}")


@dataclass
class QADataArguments(DataArguments):
    """Question answering: ``{"context", "question", "answer"}`` JSON lines (or csv / tsv with those fields)."""

    context_column: str = field(default="context", metadata={"help": "The context's column (csv/json)."})
    question_column: str = field(default="question", metadata={"help": "The question's column (csv/json)."})
    answer_column: str = field(default="answer", metadata={"help": "The answer's column (csv/json)."})
    source_template: str | None = field(
        default=None,
        metadata={"help": "The model input built from a record: {question} and {context} in literal text. Only the "
                          "context is cut to fit --max_seq_length. Default: '问题：{question}原文：{context}' for a "
                          "seq2seq model; for a causal one an instruction that ends with '答案：' (CAUSAL_SOURCE_TEMPLATE "
                          "in plm_recipes.seq2seq.causal), inside the chat template when the tokenizer has one."},
    )
    max_target_length: int = field(default=64, metadata={"help": "Longest answer in tokens; longer ones are cut."})

    def columns(self) -> dict[str, str]:
        return {"context": self.context_column, "question": self.question_column, "answer": self.answer_column}

    def __post_init__(self):
        super().__post_init__()
        if self.max_target_length < 1:
            raise ArgumentError(f"--max_target_length must be 1 or more, found {self.max_target_length}")

    def template_for(self, causal: bool) -> str:
        """--source_template, or the default for the kind of model."""
        from .causal import CAUSAL_SOURCE_TEMPLATE

        return self.source_template or (CAUSAL_SOURCE_TEMPLATE if causal else SEQ2SEQ_SOURCE_TEMPLATE)


@dataclass
class FillingDataArguments(StreamingDataArguments):
    """Mask filling: plain text (``.txt`` one text per line, csv/json with a text column, or a dataset's text column),
    streamed with ``--streaming``; training pairs are made by hiding random spans behind sentinel tokens."""

    text_column: str = field(default="text", metadata={"help": "The text's column (csv/json, or --dataset_name)."})
    noise_density: float = field(default=0.15, metadata={"help": "Fraction of each text's characters hidden."})
    mean_span_length: float = field(default=3.0, metadata={"help": "Average length of a hidden span, in characters."})
    max_target_length: int = field(default=64, metadata={"help": "Longest target in tokens."})
    min_text_length: int = field(default=8, metadata={"help": "Skip lines shorter than this (characters)."})
    max_text_length: int = field(default=120, metadata={"help": "Cut longer lines into pieces of this many "
                                                                "characters (a span-masked input must fit the model)."})
    masks_per_text: int = field(default=1, metadata={"help": "Masked copies of each training text per epoch."})

    def __post_init__(self):
        super().__post_init__()
        if not 0 < self.noise_density < 1:
            raise ArgumentError(f"--noise_density must be between 0 and 1, found {self.noise_density}")
        if self.mean_span_length < 1:
            raise ArgumentError(f"--mean_span_length must be 1 or more, found {self.mean_span_length}")
