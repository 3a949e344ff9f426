"""The chat model in this process, through ``transformers`` (:class:`TransformersBackend`): a model folder, a hub id
or a LoRA adapter folder from ``recipes/llm_sft.py``."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np
import torch

from ..chat import Conversation, render_chat, turn_end_text
from ..errors import ArgumentError, ModelLoadError, PlmRecipesError
from ..loading import load_or_explain
from .scoring import OptionScorer


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TransformersBackend:
    """A chat model in this process: a model folder or hub id, or a LoRA adapter folder from
    ``recipes/llm_sft.py`` (loaded over its base model and merged).

    Args:
        model: the ``AutoModelForCausalLM``; or use :meth:`from_pretrained`.
        tokenizer: its tokenizer, with a chat template.
        batch_size: conversations per forward pass (option scoring runs ``batch_size`` prompts with all their
            options at once).
        max_length: the longest prompt + answer in tokens; default: the model's context
            (``max_position_embeddings``), capped by the tokenizer's ``model_max_length``.
        progress: show a progress bar over batches.
    """

    def __init__(self, model, tokenizer, *, batch_size: int = 8, max_length: int | None = None,
                 progress: bool = True):
        self.model = model.eval()
        self.tokenizer = tokenizer
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.batch_size = batch_size
        self.max_length = max_length or context_length(model.config, tokenizer)
        self.progress = progress
        self.scorer = OptionScorer(model, pad_token_id=tokenizer.pad_token_id)
        self._turn_end: str | None = None

    @classmethod
    def from_pretrained(cls, name_or_path: str, *, device: str | None = None, dtype: str | None = None,
                        batch_size: int = 8, max_length: int | None = None, progress: bool = True,
                        trust_remote_code: bool = False) -> TransformersBackend:
        """Load a model folder, hub id or LoRA adapter folder (``adapter_config.json``) for inference."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch_dtype = _dtype(dtype)
        adapter = os.path.isfile(os.path.join(name_or_path, "adapter_config.json"))
        if adapter:
            with open(os.path.join(name_or_path, "adapter_config.json"), encoding="utf-8") as f:
                base = json.load(f).get("base_model_name_or_path")
            if not base:
                raise ModelLoadError(f"{name_or_path}/adapter_config.json names no base_model_name_or_path")
        else:
            base = name_or_path
        model = load_or_explain(lambda: AutoModelForCausalLM.from_pretrained(
            base, dtype=torch_dtype, trust_remote_code=trust_remote_code), base)
        if adapter:
            from peft import PeftModel

            model = load_or_explain(lambda: PeftModel.from_pretrained(model, name_or_path), name_or_path,
                                    "LoRA adapter").merge_and_unload()
        tokenizer = load_or_explain(lambda: AutoTokenizer.from_pretrained(
            name_or_path, trust_remote_code=trust_remote_code), name_or_path, "tokenizer")
        model.to(torch.device(device) if device else _default_device())
        return cls(model, tokenizer, batch_size=batch_size, max_length=max_length, progress=progress)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def turn_end(self) -> str:
        if self._turn_end is None:
            self._turn_end = turn_end_text(self.tokenizer)
        return self._turn_end

    # --- prompts ----------------------------------------------------------------------------------------------

    def encode_prompts(self, conversations: Sequence[Conversation], reserve: int) -> list[list[int]]:
        """The token ids of each rendered chat; a prompt that leaves fewer than ``reserve`` tokens of the
        context for the answer is an error naming it."""
        encoded = []
        for i, messages in enumerate(conversations):
            ids = self.tokenizer(render_chat(self.tokenizer, messages), add_special_tokens=False)["input_ids"]
            if len(ids) + reserve > self.max_length:
                raise PlmRecipesError(
                    f"input {i + 1}: the prompt is {len(ids)} tokens and its answer needs up to {reserve} more, "
                    f"beyond the model's context of {self.max_length} tokens; shorten the text, use fewer few-shot "
                    "examples or a smaller --max_new_tokens")
            encoded.append(ids)
        return encoded

    def _batches(self, n: int, description: str):
        from tqdm.auto import tqdm

        starts = range(0, n, self.batch_size)
        return tqdm(starts, desc=description, unit="batch", disable=not self.progress or len(starts) <= 1)

    # --- the two operations -----------------------------------------------------------------------------------

    @torch.no_grad()
    def generate(self, conversations: Sequence[Conversation], max_new_tokens: int) -> list[str]:
        """Greedy answers (no sampling: the same input gives the same output), at most ``max_new_tokens`` each."""
        prompts = self.encode_prompts(conversations, max_new_tokens)
        pad = self.tokenizer.pad_token_id
        answers: list[str] = []
        stop = [self.tokenizer.convert_tokens_to_ids(self.turn_end)]
        if self.tokenizer.eos_token_id is not None:
            stop.append(self.tokenizer.eos_token_id)
        prefix = self.scorer.shared_prefix(prompts)  # once per call, not once per batch
        for start in self._batches(len(prompts), "generating"):
            batch = prompts[start:start + self.batch_size]
            ids, mask = self._after_prefix(batch, prefix.length if prefix else 0)
            cache = prefix.for_batch(len(batch)) if prefix else None
            out = self.model.generate(input_ids=ids, attention_mask=mask, **{self.scorer.cache_name: cache},
                                      max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, eos_token_id=stop,
                                      pad_token_id=pad, temperature=None, top_p=None, top_k=None)
            answers += [text.strip() for text in
                        self.tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)]
        return answers

    def _after_prefix(self, batch: list[list[int]], shared: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Input ids and attention mask for generating from ``batch`` after its first ``shared`` tokens, which are
        in the key/value cache: each prompt's own tokens are left-padded after them (position ids follow the
        attention mask, so the padding in the middle is skipped)."""
        pad = self.tokenizer.pad_token_id
        width = max(map(len, batch)) - shared
        rows = [p[:shared] + [pad] * (width - (len(p) - shared)) + p[shared:] for p in batch]
        mask = [[1] * shared + [0] * (width - (len(p) - shared)) + [1] * (len(p) - shared) for p in batch]
        return torch.tensor(rows, device=self.device), torch.tensor(mask, device=self.device)

    @torch.no_grad()
    def score_options(self, conversations: Sequence[Conversation], options: Sequence[str]) -> np.ndarray:
        """``log P(option + turn end | prompt)`` summed over the option's tokens, shape ``(n, len(options))``;
        see :class:`~plm_recipes.llm.scoring.OptionScorer`. :meth:`option_lengths` gives the token counts. The
        tokens all prompts start with (the system message, few-shot turns, the instruction) are encoded once for
        the call, and each batch continues from their key/value cache."""
        option_ids = self.option_token_ids(options)
        prompts = self.encode_prompts(conversations, max(map(len, option_ids)))
        prefix = self.scorer.shared_prefix(prompts)
        scores = []
        for start in self._batches(len(prompts), "scoring options"):
            scores.append(self.scorer(prompts[start:start + self.batch_size], option_ids, prefix=prefix))
        return np.concatenate(scores, axis=0) if scores else np.zeros((0, len(options)))

    def option_token_ids(self, options: Sequence[str]) -> list[list[int]]:
        """Each option's tokens as the assistant would write them, with the turn's end token."""
        end = self.tokenizer(self.turn_end, add_special_tokens=False)["input_ids"]
        return [self.tokenizer(option, add_special_tokens=False)["input_ids"] + end for option in options]

    def option_lengths(self, options: Sequence[str]) -> np.ndarray:
        return np.array([len(ids) for ids in self.option_token_ids(options)])


def context_length(config, tokenizer) -> int:
    """The model's context in tokens: ``max_position_embeddings`` (or ``n_positions``), capped by the tokenizer's
    ``model_max_length`` when that is set to a real value."""
    length = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or 2048
    tok = getattr(tokenizer, "model_max_length", None)
    if tok and tok < 1_000_000:
        length = min(length, tok)
    return int(length)


def _dtype(name: str | None):
    """``--dtype``: float32 unless asked (transformers 5 would load a checkpoint's own dtype, bfloat16 for most
    chat models, which CPUs without bfloat16 instructions run several times slower)."""
    if name is None:
        return torch.float32
    if name == "auto":
        return "auto"
    if name not in ("float32", "bfloat16", "float16"):
        raise ArgumentError(f"--dtype {name}: expected float32, bfloat16, float16 or auto")
    return getattr(torch, name)

