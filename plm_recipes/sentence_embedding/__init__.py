"""Unsupervised sentence embeddings: SimCSE and ESimCSE (``recipes/simcse.py``).

* :mod:`.arguments`: training sentences and evaluation pairs (:class:`SentenceDataArguments`), the training config
  with the method's settings (:class:`SimCSEConfig`).
* :mod:`.data`: sentences from any file (:func:`read_sentences`).
* :mod:`.losses`: :class:`ESimCSELoss` (word repetition + momentum-encoder queue), :func:`word_repetition`,
  the training-only MLP head; SimCSE itself is sentence-transformers' ``MultipleNegativesRankingLoss``.
* :mod:`.model`: the encoder with the pooling asked for.
Training (the trainer, the pair evaluator, the threshold), evaluation pairs and the predictor behind
``plm-recipes predict similarity`` / ``embed`` are the pair layer's (:mod:`plm_recipes.pairs`).
"""

from .arguments import SentenceDataArguments, SimCSEConfig
from .data import Sentences, read_sentences
from .losses import ESimCSELoss, ProjectedMultipleNegativesRankingLoss, TrainingHead, word_repetition

__all__ = [
    "ESimCSELoss",
    "ProjectedMultipleNegativesRankingLoss",
    "SentenceDataArguments",
    "Sentences",
    "SimCSEConfig",
    "TrainingHead",
    "read_sentences",
    "word_repetition",
]
