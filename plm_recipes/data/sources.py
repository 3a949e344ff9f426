"""A recipe's data as :class:`datasets.Dataset` splits: local files, validated as they are read, or a dataset
(``--dataset_name``: a Hub id, a local folder laid out as a dataset repository, or a ``save_to_disk`` folder;
:mod:`plm_recipes.data.named` loads it).

Either way each split ends up as Arrow data in the datasets cache, memory-mapped rather than held as Python objects,
with one column per field the recipe asked for, under the field's name::

    splits = load_splits(data_args, training_args, ("label", "text"),
                         columns={"label": data_args.label_column, "text": data_args.text_column},
                         optional={"test": ("label",)})
    splits["train"].dataset  # Dataset({features: ['label', 'text', '__line__'], ...})

A local file is read once, line by line, by :func:`plm_recipes.data.readers.iter_records` into the cache
(``Dataset.from_generator``): the first bad line stops the run with the file, the line and what was expected, and
the line of every record is kept as the :data:`LINE_COLUMN`, so that later checks (an unknown label) still point
at it. A rerun on an unchanged file (same path, size and modification time) loads the cache instead of reading it.
With ``--streaming`` nothing is cached: the file (or the dataset) is read as training goes, for a corpus larger than
the disk cache should hold.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import datasets
import pyarrow.compute as pc

from ..args import DataArguments, requested_splits
from ..errors import ArgumentError, DataFormatError
from .generated import generated_dataset
from .named import dataset_split, load_named_dataset, select_columns
from .readers import data_format, iter_records

logger = logging.getLogger(__name__)

LINE_COLUMN = "__line__"  # the file line of each record read from a local file



@dataclass(frozen=True)
class Origin:
    """Where a split came from, as its errors name it: a local file (``path``) or a dataset split (``origin``,
    ``"<dataset> (split 'train')"``). Small and picklable, for the functions ``Dataset.map`` runs."""

    origin: str
    path: str | None = None

    def error(self, row: int, message: str) -> DataFormatError:
        """An error about row ``row``: its file line for a local file, else its 0-based position in the split
        (shown as ``row N``, 1-based)."""
        if self.path is not None:
            return DataFormatError(self.path, row, message)
        return DataFormatError(self.origin, None, f"row {row + 1}: {message}")

    def error_in(self, batch: Mapping[str, list], index: int, indices: Sequence[int], message: str) -> DataFormatError:
        """:meth:`error` about ``batch``'s ``index``-th row, in a ``map(with_indices=True)`` function."""
        return self.error(self.locate(batch, index, indices[index]), message)

    @staticmethod
    def locate(batch: Mapping[str, list], index: int, row_index: int) -> int:
        """The row number :meth:`error` takes for ``batch``'s ``index``-th row: its file line when the batch has
        the :data:`LINE_COLUMN`, else its position in the split (``row_index``, from ``map(with_indices=True)``)."""
        return batch[LINE_COLUMN][index] if LINE_COLUMN in batch else row_index


@dataclass
class DataSplit:
    """One split of a recipe's data.

    Attributes:
        dataset: its rows, one column per field (plus :data:`LINE_COLUMN` for a local file); an
            :class:`~datasets.IterableDataset` with ``--streaming``.
        origin: where it came from, as errors name it: the file's path, or ``"<dataset> (split 'train')"``.
        path: the local file, when it is one.
    """

    dataset: datasets.Dataset | datasets.IterableDataset
    origin: str
    path: str | None = None

    @property
    def where(self) -> Origin:
        return Origin(self.origin, self.path)

    def error(self, row: int, message: str) -> DataFormatError:
        """:meth:`Origin.error`."""
        return self.where.error(row, message)

    @property
    def streaming(self) -> bool:
        return isinstance(self.dataset, datasets.IterableDataset)


def main_process_first(training_args: Any, desc: str):
    """``training_args.main_process_first`` (the main process fills the cache, the others then read it); accelerate's
    for arguments that cannot tell their world size yet (TRL's ``PPOConfig`` before its trainer); else nothing."""
    if isinstance(getattr(training_args, "world_size", None), int):
        return training_args.main_process_first(desc=desc)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from accelerate import PartialState

        return PartialState().main_process_first()
    return contextlib.nullcontext()


# -- local files --------------------------------------------------------------------------------------------------


def _records(path: str, fields: tuple[str, ...], columns: tuple[tuple[str, str], ...], optional: tuple[str, ...],
             stamp: tuple[int, int]) -> Iterator[dict[str, Any]]:
    """The rows of ``path`` for the datasets cache (``stamp``, the file's size and modification time, is only part
    of the cache key). Values are written as text; missing optional values as null."""
    del stamp
    for record in iter_records(path, fields, columns=dict(columns), optional=optional):
        row: dict[str, Any] = {f: (None if v is None else str(v)) for f, v in record.values.items()}
        row[LINE_COLUMN] = record.line
        yield row


def file_dataset(
    path: str | os.PathLike,
    fields: Sequence[str],
    *,
    columns: Mapping[str, str] | None = None,
    optional: Sequence[str] = (),
    streaming: bool = False,
    cache_dir: str | None = None,
) -> datasets.Dataset | datasets.IterableDataset:
    """The records of a local file (:func:`~plm_recipes.data.readers.read_records`'s formats and errors) as a
    dataset with one string column per field and the :data:`LINE_COLUMN`, cached as Arrow (or streamed)."""
    data_format(path)  # an unsupported suffix is refused before anything is cached
    features = datasets.Features({**{f: datasets.Value("string") for f in fields},
                                  LINE_COLUMN: datasets.Value("int64")})
    return generated_dataset(
        _records, path, features, streaming=streaming, cache_dir=cache_dir, fields=tuple(fields),
        columns=tuple(sorted((f, c) for f, c in (columns or {}).items() if f != c)),  # one cache for one layout
        optional=tuple(optional),
    )


def check_texts(split: DataSplit, fields: Sequence[str]) -> None:
    """Refuse a dataset split whose ``fields`` hold a missing or blank value, or a value that is not text, naming
    the first such row (local files are checked as they are read). Arrow's own kernels, no row is copied out."""
    dataset = split.dataset
    if split.streaming or split.path is not None:
        return
    for field in fields:
        if field not in dataset.column_names:
            continue
        feature = dataset.features[field]
        if not (isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")):
            raise ArgumentError(f"{split.origin}: column {field!r} should hold text, found {feature}")
        column = dataset.with_format("arrow")[field]
        blank = pc.or_kleene(pc.is_null(column), pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(column)), 0))
        first = pc.index(blank, True).as_py()
        if first >= 0:
            raise split.error(first, f"empty {field!r}")


# -- the recipe's splits ------------------------------------------------------------------------------------------


def load_splits(
    data_args: DataArguments,
    training_args: Any,
    fields: Sequence[str],
    *,
    columns: Mapping[str, str] | None = None,
    optional: Mapping[str, Sequence[str]] | None = None,
    text_fields: Sequence[str] = (),
    cache_dir: str | None = None,
    splits: Sequence[str] | None = None,
    read_file: Callable[[str], datasets.Dataset | datasets.IterableDataset] | None = None,
) -> dict[str, DataSplit]:
    """The splits the requested stages read (:func:`~plm_recipes.args.requested_splits`, or ``splits``), from
    the data files or ``--dataset_name``, each with the columns ``fields`` (named as the data names them in
    ``columns``) and cut to ``--max_*_samples``.

    Args:
        optional: per split, the fields it may lack, e.g. ``{"test": ("label",)}`` (a test file without labels).
        text_fields: fields a dataset's rows must hold non-blank text in (:func:`check_texts`).
        read_file: reads a local file instead of :func:`file_dataset` (``fields`` and ``columns`` then apply to
            ``--dataset_name`` only): a family whose rows are nested builds them with
            :func:`~plm_recipes.data.generated.generated_dataset`.
    """
    columns = dict(columns or {})
    optional = dict(optional or {})
    splits = list(splits) if splits is not None else requested_splits(training_args)
    streaming = getattr(data_args, "streaming", False)
    if streaming and "train" in splits and getattr(training_args, "max_steps", 1) <= 0:
        raise ArgumentError("--streaming reads the data as training goes, with no length to count epochs in: "
                            "pass --max_steps")
    limits = {split: getattr(data_args, f"max_{stage}_samples", None)  # (an arguments class may not cut)
              for split, stage in (("train", "train"), ("validation", "eval"), ("test", "predict"))}
    loaded: dict[str, DataSplit] = {}
    with main_process_first(training_args, "reading the data"):
        if data_args.dataset_name:
            every = load_named_dataset(data_args, cache_dir=cache_dir)
            for split in splits:
                wanted = getattr(data_args, f"{split}_split", split)
                found, dataset = dataset_split(every, data_args.dataset_name, split, wanted)
                origin = f"{data_args.dataset_name} (split {found!r})"
                dataset = select_columns(dataset, origin, fields, columns, optional.get(split, ()), data_args)
                loaded[split] = DataSplit(dataset, origin)
        else:
            for split in splits:
                path = getattr(data_args, f"{split}_file")
                if path is None:
                    raise ArgumentError(f"the {split} split needs --{split}_file (or --dataset_name)")
                if read_file is not None:
                    dataset = read_file(path)
                else:
                    dataset = file_dataset(path, fields, columns=columns, optional=optional.get(split, ()),
                                           streaming=streaming, cache_dir=cache_dir)
                loaded[split] = DataSplit(dataset, path, path)
    for split, data in loaded.items():
        check_texts(data, text_fields)
        limit = limits.get(split)
        if limit:
            data.dataset = (data.dataset.take(limit) if data.streaming
                            else data.dataset.select(range(min(limit, len(data.dataset)))))
    return loaded


def has_values(split: DataSplit, field: str) -> bool:
    """Whether every row of ``split`` has a value in ``field`` (a test split may come without labels)."""
    if field not in (split.dataset.column_names or []):
        return False
    if split.streaming:
        return True  # found out as it streams
    column = split.dataset.with_format("arrow")[field]
    return pc.sum(pc.is_null(column)).as_py() in (0, None)


def data_description(data_args: DataArguments, splits: Mapping[str, DataSplit]) -> dict[str, Any]:
    """What the model card says of the data: the local files by split, or the dataset (``dataset_id`` only when it
    is a Hub id, not a local folder)."""
    if data_args.dataset_name:
        hub_id = None if os.path.exists(data_args.dataset_name) else data_args.dataset_name
        files = {} if hub_id else {split: data_args.dataset_name for split in splits}
        return {"data_files": files, "dataset_id": hub_id, "dataset_config": data_args.dataset_config_name}
    return {"data_files": {split: data.path for split, data in splits.items()}}


def num_rows(dataset: datasets.Dataset | datasets.IterableDataset, training_args: Any = None) -> int:
    """How many rows a stage reads: the dataset's length; for a stream (``--streaming``) trained on, the rows its
    ``--max_steps`` steps take (``training_args``), and for another stream (an evaluation split), its rows counted
    by reading it once."""
    if isinstance(dataset, datasets.Dataset):
        return len(dataset)
    if training_args is not None:
        return (training_args.max_steps * training_args.per_device_train_batch_size
                * training_args.gradient_accumulation_steps * training_args.world_size)
    return sum(1 for _ in dataset)
