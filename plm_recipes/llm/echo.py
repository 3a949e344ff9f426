"""The log-probabilities of given text, for ``/v1/completions`` with ``echo`` and ``logprobs``: what option scoring
over HTTP reads (:class:`~plm_recipes.llm.openai_backend.OpenAIBackend`), as vLLM returns them."""

from __future__ import annotations

import torch

from .scoring import _common_prefix_length, cache_argument, output_cache
from .transformers_backend import TransformersBackend


@torch.no_grad()
def prompt_logprobs(backend: TransformersBackend, prompts: list[str]) -> list[tuple[dict, torch.Tensor]]:
    """``echo`` + ``logprobs``: for each prompt, the log-probability of every token after the ones before it
    (``None`` for the first), and the log-probabilities of the token that would follow it. The tokens all
    prompts start with (a chat and its question, scored with each option after it) are encoded once; each
    prompt's own tokens follow from their key/value cache, in one right-padded batch."""
    tok, model, device = backend.tokenizer, backend.model, backend.device
    encoded = [tok(p, add_special_tokens=False, return_offsets_mapping=True) for p in prompts]
    ids = [e["input_ids"] for e in encoded]
    shared = _common_prefix_length(ids) if len(ids) > 1 else len(ids[0]) - 1
    cache_name = cache_argument(model)
    prefix_logits, cache = None, None
    if shared:
        out = model(input_ids=torch.tensor([ids[0][:shared]], device=device), use_cache=True)
        prefix_logits, cache = out.logits[0].float(), output_cache(out)
        cache.batch_repeat_interleave(len(ids))
    rest = [row[shared:] for row in ids]
    width = max(map(len, rest))
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    rows = torch.tensor([r + [pad] * (width - len(r)) for r in rest], device=device)
    mask = torch.tensor([[1] * shared + [1] * len(r) + [0] * (width - len(r)) for r in rest], device=device)
    rest_logits = model(input_ids=rows, attention_mask=mask, use_cache=True,
                        **{cache_name: cache}).logits.float()  # (n, width, V)
    answers = []
    for i, row in enumerate(ids):
        # token t is predicted by position t - 1: the shared prefix's logits, then the prompt's own
        logits = rest_logits[i, :len(row) - shared - 1]
        if prefix_logits is not None:
            logits = torch.cat([prefix_logits, logits])
        values = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(row[1:], device=device)[:, None])
        answers.append(({"tokens": tok.convert_ids_to_tokens(row),
                         "token_logprobs": [None] + values[:, 0].tolist(),
                         "text_offset": [start for start, _ in encoded[i]["offset_mapping"]],
                         "top_logprobs": None},
                        torch.log_softmax(rest_logits[i, len(row) - shared - 1], dim=-1)))
    return answers
