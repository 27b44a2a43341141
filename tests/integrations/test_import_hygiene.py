"""With the frameworks installed, importing the logger (or the integrations package) imports none of them."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

FRAMEWORKS = ("torch", "lightning", "pytorch_lightning", "transformers", "accelerate", "keras")


@pytest.mark.parametrize("module", ["runhistory.logger", "runhistory.logger.integrations"])
def test_importing_the_logger_imports_no_framework(module: str) -> None:
    assert [f for f in FRAMEWORKS if importlib.util.find_spec(f) is None] == []  # all installed here
    code = f"import sys, {module}\nprint(','.join(f for f in {FRAMEWORKS!r} if f in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
