"""Cosine similarity of text pairs with a sentence-transformers model (for evaluation and prediction, in the
matching and sentence-embedding families)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from sentence_transformers import SentenceTransformer


def pair_similarities(
    model: SentenceTransformer, text_a: Sequence[str], text_b: Sequence[str], batch_size: int = 32
) -> np.ndarray:
    """Cosine similarity of each pair ``(text_a[i], text_b[i])``; each distinct text is encoded once."""
    unique = list(dict.fromkeys([*text_a, *text_b]))
    index = {text: i for i, text in enumerate(unique)}
    embeddings = model.encode(unique, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                              show_progress_bar=False)
    a = embeddings[[index[t] for t in text_a]]
    b = embeddings[[index[t] for t in text_b]]
    return (a * b).sum(axis=1)


def iter_pair_similarities(
    model: SentenceTransformer, text_a: Iterable[str], text_b: Iterable[str], batch_size: int = 32,
    chunk_size: int = 4096,
) -> Iterator[float]:
    """:func:`pair_similarities`, ``chunk_size`` pairs at a time, one score after the other: a test set of any size
    is scored (and written) without holding its texts or its scores."""
    pairs = zip(text_a, text_b)
    while chunk := list(itertools.islice(pairs, chunk_size)):
        yield from pair_similarities(model, [a for a, _ in chunk], [b for _, b in chunk], batch_size).tolist()
