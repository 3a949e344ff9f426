"""Reading local data files into records, with errors that name the file and the line.

Formats, chosen by the file's suffix:

* ``.txt`` / ``.tsv``: one record per line, tab-separated fields in a fixed order and no header
  (the seed project's format, e.g. ``label<TAB>text``).
* ``.csv``: a header row naming the columns, then one record per row.
* ``.jsonl`` / ``.json``: one JSON object per line, or (``.json`` only) a single JSON array of objects.

Every file is decoded strictly as UTF-8: a bad byte is reported with its line instead of being replaced.
Blank lines are skipped. A file with no records is an error, and so is a record with an empty field.

The readers go through a file once, line by line (:func:`iter_lines`, :func:`iter_records`), so that a file
larger than memory can be validated as it is written into a :class:`datasets.Dataset` (:mod:`plm_recipes.data.sources`).
A record remembers where it came from (:class:`Record`), so that later checks (an unknown label, a duplicate id)
can still point at the line. :func:`read_records` is the list of them, for the small files a command reads.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import datasets

from ..errors import DataFormatError

TSV_SUFFIXES = (".txt", ".tsv")
CSV_SUFFIXES = (".csv",)
JSON_SUFFIXES = (".json", ".jsonl")
SUPPORTED_SUFFIXES = TSV_SUFFIXES + CSV_SUFFIXES + JSON_SUFFIXES


@dataclass(frozen=True)
class Record:
    """One example as read from a file: its fields, and the file and line it came from."""

    path: str
    line: int
    values: dict[str, Any]

    def __getitem__(self, field: str) -> Any:
        return self.values[field]

    def error(self, message: str) -> DataFormatError:
        """An error pointing at this record's line."""
        return DataFormatError(self.path, self.line, message)


def data_format(path: str | os.PathLike) -> str:
    """``"tsv"``, ``"csv"`` or ``"json"`` from the file's suffix."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix in TSV_SUFFIXES:
        return "tsv"
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in JSON_SUFFIXES:
        return "json"
    raise DataFormatError(
        path, None, f"unsupported file type {suffix!r}; expected one of {', '.join(SUPPORTED_SUFFIXES)}"
    )


def read_lines(path: str | os.PathLike) -> list[tuple[int, str]]:
    """``(line_number, text)`` of every non-blank line, decoded strictly as UTF-8, newline removed."""
    return list(iter_lines(path))


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """:func:`read_lines`, one line at a time (the file is checked to exist before the first one)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataFormatError(path, None, "file not found")
    return _iter_lines(path)


def _iter_lines(path: str) -> Iterator[tuple[int, str]]:
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataFormatError(
                    path,
                    number,
                    f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at byte offset {e.start} of the line); "
                    "save the file as UTF-8",
                ) from None
            if number == 1:
                text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
            text = text.rstrip("\r\n")
            if text.strip():
                yield number, text


def read_json_lines(path: str | os.PathLike) -> list[tuple[int, Any]]:
    """``(line_number, value)`` of every non-blank line of a JSON-lines file; a line that is not JSON raises
    :class:`DataFormatError` naming the file and the line."""
    return list(iter_json_lines(path))


def iter_json_lines(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """:func:`read_json_lines`, one line at a time."""
    path = os.fspath(path)
    return _json_lines(path, iter_lines(path))


def _json_lines(path: str, lines: Iterable[tuple[int, str]]) -> Iterator[tuple[int, Any]]:
    for number, text in lines:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataFormatError(
                path, number, f"invalid JSON: {e.msg} (column {e.colno}); expected one JSON object per line"
            ) from None
        yield number, value


def read_records(
    path: str | os.PathLike,
    fields: Sequence[str],
    *,
    columns: Mapping[str, str] | None = None,
    optional: Sequence[str] = (),
) -> list[Record]:
    """Read ``path`` into records with the given ``fields``.

    Args:
        path: a ``.txt``/``.tsv``, ``.csv``, ``.json`` or ``.jsonl`` file.
        fields: the fields of a record, in the column order of a tab-separated file.
        columns: for csv/json, the column (key) name holding each field when it is not the field's own name,
            e.g. ``{"text": "review"}``.
        optional: fields that may be missing: a tab-separated line may leave them out at the end (e.g. a
            test file without labels), a csv/json record may lack the column. Missing values are ``None``.

    Raises:
        DataFormatError: naming the file, the line and what was expected.
    """
    return list(iter_records(path, fields, columns=columns, optional=optional))


def iter_records(
    path: str | os.PathLike,
    fields: Sequence[str],
    *,
    columns: Mapping[str, str] | None = None,
    optional: Sequence[str] = (),
) -> Iterator[Record]:
    """:func:`read_records`, one record at a time: the file is read as the records are taken, and its errors
    (an empty file included) are raised when the reading reaches them."""
    path = os.fspath(path)
    fmt = data_format(path)
    columns = dict(columns or {})
    if not os.path.isfile(path):
        raise DataFormatError(path, None, "file not found")
    return _iter_records(path, fmt, fields, columns, [f for f in fields if f not in optional])


def _iter_records(path: str, fmt: str, fields: Sequence[str], columns: Mapping[str, str],
                  required: Sequence[str]) -> Iterator[Record]:
    if fmt == "tsv":
        records = _read_tsv(path, fields, required)
    elif fmt == "csv":
        records = _read_csv(path, fields, columns, required)
    else:
        records = _read_json(path, fields, columns, required)
    empty = True
    for record in records:
        empty = False
        yield record
    if empty:
        raise DataFormatError(path, None, f"the file is empty; expected records with {_describe(fields, fmt, columns)}")


def _describe(fields: Sequence[str], fmt: str, columns: Mapping[str, str]) -> str:
    if fmt == "tsv":
        return f"{len(fields)} tab-separated fields ({'<TAB>'.join(fields)})"
    names = [columns.get(f, f) for f in fields]
    return f"the {'columns' if fmt == 'csv' else 'keys'} {', '.join(repr(n) for n in names)}"


def _check_values(path: str, line: int, values: dict[str, Any], required: Sequence[str], what: str) -> None:
    for field in required:
        value = values.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise DataFormatError(path, line, f"empty {what} {field!r}")


def _read_tsv(path: str, fields: Sequence[str], required: Sequence[str]) -> Iterator[Record]:
    layout = "<TAB>".join(fields)
    for number, text in iter_lines(path):
        parts = text.split("\t")
        if not len(required) <= len(parts) <= len(fields):
            expected = (
                f"{len(fields)}" if len(required) == len(fields) else f"{len(required)} to {len(fields)}"
            )
            raise DataFormatError(
                path,
                number,
                f"expected {expected} tab-separated fields ({layout}), found {len(parts)}"
                + (" (no tab in the line)" if len(parts) == 1 else ""),
            )
        values = {field: (parts[i] if i < len(parts) else None) for i, field in enumerate(fields)}
        _check_values(path, number, values, required, "field")
        yield Record(path, number, values)


def _read_csv(path: str, fields: Sequence[str], columns: Mapping[str, str], required: Sequence[str]) -> Iterator[Record]:
    for _ in iter_lines(path):  # validates UTF-8 line by line (the whole file, before the first record)
        pass
    # csv needs the raw text (quoted fields may span lines): decode again, now known to be valid
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames
        if header is None:  # no line at all
            return
        missing = [columns.get(f, f) for f in required if columns.get(f, f) not in header]
        if missing:
            raise DataFormatError(
                path, 1, f"missing column(s) {', '.join(map(repr, missing))} in the header; found {header}"
            )
        for row in reader:
            number = reader.line_num
            if None in row:  # more cells than header columns
                raise DataFormatError(path, number, f"expected {len(header)} comma-separated cells, found more")
            if all(not (v or "").strip() for v in row.values()):
                continue
            values = {f: row.get(columns.get(f, f)) for f in fields}
            _check_values(path, number, values, required, "column")
            yield Record(path, number, values)


def _read_json(path: str, fields: Sequence[str], columns: Mapping[str, str], required: Sequence[str]) -> Iterator[Record]:
    lines = iter_lines(path)
    first = next(lines, None)
    if first is None:
        return
    if path.lower().endswith(".json") and first[1].lstrip().startswith("["):
        # one JSON array: read whole (a .json array is a small file's format; large data is JSON lines)
        text = "\n".join(t for _, t in [first, *lines])
        try:
            objects = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataFormatError(path, e.lineno, f"invalid JSON: {e.msg} (column {e.colno})") from None
        if not isinstance(objects, list):
            raise DataFormatError(path, 1, "expected a JSON array of objects")
        located: Iterable[tuple[int, Any]] = ((i + 1, obj) for i, obj in enumerate(objects))
        unit = "record"
    else:
        located = _json_lines(path, itertools.chain([first], lines))
        unit = "line"
    for number, obj in located:
        where = number if unit == "line" else None
        prefix = "" if unit == "line" else f"record {number}: "
        if not isinstance(obj, dict):
            raise DataFormatError(path, where, f"{prefix}expected a JSON object, found {type(obj).__name__}")
        missing = [columns.get(f, f) for f in required if columns.get(f, f) not in obj]
        if missing:
            raise DataFormatError(
                path, where, f"{prefix}missing key(s) {', '.join(map(repr, missing))}; found {sorted(obj)}"
            )
        values = {f: obj.get(columns.get(f, f)) for f in fields}
        for field, value in values.items():
            if isinstance(value, str | int | float | bool) or value is None:
                continue
            raise DataFormatError(path, where, f"{prefix}{field!r} should be a string or a number, found {value!r}")
        _check_values(path, number, values, required, "key")
        yield Record(path, number, values)


def records_to_dataset(
    records: Sequence[Record],
    transforms: Mapping[str, Callable[[Record], Any]] | None = None,
) -> datasets.Dataset:
    """A :class:`datasets.Dataset` with one column per field (``transforms`` may replace or add columns).

    ``transforms`` maps a column to a function of the record, e.g. ``{"label": label_map.encode_record}``; it
    is where validation that needs the line (an unknown label) happens.
    """
    transforms = dict(transforms or {})
    names = list(dict.fromkeys([*records[0].values, *transforms])) if records else list(transforms)
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for record in records:
        for name in names:
            columns[name].append(transforms[name](record) if name in transforms else record.values[name])
    return datasets.Dataset.from_dict(columns)


def read_text_lines(path: str | os.PathLike) -> list[str]:
    """The non-blank lines of a UTF-8 text file (e.g. texts to predict), with the usual errors."""
    lines = [text for _, text in read_lines(path)]
    if not lines:
        raise DataFormatError(path, None, "the file is empty; expected one text per line")
    return lines

