"""Question answering with a causal (decoder-only) language model: the prompt a record becomes, the answer it is
trained to write, and generation from a batch of prompts, shared by the recipe's evaluation and ``predict qa``.

The prompt is the source template filled in (only the context is cut to fit), inside the user's turn of the
tokenizer's chat template when it has one (``<|im_start|>user ... <|im_end|><|im_start|>assistant``), after the
tokenizer's leading special tokens otherwise. The target is the answer followed by what ends it: the chat
template's end of turn (``<|im_end|>``, ``<end_of_turn>``) or the ``eos_token``. Only the target is trained: the
prompt's labels are ``-100``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ..chat import TEMPLATE_KWARGS, turn_end_text
from ..errors import ModelLoadError
from .data import SourceTemplate, special_tokens_around

IGNORE_INDEX = -100

#: The template a causal model reads when none is given: an instruction a chat model follows zero-shot, ending
#: where the answer starts (for a model without a chat template).
CAUSAL_SOURCE_TEMPLATE = "阅读下面的原文，用原文中的一段文字回答问题，只写出答案。\n原文：{context}\n问题：{question}\n答案："

_MARKER = "\u2063QUESTION\u2063"


class CausalQAPrompt:
    """Token ids of a causal model's prompts and targets for question answering.

    Args:
        tokenizer: the model's tokenizer.
        template: the source template (``{question}``, ``{context}``).
        chat: wrap the prompt in the chat template; default: when the tokenizer has one.
    """

    def __init__(self, tokenizer, template: SourceTemplate, chat: bool | None = None):
        self.tokenizer = tokenizer
        self.template = template
        has_template = bool(getattr(tokenizer, "chat_template", None))
        self.chat = has_template if chat is None else chat
        if self.chat and not has_template:
            raise ModelLoadError("the model was trained with its chat template, but its tokenizer has none now")
        if self.chat:
            before, after = _around_marker(tokenizer, [{"role": "user", "content": _MARKER}],
                                           add_generation_prompt=True)
            self.before = tokenizer(before, add_special_tokens=False)["input_ids"]
            self.after = tokenizer(after, add_special_tokens=False)["input_ids"]
            # what the template writes right after an answer: its end of turn (<|im_end|>, <end_of_turn>)
            end = tokenizer(turn_end_text(tokenizer), add_special_tokens=False)["input_ids"][0]
        else:
            self.before, self.after = special_tokens_around(tokenizer)[0], []
            end = tokenizer.eos_token_id
        if end is None:
            raise ModelLoadError(f"the tokenizer ({type(tokenizer).__name__}) has no eos_token to end answers with")
        self.end_id = end
        stops = [end] + ([tokenizer.eos_token_id] if tokenizer.eos_token_id not in (None, end) else [])
        self.stop_ids = stops

    def prompt_ids(self, values: Mapping[str, str], max_length: int) -> list[int]:
        """The prompt of a record (``question``, ``context``), at most ``max_length`` tokens: only the context is
        cut."""
        budget = max_length - len(self.before) - len(self.after)
        return [*self.before, *self.template.fit(self.tokenizer, values, budget), *self.after]

    def target_ids(self, answer: str, max_length: int) -> list[int]:
        """The answer's tokens, cut to fit ``max_length`` with the end token after them."""
        ids = self.tokenizer(answer, add_special_tokens=False)["input_ids"][:max(max_length - 1, 0)]
        return [*ids, self.end_id]

    def example(self, values: Mapping[str, str], max_source_length: int, max_target_length: int,
                with_labels: bool = True) -> dict[str, list[int]]:
        """``input_ids`` (prompt + target), ``attention_mask`` and ``labels`` (``-100`` over the prompt) of a
        training record; the prompt alone without labels."""
        prompt = self.prompt_ids(values, max_source_length)
        if not with_labels:
            return {"input_ids": prompt, "attention_mask": [1] * len(prompt)}
        target = self.target_ids(values["answer"], max_target_length)
        return {"input_ids": prompt + target, "attention_mask": [1] * (len(prompt) + len(target)),
                "labels": [IGNORE_INDEX] * len(prompt) + target}


def _around_marker(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> tuple[str, str]:
    """The text a chat template writes before and after the one message holding ``_MARKER`` (thinking templates,
    Qwen3's, rendered with thinking off, as the LLM commands do)."""
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt,
                                             **TEMPLATE_KWARGS)
    if rendered.count(_MARKER) != 1:
        raise ModelLoadError("the tokenizer's chat template does not write a message as it is given")
    before, after = rendered.split(_MARKER)
    return before, after


def split_prompts(input_ids: torch.Tensor, attention_mask: torch.Tensor,
                  labels: torch.Tensor | None = None) -> tuple[list[list[int]], list[list[int]] | None]:
    """Each row's prompt (the tokens before its first label) and target (its labels from there), from a padded
    batch of :meth:`CausalQAPrompt.example` rows, padded on either side. Without labels every row is a prompt."""
    prompts, targets = [], [] if labels is not None else None
    for i in range(input_ids.shape[0]):
        kept = attention_mask[i].bool()
        ids = input_ids[i][kept].tolist()
        if labels is None:
            prompts.append(ids)
            continue
        row = labels[i][kept].tolist()
        start = next((j for j, label in enumerate(row) if label != IGNORE_INDEX), len(row))
        prompts.append(ids[:start])
        targets.append(row[start:])
    return prompts, targets


def left_pad(rows: Sequence[Sequence[int]], pad_id: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``input_ids`` and ``attention_mask`` of ``rows``, padded on the left (where a causal model generates)."""
    width = max(map(len, rows))
    ids = torch.tensor([[pad_id] * (width - len(r)) + list(r) for r in rows], dtype=torch.long, device=device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=torch.long, device=device)
    return ids, mask


@torch.no_grad()
def generate_answers(model, prompts: Sequence[Sequence[int]], *, pad_id: int, stop_ids: Sequence[int],
                     max_new_tokens: int, num_beams: int = 1, **generate_kwargs) -> torch.Tensor:
    """The tokens a causal model writes after each prompt (greedy, or beam search with ``num_beams``), as one tensor
    padded with ``pad_id``; generation stops at any of ``stop_ids``."""
    device = next(model.parameters()).device
    ids, mask = left_pad(prompts, pad_id, device)
    out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, num_beams=num_beams,
                         do_sample=False, temperature=None, top_p=None, top_k=None, eos_token_id=list(stop_ids),
                         pad_token_id=pad_id, **generate_kwargs)
    return out[:, ids.shape[1]:]


def answer_loss(model, inputs: Mapping[str, torch.Tensor], num_items: int | torch.Tensor | None = None):
    """The causal LM loss of a batch padded on the left, computing the output layer only over the last columns,
    where the answers are (``logits_to_keep``): a prompt's hundreds of tokens never meet the vocabulary-sized
    head, which in a small model costs as much as all its layers. The same value as the model's own loss with
    these labels; the sum is divided by ``num_items`` (the trainer's count over accumulated batches) when given,
    else by the batch's own count of answer tokens. Returns ``(loss, outputs)``."""
    labels = inputs["labels"]
    answered = labels != IGNORE_INDEX
    columns = labels.shape[1]
    first = int(answered.float().argmax(-1)[answered.any(-1)].min()) if answered.any() else columns - 1
    keep = columns - max(first, 1) + 1  # the column before the first answer token predicts it
    mask = inputs["attention_mask"]
    forward = {k: v for k, v in inputs.items() if k != "labels"}
    forward.setdefault("position_ids", (mask.long().cumsum(-1) - 1).clamp(min=0))
    outputs = model(**forward, logits_to_keep=keep)
    logits = outputs.logits[:, :-1].float()
    targets = labels[:, columns - keep + 1:]
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                             ignore_index=IGNORE_INDEX, reduction="sum")
    count = num_items if num_items is not None else answered[:, 1:].sum().clamp(min=1)
    return loss / count, outputs
