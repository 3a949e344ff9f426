"""Prompt-learning data as datasets: labelled texts from local files or ``--dataset_name``, checked against the
template and the verbalizer with Arrow's kernels, and written into the template in a cached ``Dataset.map``.

    splits = load_prompt_splits(data_args, training_args, template)   # label, text, text_b (+ __line__)
    check_prompt_split(splits["train"], template, verbalizer.labels, training=True)
    encoded = encode_prompt_split(splits["train"], template, tokenizer, label_map, lm_type="masked", ...)

Errors name the file and line of a local file (the line is kept as a column), or the row of a dataset.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..data import (
    LENGTH_COLUMN,
    LINE_COLUMN,
    DataSplit,
    LabelMap,
    class_label_names,
    distinct_values,
    has_values,
    load_splits,
    map_split,
)
from ..sanity import require_distinct
from .data import FIELDS, prompt_columns
from .template import Template

logger = logging.getLogger(__name__)


def load_prompt_splits(data_args: Any, training_args: Any, template: Template) -> dict[str, DataSplit]:
    """The splits the requested stages read (:func:`~plm_recipes.data.load_splits`): ``label``, ``text`` and
    ``text_b`` (a test split may come without labels; ``text_b`` is needed by a template with ``{textB}``, which
    a local file's lines are checked for by :func:`check_prompt_split`)."""
    needs_b = "textB" in template.texts
    optional_b = () if needs_b and data_args.dataset_name else ("text_b",)
    return load_splits(data_args, training_args, FIELDS, columns=data_args.columns(),
                       optional={"train": optional_b, "validation": optional_b, "test": optional_b + ("label",)},
                       text_fields=("text", "text_b") if needs_b else ("text",))


def _labels_as_text(split: DataSplit) -> pa.ChunkedArray:
    """The label column as text: a ``ClassLabel``'s names, other values written as strings."""
    column = split.dataset.with_format("arrow")["label"]
    names = class_label_names(split)
    if names is not None:
        return pc.take(pa.array(names), column)
    return column if pa.types.is_string(column.type) or pa.types.is_large_string(column.type) else \
        pc.cast(column, pa.string())


def _first(split: DataSplit, mask: pa.ChunkedArray) -> tuple[int, int] | None:
    """``(index, row)`` of the first row where ``mask`` holds: its position, and the row number
    :meth:`~plm_recipes.data.Origin.error` takes (its file line for a local file, else its position); or ``None``."""
    first = pc.index(pc.fill_null(mask, False), True).as_py()
    if first < 0:
        return None
    return first, (split.dataset[first][LINE_COLUMN] if LINE_COLUMN in split.dataset.column_names else first)


def check_prompt_split(split: DataSplit, template: Template, labels: Sequence[str], training: bool = False) -> None:
    """Refuse, before a model loads, a split the verbalizer or the template cannot take: a label the verbalizer
    lacks (the model can only ever answer with a verbalizer label), an example without the second text a
    ``{textB}`` template needs, and for training a single label (a classifier with one class learns nothing)."""
    if "label" in split.dataset.column_names:
        values = _labels_as_text(split)
        unknown = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=pa.array(list(labels),
                                                                                            pa.string()))))
        found = _first(split, unknown)
        if found is not None:
            label = values[found[0]].as_py()
            raise split.error(found[1], f"label {label!r} is not in the verbalizer (it has {', '.join(labels)}); add "
                                        f"a line {label}<TAB>word to the verbalizer file or fix the label")
    if "textB" in template.texts:
        column = split.dataset.with_format("arrow")["text_b"] if "text_b" in split.dataset.column_names else None
        found = (0, 0) if column is None else _first(split, pc.is_null(column))
        if found is not None:
            raise split.error(found[1], f"the template {template.template!r} has {{textB}}, and this example has no "
                                   "second text (label<TAB>text<TAB>text_b)")
    if training and len(split.dataset):
        names = class_label_names(split)
        found = [names[v] if names is not None else v for v in distinct_values(split, "label")]
        require_distinct(found, split.origin, "label", "prompt learning learns to tell the labels' words apart")


def encode_prompt_split(split: DataSplit, template: Template, tokenizer, label_map: LabelMap, *, lm_type: str,
                        blank_length: int, max_length: int, data_args: Any, training_args: Any = None,
                        desc: str) -> DataSplit:
    """``split`` written into the template (:func:`~plm_recipes.prompting.data.prompt_columns`, batched, cached)
    with ``labels`` as ids when every row has a label (and the lengths under ``--train_sampling_strategy
    group_by_length``)."""
    with_labels = has_values(split, "label")
    add_length = getattr(training_args, "train_sampling_strategy", None) == "group_by_length"
    names = class_label_names(split)
    ids = {name: i for i, name in enumerate(label_map.names)}
    known = ", ".join(label_map.names)
    where = split.where  # plain values: the function is hashed for the cache

    def encode(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        texts_b = batch.get("text_b") or [None] * len(batch["text"])
        columns = prompt_columns(batch["text"], texts_b, template, tokenizer, lm_type=lm_type,
                                 blank_length=blank_length, max_length=max_length)
        if with_labels:
            columns["labels"] = []
            for i, label in enumerate(batch["label"]):
                label = names[label] if names is not None else str(label)
                if label not in ids:
                    raise where.error_in(batch, i, indices,
                                      f"label {label!r} is not in the verbalizer (it has {known})")
                columns["labels"].append(ids[label])
        if add_length:  # the length-grouped sampler reads this column instead of every row
            suffixes = columns.get("suffix_ids") or [()] * len(columns["input_ids"])
            columns[LENGTH_COLUMN] = [len(row) + len(suffix) for row, suffix in zip(columns["input_ids"], suffixes)]
        return columns

    encoded = map_split(split, encode, data_args=data_args, training_args=training_args, with_indices=True,
                        remove_columns=split.dataset.column_names, desc=desc)
    truncated = pc.sum(encoded.dataset.with_format("arrow")["truncated"]).as_py() or 0
    if truncated:
        logger.info("%s: %d of %d texts truncated to fit --max_seq_length %d (the template is never cut)",
                    split.origin, truncated, len(encoded.dataset), max_length)
    return DataSplit(encoded.dataset.remove_columns("truncated"), encoded.origin, encoded.path)
