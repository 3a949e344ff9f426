"""A local file whose rows are nested (lists of messages, ranked texts, ...) as a :class:`datasets.Dataset`, read by
a family's own generator: the way :func:`~plm_recipes.data.sources.file_dataset` reads flat records, with explicit
``datasets.Features`` instead of one string column per field.

The generator is given the file (``path``), a ``stamp`` (its size and modification time: only part of the cache
key, so that a changed file is read again) and the keyword arguments passed here; it yields one row per record and
raises :class:`~plm_recipes.errors.DataFormatError` at the first bad line. The rows go into the datasets cache as
Arrow (a rerun on the unchanged file loads them), or are read as training goes with ``streaming``::

    def _rows(path, stamp, system):
        for line, value in iter_json_lines(path):
            ...
            yield {"prompt": ..., "completion": ...}

    dataset = generated_dataset(_rows, path, FEATURES, streaming=data_args.streaming, system=data_args.system_prompt)

Pass it to :func:`~plm_recipes.data.sources.load_splits` as ``read_file`` (a function of the path) so that the
splits, ``--max_*_samples`` and ``--dataset_name`` are handled as for every recipe.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import datasets

from ..errors import DataFormatError


def generated_dataset(
    rows: Callable[..., Iterator[dict[str, Any]]],
    path: str | os.PathLike,
    features: datasets.Features,
    *,
    streaming: bool = False,
    cache_dir: str | None = None,
    **kwargs: Any,
) -> datasets.Dataset | datasets.IterableDataset:
    """``rows(path=, stamp=, **kwargs)`` as a dataset of ``features``, cached as Arrow (or streamed). ``rows`` must
    be a module-level function and ``kwargs`` plain values: both are hashed into the cache key."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataFormatError(path, None, "file not found")
    stat = os.stat(path)
    gen_kwargs = {"path": os.path.abspath(path), "stamp": (stat.st_size, stat.st_mtime_ns), **kwargs}
    if streaming:
        return datasets.IterableDataset.from_generator(rows, features=features, gen_kwargs=gen_kwargs)
    try:
        return datasets.Dataset.from_generator(rows, features=features, gen_kwargs=gen_kwargs, cache_dir=cache_dir)
    except datasets.exceptions.DatasetGenerationError as e:
        if isinstance(e.__cause__, DataFormatError):  # the file's own error, not the cache's
            raise e.__cause__ from None
        raise
