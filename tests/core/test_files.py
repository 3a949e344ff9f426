"""Writing outputs (plm_recipes.files) and claiming them (plm_recipes.locks): an output that is an input is refused,
whatever path names it; a write is whole or absent; a lock held by a live process is refused, one left by a dead
process is taken over."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from plm_recipes.errors import ArgumentError
from plm_recipes.files import atomic_write, refuse_output_is_input, same_file
from plm_recipes.locks import ProcessLock, lock_owner


def test_same_file_sees_through_links_and_spellings(tmp_path, monkeypatch):
    data = tmp_path / "data.txt"
    data.write_text("x", encoding="utf-8")
    (tmp_path / "soft.txt").symlink_to(data)
    os.link(data, tmp_path / "hard.txt")
    monkeypatch.chdir(tmp_path)
    for other in ("soft.txt", "hard.txt", "./sub/../data.txt", str(data)):
        assert same_file(data, other), other
    assert not same_file(data, "new.txt")  # a file not made yet is not an input
    assert same_file("new.txt", str(tmp_path / "new.txt"))
    refuse_output_is_input("out.txt", {"--file": "data.txt", "--labels": None})
    with pytest.raises(ArgumentError, match=r"--output: hard.txt is the file --file reads \(data.txt\); writing it "
                                            r"would replace the input: choose another --output"):
        refuse_output_is_input("hard.txt", {"--labels": None, "--file": "data.txt"})


def test_atomic_write_is_whole_or_absent(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("old\n", encoding="utf-8")
    os.chmod(out, 0o640)
    with pytest.raises(RuntimeError):
        with atomic_write(out) as f:
            f.write("half of the new")
            raise RuntimeError("the disk filled up")
    assert out.read_text(encoding="utf-8") == "old\n" and os.listdir(tmp_path) == ["out.jsonl"]
    with atomic_write(out) as f:
        f.write("new\n")
    assert out.read_text(encoding="utf-8") == "new\n" and os.listdir(tmp_path) == ["out.jsonl"]
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640  # the file's permissions are kept
    with atomic_write(tmp_path / "fresh.npy", "wb") as f:
        f.write(b"\x93NUMPY")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "fresh.npy").st_mode) == 0o666 & ~umask  # not mkstemp's private 0600


def test_a_process_lock_is_refused_while_its_owner_lives_and_taken_over_after(tmp_path):
    path = tmp_path / "out.lock"
    busy = lambda owner: f"held by process {owner}"  # noqa: E731
    with ProcessLock(path, busy) as lock:
        assert lock.held and lock_owner(path) == os.getpid()
        with pytest.raises(ArgumentError, match=f"held by process {os.getpid()}"):
            ProcessLock(path, busy).acquire()
    assert not path.exists()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path.write_text(str(holder.pid))
        with pytest.raises(ArgumentError, match=f"held by process {holder.pid}"):
            ProcessLock(path, busy).acquire()
    finally:
        holder.kill()
        holder.wait()
    with ProcessLock(path, busy):  # the holder is gone: its lock is stale
        assert path.read_text() == str(os.getpid())
    path.write_text("not a pid")
    with ProcessLock(path, busy):  # unreadable: nobody's
        pass


def test_an_output_folder_held_by_a_process_of_the_same_launch_is_not_called_another_run(tmp_path, monkeypatch):
    """Two ranks of one torchrun launch that did not join one process group (each "world size 1") both claim the
    folder: the second is told that, and how to make them join, not that another run writes the folder."""
    from types import SimpleNamespace

    from plm_recipes.locks import LOCK_NAME, OutputDirLock, parent_of

    args = SimpleNamespace(output_dir=str(tmp_path), should_save=True, resume_from_checkpoint=None,
                           overwrite_output_dir=False)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert parent_of(holder.pid) == os.getpid()
        (tmp_path / LOCK_NAME).write_text(str(holder.pid))
        with pytest.raises(ArgumentError, match=f"another run \\(process {holder.pid}\\)"):
            OutputDirLock(args).__enter__()
        monkeypatch.setenv("LOCAL_RANK", "1")
        monkeypatch.setattr(os, "getppid", os.getpid)  # this process and the holder: children of one launcher
        with pytest.raises(ArgumentError, match=f"process {holder.pid}, another process of this same launch.*"
                                                "--use_cpu true"):
            OutputDirLock(args).__enter__()
    finally:
        holder.kill()
        holder.wait()
