"""Text-matching data: labelled pairs (``text_a<TAB>text_b<TAB>0/1``) and category description files."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass

import datasets
import numpy as np
import pyarrow.compute as pc

from ..data import DataSplit, distinct_values
from ..data.readers import read_lines
from ..errors import DataFormatError
from ..pairs.data import load_pairs
from ..sanity import require_distinct

logger = logging.getLogger(__name__)


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


def add_sampled_negatives(
    pairs: datasets.Dataset, categories: Sequence[Category], per_positive: int, seed: int = 0
) -> datasets.Dataset:
    """Add ``per_positive`` negative pairs for each positive ``(category, text)`` pair: the same text with other
    categories, drawn at random. More of the decisions the model will face when it ranks every category for a
    text, for free.

    Assumes a text belongs to one category: a text's own positives are never drawn as its negatives, and
    neither is a pair already in the data. Positive pairs whose ``text_a`` is not a category's text are left as
    they are.
    """
    if per_positive <= 0:
        return pairs
    by_text = {c.text: c for c in categories}
    known = set(zip(pairs["text_a"], pairs["text_b"]))
    positives: dict[str, set[str]] = {}
    for a, b, label in zip(pairs["text_a"], pairs["text_b"], pairs["label"]):
        if label == 1:
            positives.setdefault(b, set()).add(a)
    rng = random.Random(seed)
    added: dict[str, list] = {"text_a": [], "text_b": [], "label": []}
    for text, own in positives.items():
        if not own & by_text.keys():
            continue
        candidates = [c.text for c in categories if c.text not in own and (c.text, text) not in known]
        for a in rng.sample(candidates, min(per_positive, len(candidates))):
            added["text_a"].append(a)
            added["text_b"].append(text)
            added["label"].append(0)
    logger.info("Added %d sampled negative pairs to %d pairs.", len(added["label"]), len(pairs))
    extra = datasets.Dataset.from_dict(added, features=pairs.features)
    return datasets.concatenate_datasets([pairs, extra]).shuffle(seed=seed)


def load_pair_splits(data_args, training_args, seed: int = 0) -> dict[str, DataSplit]:
    """Each requested split's pairs (``data_args`` is a :class:`~plm_recipes.matching.arguments.PairDataArguments`):
    the data files or ``--dataset_name`` (:func:`~plm_recipes.pairs.data.load_pairs`), cut to ``--max_*_samples``,
    with ``--negatives_per_positive`` sampled negatives added to the training split. Training pairs that all carry
    one label value are refused: there is nothing to tell apart."""
    pairs = load_pairs(data_args, training_args)
    train = pairs.get("train")
    if train is not None and data_args.negatives_per_positive:
        categories = read_categories(data_args.categories_file)
        train.dataset = add_sampled_negatives(train.dataset, categories, data_args.negatives_per_positive, seed)
    if train is not None:
        require_distinct(distinct_values(train, "label"), train.origin, "label value",
                         "a matching model learns to tell matching pairs from the others (add pairs labelled 0, or "
                         "sample them: --negatives_per_positive with --categories_file)")
    return pairs


def group_pairs(pairs: datasets.Dataset, key: str = "text_b", **map_kwargs) -> datasets.Dataset:
    """Pairs regrouped for a listwise loss: one row per distinct ``key`` (the text whose categories are ranked), in
    order of first appearance, with the key's value and, in each other column, the text's pairs as a list
    (``text_a`` a list of categories, ``label`` a list of labels), columns in their order.

    A ``Dataset.map`` (``map_kwargs``: ``num_proc``, ``load_from_cache_file``, ``desc``), cached: the groups are found
    by Arrow (each row's group number), the rows put in group order (an indices mapping, not a copy), and each group
    read as one slice of them."""
    if len(pairs) == 0:
        return pairs
    texts = pairs.with_format("arrow")[key]
    codes = pc.index_in(texts, value_set=pc.unique(texts)).to_numpy()  # group numbers in order of first appearance
    order = np.argsort(codes, kind="stable")
    ordered = pairs.select(order)
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    stops = np.r_[starts[1:], len(order)]
    return ordered.map(_gather_groups, batched=True, with_indices=True, remove_columns=ordered.column_names,
                       fn_kwargs={"ordered": ordered, "key": key, "starts": starts, "stops": stops}, **map_kwargs)


def _gather_groups(batch: dict[str, list], indices: list[int], ordered: datasets.Dataset, key: str,
                   starts: np.ndarray, stops: np.ndarray) -> dict[str, list]:
    """The groups that start among ``indices`` (rows of ``ordered``), each read whole, past the batch if need be."""
    first, last = np.searchsorted(starts, [indices[0], indices[-1] + 1])
    rows: dict[str, list] = {name: [] for name in ordered.column_names}
    for start, stop in zip(starts[first:last], stops[first:last]):
        group = ordered[int(start):int(stop)]
        for name in rows:
            rows[name].append(group[name][0] if name == key else group[name])
    return rows
