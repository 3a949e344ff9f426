"""UIE (universal information extraction): a span-pointer model prompted by a schema, for NER and relations.

The recipe is ``recipes/uie.py``. Here: the model (:class:`UIEModel`, registered with ``AutoModel``), its loss,
the prompt-format reader and windowing, span decoding and metrics, schemas, :class:`UIEPredictor`, the doccano
converter (``plm-recipes uie convert``) and the PaddleNLP checkpoint converter (``plm-recipes uie convert-paddle``).
"""

from ..families import Family, FolderKind
from .arguments import UIEDataArguments, UIETrainingConfig
from .data import EncodedExamples, SpanCollator, UIEExample, encode_examples, read_uie_examples
from .decoding import Span, decode_examples, decode_window, merge_windows
from .losses import SpanPointerLoss
from .metrics import prompt_group, span_f1
from .modeling import UIEConfig, UIEModel, UIEModelOutput
from .predictor import UIEPredictor, load_uie_model
from .schema import SchemaError, SchemaNode, parse_schema

__all__ = [
    "EncodedExamples", "SchemaError", "SchemaNode", "Span", "SpanCollator", "SpanPointerLoss", "UIEConfig",
    "UIEDataArguments", "UIEExample", "UIEModel", "UIEModelOutput", "UIEPredictor", "UIETrainingConfig",
    "decode_examples", "decode_window", "encode_examples", "load_uie_model", "merge_windows", "parse_schema",
    "prompt_group", "read_uie_examples", "span_f1",
]

# What the family declares to the core (the plm_recipes.families entry point in setup.cfg).
FAMILY = Family("extraction", commands="plm_recipes.extraction.cli:add_commands", folder_kinds=(
    FolderKind("a UIE extraction model", "plm-recipes predict uie", model_type="uie"),))
