"""Running the ``runhistory`` command for the tests: in this process, or as a real subprocess.

``cli()`` calls the console script's ``main(argv)`` in the test's own process,
with the environment, working folder, stdin, stdout and stderr a subprocess
would get (``clean_env``; pipes, not terminals) and the exit code ``main``
returns or raises. What is under test there (arguments, output, exit codes,
error messages) does not depend on a process of its own, and a subprocess
costs a third of a second of interpreter start and imports on every call.

The commands that do depend on one run as a real subprocess, always: ``run``
(it starts a child, forwards signals and sets up a logger for it), ``serve``,
``demo`` and ``tui`` (the app).
``process=True`` runs any other command that way too, for the tests that
check how a real process ends (exit codes, broken pipes, terminals).
"""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ._processes import clean_env

#: Commands that run as a real subprocess whatever ``process`` says.
OWN_PROCESS = {"run", "serve", "demo", "tui"}


def cli(
    home: Path, *args: str, cwd: Path | None = None, timeout: float = 60, process: bool = False, **env: str
) -> subprocess.CompletedProcess[bytes]:
    """``runhistory ARGS`` with ``RUNHISTORY_HOME=home`` (and ``env``): its exit code, stdout and stderr."""
    if process or _command(args) in OWN_PROCESS:
        return subprocess.run(
            [sys.executable, "-m", "runhistory.app.cli", *args],
            env=clean_env(home, **env),
            cwd=cwd,
            capture_output=True,
            timeout=timeout,
        )
    return _in_process(list(args), clean_env(home, **env), cwd)


def _command(args: tuple[str, ...]) -> str | None:
    """The command ``args`` name (global options may come first), or None."""
    takes_value = {"--home", "--url", "--token-file"}
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--":
            return None
        elif arg in takes_value:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def _in_process(argv: list[str], env: dict[str, str], cwd: Path | None) -> subprocess.CompletedProcess[bytes]:
    from runhistory.app import cli as module

    # What a child's standard streams are when the parent captures them: pipes (no terminal),
    # UTF-8 with the errors handlers Python picks for them in a UTF-8 locale.
    stdin = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="surrogateescape")
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="surrogateescape")
    stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
    opened: list[Any] = []
    real_open_store = module.open_store

    def open_store(**kwargs: Any) -> Any:
        store = real_open_store(**kwargs)
        opened.append(store)
        return store

    with _environment(env, cwd), _streams(stdin, stdout, stderr):
        module.open_store = open_store  # so the stores the command opened are closed, as its exit would
        try:
            code = _exit_code(module.main, argv)
        finally:
            module.open_store = real_open_store
            for store in opened:
                store.close()
            stdout.flush()
            stderr.flush()
    out = stdout.buffer.getvalue()  # type: ignore[attr-defined]
    err = stderr.buffer.getvalue()  # type: ignore[attr-defined]
    return subprocess.CompletedProcess(["runhistory", *argv], code, out, err)


def _exit_code(main: Any, argv: list[str]) -> int:
    """``main(argv)``'s exit code as the interpreter would make it (``raise SystemExit(main())``)."""
    try:
        return int(main(argv))
    except SystemExit as leaving:
        if leaving.code is None:
            return 0
        if isinstance(leaving.code, int):
            return leaving.code
        print(leaving.code, file=sys.stderr)
        return 1
    except BaseException:  # an uncaught error: the traceback on stderr and exit code 1, as Python does
        sys.stderr.write(traceback.format_exc())
        return 1


@contextmanager
def _environment(env: dict[str, str], cwd: Path | None) -> Iterator[None]:
    before, here = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(here)
        os.environ.clear()
        os.environ.update(before)


@contextmanager
def _streams(stdin: io.TextIOWrapper, stdout: io.TextIOWrapper, stderr: io.TextIOWrapper) -> Iterator[None]:
    before = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
    try:
        yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = before


def as_json(done: subprocess.CompletedProcess[bytes]) -> Any:
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))


def on_a_terminal(home: Path, *args: str) -> tuple[int, bytes, bytes]:
    """The CLI with stdout on a pseudo-terminal; (exit code, what the terminal got, stderr)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "runhistory.app.cli", *args],
        env=clean_env(home),
        stdout=follower,
        stderr=subprocess.PIPE,
    )
    os.close(follower)
    got = b""
    while True:
        try:
            piece = os.read(leader, 65536)
        except OSError:  # the other end closed
            break
        if not piece:
            break
        got += piece
    os.close(leader)
    assert process.stderr is not None
    err = process.stderr.read()
    process.stderr.close()
    return process.wait(timeout=30), got, err
