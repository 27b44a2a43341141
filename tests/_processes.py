"""Running real Python processes that log into a store, for the tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without runhistory settings, pointed at ``home``.

    System metrics are off unless ``extra`` turns them on: a test about something else
    counts the points and series it logged, and a slow machine must not add ``sys/…``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNHISTORY_")}
    env["RUNHISTORY_HOME"] = str(home)
    env["RUNHISTORY_SYSTEM_METRICS"] = "0"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def write_script(folder: Path, code: str, name: str = "job.py") -> Path:
    """Write a dedented script into ``folder``."""
    script = folder / name
    script.write_text(textwrap.dedent(code))
    return script


def start(folder: Path, home: Path, code: str, stdin: int | None = None, **extra: str) -> subprocess.Popen[str]:
    """Start ``code`` as a Python script in ``folder``, logging into ``home`` (``stdin=subprocess.PIPE`` to talk to it)."""
    script = write_script(folder, code)
    return subprocess.Popen(
        [sys.executable, str(script)],
        cwd=folder,
        env=clean_env(home, **extra),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(folder: Path, home: Path, code: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` to its end."""
    process = start(folder, home, code, **extra)
    out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def partial_files(home: Path) -> list[Path]:
    """Files under ``home/tmp`` other than a live process's scratch lock: what a write left behind."""
    return sorted(p for p in (home / "tmp").rglob("*") if p.is_file() and p.name != "lock")
