"""Predictors for saved models, used by ``plm-recipes predict`` and from Python."""

from .matching import BiEncoderMatcher, CrossEncoderMatcher, EmbeddingCache, Matcher
from .text_classification import TextClassifier

__all__ = ["BiEncoderMatcher", "CrossEncoderMatcher", "EmbeddingCache", "Matcher", "TextClassifier"]
