"""Preprocessing a :class:`~plm_recipes.data.sources.DataSplit` the datasets way: in ``Dataset.map`` (batched,
``--preprocessing_num_workers`` processes, results cached, the main process first under a multi-process launch),
so that a rerun on the same data and tokenizer loads the tokenized data instead of tokenizing again.

:func:`map_split` is that call; :func:`encode_labels` turns label names into ids in it, naming the file and line
(or dataset row) of an unknown label; :func:`label_names` reads them from the data (a dataset's ``ClassLabel``
feature, else the distinct values of the training split, computed by Arrow, not in Python).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import datasets
import pyarrow.compute as pc

from .labels import LabelMap
from .sources import LINE_COLUMN, DataSplit, main_process_first

LENGTH_COLUMN = "length"  # TrainingArguments.length_column_name's default


def map_split(
    split: DataSplit,
    function: Callable[..., dict[str, list]],
    *,
    data_args: Any,
    training_args: Any = None,
    desc: str,
    remove_columns: Sequence[str] | None = None,
    with_indices: bool = False,
    features: datasets.Features | None = None,
    batch_size: int = 1000,
) -> DataSplit:
    """``split`` with ``function`` applied to batches of rows (``function(batch)`` or ``function(batch, indices)``),
    dropping ``remove_columns``. Cached by the datasets library: the same data, the same function (its code and
    the values it uses, a tokenizer included) load the earlier result, unless ``--overwrite_cache``."""
    dataset = split.dataset
    remove = [c for c in (remove_columns or ()) if c in (dataset.column_names or [])]
    if split.streaming:
        mapped = dataset.map(function, batched=True, batch_size=batch_size, with_indices=with_indices,
                             remove_columns=remove or None, features=features)
    else:
        with main_process_first(training_args, desc):
            mapped = dataset.map(
                function, batched=True, batch_size=batch_size, with_indices=with_indices, remove_columns=remove or None,
                features=features, num_proc=data_args.preprocessing_num_workers,
                load_from_cache_file=not getattr(data_args, "overwrite_cache", False), desc=desc,
            )
    return DataSplit(mapped, split.origin, split.path)


def collator_rebuilds(tokenizer) -> dict[str, bool]:
    """Tokenizer keyword arguments that leave out of the tokenized data what dynamic padding rebuilds from the
    token ids: the attention mask (all ones before padding; ``tokenizer.pad``, which ``DataCollatorWithPadding``
    calls, writes it) and, when the tokenizer gives one text token types that are all 0 (BERT's), the token types
    (the model's default). For one text per example, padded by the collator: a BERT tokenizer's three columns become
    one, a third of the data to convert, cache and read back."""
    kwargs = {"return_attention_mask": False}
    probe = tokenizer("一二", return_token_type_ids=True)
    if not any(probe.get("token_type_ids") or [1]):
        kwargs["return_token_type_ids"] = False
    return kwargs


def class_label_names(split: DataSplit, field: str = "label") -> list[str] | None:
    """The names of ``field``'s ``ClassLabel`` feature (a Hub dataset's labels), or ``None``."""
    feature = (split.dataset.features or {}).get(field)
    return list(feature.names) if isinstance(feature, datasets.ClassLabel) else None


def distinct_values(split: DataSplit, field: str, limit: int | None = None) -> list[Any]:
    """The distinct non-null values of ``field`` (Arrow's ``unique``; a streamed split is read up to ``limit``
    rows)."""
    if split.streaming:
        seen: dict[Any, None] = {}
        for i, row in enumerate(split.dataset.select_columns([field])):
            if limit is not None and i >= limit:
                break
            if row[field] is not None:
                seen.setdefault(row[field])
        return list(seen)
    return pc.unique(pc.drop_null(split.dataset.with_format("arrow")[field])).to_pylist()


def label_names(split: DataSplit, field: str = "label") -> LabelMap:
    """The label map of a training split: its ``ClassLabel`` names, else its distinct labels, sorted
    (:meth:`LabelMap.from_values`)."""
    names = class_label_names(split, field)
    if names is not None:
        return LabelMap(names, ids_allowed=True)
    return LabelMap.from_values(distinct_values(split, field))


def convert_column(split: DataSplit, field: str, convert: Callable[[Any], Any], *, dtype: str, data_args: Any,
                   training_args: Any = None, desc: str) -> DataSplit:
    """``split`` with each value of ``field`` replaced by ``convert(value)`` (a column of ``dtype``), in a cached
    ``Dataset.map``; a ``ValueError`` from ``convert`` becomes a :class:`~plm_recipes.errors.DataFormatError` with
    its message at the value's file line (or dataset row). ``convert`` is hashed for the cache: plain values only."""
    where = split.where  # not the split itself

    def converted(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        values = []
        for i, value in enumerate(batch[field]):
            try:
                values.append(convert(value))
            except ValueError as e:
                raise where.error_in(batch, i, indices, str(e)) from None
        return {field: values}

    features = None
    if split.dataset.features is not None:
        features = split.dataset.features.copy()
        features[field] = datasets.Value(dtype)
    return map_split(split, converted, data_args=data_args, training_args=training_args, with_indices=True,
                     features=features, desc=desc)


def encode_labels(split: DataSplit, label_map: LabelMap, *, data_args: Any, training_args: Any = None,
                  field: str = "label") -> DataSplit:
    """``split`` with ``field`` as ``label_map``'s ids; an unknown label raises a
    :class:`~plm_recipes.errors.DataFormatError` at its line (or row) that lists the known labels. A ``ClassLabel``
    column is read by its names, so a dataset that orders them otherwise than ``label_map`` still gets its ids."""
    names = class_label_names(split, field)
    if names == label_map.names:
        return split

    def encode(value: Any) -> int:
        return label_map.encode(names[value] if names is not None and value is not None else value)

    return convert_column(split, field, encode, dtype="int64", data_args=data_args, training_args=training_args,
                          desc=f"Encoding labels of {split.origin}")


def drop_line_numbers(split: DataSplit) -> DataSplit:
    """``split`` without the :data:`~plm_recipes.data.sources.LINE_COLUMN` (once nothing needs to name a line)."""
    if LINE_COLUMN in (split.dataset.column_names or []):
        return DataSplit(split.dataset.remove_columns(LINE_COLUMN), split.origin, split.path)
    return split
