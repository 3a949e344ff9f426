"""The sentence encoder SimCSE trains: a sentence-transformers model with the pooling asked for."""

from __future__ import annotations

import logging

from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Pooling

from ..args import ModelArguments
from ..errors import ArgumentError
from ..pairs.bi_encoder import load_sentence_transformer

logger = logging.getLogger(__name__)


def load_sentence_encoder(model_args: ModelArguments, max_seq_length: int, pooling: str | None) -> SentenceTransformer:
    """A sentence-transformers model from a folder or hub id, its pooling set to ``pooling`` (``"mean"`` or
    ``"cls"``; ``None`` keeps a sentence-transformers folder's own, and gives a plain encoder mean pooling)."""
    model = load_sentence_transformer(model_args, max_seq_length)
    if pooling is None:
        return model
    for name, module in model.named_children():
        if isinstance(module, Pooling):
            if module.pooling_mode != pooling:
                logger.info("Pooling: %s (the model had %s)", pooling, module.pooling_mode)
                model._modules[name] = Pooling(module.embedding_dimension, pooling)
            return model
    raise ArgumentError(f"--pooling {pooling}: {model_args.model_name_or_path} has no Pooling module to set")


def pooling_mode(model: SentenceTransformer) -> str:
    """The model's pooling mode (``"mean"``, ``"cls"``, ...), or ``"none"`` for a model without a Pooling module."""
    for module in model.children():
        if isinstance(module, Pooling):
            mode = module.pooling_mode
            return mode if isinstance(mode, str) else "+".join(mode)
    return "none"
