"""plm-recipes: fine-tuning recipes for Chinese NLP on pretrained language models.

The recipes live in ``recipes/`` (one runnable file each); this package holds the pieces they share:
argument parsing (:mod:`plm_recipes.args`), data loading and validation (:mod:`plm_recipes.data`),
offline metrics (:mod:`plm_recipes.metrics`), logging callbacks (:mod:`plm_recipes.callbacks`),
the Trainer base class (:mod:`plm_recipes.trainer`) and predictors (:mod:`plm_recipes.inference`).
"""

__version__ = "0.1.0"

from .errors import DataFormatError, PlmRecipesError

__all__ = ["DataFormatError", "PlmRecipesError", "__version__"]
