"""``mypy --strict`` on the packages, as they are imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_everything_is_strictly_typed(tmp_path: Path) -> None:
    # The folders install as runhistory.api / runhistory.logger through
    # package-dir; mypy follows a tree laid out the same way.
    tree = tmp_path / "runhistory"
    tree.mkdir()
    for folder in ("api", "logger", "app"):
        (tree / folder).symlink_to(ROOT / folder)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"),
         "-p", "runhistory.api", "-p", "runhistory.logger", "-p", "runhistory.app"],
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(tmp_path)},
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
