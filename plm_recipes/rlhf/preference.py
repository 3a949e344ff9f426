"""The reward model's data the datasets way: rank lists as a dataset with a ``texts`` column (a list of texts, best
first) and the line they were read from; read from a local file line by line into the datasets cache, or from a
dataset's ``ranking`` or ``chosen`` / ``rejected`` columns (``--dataset_name``, TRL's preference datasets with plain
text); held out by text and tokenized in cached ``Dataset.map`` calls."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import datasets
import pyarrow.compute as pc

from ..data import LINE_COLUMN, DataSplit, generated_dataset, map_split
from ..errors import ArgumentError, DataFormatError
from .data import CHOSEN_KEYS, RANKING_KEY, REJECTED_KEY, _json_rank_list, encode_text_lists, held_out_texts, \
    iter_rank_lists

FEATURES = datasets.Features({"texts": datasets.List(datasets.Value("string")), LINE_COLUMN: datasets.Value("int64")})
COLUMNS = (RANKING_KEY, *CHOSEN_KEYS, REJECTED_KEY, "prompt")  # what a dataset's rows are read from


def _rank_list_rows(path: str, stamp: tuple[int, int], with_prompt: bool) -> Iterator[dict[str, Any]]:
    del stamp  # part of the cache key only
    for ranked in iter_rank_lists(path, with_prompt=with_prompt):
        yield {"texts": list(ranked.texts), LINE_COLUMN: ranked.line}


def rank_list_dataset(path: str | os.PathLike, *, with_prompt: bool = False) -> datasets.Dataset:
    """A rank-list file (:func:`~plm_recipes.rlhf.data.read_rank_lists`'s formats and errors) as a dataset."""
    return generated_dataset(_rank_list_rows, path, FEATURES, with_prompt=with_prompt)


def rank_list_rows(split: DataSplit, *, with_prompt: bool, data_args: Any, training_args: Any = None) -> DataSplit:
    """A dataset's rows (``ranking``, or ``chosen``/``selected`` and ``rejected``, and ``prompt`` with
    ``with_prompt``) as rank lists, each checked as a file's line is (an error names the row)."""
    features = split.dataset.features or {}
    for column in (RANKING_KEY, *CHOSEN_KEYS, REJECTED_KEY):
        feature = features.get(column)
        if feature is not None and not (isinstance(feature, datasets.Value) or column == RANKING_KEY):
            raise ArgumentError(f"{split.origin}: column {column!r} holds {feature}; the reward model scores plain "
                                "texts (a conversational preference dataset needs its chats rendered to text first)")
    where = split.where  # not the split itself: the function is hashed for the cache
    columns = list(split.dataset.column_names)

    def convert(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        out: dict[str, list] = {"texts": [], LINE_COLUMN: []}
        for i, index in enumerate(indices):
            row = {column: batch[column][i] for column in columns if batch[column][i] is not None}
            try:
                ranked = _json_rank_list(row, where.origin, index + 1, with_prompt)
            except DataFormatError as e:
                raise where.error(index, e.reason) from None
            out["texts"].append(list(ranked.texts))
            out[LINE_COLUMN].append(index)
        return out

    return map_split(split, convert, data_args=data_args, training_args=training_args, with_indices=True,
                     remove_columns=columns, features=FEATURES, desc=f"Reading the rank lists of {split.origin}")


def count_pairs_of(split: DataSplit) -> tuple[int, int]:
    """The texts and the ordered pairs (``K(K-1)/2`` a list) of a split, counted by Arrow."""
    lengths = pc.list_value_length(split.dataset.with_format("arrow")["texts"])
    texts = pc.sum(lengths).as_py() or 0
    pairs = pc.sum(pc.divide(pc.multiply(lengths, pc.subtract(lengths, 1)), 2)).as_py() or 0
    return texts, pairs


def split_by_text_dataset(split: DataSplit, fraction: float, seed: int, *, data_args: Any,
                          training_args: Any = None) -> tuple[DataSplit, DataSplit]:
    """:func:`~plm_recipes.rlhf.data.split_by_text` of a split's rank lists: the same held-out texts, the lists cut
    in a cached ``Dataset.map``."""
    column = split.dataset.with_format("arrow")["texts"]
    distinct = pc.count_distinct(pc.list_flatten(column)).as_py()
    texts = split.dataset["texts"]
    held = tuple(sorted(held_out_texts(lambda i: texts[i], len(split.dataset), distinct, fraction, seed)))

    def part(keep: bool) -> DataSplit:
        def cut(batch: dict[str, list]) -> dict[str, list]:
            chosen = set(held)
            out: dict[str, list] = {"texts": [], LINE_COLUMN: []}
            for texts_, line in zip(batch["texts"], batch[LINE_COLUMN]):
                sub = [t for t in texts_ if (t in chosen) == keep]
                if len(sub) >= 2:
                    out["texts"].append(sub)
                    out[LINE_COLUMN].append(line)
            return out

        name = "held-out" if keep else "training"
        cut_split = map_split(split, cut, data_args=data_args, training_args=training_args, features=FEATURES,
                              desc=f"Keeping the {name} texts of {split.origin}")
        return DataSplit(cut_split.dataset, f"{split.origin} ({name} texts)" if keep else split.origin, split.path)

    return part(False), part(True)


def tokenize_rank_lists(split: DataSplit, tokenizer, max_length: int, *, data_args: Any,
                        training_args: Any = None) -> DataSplit:
    """Each list's texts tokenized (:func:`~plm_recipes.rlhf.data.encode_rank_lists`), for the collator."""

    def encode(batch: dict[str, list]) -> dict[str, list]:
        return encode_text_lists(batch["texts"], tokenizer, max_length)

    return map_split(split, encode, data_args=data_args, training_args=training_args,
                     remove_columns=["texts", LINE_COLUMN], desc=f"Tokenizing {split.origin}")
