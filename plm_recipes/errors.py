"""Errors a person can act on: each names what was wrong and where."""

from __future__ import annotations

import os


class PlmRecipesError(Exception):
    """Base class for errors caused by the user's input (data, arguments, paths), not by a bug.

    Entry points print these as one line, without a traceback (``--debug`` shows it), and exit with
    :attr:`exit_code`.
    """

    exit_code = 2


class DataFormatError(PlmRecipesError, ValueError):
    """A data file that does not have the expected format.

    The message names the file, the line (when there is one) and what was expected, e.g.
    ``data/train.txt, line 7: expected 2 tab-separated fields (label<TAB>text), found 1``.
    """

    def __init__(self, path: str | os.PathLike, line: int | None, message: str):
        self.path = os.fspath(path)
        self.line = line
        self.reason = message
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")

    def __reduce__(self):  # raised in a Dataset.map worker process, it is pickled back to the main one
        return type(self), (self.path, self.line, self.reason)


class ModelLoadError(PlmRecipesError, OSError):
    """A model, tokenizer or config that could not be loaded (typically: a hub id with no hub)."""


class ArgumentError(PlmRecipesError, ValueError):
    """Arguments that do not fit together, or a config file with an unknown key."""


class TrainingInterrupted(PlmRecipesError):
    """Training stopped by Ctrl-C (or SIGINT); the message says which checkpoint to resume from."""

    exit_code = 130

    @classmethod
    def at_step(cls, args, global_step: int) -> TrainingInterrupted:
        """The error for a run of ``args`` (training arguments) stopped at ``global_step``: the flag that resumes
        from its last checkpoint, if any."""
        from transformers.trainer_utils import get_last_checkpoint

        step = f"at step {global_step}"
        last = get_last_checkpoint(args.output_dir) if os.path.isdir(args.output_dir) else None
        if last is None:
            return cls(f"training interrupted {step}, before any checkpoint was saved (--save_strategy "
                       f"{getattr(args.save_strategy, 'value', args.save_strategy)}); nothing to resume from")
        return cls(f"training interrupted {step}; the last checkpoint is {last}: add --resume_from_checkpoint {last} "
                   "to the same command to continue from it")
