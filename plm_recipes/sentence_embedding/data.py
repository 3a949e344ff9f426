"""Training text for unsupervised sentence embeddings: sentences from any file or dataset, no labels.

The training split is a dataset of sentences (one ``text`` column): a local file read line by line into the Arrow
cache (or streamed with ``--streaming``), or the ``--text_columns`` of a ``--dataset_name`` split, each non-empty
value a sentence. :func:`sentence_pairs` makes it SimCSE's ``(anchor, positive)`` rows in ``Dataset.map``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np
import pyarrow as pa

from ..data import DataSplit, distinct_values, load_splits, map_split
from ..data.readers import data_format, iter_lines, iter_records
from ..errors import ArgumentError, DataFormatError
from ..sanity import require_distinct

logger = logging.getLogger(__name__)

SENTENCE_FEATURES = datasets.Features({"text": datasets.Value("string")})
PAIR_FEATURES = datasets.Features({"anchor": datasets.Value("string"), "positive": datasets.Value("string")})
WHY_DISTINCT = ("SimCSE learns by telling each sentence from the other sentences of its batch (in-batch negatives): "
                "copies of one sentence are no negatives")


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
        require_distinct(self.texts, self.path, "sentence", WHY_DISTINCT)
        return datasets.Dataset.from_dict({"anchor": self.texts, "positive": self.texts})


def iter_sentences(path: str | os.PathLike, columns: Sequence[str] | None = None) -> Iterator[tuple[int, str | None]]:
    """``(line, sentence)`` of every sentence of ``path``, in file order, and ``(line, None)`` for every empty line
    or field skipped (a blank line's number is the line after it, where it is noticed).

    * ``.txt``: one sentence per line (tabs and all), unless ``columns`` are given, as for ``.tsv``;
    * ``.tsv``: every tab-separated field of a line is a sentence, or only the fields numbered (from 1) in
      ``columns``; a line without such a field is an error naming it;
    * ``.csv`` / ``.json`` / ``.jsonl``: the ``columns`` (default ``["text"]``) of each record.
    """
    path = os.fspath(path)
    fmt = data_format(path)
    if fmt != "tsv":
        return _record_sentences(path, list(columns or ["text"]))
    fields = _field_numbers(path, columns) if columns or path.lower().endswith(".tsv") else None
    return _line_sentences(path, fields)


def _line_sentences(path: str, fields: list[int] | None) -> Iterator[tuple[int, str | None]]:
    previous = 0
    for number, line in iter_lines(path):
        for _ in range(number - previous - 1):  # blank lines: iter_lines skips them
            yield number, None
        previous = number
        if fields is None:
            values = [line]
        else:
            parts = line.split("\t")
            wanted = fields or range(1, len(parts) + 1)
            if max(wanted) > len(parts):
                raise DataFormatError(path, number, f"expected at least {max(wanted)} tab-separated fields "
                                                    f"(--text_columns {' '.join(map(str, wanted))}), found {len(parts)}")
            values = [parts[i - 1] for i in wanted]
        for value in values:
            yield number, (value.strip() or None)


def _record_sentences(path: str, names: list[str]) -> Iterator[tuple[int, str | None]]:
    for record in iter_records(path, names, optional=names):
        found = [record[name] for name in names if record[name] is not None]
        if not found:
            raise record.error(f"none of the columns {names} is present; pass --text_columns with the names of the "
                               "columns holding the sentences")
        for value in found:
            if not isinstance(value, str):
                raise record.error(f"expected text, found {type(value).__name__} {value!r}")
            yield record.line, (value.strip() or None)


def read_sentences(
    path: str | os.PathLike, columns: Sequence[str] | None = None, limit: int | None = None
) -> Sentences:
    """The sentences of ``path`` as a list (:func:`iter_sentences`), skipping (and counting) empty ones; ``limit``
    keeps the first ones only. A file with no sentence at all is an error. (The recipe reads its corpus with
    :func:`load_sentences` instead, into the Arrow cache or as a stream.)"""
    path = os.fspath(path)
    texts: list[str] = []
    empty = 0
    for _, text in iter_sentences(path, columns):
        if text is None:
            empty += 1
        else:
            texts.append(text)
    if limit:
        texts = texts[:limit]
    if not texts:
        raise DataFormatError(path, None, "no sentences in the file (every line or field is empty)")
    sentences = Sentences(texts, empty, path)
    logger.info("%s: %d sentences (%d distinct), %d empty lines or fields skipped", path, len(texts),
                sentences.distinct, empty)
    return sentences


def _sentence_rows(path: str, columns: tuple[str, ...] | None, stamp: tuple[int, int]) -> Iterator[dict[str, str]]:
    """The rows of ``path`` for the datasets cache (``stamp``, the file's size and modification time, is only part
    of the cache key)."""
    del stamp
    found = False
    for _, text in iter_sentences(path, columns):
        if text is not None:
            found = True
            yield {"text": text}
    if not found:
        raise DataFormatError(path, None, "no sentences in the file (every line or field is empty)")


def sentence_file_dataset(path: str | os.PathLike, columns: Sequence[str] | None = None, streaming: bool = False,
                          cache_dir: str | None = None) -> datasets.Dataset | datasets.IterableDataset:
    """The sentences of a local file (:func:`iter_sentences`) as a dataset with one ``text`` column, validated as
    it is read into the Arrow cache (a rerun on the unchanged file loads the cache), or streamed."""
    path = os.fspath(path)
    data_format(path)  # an unsupported suffix is refused before anything is cached
    if not os.path.isfile(path):
        raise DataFormatError(path, None, "file not found")
    stat = os.stat(path)
    gen_kwargs = {"path": os.path.abspath(path), "columns": tuple(columns) if columns else None,
                  "stamp": (stat.st_size, stat.st_mtime_ns)}
    if streaming:
        return datasets.IterableDataset.from_generator(_sentence_rows, features=SENTENCE_FEATURES,
                                                       gen_kwargs=gen_kwargs)
    try:
        return datasets.Dataset.from_generator(_sentence_rows, features=SENTENCE_FEATURES, gen_kwargs=gen_kwargs,
                                               cache_dir=cache_dir)
    except datasets.exceptions.DatasetGenerationError as e:
        if isinstance(e.__cause__, DataFormatError):  # the file's own error, not the cache's
            raise e.__cause__ from None
        raise


def load_sentences(data_args: Any, training_args: Any) -> DataSplit:
    """The training sentences (``data_args`` is a :class:`~plm_recipes.sentence_embedding.SentenceDataArguments`):
    ``--train_file``, or the ``--text_columns`` (default ``text``) of ``--dataset_name``'s training split, every
    non-empty value a sentence; cut to ``--max_train_samples``; streamed with ``--streaming``."""
    streaming = getattr(data_args, "streaming", False)
    if streaming and getattr(training_args, "max_steps", 1) <= 0:
        raise ArgumentError("--streaming reads the data as training goes, with no length to count epochs in: "
                            "pass --max_steps")
    if data_args.dataset_name:
        names = list(data_args.text_columns or ["text"])
        try:
            split = load_splits(data_args, training_args, names, splits=["train"])["train"]
        except ArgumentError as e:
            if "has no column" in str(e):
                raise ArgumentError(f"{e}; name the columns holding the sentences with --text_columns") from None
            raise
        for name in names:
            feature = (split.dataset.features or {}).get(name)
            if feature is not None and not (isinstance(feature, datasets.Value) and "string" in feature.dtype):
                raise ArgumentError(f"{split.origin}: column {name!r} should hold text, found {feature}")
        return map_split(split, _sentences_of_columns, data_args=data_args, training_args=training_args,
                         remove_columns=names, features=SENTENCE_FEATURES, desc="Reading the sentences")
    if not data_args.train_file:
        raise ArgumentError("training needs --train_file (sentences) or --dataset_name")
    path = data_args.train_file
    split = DataSplit(sentence_file_dataset(path, data_args.text_columns, streaming=streaming), path, path)
    limit = data_args.max_train_samples
    if limit:
        split.dataset = (split.dataset.take(limit) if split.streaming
                         else split.dataset.select(range(min(limit, len(split.dataset)))))
    return split


def _sentences_of_columns(batch: dict[str, list]) -> dict[str, list]:
    """Every non-empty value of the batch's columns, in row order, as a sentence."""
    texts = []
    for row in zip(*batch.values()):
        texts.extend(value.strip() for value in row if value is not None and value.strip())
    return {"text": texts}


def sentence_pairs(split: DataSplit, *, data_args: Any, training_args: Any = None) -> datasets.Dataset:
    """SimCSE's training rows, ``anchor`` and ``positive`` both the sentence (:meth:`Sentences.as_pairs`), made in
    ``Dataset.map``. Fewer than 2 distinct sentences are refused (a stream: among its first 1000)."""
    if split.streaming:
        require_distinct(distinct_values(split, "text", limit=1000), split.origin, "sentence", WHY_DISTINCT)
    else:
        count = count_distinct_texts(split.dataset.with_format("arrow")["text"])
        logger.info("%s: %d sentences (%d distinct)", split.origin, len(split.dataset), count)
        if count < 2:  # the error names the one sentence there is
            require_distinct(distinct_values(split, "text"), split.origin, "sentence", WHY_DISTINCT)
    pairs = map_split(split, _twins, data_args=data_args, training_args=training_args, remove_columns=["text"],
                      features=PAIR_FEATURES, desc="Pairing each sentence with itself")
    return pairs.dataset


def count_distinct_texts(column: pa.ChunkedArray, chunk_size: int = 65_536) -> int:
    """The number of distinct non-null texts of ``column``, counted on their 64-bit hashes (a numpy array, 8 bytes
    a text), a chunk of texts at a time. Arrow's ``count_distinct`` holds every distinct text in its hash table at
    once: measured at a million short sentences, +170 MB of anonymous memory at its peak, +100 MB of it kept by
    Arrow's memory pool for the rest of the run. Two texts of one hash would count once (odds about 3e-8 at a
    million texts): the count is for the log, and fewer than 2 is checked again on the texts themselves."""
    hashes = [np.fromiter((hash(text) for text in column.slice(start, chunk_size).to_pylist() if text is not None),
                          dtype=np.int64) for start in range(0, len(column), chunk_size)]
    return len(np.unique(np.concatenate(hashes))) if hashes else 0


def _twins(batch: dict[str, list]) -> dict[str, list]:
    return {"anchor": batch["text"], "positive": batch["text"]}


def _field_numbers(path: str, columns: Sequence[str] | None) -> list[int]:
    """``--text_columns`` of a tab-separated file as field numbers from 1 (``[]``: every field)."""
    numbers = []
    for column in columns or ():
        if not str(column).isdigit() or int(column) < 1:
            raise DataFormatError(path, None, f"--text_columns {column!r}: a tab-separated file's columns are field "
                                              "numbers counted from 1")
        numbers.append(int(column))
    return numbers
