"""plm-recipes: fine-tuning recipes for Chinese NLP on pretrained language models.

The recipes live in ``recipes/`` (one runnable file each); this package holds what they stand on. A thin core:
argument parsing and the run record (:mod:`plm_recipes.args`), loading (:mod:`plm_recipes.loading`), the trainer
mixin (:mod:`plm_recipes.trainer`), callbacks, model cards, errors, data readers and label maps
(:mod:`plm_recipes.data`), metrics two families share (:mod:`plm_recipes.metrics`) and the command line
(:mod:`plm_recipes.cli`). Over it, one package per task family (:mod:`plm_recipes.classification`,
:mod:`plm_recipes.matching`, ...) with its arguments, data formats, models, losses and predictors. A family
imports the core, never another family; a piece moves into the core when a second family needs it.
"""

__version__ = "0.1.0"

from .errors import DataFormatError, PlmRecipesError

# The families' own model classes, registered with transformers' Auto classes on import, so that a saved folder
# loads with ``AutoModel.from_pretrained(folder)`` once ``plm_recipes`` is imported (UIE).
from .extraction import modeling as _extraction_modeling  # noqa: E402,F401

__all__ = ["DataFormatError", "PlmRecipesError", "__version__"]
