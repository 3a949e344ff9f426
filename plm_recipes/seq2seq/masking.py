"""Span corruption for mask filling: training pairs built from plain text, and sentinels read back from outputs.

T5's objective (Raffel et al., 2020, section 3.1.4): some spans of the source are replaced, each by a sentinel
token, in the input; the target lists each sentinel followed by the span it replaced, and ends with one more
sentinel. Input ``我[s0]北京天[s1]`` with target ``[s0]爱[s1]安门[s2]`` for ``我爱北京天安门``.

Sentinel names differ between checkpoints: T5 / mT5 use ``<extra_id_0>``, ``<extra_id_1>``, ...; the Chinese T5
checkpoints that use a BERT tokenizer use ``extra0``, ``extra1``, ... :func:`sentinel_tokens` finds which a
tokenizer has. Spans are chosen over characters (Chinese has no spaces to split words on), so every character
of the source is in the input or in the target, exactly once.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ArgumentError
from .data import decode

SENTINEL_STYLES = ("<extra_id_{}>", "extra{}")


def sentinel_tokens(tokenizer, count: int = 100) -> list[str]:
    """The tokenizer's sentinel tokens, in order (``<extra_id_0>``... or ``extra0``...), as many as it has (up to
    ``count``). A tokenizer without any is an error: mask filling needs them."""
    vocab = tokenizer.get_vocab()
    for style in SENTINEL_STYLES:
        found = []
        for i in range(count):
            token = style.format(i)
            if token not in vocab:
                break
            found.append(token)
        if found:
            return found
    raise ArgumentError(
        f"the tokenizer ({type(tokenizer).__name__}) has no sentinel tokens (<extra_id_0>, ... as T5/mT5, or extra0, "
        "... as the Chinese T5 checkpoints with a BERT tokenizer): mask filling needs a T5-style vocabulary")


@dataclass(frozen=True)
class MaskedExample:
    """A span-corruption training pair, and the spans it hides."""

    source: str
    target: str
    spans: tuple[str, ...]


def mask_spans(
    text: str,
    sentinels: Sequence[str],
    rng: random.Random,
    noise_density: float = 0.15,
    mean_span_length: float = 3.0,
    separator: str = "",
) -> MaskedExample:
    """Hide about ``noise_density`` of the characters of ``text`` in spans of about ``mean_span_length``.

    The number of spans is ``round(n * density / mean_length)`` (at least 1, at most the sentinels and half the
    text); span lengths and the kept stretches between them are drawn at random, every span at least one
    character, spans never adjacent. Returns the input (text with each span replaced by its sentinel), the target
    (each sentinel followed by its span, then a closing sentinel) and the spans. ``separator`` goes around every
    sentinel (:func:`sentinel_separator`).

    >>> example = mask_spans("我爱北京天安门", ["<s0>", "<s1>", "<s2>"], random.Random(1), noise_density=0.3)
    >>> example.source, example.target
    ('我<s0>京天安门', '<s0>爱北<s1>')
    """
    chars = list(text)
    n = len(chars)
    if n < 2:
        raise ValueError(f"text too short to mask spans in: {text!r}")
    noise = min(max(1, round(n * noise_density)), n - 1)
    spans = min(max(1, round(noise / mean_span_length)), len(sentinels) - 1, noise, n - noise)
    if spans < 1:
        raise ValueError("need at least two sentinel tokens (one per span and one to close the target)")
    noise_lengths = _partition(noise, spans, rng)
    # kept stretches around the spans: one before each and one after the last; those between two spans are at
    # least one character (spans never touch), the first and the last may be empty
    keep_lengths = _partition(n - noise + 2, spans + 1, rng)
    keep_lengths[0] -= 1
    keep_lengths[-1] -= 1
    source, target, hidden = [], [], []
    position = 0
    for i, (keep, length) in enumerate(zip(keep_lengths, noise_lengths)):
        source.append("".join(chars[position:position + keep]))
        position += keep
        span = "".join(chars[position:position + length])
        position += length
        source.append(f"{separator}{sentinels[i]}{separator}")
        target.append(f"{sentinels[i]}{separator}{span}{separator}")
        hidden.append(span)
    source.append("".join(chars[position:]))
    target.append(sentinels[len(hidden)])
    return MaskedExample("".join(source), "".join(target), tuple(hidden))


def _partition(total: int, parts: int, rng: random.Random) -> list[int]:
    """``parts`` positive integers summing to ``total`` (``total >= parts``), uniformly among compositions."""
    cuts = sorted(rng.sample(range(1, total), parts - 1)) if parts > 1 else []
    bounds = [0, *cuts, total]
    return [bounds[i + 1] - bounds[i] for i in range(parts)]


def split_on_sentinels(generated: str, sentinels: Sequence[str]) -> list[str]:
    """The spans of a generated target ``<s0>span<s1>span<s2>``: the text after each sentinel up to the next one,
    in sentinel order (a span the model skipped is ``""``). Sentinels never appear in what is returned."""
    pattern = "|".join(re.escape(s) for s in sorted(sentinels, key=len, reverse=True))
    pieces = re.split(f"({pattern})", generated)
    index = {s: i for i, s in enumerate(sentinels)}
    spans: dict[int, str] = {}
    current = None
    for piece in pieces:
        if piece in index:
            current = index[piece]
            spans.setdefault(current, "")
        elif current is not None and piece:
            spans[current] += piece
    count = max(spans) + 1 if spans else 0
    return [spans.get(i, "").strip() for i in range(count)]


def decode_spans(tokenizer, ids: Sequence[int], sentinels: Sequence[str]) -> list[str]:
    """The spans of generated (or target) ids, read after each sentinel (:func:`split_on_sentinels`). Sentinels are
    kept through decoding (mT5 marks them special) while pad, end and other special tokens are dropped."""
    special = {tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id,
               tokenizer.bos_token_id, tokenizer.unk_token_id} - {None}
    kept = [i for i in ids if i >= 0 and i not in special]
    return split_on_sentinels(decode(tokenizer, [kept], skip_special_tokens=False)[0], sentinels)


def sentinel_separator(sentinels: Sequence[str]) -> str:
    """What goes around a sentinel in text: nothing for ``<extra_id_0>`` (a special token), a space for ``extra0``
    (a word of a BERT vocabulary, which letters or digits next to it would join)."""
    return "" if sentinels[0].startswith("<") else " "
