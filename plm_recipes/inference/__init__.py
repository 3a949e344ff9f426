"""Predictors for saved models, used by ``plm-recipes predict`` and from Python."""

from .text_classification import TextClassifier

__all__ = ["TextClassifier"]
