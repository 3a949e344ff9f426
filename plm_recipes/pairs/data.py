"""Labelled text pairs (``text_a<TAB>text_b<TAB>0/1``): the evaluation data of the matching and sentence-embedding
families, and the matching recipes' training data.

Pairs are datasets with the columns ``text_a``, ``text_b``, ``label`` (0/1), read by the core's
:func:`~plm_recipes.data.load_splits` from local files (validated line by line into the Arrow cache) or from
``--dataset_name`` (its columns named by ``--text_a_column`` / ``--text_b_column`` / ``--label_column``), and the
labels checked in ``Dataset.map``: a label other than 0/1 names its file and line (or the dataset's row).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import datasets

from ..args import DataArguments
from ..data import DataSplit, convert_column, drop_line_numbers, file_dataset, load_splits
from ..data.readers import Record

PAIR_FIELDS = ("text_a", "text_b", "label")


def _binary(value: Any) -> int | None:
    """``value`` as 0 or 1 (``"0"``/``"1"``, 0/1, 0.0/1.0), else ``None``."""
    text = str(value).strip()
    if text in ("0", "1"):
        return int(text)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    return None


def binary_label(record: Record) -> int:
    """The record's label as 0 or 1, or an error naming the line."""
    label = _binary(record["label"])
    if label is None:
        raise record.error(f"label must be 0 or 1, found {str(record['label']).strip()!r}")
    return label


def binary_labels(split: DataSplit, *, data_args: Any, training_args: Any = None) -> DataSplit:
    """``split`` with its ``label`` column as 0/1 integers (in ``Dataset.map``, cached); a label other than 0 or 1
    raises a :class:`~plm_recipes.errors.DataFormatError` at its file line (or dataset row). A dataset's
    ``ClassLabel`` column is read by its ids (a two-name ``ClassLabel``: 0 and 1)."""
    return convert_column(split, "label", _checked_binary, dtype="int64", data_args=data_args,
                          training_args=training_args, desc=f"Checking the labels of {split.origin}")


def _checked_binary(value: Any) -> int:
    label = _binary(value)
    if label is None:
        raise ValueError(f"label must be 0 or 1, found {str(value).strip()!r}")
    return label


def load_pairs(data_args: Any, training_args: Any, splits: Sequence[str] | None = None) -> dict[str, DataSplit]:
    """The labelled pairs of each requested split (``data_args`` has :class:`PairColumnArguments`): columns
    ``text_a``, ``text_b`` and ``label`` (0/1), in that order, from the data files or ``--dataset_name``."""
    loaded = load_splits(data_args, training_args, PAIR_FIELDS, columns=data_args.pair_columns(),
                         text_fields=("text_a", "text_b"), splits=splits)
    pairs = {}
    for name, split in loaded.items():
        split = drop_line_numbers(binary_labels(split, data_args=data_args, training_args=training_args))
        split.dataset = split.dataset.select_columns(list(PAIR_FIELDS))  # the order sentence-transformers reads
        pairs[name] = split
    return pairs


def read_pairs(
    path: str | os.PathLike, columns: Mapping[str, str] | None = None, limit: int | None = None
) -> datasets.Dataset:
    """Labelled pairs of one file as a dataset with columns ``text_a``, ``text_b``, ``label`` (0/1), in file order.

    ``.txt``/``.tsv`` lines are ``text_a<TAB>text_b<TAB>label``; csv/json name the columns (``columns`` maps
    ``text_a``/``text_b``/``label`` to the file's names).
    """
    path = os.fspath(path)
    dataset = file_dataset(path, PAIR_FIELDS, columns=columns)
    if limit:
        dataset = dataset.select(range(min(limit, len(dataset))))
    split = binary_labels(DataSplit(dataset, path, path), data_args=DataArguments())
    return drop_line_numbers(split).dataset


@dataclass
class PairColumnArguments:
    """Where the two texts and the 0/1 label of labelled pairs are: columns of csv/json files or of a
    ``--dataset_name`` (``.txt``/``.tsv`` lines are ``text_a<TAB>text_b<TAB>label``). Mixed into the data arguments
    of the recipes that read pairs."""

    text_a_column: str = field(default="text_a", metadata={"help": "First text's column (csv/json, a dataset)."})
    text_b_column: str = field(default="text_b", metadata={"help": "Second text's column (csv/json, a dataset)."})
    label_column: str = field(default="label", metadata={"help": "0/1 label column (csv/json, a dataset)."})

    def pair_columns(self) -> dict[str, str]:
        """The ``columns`` argument of :func:`read_pairs` and :func:`load_pairs`."""
        return {"text_a": self.text_a_column, "text_b": self.text_b_column, "label": self.label_column}
