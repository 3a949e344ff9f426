"""Offline metrics as ``evaluate.Metric`` subclasses: instantiate them directly, nothing is downloaded.

Loading a metric by name with ``evaluate.load`` fetches its script from the Hugging Face Hub; these classes
give the same ``add_batch`` / ``compute`` / ``evaluate.combine`` interface with no network.
"""

from .classification import ClassificationReport, per_class_table
from .correlation import Spearman, spearman

__all__ = ["ClassificationReport", "Spearman", "per_class_table", "spearman"]
