"""Cosine similarity of text pairs with a sentence-transformers model (for evaluation and prediction, in the
matching and sentence-embedding families)."""

from __future__ import annotations

from collections.abc import Sequence

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
