"""Similarity of text pairs with a saved sentence encoder (``plm-recipes predict similarity``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np

from ..errors import ModelLoadError
from ..loading import MATCHING_CONFIG_NAME, describe_model_folder, load_or_explain, task_head
from ..model_files import load_matching_config
from ..similarity import pair_similarities

logger = logging.getLogger(__name__)


class SentenceSimilarity:
    """Cosine similarity of text pairs with a sentence-transformers model, and match decisions at the model's
    threshold (``matching_config.json``, written by ``recipes/simcse.py`` and the bi-encoder matching recipes).

    >>> scorer = SentenceSimilarity("outputs/matching_dssm")  # any sentence-transformers folder
    >>> scores = scorer.similarity(["屏幕很清晰，追剧很爽"], ["屏幕清楚，看剧舒服"])
    >>> scores.shape, bool(-1 <= scores[0] <= 1), scorer.threshold
    ((1,), True, 0.5)

    A plain encoder folder (no ``modules.json``) is used with mean pooling, with a warning; a cross-encoder, which
    scores pairs but embeds nothing, and a model with a task head (a text classifier, a T5) are refused.
    """

    def __init__(self, model_dir: str, *, device: str | None = None, batch_size: int = 32):
        from sentence_transformers import SentenceTransformer

        self.threshold: float | None = None  # a pair matches when its cosine is at least this
        if os.path.isdir(model_dir):
            config = load_matching_config(model_dir)
            if config is not None and config["kind"] != "bi-encoder":
                raise ModelLoadError(f"{model_dir} is a {config['kind']}: it scores pairs without embedding them; "
                                     "use plm-recipes predict matching")
            if os.path.isfile(os.path.join(model_dir, MATCHING_CONFIG_NAME)):
                self.threshold = config["threshold"]
            if not os.path.isfile(os.path.join(model_dir, "modules.json")):
                if task_head(model_dir) is not None:  # a classifier, a T5: states never trained to compare texts
                    raise ModelLoadError(f"{model_dir} is {describe_model_folder(model_dir)}; it does not embed "
                                         "texts: predict similarity needs a sentence encoder (recipes/simcse.py, "
                                         "matching_dssm, matching_sentence_transformer) or a pretrained encoder")
                logger.warning("%s is not a sentence-transformers folder (no modules.json): using mean pooling "
                               "over its token embeddings.", model_dir)
        self.model = load_or_explain(lambda: SentenceTransformer(model_dir, device=device), model_dir)
        self.batch_size = batch_size

    def similarity(self, text_a: Sequence[str], text_b: Sequence[str]) -> np.ndarray:
        """The cosine similarity of each pair ``(text_a[i], text_b[i])``."""
        if len(text_a) != len(text_b):
            raise ValueError(f"text_a and text_b must be as long: {len(text_a)} != {len(text_b)}")
        if not len(text_a):
            return np.zeros(0)
        return pair_similarities(self.model, list(text_a), list(text_b), self.batch_size).astype(np.float64)
