"""Text-matching data: labelled pairs (``text_a<TAB>text_b<TAB>0/1``) and category description files."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import datasets

from ..errors import DataFormatError
from .readers import Record, read_lines, read_records, records_to_dataset

logger = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class Category:
    """One category a text can match: ``text`` is what the model reads (``name：description``)."""

    id: str
    name: str
    description: str

    @property
    def text(self) -> str:
        return f"{self.name}：{self.description}" if self.description else self.name


def read_categories(path: str | os.PathLike) -> list[Category]:
    """Categories from ``id<TAB>name<TAB>description`` lines (the seed's ``types_desc.txt``).

    The text a model compares a comment with is ``name：description``, as in the training pairs. An id that
    appears twice with different content is an error naming both lines; a line repeated exactly (the seed's
    file repeats three) is skipped with a warning.
    """
    path = os.fspath(path)
    lines = read_lines(path)
    if not lines:
        raise DataFormatError(path, None, "the description file is empty; expected id<TAB>name<TAB>description lines")
    seen: dict[str, tuple[Category, int]] = {}
    names: dict[str, int] = {}
    categories = []
    for number, text in lines:
        parts = text.split("\t")
        if len(parts) != 3:
            raise DataFormatError(
                path, number, f"expected 3 tab-separated fields (id<TAB>name<TAB>description), found {len(parts)}"
            )
        category = Category(*(p.strip() for p in parts))
        if not category.id or not category.name:
            raise DataFormatError(path, number, "empty id or name")
        if category.id in seen:
            first, first_line = seen[category.id]
            if first == category:
                logger.warning("%s, line %d: repeats line %d; skipped", path, number, first_line)
                continue
            raise DataFormatError(path, number, f"id {category.id} is already used on line {first_line} "
                                                f"({first.name}); each id must be used once")
        if category.name in names:
            raise DataFormatError(path, number, f"name {category.name!r} is already used on line {names[category.name]}")
        seen[category.id] = (category, number)
        names[category.name] = number
        categories.append(category)
    return categories


def pair_texts(dataset: datasets.Dataset) -> tuple[Sequence[str], Sequence[str], Sequence[int]]:
    """``(text_a, text_b, label)`` columns of a pair dataset."""
    return dataset["text_a"], dataset["text_b"], dataset["label"]
