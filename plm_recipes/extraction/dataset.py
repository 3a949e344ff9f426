"""UIE data as datasets: prompt-format files (or ``--dataset_name``) as Arrow splits, and their windows written by
``Dataset.map``.

A split has one row per example, with the columns of the prompt format (``result_list`` a list of
``{text, start, end}``)::

    splits = load_uie_splits(data_args, training_args)
    splits["train"].dataset  # Dataset({features: ['content', 'prompt', 'result_list', '__line__'], ...})

A local file is read once, line by line, into the datasets cache (``Dataset.from_generator``), each line checked
as :func:`~plm_recipes.extraction.data.read_uie_examples` checks it (the same errors, at the same line); an
unchanged file (path, size, modification time) loads the cache on a rerun. A dataset (a Hub id, a dataset repository
folder, a ``save_to_disk`` folder) needs the same three columns (``--content_column`` ... name them otherwise); its
rows are checked as they are encoded, an error naming the row.

:func:`encode_split` turns each example into its windows (one row in, one row per window out, batched): the model
inputs, ``example_index`` (the example's row), ``text_start`` (the position of the window's first text token) and
``text_offsets`` (the text tokens' character offsets, flat: start, end, start, end, ...), which :func:`window_offsets`
reads back in order to turn the logits of the windows into spans.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.compute as pc

from ..args import requested_splits
from ..data import LENGTH_COLUMN, LINE_COLUMN, DataSplit, generated_dataset, iter_json_lines, load_splits, map_split
from ..data.sources import main_process_first
from ..errors import ArgumentError, DataFormatError
from .data import check_example, check_fast, check_window_settings
from .windows import WindowEncoder, padded_offsets

logger = logging.getLogger(__name__)

FIELDS = ("content", "result_list", "prompt")
RESULT = {"text": datasets.Value("string"), "start": datasets.Value("int64"), "end": datasets.Value("int64")}
FEATURES = datasets.Features({"content": datasets.Value("string"), "prompt": datasets.Value("string"),
                              "result_list": datasets.List(RESULT), LINE_COLUMN: datasets.Value("int64")})
# the columns encode_split adds beside the model inputs: what decoding and the log read, not the model
WINDOW_COLUMNS = ("example_index", "text_start", "text_offsets", "unreachable", "inexact")


def _rows(path: str, stamp: tuple[int, int]) -> Iterator[dict[str, Any]]:
    """The checked examples of ``path`` (``stamp``, the file's size and modification time, is only part of the
    cache key)."""
    del stamp
    empty = True
    for number, record in iter_json_lines(path):
        def fail(message: str, number: int = number):
            raise DataFormatError(path, number, message)

        content, prompt, spans = check_example(record, fail)
        empty = False
        yield {"content": content, "prompt": prompt, LINE_COLUMN: number,
               "result_list": [{"text": content[s:e], "start": s, "end": e} for s, e in spans]}
    if empty:
        raise DataFormatError(path, None, "no examples: the file is empty")


def uie_file_dataset(path: str | os.PathLike, cache_dir: str | None = None) -> datasets.Dataset:
    """The examples of a prompt-format file as a dataset in the cache (:data:`FEATURES`)."""
    return generated_dataset(_rows, path, FEATURES, cache_dir=cache_dir)


def _check_result_list(split: DataSplit) -> None:
    """Refuse a dataset whose ``result_list`` is not UIE's list of ``{text, start, end}``: data in another format
    (DuIE's ``spo_list``, a doccano export) is converted to prompts first."""
    feature = split.dataset.features["result_list"]
    inner = getattr(feature, "feature", None)
    if not (isinstance(feature, datasets.List | datasets.Sequence) and isinstance(inner, dict)
            and {"text", "start", "end"} <= inner.keys()):
        raise ArgumentError(
            f"{split.origin}: column 'result_list' should be UIE's prompt format, a list of {{text, start, end}}, "
            f"found {feature}. UIE trains on one prompt about one text per row ({{content, result_list, prompt}}); "
            "data in another format (entities and relations per text, as in DuIE or a doccano export) must be "
            "turned into prompts first: `plm-recipes uie convert` does it for a doccano export")


def load_uie_splits(data_args: Any, training_args: Any, cache_dir: str | None = None) -> dict[str, DataSplit]:
    """The splits the requested stages read, from the prompt-format files or ``--dataset_name``, cut to
    ``--max_*_samples``."""
    if data_args.dataset_name:
        columns = {field: getattr(data_args, f"{field}_column") for field in FIELDS}
        splits = load_splits(data_args, training_args, FIELDS, columns=columns, text_fields=("content", "prompt"),
                             cache_dir=cache_dir)
        for split in splits.values():
            _check_result_list(split)
        return splits
    limits = {"train": data_args.max_train_samples, "validation": data_args.max_eval_samples,
              "test": data_args.max_predict_samples}
    splits, requested = {}, requested_splits(training_args)
    with main_process_first(training_args, "reading the data"):
        for split in ("train", "validation", "test"):
            if split not in requested:
                continue
            path = getattr(data_args, f"{split}_file")
            if path is None:
                raise ArgumentError(f"the {split} split needs --{split}_file (or --dataset_name)")
            dataset = uie_file_dataset(path, cache_dir=cache_dir)
            if limits[split]:
                dataset = dataset.select(range(min(limits[split], len(dataset))))
            splits[split] = DataSplit(dataset, path, path)
    return splits


def span_counts(split: DataSplit) -> list[int]:
    """The number of gold spans of each example (Arrow's list lengths)."""
    return pc.list_value_length(split.dataset.with_format("arrow")["result_list"]).to_pylist()


def has_spans(split: DataSplit) -> bool:
    return len(split.dataset) > 0 and pc.max(pc.list_value_length(
        split.dataset.with_format("arrow")["result_list"])).as_py() > 0


def require_spans(split: DataSplit) -> None:
    """Refuse training examples none of which has a span: the model would learn that there is never anything to
    extract (negative examples teach only next to positive ones)."""
    if len(split.dataset) and not has_spans(split):
        raise DataFormatError(split.origin, None, f"none of the {len(split.dataset)} examples has a span to extract "
                                                  "(every result_list is empty), so training would teach the model "
                                                  "to extract nothing")


def encode_split(split: DataSplit, tokenizer, max_seq_length: int, doc_stride: int, *, with_labels: bool,
                 data_args: Any, training_args: Any = None, desc: str) -> DataSplit:
    """The windows of every example of ``split`` (:class:`~plm_recipes.extraction.windows.WindowEncoder` in a
    batched, cached ``Dataset.map``): the model inputs plus :data:`WINDOW_COLUMNS` (and the windows' lengths under
    ``--train_sampling_strategy group_by_length``). A dataset's rows are checked here, as a file's lines were when
    it was read."""
    add_length = getattr(training_args, "train_sampling_strategy", None) == "group_by_length"
    check_fast(tokenizer)
    check_window_settings(tokenizer, [p.strip() for p in pc.unique(split.dataset.with_format("arrow")["prompt"])
                                      .to_pylist()], max_seq_length, doc_stride)
    where, check = split.where, split.path is None  # plain values: the function is hashed for the cache
    encode_windows = WindowEncoder(tokenizer, max_seq_length, doc_stride)

    def encode(batch: dict[str, list], indices: list[int]) -> pa.Table:
        if check:
            checked = []
            rows = [dict(zip(FIELDS, values)) for values in zip(*(batch[f] for f in FIELDS))]
            for i, row in enumerate(rows):
                def fail(message: str, i: int = i):
                    raise where.error_in(batch, i, indices, message)

                checked.append(check_example(row, fail))
            prompts, contents, spans = zip(*checked)
        else:
            prompts, contents = batch["prompt"], batch["content"]
            spans = [[(r["start"], r["end"]) for r in results] for results in batch["result_list"]]
        windows = encode_windows(prompts, contents, spans, with_labels)
        # the batch's counts on its first window (summed over the split for the log)
        extra = {"unreachable": [windows.unreachable] + [0] * (len(windows) - 1),
                 "inexact": [windows.inexact] + [0] * (len(windows) - 1)}
        if add_length:  # the length-grouped sampler reads this column instead of every row
            extra[LENGTH_COLUMN] = windows.lengths
        return windows.table(indices, extra)

    return map_split(split, encode, data_args=data_args, training_args=training_args, with_indices=True,
                     remove_columns=[*FIELDS, LINE_COLUMN], desc=desc)


def model_inputs(windows: DataSplit) -> datasets.Dataset:
    """The windows without :data:`WINDOW_COLUMNS`: what the trainer reads."""
    return windows.dataset.remove_columns([c for c in WINDOW_COLUMNS if c in windows.dataset.column_names])


def window_offsets(windows: DataSplit) -> Iterator[list[tuple[int, int] | None]]:
    """The offsets of each window, in order, token by token (``None`` where a token is not text), read a batch at
    a time."""
    columns = windows.dataset.select_columns(["input_ids", "text_start", "text_offsets"]).with_format("arrow")
    for batch in columns.iter(batch_size=1000):
        lengths = pc.list_value_length(batch["input_ids"]).to_pylist()
        for start, flat, length in zip(batch["text_start"].to_pylist(), batch["text_offsets"].to_pylist(), lengths):
            yield padded_offsets(start, flat, length)


def log_windows(name: str, split: DataSplit, windows: DataSplit, doc_stride: int) -> None:
    """One line on what the encoding did to ``split``, and warnings for spans the model cannot learn exactly."""
    counts = span_counts(split)
    spans = sum(counts)
    table = windows.dataset.with_format("arrow")
    unreachable = pc.sum(table["unreachable"]).as_py() or 0
    inexact = pc.sum(table["inexact"]).as_py() or 0
    logger.info("%s: %d examples (%d without an answer), %d spans, %d windows", name, len(counts),
                counts.count(0), spans, len(windows.dataset))
    if unreachable:
        logger.warning("%s: %d of %d spans are longer than --doc_stride %d and cut between windows: no window "
                       "holds them whole (raise --doc_stride or --max_seq_length)", name, unreachable, spans,
                       doc_stride)
    if inexact:
        logger.warning("%s: %d of %d spans start or end inside a token; the model learns them as whole tokens",
                       name, inexact, spans)


def gold_spans(split: DataSplit) -> Iterator[set[tuple[int, int]]]:
    """The gold ``(start, end)`` spans of each example, in order."""
    for batch in split.dataset.select_columns(["result_list"]).iter(batch_size=1000):
        for results in batch["result_list"]:
            yield {(r["start"], r["end"]) for r in results}


def iter_examples(split: DataSplit, columns: tuple[str, ...] = ("prompt", "content")) -> Iterator[tuple]:
    """``columns`` of each example, in order (the prompt stripped, as encoding strips it)."""
    for batch in split.dataset.select_columns(list(columns)).iter(batch_size=1000):
        for values in zip(*(batch[c] for c in columns)):
            yield tuple(v.strip() if c == "prompt" else v for c, v in zip(columns, values))
