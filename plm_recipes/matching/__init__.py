"""Supervised text matching: a cross-encoder (pointwise) and bi-encoders (DSSM, Sentence-Transformer / CoSENT).

* :mod:`.arguments`: pair data arguments and each recipe's training config.
* :mod:`.data`: labelled pairs, category description files, sampled negatives, groups of a text's pairs.
* :mod:`.losses`: the listwise softmax loss (CoSENT and the bi-encoders' other losses come from
  sentence-transformers).
* :mod:`.usage`: the bi-encoders' model card usage.
* :mod:`.predictor`: :class:`Matcher` ranks categories with any saved matching model.

Training bi-encoders (the trainer, sampler, evaluator, threshold calibration, :class:`BiEncoderConfig`) and the
``matching_config.json`` file are in the core (:mod:`plm_recipes.bi_encoder`, :mod:`plm_recipes.model_files`): the
sentence-embedding family uses them too.
"""

from ..bi_encoder import BiEncoderConfig
from ..data.pairs import read_pairs
from .arguments import PairDataArguments, PointwiseMatchingConfig, SentenceTransformerMatchingConfig
from .data import Category, read_categories
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
