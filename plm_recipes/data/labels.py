"""Label maps: names <-> ids, read from a mapping file, inferred from data, or taken from a model config."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import DataFormatError
from .readers import Record, read_lines


class LabelMap:
    """An ordered list of label names; a label's id is its position.

    Labels in data files may be written as names (``水果``) or, when the map came from a mapping file with
    ids, as ids (``1``). :meth:`encode` accepts both and names the file and line of an unknown label.
    """

    def __init__(self, names: Sequence[str], *, ids_allowed: bool = False):
        names = [str(n) for n in names]
        if not names:
            raise ValueError("a label map needs at least one label")
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"duplicate label names: {dupes}")
        self.names = names
        self.ids_allowed = ids_allowed
        self._ids = {name: i for i, name in enumerate(names)}

    # -- construction -------------------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> LabelMap:
        """Read a mapping file: ``id,name`` or ``id<TAB>name`` per line (ids 0..n-1 in any order), or one name
        per line (ids by position)."""
        path = os.fspath(path)
        lines = read_lines(path)
        if not lines:
            raise DataFormatError(path, None, "the label mapping file is empty; expected lines of id,name")
        by_id: dict[int, tuple[str, int]] = {}
        plain: list[str] = []
        for number, text in lines:
            sep = "\t" if "\t" in text else ("," if "," in text else None)
            if sep is None:
                plain.append(text.strip())
                continue
            key, _, name = text.partition(sep)
            key, name = key.strip(), name.strip()
            if not key.isdigit() or not name:
                raise DataFormatError(path, number, f"expected id{sep!r}name with an integer id, found {text!r}")
            if int(key) in by_id:
                raise DataFormatError(path, number, f"id {key} already used on line {by_id[int(key)][1]}")
            by_id[int(key)] = (name, number)
        if by_id and plain:
            raise DataFormatError(path, None, "mixes 'id,name' lines with lines holding only a name")
        if plain:
            names = plain
        else:
            if sorted(by_id) != list(range(len(by_id))):
                raise DataFormatError(path, None, f"ids must be 0..{len(by_id) - 1}, found {sorted(by_id)}")
            names = [by_id[i][0] for i in range(len(by_id))]
            for i, (name, number) in sorted(by_id.items()):
                # data may write a label as its id or as its name: a name that is another label's id is ambiguous
                if name.isdigit() and int(name) != i and int(name) in by_id:
                    other, other_line = by_id[int(name)]
                    raise DataFormatError(
                        path, number,
                        f"label name {name!r} (id {i}) is also the id of {other!r} (line {other_line}), so a label "
                        f"written {name!r} in the data could mean either; use names that are not ids (e.g. "
                        f"'class_{name}'), or write the data with names and list one name per line here",
                    )
        seen: dict[str, int] = {}
        for i, name in enumerate(names):
            if name in seen:
                raise DataFormatError(path, None, f"label name {name!r} is used twice (ids {seen[name]} and {i})")
            seen[name] = i
        return cls(names, ids_allowed=bool(by_id))

    @classmethod
    def from_values(cls, values: Iterable[Any]) -> LabelMap:
        """Labels seen in training data, sorted (numerically when all are integers)."""
        unique = {str(v).strip() for v in values}
        if all(v.lstrip("-").isdigit() for v in unique):
            return cls(sorted(unique, key=int))
        return cls(sorted(unique))

    @classmethod
    def from_config(cls, config: Any) -> LabelMap:
        """From a transformers config's ``id2label``."""
        id2label = {int(k): v for k, v in config.id2label.items()}
        return cls([id2label[i] for i in range(len(id2label))], ids_allowed=True)

    # -- use ----------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self):
        return iter(self.names)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelMap) and other.names == self.names

    def __repr__(self) -> str:
        return f"LabelMap({self.names})"

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.names))

    @property
    def label2id(self) -> dict[str, int]:
        return dict(self._ids)

    def encode(self, value: Any, path: str | None = None, line: int | None = None) -> int:
        """The id of ``value`` (a name, or an id when the map allows ids)."""
        key = str(value).strip()
        if key in self._ids:
            return self._ids[key]
        if self.ids_allowed and key.isdigit() and int(key) < len(self.names):
            return int(key)
        known = ", ".join(
            f"{i}={n}" if self.ids_allowed else n for i, n in enumerate(self.names)
        )
        message = f"unknown label {key!r}; known labels: {known}"
        if path is not None:
            raise DataFormatError(path, line, message)
        raise ValueError(message)

    def encode_record(self, record: Record, field: str = "label") -> int:
        return self.encode(record[field], record.path, record.line)

    def to_config_kwargs(self) -> Mapping[str, Any]:
        """``num_labels``, ``id2label`` and ``label2id`` for a transformers config."""
        return {"num_labels": len(self), "id2label": self.id2label, "label2id": self.label2id}
