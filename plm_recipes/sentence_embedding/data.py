"""Training text for unsupervised sentence embeddings: sentences from any file, no labels."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import datasets

from ..data.readers import data_format, read_lines, read_records
from ..errors import DataFormatError
from ..sanity import require_distinct

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sentences:
    """Sentences read from a file, in file order, with what was skipped."""

    texts: list[str]
    empty: int  # empty lines or fields skipped
    path: str = ""  # the file they were read from, for messages

    @property
    def distinct(self) -> int:
        return len(set(self.texts))

    def as_pairs(self) -> datasets.Dataset:
        """The training dataset of unsupervised SimCSE: columns ``anchor`` and ``positive``, both the sentence.
        The two copies go through the encoder separately, so dropout makes them two views of one sentence. Fewer
        than 2 distinct sentences are refused: the other sentences of a batch are the negatives, and copies of one
        sentence are none."""
        require_distinct(self.texts, self.path, "sentence", "SimCSE learns by telling each sentence from the other "
                         "sentences of its batch (in-batch negatives): copies of one sentence are no negatives")
        return datasets.Dataset.from_dict({"anchor": self.texts, "positive": self.texts})


def read_sentences(
    path: str | os.PathLike, columns: Sequence[str] | None = None, limit: int | None = None
) -> Sentences:
    """Sentences from ``path``, skipping (and counting) empty ones.

    * ``.txt``: one sentence per line (tabs and all), unless ``columns`` are given, as for ``.tsv``;
    * ``.tsv``: every tab-separated field of a line is a sentence, or only the fields numbered (from 1) in
      ``columns``; a line without such a field is an error naming it;
    * ``.csv`` / ``.json`` / ``.jsonl``: the ``columns`` (default ``["text"]``) of each record.

    ``limit`` keeps the first sentences only. An empty file, or one with no sentence at all, is an error.
    """
    path = os.fspath(path)
    fmt = data_format(path)
    texts: list[str] = []
    empty = 0
    if fmt == "tsv":
        lines = read_lines(path)  # blank lines are skipped here; count them with the empty fields
        with open(path, "rb") as f:
            empty += sum(1 for raw in f if not raw.strip())
        fields = _field_numbers(path, columns) if columns or path.lower().endswith(".tsv") else None
        for number, line in lines:
            if fields is None:
                values = [line]
            else:
                parts = line.split("\t")
                wanted = fields or range(1, len(parts) + 1)
                if max(wanted) > len(parts):
                    raise DataFormatError(path, number, f"expected at least {max(wanted)} tab-separated fields "
                                                        f"(--text_columns {' '.join(map(str, wanted))}), "
                                                        f"found {len(parts)}")
                values = [parts[i - 1] for i in wanted]
            for value in values:
                if value.strip():
                    texts.append(value.strip())
                else:
                    empty += 1
    else:
        names = list(columns or ["text"])
        records = read_records(path, names, optional=names)
        for record in records:
            found = [record[name] for name in names if record[name] is not None]
            if not found:
                raise record.error(f"none of the columns {names} is present; pass --text_columns with the "
                                   "names of the columns holding the sentences")
            for value in found:
                if not isinstance(value, str):
                    raise record.error(f"expected text, found {type(value).__name__} {value!r}")
                if value.strip():
                    texts.append(value.strip())
                else:
                    empty += 1
    if limit:
        texts = texts[:limit]
    if not texts:
        raise DataFormatError(path, None, "no sentences in the file (every line or field is empty)")
    sentences = Sentences(texts, empty, path)
    logger.info("%s: %d sentences (%d distinct), %d empty lines or fields skipped", path, len(texts),
                sentences.distinct, empty)
    return sentences


def _field_numbers(path: str, columns: Sequence[str] | None) -> list[int]:
    """``--text_columns`` of a tab-separated file as field numbers from 1 (``[]``: every field)."""
    numbers = []
    for column in columns or ():
        if not str(column).isdigit() or int(column) < 1:
            raise DataFormatError(path, None, f"--text_columns {column!r}: a tab-separated file's columns are field "
                                              "numbers counted from 1")
        numbers.append(int(column))
    return numbers
