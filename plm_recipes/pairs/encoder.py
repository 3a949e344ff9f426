"""A saved sentence encoder and its decision threshold: what ``plm-recipes embed``, ``plm-recipes predict similarity``
and the bi-encoder side of ``plm-recipes predict matching`` all load.

The folder is a sentence-transformers model (written by ``recipes/simcse.py``, ``matching_dssm``,
``matching_sentence_transformer``, or anyone else), with the threshold its recipe calibrated in
``matching_config.json`` when it has one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np

from ..errors import ModelLoadError
from ..loading import describe_model_folder, load_or_explain, task_head
from .model_files import MATCHING_CONFIG, load_matching_config
from .similarity import pair_similarities

logger = logging.getLogger(__name__)


class SentenceEncoder:
    """Embeddings, cosine similarities of text pairs and match decisions at the model's threshold.

    >>> encoder = SentenceEncoder("outputs/matching_dssm")  # any sentence-transformers folder
    >>> scores = encoder.similarity(["屏幕很清晰，追剧很爽"], ["屏幕清楚，看剧舒服"])
    >>> scores.shape, bool(-1 <= scores[0] <= 1), encoder.threshold
    ((1,), True, 0.5)
    >>> encoder.embed(["屏幕很清晰"]).shape[0]
    1

    A plain encoder folder (no ``modules.json``) is used with mean pooling, with a warning; a cross-encoder, which
    scores pairs but embeds nothing, and a model with a task head (a text classifier, a T5) are refused.

    Args:
        model_dir: a sentence-transformers folder or hub id.
        device: ``"cpu"``, ``"cuda"``, ...; ``None`` picks the accelerator when there is one.
        batch_size: texts per forward pass.
    """

    def __init__(self, model_dir: str, *, device: str | None = None, batch_size: int = 32):
        from sentence_transformers import SentenceTransformer

        # a pair matches when its cosine is at least this; None when the folder was not calibrated by a recipe
        self.threshold: float | None = None
        if os.path.isdir(model_dir):
            config = load_matching_config(model_dir)
            if config is not None and config["kind"] != "bi-encoder":
                raise ModelLoadError(f"{model_dir} is a {config['kind']}: it scores pairs and has no embeddings of "
                                     "its own; use plm-recipes predict matching (or, to embed, a bi-encoder: simcse, "
                                     "matching_dssm, matching_sentence_transformer)")
            if os.path.isfile(os.path.join(model_dir, MATCHING_CONFIG)):
                self.threshold = config["threshold"]
            if not os.path.isfile(os.path.join(model_dir, "modules.json")):
                if task_head(model_dir) is not None:  # a classifier, a T5: states never trained to compare texts
                    raise ModelLoadError(f"{model_dir} is {describe_model_folder(model_dir)}; it does not embed "
                                         "texts: embed and predict similarity need a sentence encoder "
                                         "(recipes/simcse.py, matching_dssm, matching_sentence_transformer) or a "
                                         "pretrained encoder")
                logger.warning("%s is not a sentence-transformers folder (no modules.json): using mean pooling "
                               "over its token embeddings.", model_dir)
        self.model = load_or_explain(lambda: SentenceTransformer(model_dir, device=device), model_dir)
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str], *, normalize: bool = True) -> np.ndarray:
        """``(len(texts), dim)`` float32 embeddings, L2-normalised unless ``normalize`` is false."""
        return self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=normalize,
                                 convert_to_numpy=True, show_progress_bar=False)

    def similarity(self, text_a: Sequence[str], text_b: Sequence[str]) -> np.ndarray:
        """The cosine similarity of each pair ``(text_a[i], text_b[i])``; each distinct text is encoded once."""
        if len(text_a) != len(text_b):
            raise ValueError(f"text_a and text_b must be as long: {len(text_a)} != {len(text_b)}")
        if not len(text_a):
            return np.zeros(0)
        return pair_similarities(self.model, list(text_a), list(text_b), self.batch_size).astype(np.float64)
