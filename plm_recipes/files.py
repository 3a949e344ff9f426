"""Writing the files a command makes, without losing the ones it reads.

Two promises every command that writes a file keeps:

* an output path that is one of the command's inputs (the same file, through a link or another spelling of its
  path) is refused before any work (:func:`refuse_output_is_input`): writing it would replace what is being read;
* an output is written to a temporary file in the same folder and renamed over the target when complete
  (:func:`atomic_write`), so a failure, a full disk or Ctrl-C halfway leaves the old file as it was (or no file),
  never a half-written one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping

from .errors import ArgumentError


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file: the same inode when both exist (hard and symbolic links included),
    else the same path once links and ``..`` are resolved."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def refuse_output_is_input(output: str | os.PathLike | None, inputs: Mapping[str, str | os.PathLike | None],
                           output_flag: str = "--output") -> None:
    """Raise an :class:`ArgumentError` when ``output`` is the same file as one of ``inputs`` (``{flag: path}``;
    ``None`` paths are ignored)."""
    if not output:
        return
    for flag, path in inputs.items():
        if path and same_file(output, path):
            raise ArgumentError(f"{output_flag}: {output} is the file {flag} reads ({path}); writing it would "
                                f"replace the input: choose another {output_flag}")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator:
    """Open a temporary file next to ``path`` for writing; when the block ends without an error, it is flushed to
    disk and renamed to ``path`` (replacing a file there in one step, its permissions kept); on an error it is
    removed and ``path`` is untouched.

    >>> with atomic_write("predictions.jsonl") as f:  # doctest: +SKIP
    ...     f.write("...")
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".partial")
    try:
        with open(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, _mode_for(path))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def _mode_for(path: str) -> int:
    """The permissions of the file at ``path``, or those a new file gets (mkstemp makes its files private)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def read_json_object(path: str | os.PathLike) -> dict | None:
    """The JSON object in ``path``, or ``None`` when the file is missing, unreadable, not JSON or not an object
    (a model folder's optional ``config.json``-like files: the caller says what is missing)."""
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
