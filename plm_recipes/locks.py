"""One process at a time on a file or folder: a lock file holding the process id.

The training recipes claim their output folder with it (:class:`OutputDirLock`) and the
labeler its ``--output`` (:class:`~plm_recipes.rlhf.labeling.LabelingSession`), so that two live processes never
write one place. The lock file is created exclusively and removed on release; one left by a process that no longer
exists (killed with ``kill -9``, a crashed machine) is taken over.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .errors import ArgumentError


class ProcessLock:
    """Holds ``path`` (the lock file) for this process.

    Args:
        path: the lock file.
        busy: the one-line error when a live process holds the lock, from that process's id.
    """

    def __init__(self, path: str | os.PathLike, busy: Callable[[int], str]):
        self.path = os.fspath(path)
        self.busy = busy
        self.held = False

    def acquire(self) -> ProcessLock:
        """Take the lock, or raise an :class:`ArgumentError` with ``busy(pid)`` when a live process has it."""
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                owner = lock_owner(self.path)
                if owner is not None:
                    raise ArgumentError(self.busy(owner)) from None
                try:
                    os.remove(self.path)  # left by a process that is gone
                except FileNotFoundError:
                    pass  # another process took it over first: try again, and find its id there
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            self.held = True
            return self
        raise ArgumentError(self.busy(lock_owner(self.path) or 0))

    def release(self) -> None:
        if self.held:
            try:
                os.remove(self.path)
            except OSError:
                pass
            self.held = False

    def __enter__(self) -> ProcessLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def lock_owner(path: str | os.PathLike) -> int | None:
    """The process id in a lock file when that process is alive, else ``None``."""
    try:
        with open(path, encoding="utf-8") as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


# What a finished or running training run leaves in its output folder.
_RUN_FILES = ("run_config.yaml", "trainer_state.json", "config.json", "model.safetensors", "modules.json")
LOCK_NAME = ".plm-recipes.lock"


class OutputDirLock:
    """Claims ``output_dir`` for one training run (on the main process), so that two live runs never write one
    folder, and refuses a folder that holds another run unless ``overwrite_output_dir`` or a resume is asked.

    The lock is a :class:`~plm_recipes.locks.ProcessLock` (a file holding the process id, removed when the run
    ends; one left by a process that no longer exists is taken over).
    """

    def __init__(self, args):
        self.args = args
        self.lock = ProcessLock(os.path.join(args.output_dir, LOCK_NAME), self._busy)

    def _busy(self, owner: int) -> str:
        if "LOCAL_RANK" in os.environ and parent_of(owner) == os.getppid():
            return (f"--output_dir {self.args.output_dir}: process {owner}, another process of this same launch, is "
                    "writing it: the launch's processes did not join one process group (each trains as if alone, "
                    "world size 1). On a machine without a GPU pass --use_cpu true, so that they join over gloo")
        return (f"--output_dir {self.args.output_dir}: another run (process {owner}) is writing it; wait for it to "
                "finish or choose another folder")

    def __enter__(self) -> OutputDirLock:
        args = self.args
        if not args.should_save:  # replicas write nothing of their own
            return self
        os.makedirs(args.output_dir, exist_ok=True)
        self.lock.acquire()
        resuming = bool(getattr(args, "resume_from_checkpoint", None))
        if not resuming and not getattr(args, "overwrite_output_dir", False):
            found = [name for name in os.listdir(args.output_dir)
                     if name in _RUN_FILES or name.startswith(PREFIX_CHECKPOINT_DIR)]
            if found:
                self.__exit__()
                raise ArgumentError(
                    f"--output_dir {args.output_dir} holds another run ({', '.join(sorted(found)[:3])}); pass "
                    "--overwrite_output_dir to replace it, --resume_from_checkpoint to continue it, or choose "
                    "another folder")
        return self

    def __exit__(self, *exc) -> None:
        self.lock.release()


def parent_of(pid: int) -> int | None:
    """The parent process id of ``pid`` (from ``/proc``), or ``None`` where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None
