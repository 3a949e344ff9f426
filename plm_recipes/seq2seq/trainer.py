"""Training a seq2seq model: ``Seq2SeqTrainer`` with the recipes' additions, and the model and tokenizer both
recipes start from."""

from __future__ import annotations

from collections.abc import Iterable

from transformers import AutoModelForSeq2SeqLM, Seq2SeqTrainer

from ..args import ModelArguments
from ..loading import load_config, load_model, load_tokenizer
from ..trainer import RecipeTrainerMixin
from .model_files import align_special_tokens, encoder_decoder_inputs


class RecipeSeq2SeqTrainer(RecipeTrainerMixin, Seq2SeqTrainer):
    """``Seq2SeqTrainer`` (generation at evaluation with ``--predict_with_generate``) with the recipes' progress
    lines, curves, model card, run record and pickle-free output folder."""


def load_seq2seq(model_args: ModelArguments, train_texts: Iterable[str] | None = None):
    """The seq2seq model and its tokenizer, from a checkpoint or (``--config_name``) from scratch; returns
    ``(model, tokenizer, new_parameters)``. A model built from scratch points at the tokenizer's pad and end tokens
    (:func:`~plm_recipes.seq2seq.model_files.align_special_tokens`); the tokenizer returns only what an
    encoder-decoder takes."""
    config = load_config(model_args)
    tokenizer = encoder_decoder_inputs(load_tokenizer(model_args, train_texts=train_texts))
    if model_args.from_scratch:
        align_special_tokens(config, tokenizer)
    model, new_parameters = load_model(AutoModelForSeq2SeqLM, model_args, config, tokenizer)
    return model, tokenizer, new_parameters

