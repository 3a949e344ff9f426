"""Seq2seq data: question-answering records, the source template (only the context is ever cut), decoding
generated ids, and plain text for mask filling."""

from __future__ import annotations

import logging
import os
import re
import string
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import datasets
import pyarrow.compute as pc
from transformers import DataCollatorForSeq2Seq

from ..data import LINE_COLUMN, DataSplit
from ..data.sources import main_process_first

from ..data.readers import Record, iter_lines, iter_records, read_records, records_to_dataset
from ..errors import ArgumentError, DataFormatError

logger = logging.getLogger(__name__)

QA_FIELDS = ("context", "question", "answer")


def read_qa(
    path: str | os.PathLike, columns: Mapping[str, str] | None = None, limit: int | None = None,
    require_answer: bool = True,
) -> datasets.Dataset:
    """Question-answering records (``{"context", "question", "answer"}`` JSON lines, or csv / tsv with those
    fields) as a dataset with columns ``context``, ``question``, ``answer``.

    With ``require_answer`` (data to train or evaluate on) a record with an empty or missing answer teaches
    nothing: it is skipped, and the log says how many and the first line. Without it (a file to predict) every
    record is kept, a missing answer as ``""``."""
    records = read_records(path, QA_FIELDS, columns=columns, optional=("answer",))
    if require_answer:
        unanswered = [r for r in records if r["answer"] is None or not str(r["answer"]).strip()]
        if unanswered:
            logger.warning("%s: %d records without an answer skipped (the first on line %s)", os.fspath(path),
                           len(unanswered), unanswered[0].line)
            records = [r for r in records if r["answer"] is not None and str(r["answer"]).strip()]
        if not records:
            raise DataFormatError(path, None, "no record has an answer to learn from")
    if limit:
        records = records[:limit]

    def text(field):
        def get(record: Record) -> str:
            value = record[field]
            if value is None:
                return ""
            if not isinstance(value, str):
                raise record.error(f"{field!r} should be text, found {value!r}")
            return value
        return get

    return records_to_dataset(records, {field: text(field) for field in QA_FIELDS})


def answered(split: DataSplit, training_args: Any = None) -> DataSplit:
    """A training or evaluation split without its records that have no answer (they teach nothing): the log says how
    many and where the first was; a split left empty is an error. Counted and filtered by Arrow."""
    dataset = split.dataset
    if split.streaming:
        return DataSplit(dataset.filter(_has_answer, batched=True), split.origin, split.path)
    column = dataset.with_format("arrow")["answer"]
    missing = pc.or_kleene(pc.is_null(column), pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(column)), 0))
    count = pc.sum(missing).as_py() or 0
    if not count:
        return split
    if count == len(dataset):
        raise DataFormatError(split.origin, None, "no record has an answer to learn from")
    first = pc.index(missing, True).as_py()
    where = dataset[first][LINE_COLUMN] if LINE_COLUMN in dataset.column_names else f"row {first + 1}"
    logger.warning("%s: %d records without an answer skipped (the first on line %s)", split.origin, count, where)
    with main_process_first(training_args, "dropping records without an answer"):
        kept = dataset.filter(_has_answer, batched=True, desc=f"Dropping records without an answer from {split.origin}")
    return DataSplit(kept, split.origin, split.path)


def _has_answer(batch: dict[str, list]) -> list[bool]:
    return [a is not None and bool(a.strip()) for a in batch["answer"]]


class SourceTemplate:
    """The model input built from a record's fields, e.g. ``问题：{question}原文：{context}``.

    :meth:`encode` tokenizes the literal text and each field separately and cuts only ``truncate`` (the
    context) to fit ``max_length``: the question and the template's own words are never cut. Should they alone
    not fit, the question is cut too, and :attr:`questions_cut` counts it.

    >>> SourceTemplate("问题：{question}原文：{context}").fields
    ('question', 'context')
    """

    def __init__(self, template: str, truncate: str = "context", required: Sequence[str] = ("question", "context")):
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as e:
            raise ArgumentError(f"--source_template {template!r}: {e}") from None
        self.template = template
        self.pieces: list[tuple[str, str]] = []  # (kind, value): ("text", "问题：") or ("field", "question")
        for literal, field, spec, conversion in parsed:
            if literal:
                self.pieces.append(("text", literal))
            if field is not None:
                if field not in QA_FIELDS or spec or conversion:
                    raise ArgumentError(f"--source_template {template!r}: unknown field {{{field}}}; use "
                                        f"{', '.join('{' + f + '}' for f in required)}")
                self.pieces.append(("field", field))
        self.fields = tuple(value for kind, value in self.pieces if kind == "field")
        missing = [f for f in required if f not in self.fields]
        if missing:
            raise ArgumentError(f"--source_template {template!r} lacks {', '.join('{' + f + '}' for f in missing)}")
        self.truncate = truncate
        self.questions_cut = 0

    def format(self, values: Mapping[str, str]) -> str:
        return "".join(value if kind == "text" else values[value] for kind, value in self.pieces)

    def encode(self, tokenizer, values: Mapping[str, str], max_length: int) -> list[int]:
        """Token ids of the filled template with the tokenizer's special tokens (T5: a final ``</s>``), at most
        ``max_length`` long."""
        prefix, suffix = special_tokens_around(tokenizer)
        return with_special_tokens(tokenizer, self.fit(tokenizer, values, max_length - len(prefix) - len(suffix)),
                                   max_length)

    def fit(self, tokenizer, values: Mapping[str, str], budget: int) -> list[int]:
        """Token ids of the filled template without special tokens, the context cut so that they fit ``budget``
        (the question too, and counted in :attr:`questions_cut`, when the rest alone does not fit)."""
        parts = [(kind, value, tokenizer(value if kind == "text" else values[value],
                                          add_special_tokens=False)["input_ids"])
                 for kind, value in self.pieces]
        fixed = sum(len(ids) for kind, value, ids in parts if not (kind == "field" and value == self.truncate))
        room = budget - fixed
        ids: list[int] = []
        for kind, value, piece in parts:
            if kind == "field" and value == self.truncate:
                piece = piece[:max(room, 0)]
            ids += piece
        if len(ids) > budget:  # the template and the question alone are too long: cut the end
            self.questions_cut += 1
        return ids[:max(budget, 0)]


_SPECIAL_TOKENS_AROUND: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def special_tokens_around(tokenizer) -> tuple[list[int], list[int]]:
    """The special token ids a tokenizer puts before and after one text (T5: ``[], [</s>]``; BERT: ``[[CLS]],
    [[SEP]]``), found once per tokenizer by tokenizing a probe with and without them (transformers 5's fast
    tokenizers have no ``build_inputs_with_special_tokens``)."""
    if tokenizer not in _SPECIAL_TOKENS_AROUND:
        probe = tokenizer("a", add_special_tokens=False)["input_ids"]
        full = tokenizer("a")["input_ids"]
        around: tuple[list[int], list[int]] = ([], [])
        for start in range(len(full) - len(probe) + 1):
            if full[start:start + len(probe)] == probe:
                around = (full[:start], full[start + len(probe):])
                break
        _SPECIAL_TOKENS_AROUND[tokenizer] = around
    return _SPECIAL_TOKENS_AROUND[tokenizer]


def with_special_tokens(tokenizer, ids: Sequence[int], max_length: int) -> list[int]:
    """``ids`` cut so that, with the tokenizer's special tokens around them, they fit ``max_length``."""
    prefix, suffix = special_tokens_around(tokenizer)
    return [*prefix, *ids[:max(max_length - len(prefix) - len(suffix), 0)], *suffix]


def encode_text(tokenizer, text: str, max_length: int) -> list[int]:
    """A text's token ids with the tokenizer's special tokens, cut at the end to fit ``max_length``."""
    return with_special_tokens(tokenizer, tokenizer(text, add_special_tokens=False)["input_ids"], max_length)


_CJK = r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"  # CJK punctuation, ideographs, full-width forms
_SPACE_BETWEEN_CJK = re.compile(rf"(?<={_CJK}) +(?={_CJK})|(?<={_CJK}) +(?=[0-9A-Za-z])|(?<=[0-9A-Za-z]) +(?={_CJK})")


def decode(tokenizer, ids, skip_special_tokens: bool = True) -> list[str]:
    """Texts from generated (or label) ids. ``-100`` (what the trainer pads generated ids and labels with, which
    the tokenizer cannot decode: transformers #22634) becomes the pad token. A WordPiece vocabulary (the Chinese
    T5s) is joined without the spaces its decoder puts between every two tokens (``3 - 7 日`` is ``3-7日``), keeping
    one between two Latin words; other tokenizers decode as they do, with spaces between Chinese characters
    removed. Rows may differ in length (generated in batches)."""
    rows = [[int(i) if i >= 0 else tokenizer.pad_token_id for i in row]
            for row in (ids.tolist() if hasattr(ids, "tolist") else ids)]
    if _is_wordpiece(tokenizer):
        special = set(tokenizer.all_special_ids) if skip_special_tokens else {tokenizer.pad_token_id}
        return [_join_wordpiece(tokenizer.convert_ids_to_tokens([i for i in row if i not in special]))
                for row in rows]
    texts = tokenizer.batch_decode(rows, skip_special_tokens=skip_special_tokens, clean_up_tokenization_spaces=True)
    return [_SPACE_BETWEEN_CJK.sub("", text).strip() for text in texts]


def _is_wordpiece(tokenizer) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None)  # a fast tokenizer's tokenizers.Tokenizer
    return backend is not None and type(backend.model).__name__ == "WordPiece"


def _join_wordpiece(tokens: Sequence[str]) -> str:
    text = ""
    for token in tokens:
        if token.startswith("##"):
            text += token[2:]
        elif text and _latin(text[-1]) and _latin(token[0]):
            text += " " + token
        else:
            text += token
    return text.strip()


def _latin(char: str) -> bool:
    return char.isascii() and char.isalnum()


def iter_corpus(path: str | os.PathLike, column: str = "text") -> Iterator[str]:
    """The texts of a corpus file, one at a time: ``.txt`` one text per line, csv/json the ``column`` of each record
    (a value that is not text is an error naming the line)."""
    path = os.fspath(path)
    if path.lower().endswith((".txt", ".tsv")):
        for _, text in iter_lines(path):
            yield text
        return
    for record in iter_records(path, (column,)):
        value = record[column]
        if not isinstance(value, str):
            raise record.error(f"{column!r} should be text, found {value!r}")
        yield value


def corpus_lines(texts: Iterable[str], min_length: int = 2) -> Iterator[str]:
    """Texts split into lines (a news article becomes its paragraphs), stripped; lines shorter than ``min_length``
    characters are skipped."""
    for text in texts:
        for line in text.splitlines():
            line = line.strip()
            if len(line) >= min_length:
                yield line


def read_corpus(path: str | os.PathLike, column: str = "text", min_length: int = 2) -> list[str]:
    """Plain text for mask filling (:func:`iter_corpus`) as its lines of at least ``min_length`` characters
    (:func:`corpus_lines`); a file with none is an error."""
    lines = list(corpus_lines(iter_corpus(path, column), min_length))
    if not lines:
        raise DataFormatError(os.fspath(path), None, f"no text of at least {min_length} characters")
    return lines


class Seq2SeqCollator(DataCollatorForSeq2Seq):
    """transformers' ``DataCollatorForSeq2Seq`` for data that may have no labels (a test file without answers).

    The collator returns ``labels: None`` for such a batch, and ``Seq2SeqTrainer.prediction_step`` takes the key's
    presence for labels and runs the model for a loss without decoder inputs, which fails (transformers 5.2 -
    5.24): the key is dropped here."""

    def __call__(self, features, return_tensors=None):
        batch = super().__call__(features, return_tensors=return_tensors)
        if batch.get("labels") is None:
            batch.pop("labels", None)
        return batch


def has_blank_answers(split: DataSplit) -> bool:
    """Whether a test split has a record without an answer (then it is only generated for, not scored)."""
    if split.streaming or "answer" not in (split.dataset.column_names or []):
        return True
    column = split.dataset.with_format("arrow")["answer"]
    return bool(pc.sum(pc.or_kleene(pc.is_null(column), pc.equal(pc.utf8_length(column), 0))).as_py())
