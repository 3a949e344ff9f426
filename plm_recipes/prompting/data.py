"""Prompt-learning data: labelled texts written into a template, and the collator that pads them."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..data import LabelMap, Record, read_records
from ..errors import DataFormatError
from .template import Template

logger = logging.getLogger(__name__)

# A record's fields, in the column order of a tab-separated file: label<TAB>text[<TAB>text_b].
FIELDS = ("label", "text", "text_b")


def read_prompt_examples(
    path: str | os.PathLike,
    labels: Sequence[str],
    *,
    columns: Mapping[str, str] | None = None,
    require_labels: bool = True,
) -> list[Record]:
    """Read ``label<TAB>text`` (or ``label<TAB>text<TAB>text_b``) lines, or csv/json columns.

    A label the verbalizer does not have is an error naming the file, the line, the label and the known ones:
    the model can only ever answer with a verbalizer label.
    """
    optional = ("text_b",) + (() if require_labels else ("label",))
    records = read_records(path, FIELDS, columns=columns, optional=optional)
    known = set(labels)
    for record in records:
        label = record["label"]
        if label is not None and label not in known:
            raise DataFormatError(record.path, record.line,
                                  f"label {label!r} is not in the verbalizer (it has {', '.join(labels)}); add a "
                                  f"line {label}<TAB>word to the verbalizer file or fix the label")
    return records


def encode_prompts(
    records: Sequence[Record],
    template: Template,
    tokenizer,
    *,
    lm_type: str,
    blank_length: int,
    max_length: int,
    label_map: LabelMap | None = None,
) -> dict[str, list[Any]]:
    """The model inputs of each record, as dataset columns (see :class:`PromptCollator`).

    Masked LMs: ``input_ids`` (the whole input, ``blank_length`` mask tokens at the blank), ``soft_mask``,
    ``blank_positions``. Causal LMs: ``input_ids`` / ``soft_mask`` up to the blank, ``suffix_ids`` after it.
    ``labels`` when every record has one. ``soft_mask`` only for a template with ``{soft}`` vectors.
    """
    columns = prompt_columns([r["text"] for r in records], [r["text_b"] for r in records], template, tokenizer,
                             lm_type=lm_type, blank_length=blank_length, max_length=max_length)
    truncated = sum(columns.pop("truncated"))
    if label_map is not None and records and all(r["label"] is not None for r in records):
        columns["labels"] = [label_map.encode_record(r) for r in records]
    if truncated:
        logger.info("%d of %d texts truncated to fit --max_seq_length %d (the template is never cut)",
                    truncated, len(records), max_length)
    return columns


def prompt_columns(texts: Sequence[str], texts_b: Sequence[str | None], template: Template, tokenizer, *,
                   lm_type: str, blank_length: int, max_length: int) -> dict[str, list[Any]]:
    """:func:`encode_prompts`' columns of a batch of texts, and ``truncated`` (whether each text was cut)."""
    placeholder = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    soft = template.num_soft_tokens > 0  # else no soft_mask: it would be all 0, which the collator leaves out
    columns: dict[str, list[Any]] = {"input_ids": [], **({"soft_mask": []} if soft else {})}
    if lm_type == "masked":
        columns["blank_positions"] = []
        if tokenizer.mask_token_id is None:
            raise DataFormatError("tokenizer", None, f"{type(tokenizer).__name__} has no mask token: a masked LM "
                                  "needs one (is the model a causal LM? pass --lm_type causal)")
    else:
        columns["suffix_ids"] = []
    columns["truncated"] = []
    for encoded in template.iter_batch(tokenizer, texts, texts_b, blank_length=blank_length,
                                         max_length=max_length, placeholder_id=placeholder):
        columns["truncated"].append(encoded.truncated)
        if lm_type == "masked":
            start = len(encoded.prefix)
            columns["input_ids"].append(encoded.prefix + [tokenizer.mask_token_id] * blank_length + encoded.suffix)
            if soft:
                columns["soft_mask"].append(encoded.prefix_soft + [0] * blank_length + encoded.suffix_soft)
            columns["blank_positions"].append(list(range(start, start + blank_length)))
        else:
            columns["input_ids"].append(encoded.prefix)
            if soft:
                columns["soft_mask"].append(encoded.prefix_soft)
            columns["suffix_ids"].append(encoded.suffix)
    return columns


class PromptCollator:
    """Pads encoded prompts into a batch for :class:`~plm_recipes.prompting.modeling.PromptLMModel`.

    Masked LMs: inputs padded on the right. Causal LMs: the text up to the blank padded on the left (so that it
    ends where the label words begin), ``suffix_ids`` / ``suffix_mask`` on the right.
    """

    def __init__(self, pad_token_id: int | None, lm_type: str):
        self.pad_token_id = pad_token_id if pad_token_id is not None else 0
        self.lm_type = lm_type

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        left = self.lm_type == "causal"
        batch = {
            "input_ids": _pad([f["input_ids"] for f in features], self.pad_token_id, left),
            "attention_mask": _pad([[1] * len(f["input_ids"]) for f in features], 0, left),
        }
        if any(any(f.get("soft_mask", ())) for f in features):
            batch["soft_mask"] = _pad([f["soft_mask"] for f in features], 0, left)
        if self.lm_type == "masked":
            batch["blank_positions"] = torch.tensor([f["blank_positions"] for f in features], dtype=torch.long)
        else:
            batch["suffix_ids"] = _pad([f["suffix_ids"] for f in features], self.pad_token_id, False)
            batch["suffix_mask"] = _pad([[1] * len(f["suffix_ids"]) for f in features], 0, False)
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
        return batch


def _pad(rows: list[list[int]], value: int, left: bool) -> torch.Tensor:
    width = max((len(row) for row in rows), default=0)
    out = torch.full((len(rows), max(width, 1)), value, dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            if left:
                out[i, width - len(row) :] = torch.tensor(row)
            else:
                out[i, : len(row)] = torch.tensor(row)
    return out
