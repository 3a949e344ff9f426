"""Spearman rank correlation between scores and labels, as an offline ``evaluate.Metric``."""

from __future__ import annotations

import datasets
import evaluate
import numpy as np
from scipy.stats import spearmanr

_DESCRIPTION = """\
Spearman's rank correlation coefficient between predicted scores and reference scores or labels: how well
the predictions order the examples, whatever their scale. It is 0.0 when either side is constant (the
coefficient is undefined there, and a constant prediction orders nothing).
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions (`list` of `float`): predicted scores.
    references (`list` of `float`): gold scores or 0/1 labels.
Returns:
    spearman (`float`): in [-1, 1].
Example:
    >>> Spearman().compute(predictions=[0.1, 0.4, 0.9], references=[0, 1, 2])
    {'spearman': 1.0}
"""

_CITATION = """\
@article{spearman1904,
  title={The proof and measurement of association between two things},
  author={Spearman, Charles},
  journal={The American Journal of Psychology}, volume={15}, number={1}, pages={72--101}, year={1904}
}
"""


def spearman(predictions, references) -> float:
    predictions = np.asarray(predictions, dtype=np.float64)
    references = np.asarray(references, dtype=np.float64)
    if len(predictions) < 2 or np.ptp(predictions) == 0 or np.ptp(references) == 0:
        return 0.0
    return float(spearmanr(predictions, references).statistic)


class Spearman(evaluate.Metric):
    """Spearman correlation; instantiate directly (no hub download)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}),
        )

    def _compute(self, predictions, references):
        return {"spearman": spearman(predictions, references)}
