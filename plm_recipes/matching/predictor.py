"""Ranking categories for texts with a trained matching model (cross-encoder or bi-encoder).

    >>> from plm_recipes.matching import Matcher, read_categories
    >>> matcher = Matcher.from_pretrained("outputs/matching_dssm")
    >>> categories = read_categories("data/matching/types_desc.txt")
    >>> matcher.rank(["屏幕很清晰，追剧很爽"], categories, threshold=0.0, top_k=2)
    [[('...', ...), ('...', ...)]]

(a trained model ranks ``[[('平板', 0.93), ('电脑', 0.71)]]``; without ``threshold`` the model's own, saved in
``matching_config.json``, applies).

A bi-encoder embeds the category descriptions once and keeps them on disk next to the model
(``label_embeddings/``); the cache key covers the model's files and the descriptions, so retraining the model or
editing a description rebuilds it. A query then costs one encoder pass. A cross-encoder reads every
(description, text) pair, so it has nothing to cache.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
from collections.abc import Sequence

import numpy as np

from ..errors import ModelLoadError
from ..loading import load_or_explain, load_trained_sequence_classifier
from ..pairs.encoder import SentenceEncoder
from ..pairs.model_files import load_matching_config
from .data import Category

logger = logging.getLogger(__name__)

CACHE_DIR = "label_embeddings"


def model_fingerprint(model_dir: str) -> str:
    """Changes whenever a file of the model changes (name, size, modification time), cheaply."""
    entries = []
    for root, dirs, files in os.walk(model_dir):
        dirs[:] = sorted(d for d in dirs if d != CACHE_DIR and not d.startswith(("checkpoint-", ".", "logs")))
        for name in sorted(files):
            if name.endswith((".safetensors", ".json", ".txt", ".model")):
                path = os.path.join(root, name)
                stat = os.stat(path)
                entries.append(f"{os.path.relpath(path, model_dir)}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


class EmbeddingCache:
    """Category embeddings on disk, keyed by the model's fingerprint and the exact texts embedded.

    ``hits`` / ``misses`` count lookups, so callers (and tests) can see whether the cache served them.
    """

    def __init__(self, model_dir: str, cache_dir: str | None = None):
        self.model_dir = model_dir
        self.dir = cache_dir or os.path.join(model_dir, CACHE_DIR)
        self.fingerprint = model_fingerprint(model_dir)
        self.hits = self.misses = 0
        self._memory: dict[str, np.ndarray] = {}

    def key(self, texts: Sequence[str]) -> str:
        return hashlib.sha256("\n".join([self.fingerprint, *texts]).encode()).hexdigest()[:32]

    def get(self, texts: Sequence[str]) -> np.ndarray | None:
        """The cached ``(len(texts), dim)`` embeddings, or ``None``. An entry that cannot be read or has the wrong
        shape (a truncated write, a file edited by hand) is removed, so that the caller rebuilds it."""
        key = self.key(texts)
        if key not in self._memory:
            path = os.path.join(self.dir, f"{key}.npy")
            if not os.path.isfile(path):
                self.misses += 1
                return None
            try:
                embeddings = np.load(path, allow_pickle=False)
                if embeddings.ndim != 2 or embeddings.shape[0] != len(texts) or not np.isfinite(embeddings).all():
                    raise ValueError(f"shape {embeddings.shape} for {len(texts)} texts, or values not finite")
            except (OSError, ValueError, EOFError) as e:
                logger.warning("Ignoring a damaged embedding cache entry %s (%s); rebuilding it.", path, e)
                self._remove(path)
                self.misses += 1
                return None
            self._memory[key] = embeddings
        self.hits += 1
        return self._memory[key]

    def put(self, texts: Sequence[str], embeddings: np.ndarray) -> None:
        """Keep ``embeddings`` for ``texts``, in memory and on disk. The file is written whole or not at all (a
        temporary file renamed into place), so an interrupted write leaves no truncated entry."""
        key = self.key(texts)
        self._memory[key] = embeddings
        try:
            os.makedirs(self.dir, exist_ok=True)
            for stale in os.listdir(self.dir):  # one set of descriptions per model: drop what it replaces
                if stale.endswith(".npy"):
                    self._remove(os.path.join(self.dir, stale))
            with tempfile.NamedTemporaryFile(dir=self.dir, suffix=".tmp", delete=False) as f:
                np.save(f, embeddings, allow_pickle=False)
            os.replace(f.name, os.path.join(self.dir, f"{key}.npy"))
        except OSError as e:  # a read-only model folder: keep the cache in memory only
            logger.warning("Cannot write the embedding cache in %s (%s); keeping it in memory.", self.dir, e)

    @staticmethod
    def _remove(path: str) -> None:
        try:
            os.remove(path)
        except OSError:
            pass


class Matcher:
    """Scores (text, category) pairs and ranks categories per text. Load one with :meth:`from_pretrained`."""

    kind = ""

    def __init__(self, model_dir: str, threshold: float = 0.5, batch_size: int = 32):
        self.model_dir = model_dir
        self.threshold = threshold
        self.batch_size = batch_size

    @staticmethod
    def from_pretrained(model_dir: str, *, device: str | None = None, batch_size: int = 32,
                        use_cache: bool = True) -> Matcher:
        """The right matcher for a folder saved by one of the matching recipes, or for a sentence-transformers
        model (a bi-encoder) or a one-output cross-encoder made elsewhere. Any other folder (a text classifier, a
        bare pretrained encoder) is refused in one sentence saying what it is."""
        if not os.path.isdir(model_dir):
            raise ModelLoadError(f"Cannot load the model {model_dir!r}: no such folder.")
        config = load_matching_config(model_dir)
        if config is None:  # not made by a matching recipe: it must be a one-output cross-encoder
            load_trained_sequence_classifier(model_dir, "text matching (a cross-encoder)", num_labels=1)
            config = {"kind": "cross-encoder", "threshold": 0.5}
        if config["kind"] == "bi-encoder":
            return BiEncoderMatcher(model_dir, threshold=config["threshold"], batch_size=batch_size, device=device,
                                    use_cache=use_cache)
        return CrossEncoderMatcher(model_dir, threshold=config["threshold"], batch_size=batch_size, device=device)

    def score_pairs(self, text_a: Sequence[str], text_b: Sequence[str]) -> np.ndarray:
        """The score of each pair ``(text_a[i], text_b[i])``; ``text_a`` is the category side."""
        raise NotImplementedError

    def score(self, texts: Sequence[str], categories: Sequence[Category]) -> np.ndarray:
        """``(len(texts), len(categories))`` scores."""
        raise NotImplementedError

    def rank(
        self, texts: str | Sequence[str], categories: Sequence[Category], *, threshold: float | None = None,
        top_k: int | None = None,
    ) -> list[list[tuple[str, float]]]:
        """For each text, the categories scoring at least ``threshold`` (the model's own by default), best first:
        ``[('平板', 0.93), ('电脑', 0.71)]``."""
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a whole number >= 1 or None, got {top_k!r}")
        if threshold is not None and not math.isfinite(threshold):
            raise ValueError(f"threshold must be a finite number or None, got {threshold!r}")
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            return []
        threshold = self.threshold if threshold is None else threshold
        scores = self.score(texts, categories)
        ranked = []
        for row in scores:
            order = [i for i in np.argsort(-row, kind="stable") if row[i] >= threshold][:top_k]
            ranked.append([(categories[i].name, round(float(row[i]), 4)) for i in order])
        return ranked


class CrossEncoderMatcher(Matcher):
    """A pointwise cross-encoder: reads ``[CLS] description [SEP] text [SEP]`` and outputs a match probability."""

    kind = "cross-encoder"

    def __init__(self, model_dir: str, *, threshold: float = 0.5, batch_size: int = 32, device: str | None = None):
        from sentence_transformers import CrossEncoder

        super().__init__(model_dir, threshold, batch_size)
        self.model = load_or_explain(lambda: CrossEncoder(model_dir, device=device), model_dir)

    def score_pairs(self, text_a, text_b):
        pairs = list(zip(text_a, text_b))
        return np.asarray(self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False),
                          dtype=np.float64).reshape(len(pairs))

    def score(self, texts, categories):
        pairs_a = [c.text for _ in texts for c in categories]
        pairs_b = [t for t in texts for _ in categories]
        return self.score_pairs(pairs_a, pairs_b).reshape(len(texts), len(categories))


class BiEncoderMatcher(Matcher):
    """A bi-encoder (:class:`~plm_recipes.pairs.encoder.SentenceEncoder`): cosine similarity of the text's and the
    description's embeddings; the descriptions' embeddings come from :class:`EmbeddingCache`."""

    kind = "bi-encoder"

    def __init__(self, model_dir: str, *, threshold: float = 0.5, batch_size: int = 32, device: str | None = None,
                 use_cache: bool = True):
        super().__init__(model_dir, threshold, batch_size)
        self.encoder = SentenceEncoder(model_dir, device=device, batch_size=batch_size)
        self.model = self.encoder.model
        self.cache = EmbeddingCache(model_dir) if use_cache else None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised embeddings."""
        return self.encoder.embed(texts)

    def category_embeddings(self, categories: Sequence[Category]) -> np.ndarray:
        texts = [c.text for c in categories]
        embeddings = self.cache.get(texts) if self.cache is not None else None
        if embeddings is None:
            embeddings = self.encode(texts)
            if self.cache is not None:
                self.cache.put(texts, embeddings)
        return embeddings

    def score_pairs(self, text_a, text_b):
        return self.encoder.similarity(text_a, text_b)

    def score(self, texts, categories):
        return (self.encode(texts) @ self.category_embeddings(categories).T).astype(np.float64)
