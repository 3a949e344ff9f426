"""Binary match decisions from scores: P/R/F1 at a threshold, the best threshold, and spearman."""

from __future__ import annotations

import datasets
import evaluate
import numpy as np

from ..metrics.correlation import spearman

_DESCRIPTION = """\
Scores a matcher gives to labelled pairs (1 = match), judged two ways:

* the decision ``score >= threshold``: precision, recall and F1 of the positive class, and accuracy;
* the ranking: spearman between scores and labels.

It also reports ``best_f1`` and ``best_threshold``: the highest F1 any threshold reaches on these pairs and that
threshold (what sentence-transformers' BinaryClassificationEvaluator reports). Chosen on the evaluated pairs
themselves, they are an upper bound, not a held-out figure.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions (`list` of `float`): a score per pair (a probability, a cosine similarity, ...).
    references (`list` of `int`): 0 or 1 per pair.
    threshold (`float`, defaults to 0.5): a pair is a match when its score is >= threshold.
Returns:
    precision, recall, f1, accuracy, spearman, best_f1, best_threshold.
Example:
    >>> BinaryMatchMetrics().compute(predictions=[0.9, 0.4, 0.6, 0.1], references=[1, 1, 0, 0], threshold=0.5)["f1"]
    0.5
"""


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The threshold whose decision ``score >= threshold`` has the highest F1, and that F1."""
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    positives = labels.sum()
    if positives == 0:
        return float("inf"), 0.0
    true_pos = np.cumsum(labels)
    predicted = np.arange(1, len(labels) + 1)
    f1 = 2 * true_pos / (predicted + positives)
    # only cut between different scores: all pairs with the same score get the same decision
    valid = np.r_[scores[1:] != scores[:-1], True]
    f1 = np.where(valid, f1, -1)
    best = int(np.argmax(f1))
    return float(scores[best]), float(f1[best])


class BinaryMatchMetrics(evaluate.Metric):
    """P/R/F1/accuracy at a threshold, spearman and the best-F1 threshold; instantiate directly (no download)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("float64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, threshold: float = 0.5):
        scores = np.asarray(predictions, dtype=np.float64)
        labels = np.asarray(references, dtype=np.int64)
        if len(labels) == 0:
            raise ValueError("no pairs to evaluate")
        decided = scores >= threshold
        tp = int((decided & (labels == 1)).sum())
        precision = tp / decided.sum() if decided.sum() else 0.0
        recall = tp / (labels == 1).sum() if (labels == 1).sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        best_threshold, best_f1 = best_f1_threshold(scores, labels)
        return {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "accuracy": float((decided == (labels == 1)).mean()),
            "spearman": spearman(scores, labels),
            "best_f1": best_f1,
            "best_threshold": best_threshold,
        }
