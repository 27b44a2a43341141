"""A store written by the schema-1 release opens and migrates in place, nothing lost."""

from __future__ import annotations

import math
import shutil
import sqlite3
from pathlib import Path

from runhistory.api import SCHEMA_VERSION, EmbeddedStore

from ._cli import as_json, cli

FIXTURE = Path(__file__).parent / "fixtures" / "store-v1"


def _copy(tmp_path: Path) -> Path:
    home = tmp_path / "store"
    shutil.copytree(FIXTURE, home)
    return home


def test_a_schema_1_store_migrates_in_place_and_keeps_everything(tmp_path: Path) -> None:
    home = _copy(tmp_path)
    assert sqlite3.connect(home / "runhistory.sqlite3").execute("PRAGMA user_version").fetchone()[0] == 1
    store = EmbeddedStore(home)
    assert sqlite3.connect(home / "runhistory.sqlite3").execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    runs = store.list_runs().runs
    assert [(r.name, r.status, r.params, r.tags, r.note) for r in runs] == [
        ("high-lr", "failed", {}, [], None),
        ("baseline", "completed", {}, [], None),
    ]
    baseline = runs[1].id
    loss = store.read_series(baseline, "loss")
    assert loss.count == 1500 and loss.values[:2] == [1.0, 0.5] and loss.steps[-1] == 1499
    assert math.isnan(store.read_series(runs[0].id, "loss").values[-1])
    assert store.read_series(baseline, "roc").values == [[0.0, 0.5, 1.0]]
    with store.open_artifact(baseline, "outputs/model.bin") as f:
        assert f.read() == b"\x00weights" * 100
    assert store.get_asset("mnist-model").files[0].path == "outputs/model.bin"
    # The latest values of the old runs are in the table queries read.
    found = store.list_runs(where="metrics.val/accuracy > 0.5", sort="metrics.loss").runs
    assert [r.name for r in found] == ["baseline"]
    assert [r.name for r in store.list_runs(where='metrics.phase = "train"').runs] == ["baseline"]
    # What is new works on old runs.
    store.set_params(baseline, {"lr": 0.001})
    store.update_tags(baseline, add=["best"])
    assert store.list_runs(where="params.lr < 0.01 and tag:best").runs[0].id == baseline
    store.close()
    EmbeddedStore(home).close()  # opened again: nothing to migrate


def test_the_cli_reads_a_migrated_store(tmp_path: Path) -> None:
    home = _copy(tmp_path)
    docs = as_json(cli(home, "list", "--json", "--sort", "metrics.val/accuracy desc"))
    assert [(d["name"], d["params"], d["tags"]) for d in docs] == [("baseline", {}, []), ("high-lr", {}, [])]
