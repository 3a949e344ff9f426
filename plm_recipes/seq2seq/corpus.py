"""Mask filling's data the datasets way: a corpus as a dataset of text pieces (a local file read line by line into
the datasets cache, or streamed; or a dataset's text column, ``--dataset_name``), and span corruption with
tokenization in a cached ``Dataset.map``.

Each text is split into lines, lines shorter than ``--min_text_length`` are skipped and longer ones cut into pieces of
at most ``--max_text_length`` characters (:func:`text_pieces`). A piece's masks are drawn from its own random
generator, seeded by the seed, the piece's row and the copy (:func:`span_corruption`): the same with any number of
workers or batch size, and in a stream.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import datasets

from ..data import DataSplit, generated_dataset, map_split
from ..errors import ArgumentError, DataFormatError
from .data import corpus_lines, encode_text, iter_corpus
from .masking import mask_spans
from .model_files import target_ids

FEATURES = datasets.Features({"text": datasets.Value("string")})


def text_pieces(texts: Iterable[str], min_length: int, max_length: int) -> Iterator[str]:
    """The lines of ``texts`` (:func:`~plm_recipes.seq2seq.data.corpus_lines`) cut into pieces of at most
    ``max_length`` characters (a piece shorter than 2 has nothing to mask)."""
    for line in corpus_lines(texts, min_length):
        for i in range(0, len(line), max_length):
            if len(line[i:i + max_length]) >= 2:
                yield line[i:i + max_length]


def _corpus_rows(path: str, stamp: tuple[int, int], column: str, min_length: int,
                 max_length: int) -> Iterator[dict[str, Any]]:
    del stamp  # part of the cache key only
    empty = True
    for piece in text_pieces(iter_corpus(path, column), min_length, max_length):
        empty = False
        yield {"text": piece}
    if empty:
        raise DataFormatError(path, None, f"no text of at least {min_length} characters")


def corpus_dataset(path: str | os.PathLike, *, column: str = "text", min_length: int = 8, max_length: int = 120,
                   streaming: bool = False) -> datasets.Dataset | datasets.IterableDataset:
    """A corpus file's pieces as a dataset with a ``text`` column, cached as Arrow (or streamed)."""
    return generated_dataset(_corpus_rows, path, FEATURES, streaming=streaming, column=column,
                             min_length=min_length, max_length=max_length)


def corpus_pieces(split: DataSplit, *, data_args: Any, training_args: Any = None) -> DataSplit:
    """A dataset's ``text`` column (``--dataset_name``) as pieces, as a file's are; a missing text is skipped (a
    corpus's blank rows), a value that is not text is an error naming its row."""
    feature = (split.dataset.features or {}).get("text")
    if feature is not None and not (isinstance(feature, datasets.Value) and "string" in feature.dtype):
        raise ArgumentError(f"{split.origin}: column 'text' should hold text, found {feature} (name the text column "
                            "with --text_column)")
    min_length, max_length = data_args.min_text_length, data_args.max_text_length
    columns = list(split.dataset.column_names or ["text"])

    def cut(batch: dict[str, list]) -> dict[str, list]:
        return {"text": list(text_pieces([t for t in batch["text"] if t is not None], min_length, max_length))}

    return map_split(split, cut, data_args=data_args, training_args=training_args, remove_columns=columns,
                     features=FEATURES, desc=f"Cutting {split.origin} into pieces")


def span_corruption(split: DataSplit, tokenizer, sentinels: Sequence[str], separator: str, *, data_args: Any,
                    training_args: Any, max_source_length: int, copies: int, seed: int,
                    keep_spans: bool = False) -> DataSplit:
    """Training pairs of each piece (``copies`` masked copies, :func:`~plm_recipes.seq2seq.masking.mask_spans`),
    tokenized: ``input_ids``, ``attention_mask``, ``labels`` (and the hidden ``spans``, to score generations)."""
    sentinels = list(sentinels)
    density, span_length = data_args.noise_density, data_args.mean_span_length
    max_target_length = data_args.max_target_length

    def corrupt(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        rows: dict[str, list] = {"input_ids": [], "attention_mask": [], "labels": [], "spans": []}
        for text, index in zip(batch["text"], indices):
            for copy in range(copies):
                rng = random.Random(f"{seed}:{index}:{copy}")  # the piece's own masks, in any worker
                example = mask_spans(text, sentinels, rng, density, span_length, separator)
                source = encode_text(tokenizer, example.source, max_source_length)
                rows["input_ids"].append(source)
                rows["attention_mask"].append([1] * len(source))
                rows["labels"].append(target_ids(tokenizer, example.target, max_target_length))
                rows["spans"].append(list(example.spans))
        if not keep_spans:
            del rows["spans"]
        return rows

    return map_split(split, corrupt, data_args=data_args, training_args=training_args, with_indices=True,
                     remove_columns=["text"], desc=f"Masking spans of {split.origin}")
