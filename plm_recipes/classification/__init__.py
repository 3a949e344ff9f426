"""Text classification: a sequence classifier over one text, labels by name, per-class metrics.

The recipe is ``recipes/text_classification.py``; this package holds its arguments and the predictor of the
models it saves (which are plain ``AutoModelForSequenceClassification`` folders).
"""

from ..families import Family
from .arguments import ClassificationDataArguments, TextClassificationConfig
from .predictor import TextClassifier

__all__ = ["ClassificationDataArguments", "TextClassificationConfig", "TextClassifier"]

# What the family declares to the core (the plm_recipes.families entry point in setup.cfg).
FAMILY = Family("classification", commands="plm_recipes.classification.cli:add_commands")
