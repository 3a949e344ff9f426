"""Training a generative QA model: ``Seq2SeqTrainer`` with the recipes' additions, for an encoder-decoder (T5, BART)
or a causal language model (:class:`RecipeCausalQATrainer`), and the model and tokenizer the recipes start from."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, Seq2SeqTrainer

from ..args import ModelArguments
from ..loading import load_config, load_model, load_tokenizer
from ..trainer import RecipeTrainerMixin
from .causal import IGNORE_INDEX, answer_loss, generate_answers, split_prompts
from .model_files import align_special_tokens, encoder_decoder_inputs

logger = logging.getLogger(__name__)


class RecipeSeq2SeqTrainer(RecipeTrainerMixin, Seq2SeqTrainer):
    """``Seq2SeqTrainer`` (generation at evaluation with ``--predict_with_generate``) with the recipes' progress
    lines, curves, model card, run record and pickle-free output folder."""


class RecipeCausalQATrainer(RecipeSeq2SeqTrainer):
    """The same for a causal language model trained on prompt + answer rows padded on the left
    (:meth:`~plm_recipes.seq2seq.causal.CausalQAPrompt.example`): the loss covers the answers only, with the output
    layer computed over the answers' columns alone (:func:`~plm_recipes.seq2seq.causal.answer_loss`); evaluation
    generates from each row's prompt (:func:`~plm_recipes.seq2seq.causal.generate_answers`, as ``predict qa`` does)
    and returns the new tokens and the answers, ``--generation_max_length`` counting new tokens.

    Args:
        stop_ids: the tokens that end an answer (:attr:`CausalQAPrompt.stop_ids`).
    """

    def __init__(self, *args, stop_ids: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.stop_ids = stop_ids

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if "labels" not in inputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        scaled = num_items_in_batch is not None and self.model_accepts_loss_kwargs  # else the trainer averages
        loss, outputs = answer_loss(model, inputs, num_items_in_batch if scaled else None)
        if scaled and self.args.average_tokens_across_devices:
            loss = loss * self.accelerator.num_processes
        return (loss, outputs) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None, **gen_kwargs):
        if not self.args.predict_with_generate or prediction_loss_only:
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)
        inputs = self._prepare_inputs(inputs)
        labels = inputs.get("labels")
        loss = None
        if labels is not None:
            with torch.no_grad(), self.compute_loss_context_manager():
                loss, _ = answer_loss(model, inputs)
            loss = loss.detach()
        if self.args.prediction_loss_only:
            return loss, None, None
        prompts, targets = split_prompts(inputs["input_ids"], inputs["attention_mask"], labels)
        settings = {**getattr(self, "_gen_kwargs", {}), **gen_kwargs}
        max_new_tokens = settings.get("max_new_tokens") or settings.get("max_length") or 64
        generated = generate_answers(self.model, prompts, pad_id=self.processing_class.pad_token_id,
                                     stop_ids=self.stop_ids, max_new_tokens=max_new_tokens,
                                     num_beams=settings.get("num_beams") or 1)
        # one width for every batch; generated ids are padded with the pad token, answers with -100 (decode reads
        # both as padding)
        generated = self._pad_tensors_to_max_len(generated, max_new_tokens)
        if targets is None:
            return loss, generated, None
        width = max(max_new_tokens, *map(len, targets))
        answers = torch.tensor([t + [IGNORE_INDEX] * (width - len(t)) for t in targets], device=generated.device)
        return loss, generated, answers


def is_encoder_decoder(config) -> bool:
    """Whether a model config is an encoder-decoder's (T5, BART) rather than a causal language model's."""
    return bool(getattr(config, "is_encoder_decoder", False))


def load_seq2seq(model_args: ModelArguments, train_texts: Iterable[str] | None = None):
    """The generative model and its tokenizer, from a checkpoint or (``--config_name``) from scratch; returns
    ``(model, tokenizer, new_parameters)``. The model's config says which kind it is: an encoder-decoder
    (``is_encoder_decoder``: T5, mT5, BART) loads as ``AutoModelForSeq2SeqLM``, anything else as
    ``AutoModelForCausalLM``. A seq2seq model built from scratch points at the tokenizer's pad and end tokens
    (:func:`~plm_recipes.seq2seq.model_files.align_special_tokens`) and its tokenizer returns only what an
    encoder-decoder takes; a causal model's tokenizer pads on the left (where it generates), with its end token
    when it has no pad token."""
    if model_args.model_name_or_path and os.path.isdir(model_args.model_name_or_path):
        # a local folder by its absolute path, so that a LoRA adapter finds its base model from anywhere
        model_args.model_name_or_path = os.path.abspath(model_args.model_name_or_path)
    config = load_config(model_args)
    tokenizer = load_tokenizer(model_args, train_texts=train_texts)
    if is_encoder_decoder(config):
        tokenizer = encoder_decoder_inputs(tokenizer)
        if model_args.from_scratch:
            align_special_tokens(config, tokenizer)
        model, new_parameters = load_model(AutoModelForSeq2SeqLM, model_args, config, tokenizer)
        return _in_float32(model), tokenizer, new_parameters
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model, new_parameters = load_model(AutoModelForCausalLM, model_args, config, tokenizer)
    return _in_float32(model), tokenizer, new_parameters


def _in_float32(model):
    """A checkpoint saved in half precision (transformers loads it as saved) is trained in float32, as the
    trainer's mixed precision (``--bf16``, ``--fp16``) expects of the weights it updates."""
    if model.dtype in (torch.bfloat16, torch.float16):
        logger.info("The checkpoint is in %s: its weights are used in float32 (--bf16 or --fp16 for mixed "
                    "precision)", model.dtype)
        model = model.float()
    return model
