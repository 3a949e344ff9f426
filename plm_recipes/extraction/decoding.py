"""From start and end probabilities to character spans, window by window, then merged per text."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Span:
    """An answer span: character offsets into the text (end exclusive) and its probability (the start
    probability times the end probability, as PaddleNLP's UIE reports it)."""

    start: int
    end: int
    probability: float


def decode_window(start_probs: Sequence[float], end_probs: Sequence[float],
                  offsets: Sequence[tuple[int, int] | None], threshold: float = 0.5) -> list[Span]:
    """The spans of one window: every text token whose start (end) probability is above ``threshold`` is a
    start (end); walking the tokens left to right, an end closes the nearest start before it (or at it) that no
    earlier end closed. This is PaddleNLP's ``get_span`` pairing, written as one pass.

    Args:
        start_probs, end_probs: probabilities per token (padding beyond ``len(offsets)`` is ignored).
        offsets: ``(start, end)`` character offsets of each token, ``None`` for tokens that are not text.

    >>> offsets = [None, (0, 1), (1, 2), (2, 3), (3, 4), None]
    >>> decode_window([0, .9, .1, .8, .1, 0], [0, .1, .7, .1, .6, 0], offsets)  # two spans: chars 0-2 and 2-4
    [Span(start=0, end=2, probability=0.63), Span(start=2, end=4, probability=0.48)]
    >>> decode_window([0, .9, .8, .1, .1, 0], [0, .1, .1, .1, .6, 0], offsets)  # two starts, one end: the nearer
    [Span(start=1, end=4, probability=0.48)]
    """
    spans = []
    open_start: int | None = None
    for i, offset in enumerate(offsets):
        if offset is None:
            continue
        if start_probs[i] > threshold:
            open_start = i
        if end_probs[i] > threshold and open_start is not None:
            spans.append(Span(offsets[open_start][0], offset[1],
                              round(float(start_probs[open_start]) * float(end_probs[i]), 6)))
            open_start = None
    return spans


def merge_windows(spans: Iterable[Span]) -> list[Span]:
    """The spans of one text from all its windows: each ``(start, end)`` once, with its highest probability,
    in text order.

    >>> merge_windows([Span(5, 7, 0.6), Span(0, 2, 0.9), Span(5, 7, 0.8)])
    [Span(start=0, end=2, probability=0.9), Span(start=5, end=7, probability=0.8)]
    """
    best: dict[tuple[int, int], Span] = {}
    for span in spans:
        key = (span.start, span.end)
        if key not in best or span.probability > best[key].probability:
            best[key] = span
    return [best[key] for key in sorted(best)]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def decode_examples(start_logits: np.ndarray, end_logits: np.ndarray, example_index: Sequence[int],
                    offsets: Iterable[Sequence[tuple[int, int] | None]], num_examples: int,
                    threshold: float = 0.5) -> list[list[Span]]:
    """The merged spans of every example from the logits of its windows (rows of ``start_logits`` /
    ``end_logits`` are windows, in the order of ``example_index`` and ``offsets``; ``offsets`` is read once, in
    order, so it may be a generator over a dataset's rows)."""
    if len(start_logits) != len(example_index) or len(end_logits) != len(example_index):
        raise ValueError(f"{len(start_logits)} rows of start logits and {len(end_logits)} of end logits for "
                         f"{len(example_index)} windows: expected one row per window, in order")
    per_example: list[list[Span]] = [[] for _ in range(num_examples)]
    for row, (index, window_offsets) in enumerate(zip(example_index, offsets, strict=True)):
        per_example[index] += decode_window(sigmoid(start_logits[row]), sigmoid(end_logits[row]), window_offsets,
                                            threshold)
    return [merge_windows(spans) for spans in per_example]
