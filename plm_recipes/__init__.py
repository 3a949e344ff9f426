"""plm-recipes: fine-tuning recipes for Chinese NLP on pretrained language models.

The recipes live in ``recipes/`` (one runnable file each); this package holds what they stand on. A thin core:
the argument dataclasses (:mod:`plm_recipes.args`), the parser that fills them (:mod:`plm_recipes.parsing`), the
run record (:mod:`plm_recipes.run_config`), loading (:mod:`plm_recipes.loading`), the trainer mixin
(:mod:`plm_recipes.trainer`), freezing, locks, callbacks, model cards, errors, data readers and label maps
(:mod:`plm_recipes.data`), metrics several families share (:mod:`plm_recipes.metrics`), the command line
(:mod:`plm_recipes.cli`) and the families' registry (:mod:`plm_recipes.families`). Over it, one package per task
family (:mod:`plm_recipes.classification`, :mod:`plm_recipes.matching`, ...) with its arguments, data formats,
models, losses and predictors, and one layer two families share (:mod:`plm_recipes.pairs`: text pairs and sentence
encoders, for matching and sentence embeddings). The core imports no family; a family imports the core and its
declared layers, never another family (``tests/core/test_import_rule.py``).
"""

__version__ = "0.1.0"

from .errors import DataFormatError, PlmRecipesError
from .families import register_auto_models

# The families' own model classes (UIE's), registered with transformers' Auto classes, so that a saved folder loads
# with ``AutoModel.from_pretrained(folder)`` once ``plm_recipes`` is imported.
register_auto_models()

__all__ = ["DataFormatError", "PlmRecipesError", "__version__"]
