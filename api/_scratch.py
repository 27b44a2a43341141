"""Scratch folders for partial files: one per process, swept once their process is gone.

Several processes share one home at once (training scripts, the CLI, a
server), and any of them may die while writing a file, even by SIGKILL or a
power cut. So no process writes partial files straight into ``tmp/``: each
writes into a folder of its own, ``tmp/<pid>-<nonce>/``, holding a ``lock``
file that the process keeps ``flock``-ed for its whole life. The kernel drops
that lock when the process ends, however it ends, so a sweep can tell a dead
owner from a live one by trying the lock: it removes exactly the folders whose
lock it can take, and never a file a live process is writing.

Files of the flat layout used before (``tmp/upload-*``, ``tmp/receive-*``,
``tmp/staged-*``) name no owner; a sweep removes them once they are
``STALE_TEMP_AGE`` old.

A forked child keeps the lock it inherited, so whatever it still writes into
its parent's folder stays safe while either of them lives, and it makes a
folder of its own the first time it asks for one.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import threading
import time
import uuid
from pathlib import Path

from ._limits import STALE_TEMP_AGE

_LOCK = "lock"
_FOLDER_NAME = re.compile(r"\d+-[0-9a-f]{12}")
_FLAT_PREFIXES = ("upload-", "receive-", "staged-")

# tmp folder → this process's scratch folder in it, and the descriptor holding its lock.
_mine: dict[Path, tuple[Path, int]] = {}
_mine_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _mine_lock
    # The inherited descriptors stay open (and the parent's folders locked);
    # the child asks for folders of its own.
    _mine.clear()
    _mine_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def scratch_folder(tmp: str | os.PathLike[str]) -> Path:
    """This process's scratch folder under ``tmp``, made on first use (sweeping ``tmp`` first).

    Returns:
        A folder that no sweep removes while this process (or a forked child) lives.
    """
    tmp = Path(os.path.abspath(tmp))
    with _mine_lock:
        found = _mine.get(tmp)
        if found is not None and found[0].is_dir():
            return found[0]
        if found is not None:  # removed under us (someone cleared tmp/ by hand): make another
            os.close(found[1])
        else:
            sweep(tmp)
        folder, fd = _make(tmp)
        _mine[tmp] = (folder, fd)
        return folder


def _make(tmp: Path) -> tuple[Path, int]:
    tmp.mkdir(parents=True, exist_ok=True)
    while True:
        folder = tmp / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        folder.mkdir()
        try:
            fd = os.open(folder / _LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:  # a sweep took the new, still unlocked folder: try another
            continue
        # Blocks only while a sweep that took this lock first removes the folder.
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            ours = os.stat(folder / _LOCK).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            ours = False
        if ours:
            return folder, fd
        os.close(fd)


def sweep(tmp: str | os.PathLike[str], *, now: float | None = None) -> int:
    """Remove what dead processes left in ``tmp``: scratch folders whose lock is free,
    and flat partial files older than ``STALE_TEMP_AGE``.

    Never raises: a folder that cannot be cleaned (read-only, another user's) is left.

    Returns:
        How many folders and files were removed.
    """
    now = time.time() if now is None else now
    try:
        entries = list(os.scandir(tmp))
    except OSError:
        return 0
    removed = 0
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False) and _FOLDER_NAME.fullmatch(entry.name):
                removed += _sweep_folder(Path(entry.path), now)
            elif (
                entry.is_file(follow_symlinks=False)
                and entry.name.startswith(_FLAT_PREFIXES)
                and now - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMP_AGE
            ):
                os.unlink(entry.path)
                removed += 1
        except OSError:
            continue
    return removed


def _sweep_folder(folder: Path, now: float) -> int:
    try:
        fd = os.open(folder / _LOCK, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        # Its owner died between making the folder and its lock, or is doing so now.
        if now - folder.stat().st_mtime > STALE_TEMP_AGE:
            shutil.rmtree(folder, ignore_errors=True)
            return 1
        return 0
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # its owner lives
        shutil.rmtree(folder, ignore_errors=True)  # the lock is held until the folder is gone
        return 1
    finally:
        os.close(fd)
