"""Running the ``runhistory`` command as a real subprocess, for the tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ._processes import clean_env


def cli(home: Path, *args: str, cwd: Path | None = None, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "runhistory.app.cli", *args],
        env=clean_env(home, **env),
        cwd=cwd,
        capture_output=True,
        timeout=timeout,
    )

def as_json(done: subprocess.CompletedProcess[bytes]) -> Any:
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
