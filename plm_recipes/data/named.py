"""Datasets by name (``--dataset_name``): a Hugging Face Hub id, a local folder laid out as a dataset repository
(parquet / json / csv files, split by name), or a folder written by ``save_to_disk``; the split a stage reads and
the columns a recipe's fields are in. :func:`plm_recipes.data.load_splits` calls these."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import datasets

from ..args import DataArguments
from ..errors import ArgumentError

logger = logging.getLogger(__name__)

# What a dataset may call its evaluation split when it has no "validation" (tried when --validation_split is unset).
VALIDATION_ALIASES = ("validation", "dev", "valid", "val")


def _is_saved_dataset(folder: str) -> bool:
    """Whether ``folder`` was written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``."""
    return os.path.isfile(os.path.join(folder, "dataset_dict.json")) or os.path.isfile(
        os.path.join(folder, "state.json"))


def load_named_dataset(data_args: DataArguments, cache_dir: str | None = None
                       ) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """Every split of ``--dataset_name`` (``--dataset_config_name``), streamed with ``--streaming``."""
    name = data_args.dataset_name
    streaming = getattr(data_args, "streaming", False)
    if os.path.isdir(name) and _is_saved_dataset(name):
        loaded = datasets.load_from_disk(name)
        if isinstance(loaded, datasets.Dataset):
            loaded = datasets.DatasetDict({"train": loaded})
        if streaming:
            loaded = datasets.IterableDatasetDict({k: v.to_iterable_dataset() for k, v in loaded.items()})
        return loaded
    try:
        loaded = datasets.load_dataset(name, data_args.dataset_config_name, cache_dir=cache_dir, streaming=streaming)
    except ValueError as e:
        if "config" in str(e).lower():  # a dataset with several configurations and none chosen, or a wrong one
            raise ArgumentError(f"--dataset_name {name}: {e} (choose one with --dataset_config_name)") from None
        raise
    except (ConnectionError, FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as e:
        if os.path.exists(name):
            raise ArgumentError(f"--dataset_name {name}: the folder holds no data files the datasets library reads "
                                f"({e})") from None
        raise ArgumentError(
            f"--dataset_name {name}: not a local folder, and no such dataset could be loaded from the Hub "
            f"({type(e).__name__}: {e}). Offline, pass a local folder instead: the dataset repository's files "
            "(e.g. data/train-00000-of-00001.parquet, as `huggingface-cli download --repo-type dataset` writes "
            "them) or a folder written by Dataset.save_to_disk"
        ) from None
    if not isinstance(loaded, datasets.DatasetDict | datasets.IterableDatasetDict):  # a single split
        loaded = (datasets.IterableDatasetDict if streaming else datasets.DatasetDict)({"train": loaded})
    return loaded


def dataset_split(loaded: Mapping[str, Any], name: str, split: str, wanted: str) -> tuple[str, Any]:
    """The ``wanted`` split of ``loaded`` (``split`` is ours: train, validation or test)."""
    candidates = [wanted]
    if split == "validation" and wanted == "validation":
        candidates = list(VALIDATION_ALIASES)
    for candidate in candidates:
        if candidate in loaded:
            if candidate != wanted:
                logger.info("%s has no %r split; evaluating on its %r split", name, wanted, candidate)
            return candidate, loaded[candidate]
    raise ArgumentError(
        f"--dataset_name {name} has no split {wanted!r} (its splits: {', '.join(loaded)}); "
        f"choose one with --{split}_split"
    )


def select_columns(dataset: Any, origin: str, fields: Sequence[str], columns: Mapping[str, str],
                    optional: Sequence[str], data_args: DataArguments) -> Any:
    """``dataset`` with only the fields' columns, renamed to the fields."""
    have = list(dataset.column_names or [])
    keep = {}
    for field in fields:
        column = columns.get(field, field)
        if column in have:
            keep[column] = field
        elif field not in optional:
            flag = f"--{field}_column"
            hint = f"; name the column with {flag}" if hasattr(data_args, f"{field}_column") else ""
            raise ArgumentError(f"{origin} has no column {column!r} (its columns: {', '.join(have)}){hint}")
    if fields and not keep:  # every field optional, and none there: not this recipe's data
        flags = [f"--{field}_column" for field in fields if hasattr(data_args, f"{field}_column")]
        hint = f"; name the columns with {', '.join(flags)}" if flags else ""
        raise ArgumentError(f"{origin} has none of the columns {', '.join(repr(columns.get(f, f)) for f in fields)} "
                            f"(its columns: {', '.join(have)}){hint}")
    dataset = dataset.select_columns(list(keep))
    renames = {column: field for column, field in keep.items() if column != field}
    return dataset.rename_columns(renames) if renames else dataset
