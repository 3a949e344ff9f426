"""Text pairs and sentence encoders: the layer the matching and sentence-embedding families share.

Not a family of its own and not the core: it imports the core only, and only those two families import it (the
import rule in ``tests/core/test_import_rule.py``).

* :mod:`.data`: labelled pairs (``text_a<TAB>text_b<TAB>0/1``) and their column flags (:class:`PairColumnArguments`).
* :mod:`.metrics`: binary match decisions at a threshold, and the best-F1 threshold.
* :mod:`.bi_encoder`: bi-encoder training on sentence-transformers (:class:`BiEncoderConfig`, the trainer, the pair
  evaluator, threshold calibration).
* :mod:`.model_files`: ``matching_config.json`` (the model kind and its threshold) and pair prediction files.
* :mod:`.encoder`: :class:`SentenceEncoder`, the one predictor for a saved sentence encoder plus its threshold.
* :mod:`.cli`: ``plm-recipes embed`` and ``plm-recipes predict similarity``.
"""

from ..families import Family
from .data import PairColumnArguments, read_pairs
from .encoder import SentenceEncoder
from .metrics import BinaryMatchMetrics, best_f1_threshold
from .model_files import MATCHING_CONFIG, load_matching_config, save_matching_config, write_pair_predictions

__all__ = [
    "MATCHING_CONFIG",
    "BinaryMatchMetrics",
    "PairColumnArguments",
    "SentenceEncoder",
    "best_f1_threshold",
    "load_matching_config",
    "read_pairs",
    "save_matching_config",
    "write_pair_predictions",
]

# What the family declares to the core (the plm_recipes.families entry point in setup.cfg).
FAMILY = Family("pairs", commands="plm_recipes.pairs.cli:add_commands")
