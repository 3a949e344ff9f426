"""Reading local data files into records, with errors that name the file and the line.

Formats, chosen by the file's suffix:

* ``.txt`` / ``.tsv``: one record per line, tab-separated fields in a fixed order and no header
  (the seed project's format, e.g. ``label<TAB>text``).
* ``.csv``: a header row naming the columns, then one record per row.
* ``.jsonl`` / ``.json``: one JSON object per line, or (``.json`` only) a single JSON array of objects.

Every file is decoded strictly as UTF-8: a bad byte is reported with its line instead of being replaced.
Blank lines are skipped. A file with no records is an error, and so is a record with an empty field.

The readers return :class:`Record` objects that remember where they came from, so that later checks
(an unknown label, a duplicate id) can still point at the line. :func:`records_to_dataset` turns them
into a :class:`datasets.Dataset` for tokenization with ``Dataset.map``.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Mapping, Sequence
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
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataFormatError(path, None, "file not found")
    lines = []
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
                lines.append((number, text))
    return lines


def read_json_lines(path: str | os.PathLike) -> list[tuple[int, Any]]:
    """``(line_number, value)`` of every non-blank line of a JSON-lines file; a line that is not JSON raises
    :class:`DataFormatError` naming the file and the line."""
    path = os.fspath(path)
    return _json_lines(path, read_lines(path))


def _json_lines(path: str, lines: list[tuple[int, str]]) -> list[tuple[int, Any]]:
    located = []
    for number, text in lines:
        try:
            located.append((number, json.loads(text)))
        except json.JSONDecodeError as e:
            raise DataFormatError(
                path, number, f"invalid JSON: {e.msg} (column {e.colno}); expected one JSON object per line"
            ) from None
    return located


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
    path = os.fspath(path)
    fmt = data_format(path)
    columns = dict(columns or {})
    required = [f for f in fields if f not in optional]
    if fmt == "tsv":
        records = _read_tsv(path, fields, required)
    elif fmt == "csv":
        records = _read_csv(path, fields, columns, required)
    else:
        records = _read_json(path, fields, columns, required)
    if not records:
        raise DataFormatError(path, None, f"the file is empty; expected records with {_describe(fields, fmt, columns)}")
    return records


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


def _read_tsv(path: str, fields: Sequence[str], required: Sequence[str]) -> list[Record]:
    records = []
    layout = "<TAB>".join(fields)
    for number, text in read_lines(path):
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
        records.append(Record(path, number, values))
    return records


def _read_csv(path: str, fields: Sequence[str], columns: Mapping[str, str], required: Sequence[str]) -> list[Record]:
    lines = read_lines(path)  # validates UTF-8 line by line
    if not lines:
        return []
    # csv needs the raw text (quoted fields may span lines): decode again, now known to be valid
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [columns.get(f, f) for f in required if columns.get(f, f) not in header]
        if missing:
            raise DataFormatError(
                path, 1, f"missing column(s) {', '.join(map(repr, missing))} in the header; found {header}"
            )
        records = []
        for row in reader:
            number = reader.line_num
            if None in row:  # more cells than header columns
                raise DataFormatError(path, number, f"expected {len(header)} comma-separated cells, found more")
            if all(not (v or "").strip() for v in row.values()):
                continue
            values = {f: row.get(columns.get(f, f)) for f in fields}
            _check_values(path, number, values, required, "column")
            records.append(Record(path, number, values))
    return records


def _read_json(path: str, fields: Sequence[str], columns: Mapping[str, str], required: Sequence[str]) -> list[Record]:
    lines = read_lines(path)
    if not lines:
        return []
    if path.lower().endswith(".json") and lines[0][1].lstrip().startswith("["):
        text = "\n".join(t for _, t in lines)
        try:
            objects = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataFormatError(path, e.lineno, f"invalid JSON: {e.msg} (column {e.colno})") from None
        if not isinstance(objects, list):
            raise DataFormatError(path, 1, "expected a JSON array of objects")
        located = [(i + 1, obj) for i, obj in enumerate(objects)]
        unit = "record"
    else:
        located = _json_lines(path, lines)
        unit = "line"
    records = []
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
        records.append(Record(path, number, values))
    return records


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

