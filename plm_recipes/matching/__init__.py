"""Supervised text matching: a cross-encoder (pointwise) and bi-encoders (DSSM, Sentence-Transformer / CoSENT).

* :mod:`.arguments`: pair data arguments and each recipe's training config.
* :mod:`.data`: labelled pairs, category description files, sampled negatives, groups of a text's pairs.
* :mod:`.losses`: the listwise softmax loss (CoSENT and the bi-encoders' other losses come from
  sentence-transformers).
* :mod:`.bi_encoder`: training bi-encoders (length-grouped sampler, trainer, evaluator, threshold calibration).
* :mod:`.model_files`: ``matching_config.json`` and the prediction files.
* :mod:`.predictor`: :class:`Matcher` ranks categories with any saved matching model.
"""

from .arguments import BiEncoderConfig, PairDataArguments, PointwiseMatchingConfig, SentenceTransformerMatchingConfig
from .data import Category, read_categories, read_pairs
from .predictor import BiEncoderMatcher, CrossEncoderMatcher, EmbeddingCache, Matcher

__all__ = [
    "BiEncoderConfig",
    "BiEncoderMatcher",
    "Category",
    "CrossEncoderMatcher",
    "EmbeddingCache",
    "Matcher",
    "PairDataArguments",
    "PointwiseMatchingConfig",
    "SentenceTransformerMatchingConfig",
    "read_categories",
    "read_pairs",
]
