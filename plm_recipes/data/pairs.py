"""Labelled text pairs (``text_a<TAB>text_b<TAB>0/1``): the evaluation data of the matching and sentence-embedding
families, and the matching recipes' training data."""

from __future__ import annotations

import os
from collections.abc import Mapping

import datasets

from .readers import Record, read_records, records_to_dataset

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
