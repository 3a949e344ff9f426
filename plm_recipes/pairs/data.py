"""Labelled text pairs (``text_a<TAB>text_b<TAB>0/1``): the evaluation data of the matching and sentence-embedding
families, and the matching recipes' training data."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import datasets

from ..data.readers import Record, read_records, records_to_dataset

PAIR_FIELDS = ("text_a", "text_b", "label")


def binary_label(record: Record) -> int:
    """The record's label as 0 or 1, or an error naming the line."""
    value = record["label"]
    text = str(value).strip()
    if text in ("0", "1") or value in (0, 1):
        return int(text if text in ("0", "1") else value)
    raise record.error(f"label must be 0 or 1, found {text!r}")


def read_pairs(
    path: str | os.PathLike, columns: Mapping[str, str] | None = None, limit: int | None = None
) -> datasets.Dataset:
    """Labelled pairs as a dataset with columns ``text_a``, ``text_b``, ``label`` (0/1), in file order.

    ``.txt``/``.tsv`` lines are ``text_a<TAB>text_b<TAB>label``; csv/json name the columns (``columns`` maps
    ``text_a``/``text_b``/``label`` to the file's names).
    """
    records = read_records(path, PAIR_FIELDS, columns=columns)
    if limit:
        records = records[:limit]
    return records_to_dataset(records, {"label": binary_label})


@dataclass
class PairColumnArguments:
    """Where the two texts and the 0/1 label of labelled pairs are in csv/json files (``.txt``/``.tsv`` lines are
    ``text_a<TAB>text_b<TAB>label``). Mixed into the data arguments of the recipes that read pairs."""

    text_a_column: str = field(default="text_a", metadata={"help": "First text's column in csv/json pair files."})
    text_b_column: str = field(default="text_b", metadata={"help": "Second text's column in csv/json pair files."})
    label_column: str = field(default="label", metadata={"help": "0/1 label column in csv/json pair files."})

    def pair_columns(self) -> dict[str, str]:
        """The ``columns`` argument of :func:`read_pairs`."""
        return {"text_a": self.text_a_column, "text_b": self.text_b_column, "label": self.label_column}
