"""UIE training data: reading the prompt format, and turning examples into model inputs, in windows.

One example is one prompt about one text with every answer span of that prompt, as PaddleNLP writes them::

    {"content": "谭孝曾是谭元寿的长子", "result_list": [{"text": "谭元寿", "start": 4, "end": 7}], "prompt": "谭孝曾的父亲"}

``start`` / ``end`` are character offsets into ``content`` (end exclusive), and ``content[start:end] == text``.
An empty ``result_list`` is a negative example: the prompt has no answer in this text.

A text longer than the model reads at once is cut into windows of text tokens that overlap by ``doc_stride``
tokens, each read with the whole prompt (:func:`encode_examples`); spans found in the windows are mapped back to
character offsets of the whole text and merged (:func:`~plm_recipes.extraction.decoding.merge_windows`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import torch

from ..data import read_json_lines
from ..errors import ArgumentError, DataFormatError
from .losses import IGNORE_INDEX
from .windows import WindowEncoder, padded_offsets

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UIEExample:
    """A prompt about a text and its gold spans (``(start, end)`` character offsets, end exclusive)."""

    content: str
    prompt: str
    spans: tuple[tuple[int, int], ...] = ()
    source: str = ""  # "file, line N", for messages


def json_lines(path: str | os.PathLike, what: str) -> list[tuple[int, object]]:
    """:func:`plm_recipes.data.read_json_lines`, refusing a file without any line (it holds no ``what``)."""
    values = read_json_lines(path)
    if not values:
        raise DataFormatError(path, None, f"no {what}: the file is empty")
    return values


def read_uie_examples(path: str | os.PathLike) -> list[UIEExample]:
    """The examples of a UIE prompt-format file (JSON lines, one example per line, whatever the file's
    extension), each checked: offsets inside the text, ``text`` equal to ``content[start:end]``. A bad line raises
    :class:`~plm_recipes.errors.DataFormatError` naming the file and line."""
    path = os.fspath(path)
    return [_example(record, path, number) for number, record in json_lines(path, "examples")]


def _example(record: object, path: str, line: int) -> UIEExample:
    def fail(message: str):
        raise DataFormatError(path, line, message)

    content, prompt, spans = check_example(record, fail)
    return UIEExample(content, prompt, spans, f"{path}, line {line}")


def check_example(record: object, fail: Callable[[str], NoReturn]) -> tuple[str, str, tuple[tuple[int, int], ...]]:
    """``(content, prompt, spans)`` of one prompt-format record (a JSON line, or a dataset row with the same
    columns), the prompt stripped and the spans sorted, each once; ``fail(message)`` raises the error of a bad
    record (at its file line, or its dataset row)."""
    if not isinstance(record, dict):
        fail('expected a JSON object {"content", "result_list", "prompt"}')
    missing = [k for k in ("content", "result_list", "prompt") if k not in record]
    if missing:
        fail(f"missing {', '.join(repr(k) for k in missing)}; expected "
             '{"content": ..., "result_list": [{"text", "start", "end"}, ...], "prompt": ...}')
    content, prompt, results = record["content"], record["prompt"], record["result_list"]
    if not isinstance(content, str) or not content:
        fail('"content" must be a non-empty string')
    if not isinstance(prompt, str) or not prompt.strip():
        fail('"prompt" must be a non-empty string')
    if not isinstance(results, list):
        fail('"result_list" must be a list of {"text", "start", "end"}')
    spans = []
    for i, result in enumerate(results):
        where = f"result_list[{i}]"
        if not isinstance(result, dict) or not {"text", "start", "end"} <= result.keys():
            fail(f'{where}: expected {{"text", "start", "end"}}, found {json.dumps(result, ensure_ascii=False)}')
        start, end, text = result["start"], result["end"], result["text"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
            fail(f"{where}: start and end must be whole numbers, found {start!r}, {end!r}")
        if not 0 <= start < end <= len(content):
            fail(f"{where}: offsets {start}..{end} are outside the text (its length is {len(content)}; "
                 "expected 0 <= start < end <= length)")
        if content[start:end] != text:
            fail(f"{where}: text {text!r} is not content[{start}:{end}], which is {content[start:end]!r}")
        spans.append((start, end))
    return content, prompt.strip(), tuple(sorted(set(spans)))


# --- model inputs ---------------------------------------------------------------------------------------------


@dataclass
class EncodedExamples:
    """Model inputs for a list of examples, one row per window, and what maps each row back to its text.

    Attributes:
        inputs: column name -> one list per window (``input_ids``, ``token_type_ids`` when the tokenizer makes
            them, ``start_labels`` / ``end_labels`` when the examples carry spans). No attention mask: it is all
            ones before padding, and the padding collator (``tokenizer.pad``) writes it.
        example_index: the example each window comes from.
        offsets: per window, ``(start, end)`` character offsets into the example's text for each token, and
            ``None`` for tokens that are not text (special tokens, the prompt).
        unreachable: gold spans no window holds whole (longer than ``doc_stride`` and cut between windows).
        inexact: gold spans whose edges fall inside a token: the model can only answer them as the whole tokens.
    """

    inputs: dict[str, list] = field(default_factory=dict)
    example_index: list[int] = field(default_factory=list)
    offsets: list[list[tuple[int, int] | None]] = field(default_factory=list)
    unreachable: int = 0
    inexact: int = 0

    def __len__(self) -> int:
        return len(self.example_index)


def text_room(tokenizer, prompt: str, max_seq_length: int) -> int:
    """How many text tokens a window holds beside ``prompt`` and the special tokens."""
    return max_seq_length - tokenizer.num_special_tokens_to_add(pair=True) - len(tokenizer.tokenize(prompt))


def check_window_settings(tokenizer, prompts: Sequence[str], max_seq_length: int, doc_stride: int) -> None:
    """Refuse settings under which some text window would hold no new text: every prompt, with the special
    tokens, must leave room for more than ``doc_stride`` text tokens."""
    if doc_stride < 0:
        raise ArgumentError(f"--doc_stride must be >= 0, got {doc_stride}")
    longest = max(set(prompts), key=lambda p: len(tokenizer.tokenize(p)), default="")
    room = text_room(tokenizer, longest, max_seq_length)
    if room <= doc_stride:
        raise ArgumentError(
            f"the prompt {longest!r} leaves {room} tokens of text per window at --max_seq_length {max_seq_length}, "
            f"which must be more than --doc_stride {doc_stride}: raise --max_seq_length or lower --doc_stride")


def encode_examples(examples: Sequence[UIEExample], tokenizer, max_seq_length: int, doc_stride: int,
                    with_labels: bool = True, batch_size: int = 1000) -> EncodedExamples:
    """Tokenize ``prompt`` + ``content`` pairs, cutting long texts into windows that overlap by ``doc_stride``
    tokens, and mark the tokens where gold spans start and end (``with_labels``;
    :class:`~plm_recipes.extraction.windows.WindowEncoder`, whose batches the ``Dataset.map`` of :mod:`.dataset`
    writes as they are).

    A span is a target of every window that holds it whole; a window that holds part of it does not learn it as
    an answer (its start labels are 0 there), and a span no window holds whole is counted in ``unreachable``.
    """
    check_fast(tokenizer)
    check_window_settings(tokenizer, [e.prompt for e in examples], max_seq_length, doc_stride)
    encode = WindowEncoder(tokenizer, max_seq_length, doc_stride)
    encoded = EncodedExamples()
    for first in range(0, len(examples), batch_size):
        examples_ = examples[first:first + batch_size]
        batch = encode([e.prompt for e in examples_], [e.content for e in examples_], [e.spans for e in examples_],
                       with_labels)
        for name in batch.columns:
            encoded.inputs.setdefault(name, []).extend(batch.rows(name))
        encoded.example_index.extend(first + index for index in batch.example_index)
        encoded.offsets.extend(padded_offsets(start, text, length) for start, text, length in
                               zip(batch.text_start, batch.rows("text_offsets"), batch.lengths))
        encoded.unreachable += batch.unreachable
        encoded.inexact += batch.inexact
    return encoded


def check_fast(tokenizer) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise ArgumentError(f"UIE needs a fast tokenizer (for character offsets); {type(tokenizer).__name__} is not")


LABEL_NAMES = ("start_labels", "end_labels")


@dataclass
class SpanCollator:
    """Pads a batch of windows on the right, whatever the tokenizer's ``padding_side``: the inputs with the
    tokenizer, the start and end labels with ``-100``. Right padding keeps token ``i`` of a window at position
    ``i`` of its row, which is where decoding reads a window's offsets."""

    tokenizer: Any
    pad_to_multiple_of: int | None = None

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        inputs = [{k: v for k, v in f.items() if k not in LABEL_NAMES} for f in features]
        batch = self.tokenizer.pad(inputs, padding=True, pad_to_multiple_of=self.pad_to_multiple_of,
                                   padding_side="right", return_tensors="pt")
        length = batch["input_ids"].shape[1]
        for name in LABEL_NAMES:
            if name in features[0]:
                out = torch.full((len(features), length), float(IGNORE_INDEX))
                for i, f in enumerate(features):
                    out[i, : len(f[name])] = torch.as_tensor(f[name], dtype=torch.float32)
                batch[name] = out
        return dict(batch)
