"""What a pair-scoring model's folder holds beyond the weights: ``matching_config.json`` (the model kind and its
decision threshold), written at training time and read by the predictors; and the pair prediction files.
Written by the matching and sentence-embedding recipes."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence

from ..errors import ModelLoadError
from ..files import atomic_write

logger = logging.getLogger(__name__)

# The model kind (bi-encoder / cross-encoder) and its decision threshold, beside the weights.
MATCHING_CONFIG = "matching_config.json"


def save_matching_config(output_dir: str, *, kind: str, threshold: float, objective: str) -> None:
    """Write what a predictor needs beyond the weights: the model kind and its decision threshold."""
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, MATCHING_CONFIG), "w", encoding="utf-8") as f:
        json.dump({"kind": kind, "threshold": threshold, "objective": objective}, f, indent=2)


def write_pair_predictions(path: str, text_a: Sequence[str], text_b: Sequence[str], scores: Sequence[float],
                           threshold: float) -> None:
    """``index, text_a, text_b, score, match`` rows as TSV (the ``--do_predict`` output of the matching recipes)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with atomic_write(path) as f:
        f.write("index\ttext_a\ttext_b\tscore\tmatch\n")
        for i, (a, b, score) in enumerate(zip(text_a, text_b, scores)):
            f.write(f"{i}\t{a}\t{b}\t{score:.6f}\t{int(score >= threshold)}\n")
    logger.info("Predictions written to %s", path)


def load_matching_config(model_dir: str) -> dict | None:
    """The folder's ``matching_config.json``; for a sentence-transformers folder without one (a training
    checkpoint, a model from the hub), its kind at threshold 0.5: a cross-encoder when its
    ``config_sentence_transformers.json`` says ``CrossEncoder``, else a bi-encoder; ``None`` for any other folder (the
    caller decides whether it can match)."""
    path = os.path.join(model_dir, MATCHING_CONFIG)
    if os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as f:
                config = json.load(f)
        except (OSError, ValueError) as e:
            raise ModelLoadError(f"{path}: cannot read it ({e}); it is written by the matching and sentence-embedding "
                                 "recipes") from None
        kind, threshold = config.get("kind"), config.get("threshold")
        if kind not in ("bi-encoder", "cross-encoder") or not isinstance(threshold, int | float) or \
                not math.isfinite(threshold):
            raise ModelLoadError(f"{path}: expected kind 'bi-encoder' or 'cross-encoder' and a finite threshold, "
                                 f"found kind {kind!r}, threshold {threshold!r}")
        return config
    if os.path.isfile(os.path.join(model_dir, "modules.json")):
        return {"kind": _sentence_transformers_kind(model_dir), "threshold": 0.5}
    return None


def _sentence_transformers_kind(model_dir: str) -> str:
    path = os.path.join(model_dir, "config_sentence_transformers.json")
    try:
        with open(path, encoding="utf-8") as f:
            model_type = json.load(f).get("model_type")
    except (OSError, ValueError, AttributeError):
        model_type = None  # written before sentence-transformers 5: a SentenceTransformer
    return "cross-encoder" if model_type == "CrossEncoder" else "bi-encoder"
