"""What a run knows about its process, and how it follows the process's life.

- ``describe_process()``: the ``NewRun`` of this process (experiment, command
  line, cwd, host, user, Python), used by ``get_logger()`` and ``runhistory run``.
- ``git_state()``: the working tree's commit and whether it is dirty.
- ``outputs/``: what it held when the run started (``outputs_snapshot``), so
  that only what the run wrote there is uploaded at its end (``run_outputs``).
- Process hooks (``install_hooks``): at exit the run is finished; an uncaught
  exception marks it ``failed``, SIGTERM/SIGHUP ``killed``; ``fork()`` waits
  for store calls and gives the child a fresh writer.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType, TracebackType
from typing import Protocol

from runhistory.api import NewRun
from runhistory.api._limits import MAX_GIT_DIFF_BYTES, MAX_PACKAGES


def describe_process(experiment: str, name: str | None = None, command: list[str] | None = None) -> NewRun:
    """This process as a new run (with an id chosen here, so that a spooled run keeps it).

    Args:
        experiment: The run's experiment.
        name: Its name, if any.
        command: The command line it tracks (default: this process's own).
    """
    import getpass
    import platform
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # no user name in a bare container
        user = str(os.getuid())
    return NewRun(
        experiment=experiment,
        name=name,
        command=list(getattr(sys, "orig_argv", sys.argv)) if command is None else list(command),
        cwd=os.getcwd(),
        host=socket.gethostname(),
        user=user,
        python=platform.python_version(),
        pid=os.getpid(),
        run_id=uuid.uuid4().hex,
    )


def git_state(cwd: str) -> tuple[str, bool | None] | None:
    """(commit, dirty) of the git working tree at ``cwd``; ``None`` outside one (or without git)."""
    import subprocess

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    status = git("status", "--porcelain", "--untracked-files=no")
    return commit.strip(), None if status is None else bool(status.strip())


def git_diff(cwd: str) -> tuple[str, bool] | None:
    """``git diff HEAD`` of the tree at ``cwd`` (staged and unstaged changes to tracked
    files) cut at ``MAX_GIT_DIFF_BYTES``, and whether it was cut; ``None`` when unavailable."""
    import subprocess

    try:
        done = subprocess.run(
            ["git", "diff", "HEAD", "--no-color", "--no-ext-diff"], cwd=cwd, capture_output=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    raw = done.stdout
    cut = len(raw) > MAX_GIT_DIFF_BYTES
    if cut:
        raw = raw[:MAX_GIT_DIFF_BYTES]
    # Undecodable bytes become U+FFFD (3 bytes each), so cut again at a character boundary.
    text = raw.decode("utf-8", "replace").encode("utf-8")[:MAX_GIT_DIFF_BYTES].decode("utf-8", "ignore")
    return text, cut


def installed_packages() -> dict[str, str]:
    """The distributions this interpreter can import, name → version, as their ``*.dist-info``
    (or ``*.egg-info``) folders on ``sys.path`` say.

    Read by hand, a few header lines each, rather than through ``importlib.metadata``: that
    imports ``email``, ``csv`` and ``zipfile`` on first use, and the writer thread may be doing
    so while the process exits from a Ctrl-C, when code compiled at run time resets the
    interpreter's note that it must die of SIGINT (its exit status would become 1).
    """
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            folders = [e for e in os.scandir(entry or ".") if e.name.endswith((".dist-info", ".egg-info"))]
        except OSError:
            continue
        for folder in folders:
            name, version = _name_and_version(folder.path)
            if name and version and name not in found:
                found[name] = version
            if len(found) >= MAX_PACKAGES:
                return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


def _name_and_version(folder: str) -> tuple[str | None, str | None]:
    """``Name:`` and ``Version:`` from a distribution's metadata headers."""
    name = version = None
    for filename in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(folder, filename), encoding="utf-8", errors="replace") as f:
                for line in f:
                    if not line.strip():
                        break  # the headers end at the first blank line
                    if line.startswith("Name:"):
                        name = line[5:].strip()
                    elif line.startswith("Version:"):
                        version = line[8:].strip()
                    if name and version:
                        break
        except OSError:
            continue
        break
    return name, version


# -- outputs/ ---------------------------------------------------------------------------

#: What changes when a file is written or replaced: modification time, size, inode, device.
Signature = tuple[int, int, int, int]


def signature(st: os.stat_result) -> Signature:
    """A file's ``Signature``."""
    return st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev


def outputs_files(root: Path) -> Iterator[tuple[str, str, str | None]]:
    """The files under ``root`` (``outputs/``) as (local path, ``outputs/…`` path, why it cannot go or None).

    Symlinks are followed only when they stay inside ``root``; a symlinked folder
    inside it is skipped (its files are found through the real one).
    """
    real_root = root.resolve()
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for entry in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            local = os.path.join(folder, entry)
            rel = "outputs/" + Path(local).relative_to(root).as_posix()
            if os.path.islink(local):
                target = Path(os.path.realpath(local))
                if not target.is_relative_to(real_root):
                    yield local, rel, f"a symlink leading out of outputs/ (to {target})"
                    continue
                if target.is_dir():
                    continue
            yield local, rel, None


def outputs_snapshot(root: Path) -> dict[str, Signature]:
    """The signature of every file in ``root`` now (empty when there is no such folder)."""
    if not root.is_dir():
        return {}
    found = {}
    for local, rel, why in outputs_files(root):
        if why is None:
            try:
                found[rel] = signature(os.stat(local))
            except OSError:
                continue
    return found


# -- hooks --------------------------------------------------------------------------------


class _Hooked(Protocol):
    """What the hooks need of the process's logger."""

    io_lock: threading.Lock

    def at_exit(self) -> None: ...
    def note_exception(self, kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None: ...
    def on_signal(self, signum: int) -> None: ...
    def after_fork_in_child(self) -> None: ...


_current: Callable[[], _Hooked | None] = lambda: None  # noqa: E731
_installed = False


def install_hooks(current: Callable[[], _Hooked | None]) -> None:
    """Follow the process's life on behalf of the logger ``current()`` returns (once per process)."""
    global _current, _installed
    _current = current
    if _installed:
        return
    _installed = True
    atexit.register(_at_exit)
    previous_hook = sys.excepthook

    def excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        logger = _current()
        if logger is not None:
            logger.note_exception(kind, value, tb)
        previous_hook(kind, value, tb)

    sys.excepthook = excepthook
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(signum) is signal.SIG_DFL:
                signal.signal(signum, _on_signal)
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)


def _at_exit() -> None:
    logger = _current()
    if logger is not None:
        logger.at_exit()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    logger = _current()
    if logger is not None:
        logger.on_signal(signum)
    # Die of the signal as if nobody had caught it, so the parent sees it.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


_held: list[threading.Lock] = []


def _before_fork() -> None:
    # A child must not inherit a store call half done: fork() waits for it.
    logger = _current()
    if logger is not None:
        logger.io_lock.acquire()
        _held.append(logger.io_lock)


def _after_fork_in_parent() -> None:
    while _held:
        _held.pop().release()


def _after_fork_in_child() -> None:
    while _held:
        _held.pop().release()
    logger = _current()
    if logger is not None:
        logger.after_fork_in_child()
