"""Prompt + text pairs as windows of token ids, the text cut where it is longer than a window holds, with the start
and end labels of the gold spans: one batch at a time, as flat columns.

:class:`WindowEncoder` reads the windows straight from the fast tokenizer's backend (:mod:`tokenizers`), the same
ids, token types and offsets as ``tokenizer(prompts, texts, truncation="only_second", stride=doc_stride,
return_overflowing_tokens=True, return_offsets_mapping=True)`` gives; :class:`WindowBatch` keeps each column as one
flat list (every window's values one after the other, and the windows' lengths) and writes them as an Arrow table.
That is what makes ``Dataset.map`` keep up with the tokenizer: the ``transformers`` call builds a dict of Python
lists per window, and a list per window and column kept until the batch is written outlives the garbage collector's
young generations, so that the collector walks every object of the process again and again (measured in one
process with transformers and datasets loaded, about 450,000 objects: a fifth to a third of the map's time on
10,000 short texts went to full collections).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate, chain
from operator import ge

import pyarrow as pa

from .losses import IGNORE_INDEX

# the Arrow type of each column a batch writes; the model's inputs as datasets stores a tokenizer's by default
TYPES = {"input_ids": pa.int32(), "token_type_ids": pa.int8(), "start_labels": pa.float32(),
         "end_labels": pa.float32(), "text_offsets": pa.int32()}


@dataclass
class WindowBatch:
    """The windows of a batch of examples, column by column, each column flat.

    Attributes:
        columns: ``input_ids``, ``token_type_ids`` (when the tokenizer makes them), ``start_labels`` /
            ``end_labels`` (with labels): every window's values one after the other. No attention mask: it is
            all ones before padding, and the padding collator (``tokenizer.pad``) writes it.
        lengths: the number of tokens of each window.
        example_index: the example (of the batch) each window comes from.
        text_start: per window, the position of its first text token (the text's tokens come in one run).
        text_offsets: the character offsets into its example's text of each window's text tokens, flat (start,
            end, start, end, ...), window after window; ``text_lengths`` their count per window (twice the tokens).
        unreachable: gold spans no window holds whole (longer than ``doc_stride`` and cut between windows).
        inexact: gold spans whose edges fall inside a token: the model can only answer them as the whole tokens.
    """

    columns: dict[str, list] = field(default_factory=dict)
    lengths: list[int] = field(default_factory=list)
    example_index: list[int] = field(default_factory=list)
    text_start: list[int] = field(default_factory=list)
    text_offsets: list[int] = field(default_factory=list)
    text_lengths: list[int] = field(default_factory=list)
    unreachable: int = 0
    inexact: int = 0

    def __len__(self) -> int:
        return len(self.lengths)

    def rows(self, name: str) -> list[list]:
        """Column ``name`` (or ``text_offsets``) as one list per window."""
        values, lengths = (self.text_offsets, self.text_lengths) if name == "text_offsets" else \
            (self.columns[name], self.lengths)
        ends = list(accumulate(lengths))
        return [values[end - length:end] for end, length in zip(ends, lengths)]

    def table(self, example_index: Sequence[int], extra: dict[str, list] | None = None) -> pa.Table:
        """The windows as an Arrow table (what ``Dataset.map`` writes): the columns, ``example_index`` (each
        window's example as ``example_index`` numbers the batch's examples), ``text_start``, ``text_offsets`` and
        the ``extra`` columns (one value per window)."""
        def lists(values: list, lengths: list[int], name: str) -> pa.ListArray:
            offsets = pa.array([0, *accumulate(lengths)], pa.int32())
            return pa.ListArray.from_arrays(offsets, pa.array(values, TYPES[name]))

        arrays = {name: lists(values, self.lengths, name) for name, values in self.columns.items()}
        arrays["example_index"] = pa.array([example_index[i] for i in self.example_index], pa.int64())
        arrays["text_start"] = pa.array(self.text_start, pa.int32())
        arrays["text_offsets"] = lists(self.text_offsets, self.text_lengths, "text_offsets")
        for name, values in (extra or {}).items():
            arrays[name] = pa.array(values)
        return pa.table(arrays)


class WindowEncoder:
    """Encodes batches of examples into windows of ``max_seq_length`` tokens (the prompt whole, the text's windows
    overlapping by ``doc_stride`` tokens), with a copy of the fast tokenizer's backend set once."""

    def __init__(self, tokenizer, max_seq_length: int, doc_stride: int):
        self.backend = copy.deepcopy(tokenizer.backend_tokenizer)
        self.backend.no_padding()
        self.backend.enable_truncation(max_seq_length, stride=doc_stride, strategy="only_second",
                                       direction=tokenizer.truncation_side)
        self.with_types = "token_type_ids" in tokenizer.model_input_names

    def __call__(self, prompts: Sequence[str], contents: Sequence[str],
                 spans: Sequence[Sequence[tuple[int, int]]], with_labels: bool = True) -> WindowBatch:
        """The windows of one batch: one example gives as many as its text needs (a window and its overflow,
        in order)."""
        batch = WindowBatch()
        ids = batch.columns.setdefault("input_ids", [])
        types = batch.columns.setdefault("token_type_ids", []) if self.with_types else None
        if with_labels:
            starts, ends = batch.columns.setdefault("start_labels", []), batch.columns.setdefault("end_labels", [])
        for index, encoding in enumerate(self.backend.encode_batch(list(zip(prompts, contents)))):
            example_spans = spans[index] if with_labels else ()
            reached, edges = set(), set()
            for window in (encoding, *encoding.overflowing):
                sequence_ids = window.sequence_ids
                count = sequence_ids.count(1)  # the text's tokens, in one run after the prompt's
                first = sequence_ids.index(1) if count else len(sequence_ids)
                text = list(chain.from_iterable(window.offsets[first:first + count]))
                ids.extend(window.ids)
                if types is not None:
                    types.extend(window.type_ids)
                batch.lengths.append(len(sequence_ids))
                batch.example_index.append(index)
                batch.text_start.append(first)
                batch.text_offsets.extend(text)
                batch.text_lengths.append(len(text))
                if with_labels:
                    window_starts, window_ends, found = window_labels(first, text, len(sequence_ids), example_spans)
                    starts.extend(window_starts)
                    ends.extend(window_ends)
                    if example_spans:
                        reached.update(found)
                        edges.update(text)
            if example_spans:
                batch.unreachable += len(set(example_spans) - reached)
                batch.inexact += sum(start not in edges or end not in edges for start, end in example_spans)
        return batch


def window_labels(first: int, text: Sequence[int], length: int, spans: Sequence[tuple[int, int]]
                  ) -> tuple[list[float], list[float], set[tuple[int, int]]]:
    """:func:`span_labels` of a window of ``length`` tokens whose text tokens, from position ``first``, have the
    flat offsets ``text`` (start, end, start, end, ...)."""
    count = len(text) // 2
    starts = [IGNORE_INDEX] * first + [0.0] * count + [IGNORE_INDEX] * (length - first - count)
    ends = list(starts)
    found = set()
    if not spans or not count:
        return starts, ends, found
    token_starts, token_ends = text[0::2], text[1::2]
    tokens = range(count)  # those with characters: all, but for a tokenizer's empty ones
    if any(map(ge, token_starts, token_ends)):
        tokens = [i for i in tokens if token_ends[i] > token_starts[i]]
        if not tokens:
            return starts, ends, found
    first_char, last_char = token_starts[tokens[0]], token_ends[tokens[-1]]
    for start, end in spans:
        if start < first_char or end > last_char:  # not whole in this window
            continue
        start_token = next((i for i in tokens if token_ends[i] > start), None)
        end_token = next((i for i in reversed(tokens) if token_starts[i] < end), None)
        if start_token is None or end_token is None or end_token < start_token:
            continue
        starts[first + start_token] = 1.0
        ends[first + end_token] = 1.0
        found.add((start, end))
    return starts, ends, found


def span_labels(offsets: Sequence[tuple[int, int] | None], spans: Sequence[tuple[int, int]]
                ) -> tuple[list[float], list[float], set[tuple[int, int]]]:
    """Start and end labels of one window: 1.0 at the token holding a span's first (last) character, 0.0 at the
    other text tokens, ``-100`` at tokens that are not text (which come before and after the text's run). Returns
    them and the spans the window holds whole.

    >>> offsets = [None, None, None, (0, 2), (2, 3), (3, 5), None]  # [CLS] prompt [SEP] three text tokens [SEP]
    >>> span_labels(offsets, [(2, 5)])
    ([-100, -100, -100, 0.0, 1.0, 0.0, -100], [-100, -100, -100, 0.0, 0.0, 1.0, -100], {(2, 5)})
    """
    text = [edge for o in offsets if o is not None for edge in o]
    first = next((i for i, o in enumerate(offsets) if o is not None), len(offsets))
    return window_labels(first, text, len(offsets), spans)


def padded_offsets(text_start: int, text_offsets: Sequence[int], length: int) -> list[tuple[int, int] | None]:
    """A window's offsets, token by token, from its text tokens' flat ones (``None`` elsewhere)."""
    pairs = list(zip(text_offsets[::2], text_offsets[1::2]))
    return [None] * text_start + pairs + [None] * (length - text_start - len(pairs))
