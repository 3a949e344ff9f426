"""Token-by-token decoding for the server (:mod:`plm_recipes.llm.server`): text pieces as they are written, stop
strings held back until they can no longer begin, a true finish reason, and a deadline.

``model.generate`` does each of these on its own (``streamer``, ``stop_strings``, ``max_time``), but not together
with text pieces that never contain the beginning of a stop string, nor tell why it stopped; a plain loop over a
key/value cache does all of it in a few lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch


class GenerationTimeout(Exception):
    """The deadline passed before the answer ended."""


@dataclass
class Sampling:
    """How the next token is chosen: greedy when ``temperature`` is 0, else sampled from the softmax at
    ``temperature`` within the ``top_p`` nucleus, with ``generator`` (seeded by the request's ``seed``)."""

    temperature: float = 0.0
    top_p: float = 1.0
    generator: torch.Generator | None = None

    def choose(self, logits: torch.Tensor) -> int:
        if self.temperature <= 0:
            return int(logits.argmax())
        probs = torch.softmax(logits.float() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            sorted_probs, order = probs.sort(descending=True)
            outside = sorted_probs.cumsum(-1) - sorted_probs >= self.top_p  # keep the smallest set reaching top_p
            sorted_probs[outside] = 0.0
            probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
        return int(torch.multinomial(probs, 1, generator=self.generator))


@dataclass
class Decoding:
    """One answer, decoded by iterating: each item is the next piece of text. After the loop, ``finish_reason``
    is ``"stop"`` (an end token or a stop string) or ``"length"`` (``max_tokens`` written), and
    ``completion_tokens`` the number of tokens generated.

    Args:
        model: a causal LM.
        tokenizer: its tokenizer (for decoding).
        prompt_ids: the prompt's token ids.
        max_tokens: the most tokens to write.
        end_ids: token ids that end the answer (not shown).
        stop: strings that end the answer (not shown).
        sampling: how tokens are chosen.
        deadline: a ``time.monotonic()`` value; passing it raises :class:`GenerationTimeout`.
        cancelled: called after every token; True stops decoding (the server shutting down).
    """

    model: torch.nn.Module
    tokenizer: object
    prompt_ids: Sequence[int]
    max_tokens: int
    end_ids: Sequence[int] = ()
    stop: Sequence[str] = ()
    sampling: Sampling = field(default_factory=Sampling)
    deadline: float | None = None
    cancelled: Callable[[], bool] = lambda: False
    finish_reason: str | None = None
    completion_tokens: int = 0

    def __iter__(self) -> Iterator[str]:
        shown = 0  # characters of the answer already yielded
        text = ""
        for text, ended in self._texts():
            cut = _first_stop(text, self.stop)
            if cut is not None:
                self.finish_reason = "stop"
                yield from _piece(text[shown:cut])
                return
            if ended:
                break
            whole = text.rstrip("\ufffd")  # a character cut between tokens: wait for its other bytes
            safe = len(whole) - _stop_prefix_length(whole, self.stop)
            if safe > shown:
                yield text[shown:safe]
                shown = safe
        yield from _piece(text[shown:])

    @torch.no_grad()
    def _texts(self) -> Iterator[tuple[str, bool]]:
        """The answer's text after each token, and whether decoding ended there (setting ``finish_reason``)."""
        from .scoring import cache_argument, output_cache

        device = next(self.model.parameters()).device
        cache_name = cache_argument(self.model)
        generated: list[int] = []
        inputs = torch.tensor([list(self.prompt_ids)], device=device)
        cache = None
        while True:
            if len(generated) >= self.max_tokens:
                self.finish_reason = "length"
                yield self.tokenizer.decode(generated, skip_special_tokens=True), True
                return
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise GenerationTimeout(f"the answer was not finished after {len(generated)} tokens")
            if self.cancelled():
                raise GenerationTimeout("the server is shutting down")
            out = self.model(input_ids=inputs, use_cache=True, logits_to_keep=1, **{cache_name: cache})
            cache = output_cache(out)
            token = self.sampling.choose(out.logits[0, -1])
            if token in self.end_ids:
                self.finish_reason = "stop"
                yield self.tokenizer.decode(generated, skip_special_tokens=True), True
                return
            generated.append(token)
            self.completion_tokens = len(generated)
            inputs = torch.tensor([[token]], device=device)
            yield self.tokenizer.decode(generated, skip_special_tokens=True), False


def _piece(text: str) -> Iterator[str]:
    if text:
        yield text


def _first_stop(text: str, stop: Sequence[str]) -> int | None:
    """Where the first stop string in ``text`` begins, or None."""
    found = [i for i in (text.find(s) for s in stop) if i >= 0]
    return min(found) if found else None


def _stop_prefix_length(text: str, stop: Sequence[str]) -> int:
    """The length of the longest end of ``text`` that begins a stop string (held back: it may become one)."""
    longest = 0
    for s in stop:
        for n in range(min(len(s) - 1, len(text)), longest, -1):
            if text.endswith(s[:n]):
                longest = n
                break
    return longest
