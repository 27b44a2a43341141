"""The app in a real terminal: ``runhistory tui`` on a pseudo-terminal starts, draws the runs, and quits on ``q``."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from .app_data import BASELINE, make_store


def _read_until(fd: int, wanted: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{wanted!r} not drawn within {timeout} s; got {seen[-500:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the other side closed
                break
    return seen


@pytest.mark.slow
def test_the_app_starts_and_quits_in_a_terminal(tmp_path: Path) -> None:
    home = tmp_path / "store"
    make_store(home).close()
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNHISTORY_", "TEXTUAL"))}
    env.update(TERM="xterm-256color", COLUMNS="100", LINES="30")
    process = subprocess.Popen(
        [sys.executable, "-m", "runhistory.app.cli", "--home", str(home)],  # no command, on a terminal: the app
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        start_new_session=True,
        close_fds=True,
    )
    os.close(child)
    try:
        screen = _read_until(main, BASELINE[:8].encode(), timeout=20)
        assert b"\x1b[?1049h" in screen  # it took the alternate screen
        os.write(main, b"q")
        rest = b""
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.1)
            if ready:
                try:
                    rest += os.read(main, 65536)
                except OSError:
                    break
        assert process.wait(timeout=5) == 0
        assert b"\x1b[?1049l" in rest  # and gave the terminal back
        assert b"Traceback" not in screen + rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(main)


@pytest.mark.slow
def test_the_demo_trains_live_while_the_app_is_open_and_stops_on_quit(tmp_path: Path) -> None:
    from runhistory.api import EmbeddedStore

    home = tmp_path / "demo"
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNHISTORY_", "TEXTUAL"))}
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="30")  # the pty's size (a test runner may set others)
    process = subprocess.Popen(
        [sys.executable, "-m", "runhistory.app.cli", "--home", str(home), "demo"],
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        start_new_session=True,
        close_fds=True,
    )
    os.close(child)
    try:
        _read_until(main, b"resnet34-live", timeout=60)  # the live run is on screen
        store = EmbeddedStore(home)
        (live,) = store.list_runs(status="running").runs
        deadline = time.monotonic() + 10
        while not any(m.name == "val/loss" for m in store.list_metrics(live.id)):  # an epoch went by
            assert time.monotonic() < deadline, "the live run does not train"
            time.sleep(0.2)
        os.write(main, b"q")
        deadline = time.monotonic() + 20
        while process.poll() is None and time.monotonic() < deadline:
            if select.select([main], [], [], 0.1)[0]:
                try:
                    os.read(main, 65536)
                except OSError:
                    break
        assert process.wait(timeout=5) == 0
        run = store.get_run(live.id)
        assert (run.status, run.error) == ("killed", "killed by SIGTERM")  # stopped with the app
        assert [r.name for r in store.list_runs().runs][1:] == ["resnet18", "diverged", "low-lr", "high-lr", "baseline"]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(main)
