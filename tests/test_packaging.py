"""What a user installs: the namespace, the import cost, the public surface."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import runhistory.api
import runhistory.logger

ROOT = Path(__file__).resolve().parent.parent


#: What a training script must not pay for when it imports the logger: the app's and the server's
#: libraries, and the frameworks of the integrations (tests/integrations checks these again
#: where they are installed).
HEAVY = (
    "textual",
    "fastapi",
    "uvicorn",
    "httpx",
    "numpy",
    "PIL",
    "plotext",
    "pydantic",
    "boto3",
    "botocore",
    "psutil",
    "pynvml",
    "torch",
    "lightning",
    "pytorch_lightning",
    "transformers",
    "keras",
)


@pytest.mark.parametrize("module", ["runhistory.logger", "runhistory.logger.integrations", "runhistory.api"])
def test_core_imports_nothing_heavy(module: str) -> None:
    code = f"import sys, {module}\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


@pytest.mark.parametrize(
    ("module", "frameworks"),
    [("lightning", ["lightning", "pytorch_lightning"]), ("transformers", ["transformers"]), ("keras", ["keras"])],
)
def test_an_integration_without_its_framework_says_what_to_install(module: str, frameworks: list[str]) -> None:
    code = (
        "import sys\n"
        + "".join(f"sys.modules[{name!r}] = None\n" for name in frameworks)  # what an interpreter without it sees
        + f"import runhistory.logger.integrations.{module}\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ImportError: runhistory.logger.integrations.{module} needs "), last
    assert "pip install 'runhistory[integrations]'" in last


@pytest.mark.parametrize("package", [runhistory.api, runhistory.logger])
def test_public_names_are_sorted_and_exported(package: object) -> None:
    names = package.__all__  # type: ignore[attr-defined]
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))
    for name in names:
        assert hasattr(package, name), name


@pytest.mark.slow
def test_the_wheel_installs_only_under_the_runhistory_namespace(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("runhistory-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"runhistory", next(t for t in tops if t.endswith(".dist-info"))}
    assert "runhistory/logger/__init__.py" in names
    assert "runhistory/api/_embedded/store.py" in names
    assert "runhistory/app/cli.py" in names
    assert not any(n.startswith("runhistory/__init__") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "runhistory = runhistory.app.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
