"""Offline metrics as ``evaluate.Metric`` subclasses: instantiate them directly, nothing is downloaded.

Loading a metric by name with ``evaluate.load`` fetches its script from the Hugging Face Hub; these classes
give the same ``add_batch`` / ``compute`` / ``evaluate.combine`` interface with no network. They are the
metrics two or more task families use: classification reports (classification, prompt learning, LLM
classification) and spearman. Thresholded pair decisions are
the pair layer's (:mod:`plm_recipes.pairs.metrics`).
"""

from .classification import ClassificationReport, per_class_table
from .correlation import Spearman, spearman

__all__ = ["ClassificationReport", "Spearman", "per_class_table", "spearman"]
