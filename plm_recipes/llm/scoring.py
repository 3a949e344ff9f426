"""Constrained choice by option scoring: the answer is the option the model itself finds most likely.

For a prompt ``x`` (the chat, rendered up to the opening of the assistant's turn) and options ``o_1 .. o_k``,
each tokenized as the assistant would write it and followed by the turn's end token ``e``
(``<|im_end|>`` for ChatML templates), the score of option ``j`` is its log-likelihood

    s_j = log P(o_j, e | x) = sum_t log P(y_t | x, y_<t),    y = tokens(o_j) + [e]

and its probability the softmax over the options, ``p_j = exp(s_j) / sum_i exp(s_i)``: the model's distribution
over whole answers, conditioned on the answer being one of the options. The end token makes an option that is
the beginning of another (``电脑`` / ``电脑配件``) pay for stopping there. ``normalization="mean"`` divides each
``s_j`` by its number of tokens before the softmax (a per-token score that does not favour short options; its
softmax is a ranking score, not the model's probability). This is the "rank classification" of GPT-3
(Brown et al., 2020) and T0 (Sanh et al., 2022); no constrained-decoding library is needed.

The prompt is encoded once and its key/value cache repeated for the options, so a prompt of ``P`` tokens with
``k`` options of ``L`` tokens costs one forward pass of ``P`` tokens plus one of ``k * L``. The tokens all prompts
of a call start with (the system message, the few-shot turns, the instruction) are encoded once per call
(:class:`SharedPrefix`), and each batch starts from a copy of their key/value cache.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


class OptionScorer:
    """Scores options after prompts with a causal LM, batched: ``scorer(prompts, options)`` -> ``(n, k)``.

    Prompts are left-padded (so that their last tokens line up) and options right-padded; position ids are
    counted over real tokens only, so a padded row is computed as it would be alone.

    Args:
        model: a ``transformers`` causal LM (a ``PreTrainedModel`` whose forward takes a key/value cache).
        pad_token_id: any token id; padded positions are masked out.
    """

    def __init__(self, model, pad_token_id: int):
        self.model = model
        self.pad_token_id = pad_token_id
        self.cache_name = cache_argument(model)

    @torch.no_grad()
    def shared_prefix(self, prompts: Sequence[Sequence[int]]) -> SharedPrefix | None:
        """The tokens all ``prompts`` start with, encoded (see :func:`encode_shared_prefix`)."""
        return encode_shared_prefix(self.model, prompts)

    @torch.no_grad()
    def __call__(self, prompts: Sequence[Sequence[int]], options: Sequence[Sequence[int]],
                 prefix: SharedPrefix | None = None) -> np.ndarray:
        """Args:
            prompts: ``n`` token id lists (each non-empty).
            options: ``k`` token id lists (each non-empty), the same for every prompt.
            prefix: tokens every prompt starts with, already encoded (:meth:`shared_prefix` over all the prompts of
                a call, so that a few-shot prompt's examples are encoded once, not once per batch); each prompt must
                have at least one token after it. Default: the tokens ``prompts`` share, encoded here.

        Returns:
            ``float64`` array ``(n, k)``: ``log P(option | prompt)``, summed over the option's tokens.
        """
        if not prompts:
            return np.zeros((0, len(options)))
        device = next(self.model.parameters()).device
        n, k = len(prompts), len(options)
        if prefix is None:
            prefix = self.shared_prefix(prompts)
        else:
            prefix.check(prompts)
        shared = prefix.length if prefix is not None else 0
        cache = prefix.for_batch(n) if prefix is not None else None
        prefix_mask = torch.ones((n, shared), dtype=torch.long, device=device)
        rest = [list(ids[shared:]) for ids in prompts]
        width = max(map(len, rest))
        prompt_ids = torch.full((n, width), self.pad_token_id, dtype=torch.long)
        rest_mask = torch.zeros((n, width), dtype=torch.long)
        for i, ids in enumerate(rest):
            prompt_ids[i, width - len(ids):] = torch.tensor(ids)
            rest_mask[i, width - len(ids):] = 1
        prompt_ids, rest_mask = prompt_ids.to(device), rest_mask.to(device)
        prompt_mask = torch.cat([prefix_mask, rest_mask], dim=1)  # padding sits between prefix and rest
        positions = (prompt_mask.cumsum(-1) - 1).clamp(min=0)[:, shared:]
        out = self.model(input_ids=prompt_ids, attention_mask=prompt_mask, position_ids=positions,
                         use_cache=True, logits_to_keep=1, **{self.cache_name: cache})
        first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)  # (n, V): the distribution of answer token 1

        length = max(map(len, options))
        option_ids = torch.full((k, length), self.pad_token_id, dtype=torch.long)
        option_mask = torch.zeros((k, length), dtype=torch.long)
        for j, ids in enumerate(options):
            option_ids[j, :len(ids)] = torch.tensor(ids)
            option_mask[j, :len(ids)] = 1
        option_ids, option_mask = option_ids.to(device), option_mask.to(device)

        # every prompt with every option: rows i * k + j
        cache = output_cache(out)
        cache.batch_repeat_interleave(k)
        rows_ids = option_ids.repeat(n, 1)  # (n * k, L)
        rows_mask = option_mask.repeat(n, 1)
        attention = torch.cat([prompt_mask.repeat_interleave(k, dim=0), rows_mask], dim=1)
        start = prompt_mask.sum(-1).repeat_interleave(k).unsqueeze(1)  # each prompt's real length
        rows_positions = start + torch.arange(length, device=device).unsqueeze(0)
        logits = self.model(input_ids=rows_ids, attention_mask=attention, position_ids=rows_positions,
                            use_cache=True, **{self.cache_name: cache}).logits.float()  # (n * k, L, V)

        # token t of an option is predicted by the position before it: the prompt's last for t = 0
        log_probs = torch.log_softmax(logits[:, :-1], dim=-1) if length > 1 else None
        first_tokens = first.repeat_interleave(k, dim=0).gather(1, rows_ids[:, :1])  # (n * k, 1)
        per_token = [first_tokens]
        if log_probs is not None:
            per_token.append(log_probs.gather(2, rows_ids[:, 1:].unsqueeze(-1)).squeeze(-1))
        token_scores = torch.cat(per_token, dim=1).masked_fill(rows_mask == 0, 0.0)
        return token_scores.sum(-1).view(n, k).double().cpu().numpy()


def option_probabilities(scores: np.ndarray, lengths: np.ndarray | None = None,
                         normalization: str = "sum") -> np.ndarray:
    """The softmax over options of ``scores`` (``(n, k)`` summed log-likelihoods); with ``normalization="mean"``
    each score is first divided by its option's token count ``lengths`` (``(k,)``).

    >>> p = option_probabilities(np.log(np.array([[0.2, 0.6]])))
    >>> np.round(p, 3).tolist()
    [[0.25, 0.75]]
    """
    if normalization not in ("sum", "mean"):
        raise ValueError(f"normalization must be 'sum' or 'mean', got {normalization!r}")
    values = scores / lengths[None, :] if normalization == "mean" else scores
    values = values - values.max(axis=1, keepdims=True)
    exp = np.exp(values)
    return exp / exp.sum(axis=1, keepdims=True)


def _common_prefix_length(prompts: Sequence[Sequence[int]]) -> int:
    """The number of leading tokens all ``prompts`` share, leaving each at least one token of its own (whose
    logits predict the answer's first token); 0 for a single prompt (nothing to share)."""
    if len(prompts) < 2:
        return 0
    shortest = min(map(len, prompts))
    length = 0
    while length < shortest - 1 and all(p[length] == prompts[0][length] for p in prompts):
        length += 1
    return length


@dataclass
class SharedPrefix:
    """Tokens that several prompts start with, encoded once: their key/value cache, for one row.

    Attributes:
        ids: the tokens.
        cache: the model's key/value cache after them (a ``transformers`` ``Cache``, batch size 1).
    """

    ids: list[int]
    cache: Any

    @property
    def length(self) -> int:
        return len(self.ids)

    def check(self, prompts: Sequence[Sequence[int]]) -> None:
        """Raise ``ValueError`` unless every prompt starts with the prefix and has a token after it."""
        for i, prompt in enumerate(prompts):
            if len(prompt) <= self.length or list(prompt[:self.length]) != self.ids:
                raise ValueError(f"prompt {i} does not start with the {self.length} tokens of the shared prefix "
                                 "followed by one of its own")

    def for_batch(self, rows: int) -> Any:
        """A copy of the cache for a batch of ``rows`` prompts. A forward pass extends the cache it is given in
        place, so each batch gets its own copy (``copy.deepcopy``, as transformers' docs reuse a prompt's cache),
        repeated along the batch (``Cache.batch_repeat_interleave``)."""
        cache = copy.deepcopy(self.cache)
        cache.batch_repeat_interleave(rows)
        return cache


@torch.no_grad()
def encode_shared_prefix(model, prompts: Sequence[Sequence[int]]) -> SharedPrefix | None:
    """Encode the tokens all ``prompts`` start with (leaving each at least one token of its own); ``None`` when they
    share none, or there is one prompt."""
    length = _common_prefix_length(prompts)
    if not length:
        return None
    ids = list(prompts[0][:length])
    out = model(input_ids=torch.tensor([ids], device=next(model.parameters()).device), use_cache=True,
                logits_to_keep=1)
    return SharedPrefix(ids, output_cache(out))


def cache_argument(model) -> str:
    """The name a model's forward takes its key/value cache by: ``cache`` in newer transformers releases,
    ``past_key_values`` in older ones (which the newer still take, with a deprecation warning)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # a PEFT wrapper
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def output_cache(output):
    """The key/value cache of a model's output (``cache``, or ``past_key_values`` in older transformers)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def calibrate(probabilities: np.ndarray, content_free: np.ndarray) -> np.ndarray:
    """Contextual calibration (Zhao et al., 2021, "Calibrate Before Use"): divide each row of option
    probabilities ``(n, k)`` by the model's probabilities for content-free inputs (``(m, k)``, averaged; e.g. the
    same prompt with the text ``N/A``) and renormalise, so that a label the prompt alone favours loses that edge.

    >>> calibrate(np.array([[0.7, 0.3], [0.9, 0.1]]), np.array([[0.8, 0.2]])).round(3).tolist()
    [[0.368, 0.632], [0.692, 0.308]]
    """
    prior = content_free.mean(axis=0, keepdims=True)
    weighted = probabilities / prior
    return weighted / weighted.sum(axis=1, keepdims=True)
