"""Supervised text matching: a cross-encoder (pointwise) and bi-encoders (DSSM, Sentence-Transformer / CoSENT).

* :mod:`.arguments`: pair data arguments and each recipe's training config.
* :mod:`.data`: labelled pairs, category description files, sampled negatives, groups of a text's pairs.
* :mod:`.losses`: the listwise softmax loss (CoSENT and the bi-encoders' other losses come from
  sentence-transformers).
* :mod:`.usage`: the bi-encoders' model card usage.
* :mod:`.predictor`: :class:`Matcher` ranks categories with any saved matching model.

Labelled pairs, training bi-encoders (the trainer, sampler, evaluator, threshold calibration,
:class:`BiEncoderConfig`), the ``matching_config.json`` file and the sentence-encoder predictor are in the pair layer
(:mod:`plm_recipes.pairs`), which the sentence-embedding family uses too.
"""

from ..families import Family, FolderKind
from ..pairs import read_pairs
from ..pairs.bi_encoder import BiEncoderConfig
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

# What the family declares to the core (the plm_recipes.families entry point in setup.cfg).
FAMILY = Family("matching", commands="plm_recipes.matching.cli:add_commands", folder_kinds=(
    FolderKind("a text-matching model (it has matching_config.json)", "plm-recipes predict matching",
               marker_file="matching_config.json"),))
