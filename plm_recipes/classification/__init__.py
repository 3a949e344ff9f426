"""Text classification: a sequence classifier over one text, labels by name, per-class metrics.

The recipe is ``recipes/text_classification.py``; this package holds its arguments and the predictor of the
models it saves (which are plain ``AutoModelForSequenceClassification`` folders).
"""

from .arguments import ClassificationDataArguments, TextClassificationConfig
from .predictor import TextClassifier

__all__ = ["ClassificationDataArguments", "TextClassificationConfig", "TextClassifier"]
