"""``./outputs`` at the end of a run: what the run wrote there, never an earlier run's leftovers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from runhistory.api import EmbeddedStore

from ._cli import cli
from ._processes import run

WRITE_MODEL = """
    from pathlib import Path
    from runhistory.logger import get_logger
    logger = get_logger(experiment="outputs")
    Path("outputs/sub").mkdir(parents=True, exist_ok=True)
    Path("outputs/model.pkl").write_bytes(b"the first run's model")
    Path("outputs/config.json").write_text('{"lr": 1}')
    Path("outputs/sub/notes.txt").write_text("notes")
    print(logger.run_id)
"""


def artifacts(home: Path, run_id: str) -> dict[str, str]:
    store = EmbeddedStore(home)
    try:
        return {a.path: a.sha256 for a in store.list_artifacts(run_id)}
    finally:
        store.close()


def test_a_run_uploads_only_the_outputs_it_created_or_changed(tmp_path: Path) -> None:
    home = tmp_path / "store"
    first = run(tmp_path, home, WRITE_MODEL)
    assert first.returncode == 0, first.stderr
    assert set(artifacts(home, first.stdout.strip())) == {
        "outputs/model.pkl",
        "outputs/config.json",
        "outputs/sub/notes.txt",
    }

    # A run that dies before writing anything uploads none of them, and says so.
    crashed = run(
        tmp_path,
        home,
        """
        from runhistory.logger import get_logger
        print(get_logger(experiment="outputs").run_id, flush=True)
        raise SystemExit(1 / 0)
    """,
    )
    crashed_id = crashed.stdout.strip()
    assert crashed.returncode == 1
    assert artifacts(home, crashed_id) == {}
    skipped = EmbeddedStore(home).get_run(crashed_id).skipped_files
    assert skipped == ["outputs/: 3 files left from before this run started, unchanged since, not uploaded"]
    assert "3 files of outputs/ left from before" in crashed.stderr

    # A run that changes one file (same size) and adds one uploads those two.
    third = run(
        tmp_path,
        home,
        """
        from pathlib import Path
        from runhistory.logger import get_logger
        logger = get_logger(experiment="outputs")
        Path("outputs/config.json").write_text('{"lr": 2}')
        Path("outputs/new.txt").write_text("new")
        print(logger.run_id)
    """,
    )
    assert set(artifacts(home, third.stdout.strip())) == {"outputs/config.json", "outputs/new.txt"}

    # The same holds for a command run by `runhistory run`.
    wrapped = cli(home, "run", "--json", "--", sys.executable, "-c", "raise SystemExit(3)", cwd=tmp_path)
    assert wrapped.returncode == 3
    wrapped_id = json.loads(wrapped.stdout)["id"]
    assert not any(p.startswith("outputs/") for p in artifacts(home, wrapped_id))
    assert json.loads(wrapped.stdout)["skipped_files"] == [
        "outputs/: 4 files left from before this run started, unchanged since, not uploaded"
    ]
