"""Accuracy with macro and per-class precision / recall / F1, as an offline ``evaluate.Metric``."""

from __future__ import annotations

from collections.abc import Sequence

import datasets
import evaluate
import numpy as np
from sklearn.metrics import precision_recall_fscore_support

_DESCRIPTION = """\
Accuracy, macro-averaged precision / recall / F1, and the same three per class.

The macro average runs over the classes that occur in the references or the predictions (scikit-learn's
convention), so a class missing from a small dev set does not count as a zero. Per-class values are returned
under ``per_class/<label>/<precision|recall|f1>`` (with ``<label>`` the name from ``label_names`` when given)
together with ``per_class/<label>/support``.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions (`list` of `int`): predicted class ids.
    references (`list` of `int`): gold class ids.
    label_names (`list` of `str`, *optional*): name of each class id, used in the per-class keys.
Returns:
    accuracy, precision, recall, f1 (macro), and per-class values.
Example:
    >>> metric = ClassificationReport()
    >>> r = metric.compute(predictions=[0, 1, 1], references=[0, 1, 0], label_names=["neg", "pos"])
    >>> round(r["f1"], 4), r["per_class/pos/precision"]
    (0.6667, 0.5)
"""

_CITATION = """\
@article{scikit-learn,
  title={Scikit-learn: Machine Learning in {P}ython},
  author={Pedregosa, F. and others},
  journal={Journal of Machine Learning Research},
  volume={12}, pages={2825--2830}, year={2011}
}
"""


class ClassificationReport(evaluate.Metric):
    """Accuracy, macro P/R/F1 and per-class P/R/F1; instantiate directly (no hub download)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, label_names: Sequence[str] | None = None):
        predictions = np.asarray(predictions, dtype=np.int64)
        references = np.asarray(references, dtype=np.int64)
        if len(references) == 0:
            raise ValueError("no examples to evaluate")
        classes = np.union1d(references, predictions)
        precision, recall, f1, support = precision_recall_fscore_support(
            references, predictions, labels=classes, zero_division=0
        )
        result = {
            "accuracy": float((predictions == references).mean()),
            "precision": float(precision.mean()),
            "recall": float(recall.mean()),
            "f1": float(f1.mean()),
        }
        for i, cls in enumerate(classes):
            name = label_names[cls] if label_names is not None and 0 <= cls < len(label_names) else str(cls)
            result[f"per_class/{name}/precision"] = float(precision[i])
            result[f"per_class/{name}/recall"] = float(recall[i])
            result[f"per_class/{name}/f1"] = float(f1[i])
            result[f"per_class/{name}/support"] = int(support[i])
        return result


def per_class_table(metrics: dict[str, float], prefix: str = "") -> list[tuple[str, dict[str, float]]]:
    """``[(label, {"precision": .., "recall": .., "f1": .., "support": ..}), ...]`` from flat metric keys."""
    rows: dict[str, dict[str, float]] = {}
    start = f"{prefix}per_class/"
    for key, value in metrics.items():
        if key.startswith(start):
            label, _, name = key[len(start):].rpartition("/")
            rows.setdefault(label, {})[name] = value
    return list(rows.items())
