"""Unsupervised sentence embeddings: SimCSE and ESimCSE (``recipes/simcse.py``).

* :mod:`.arguments`: training sentences and evaluation pairs (:class:`SentenceDataArguments`), the training config
  with the method's settings (:class:`SimCSEConfig`).
* :mod:`.data`: sentences from any file or dataset, into the Arrow cache or streamed (:func:`load_sentences`), and
  SimCSE's ``(anchor, positive)`` rows (:func:`sentence_pairs`).
* :mod:`.losses`: :class:`ESimCSELoss` (word repetition + momentum-encoder queue), :func:`word_repetition`,
  the training-only MLP head; SimCSE itself is sentence-transformers' ``MultipleNegativesRankingLoss``.
* :mod:`.model`: the encoder with the pooling asked for.
Training (the trainer, the pair evaluator, the threshold), evaluation pairs and the predictor behind
``plm-recipes predict similarity`` / ``embed`` are the pair layer's (:mod:`plm_recipes.pairs`).
"""

from .arguments import SentenceDataArguments, SimCSEConfig
from .data import Sentences, load_sentences, read_sentences, sentence_pairs
from .losses import ESimCSELoss, ProjectedMultipleNegativesRankingLoss, TrainingHead, word_repetition

__all__ = [
    "ESimCSELoss",
    "ProjectedMultipleNegativesRankingLoss",
    "SentenceDataArguments",
    "Sentences",
    "SimCSEConfig",
    "TrainingHead",
    "load_sentences",
    "read_sentences",
    "sentence_pairs",
    "word_repetition",
]
