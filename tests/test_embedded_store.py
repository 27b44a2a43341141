"""The embedded store on a real SQLite file."""

from __future__ import annotations

import io
import os
import random
import sqlite3
import time
from pathlib import Path

import pytest

from runhistory.api import (
    SCHEMA_VERSION,
    ArtifactNotFound,
    EmbeddedStore,
    IntegrityError,
    NewRun,
    SeriesBatch,
    StoreVersionError,
    download_artifacts,
)
from runhistory.api._limits import CHUNK_POINTS

from ._processes import partial_files


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    return EmbeddedStore(tmp_path / "store")


def numbers(values: list[float], steps: list[int | None] | None = None) -> SeriesBatch:
    return SeriesBatch(
        "number", list(values), steps if steps is not None else [None] * len(values), [time.time()] * len(values)
    )


@pytest.mark.slow
def test_points_appended_one_by_one_fill_chunks_and_read_back(store: EmbeddedStore) -> None:
    r = store.create_run(NewRun())
    expected = []
    for i in range(CHUNK_POINTS * 2 + 10):
        store.append_metrics(r.id, {"x": numbers([i * 0.25])})
        expected.append(i * 0.25)
    series = store.read_series(r.id, "x")
    assert series.values == expected
    assert series.steps == list(range(len(expected)))
    conn = sqlite3.connect(store.home / "runhistory.sqlite3")
    sizes = [n for (n,) in conn.execute("SELECT n FROM chunks ORDER BY chunk_no")]
    assert sizes == [CHUNK_POINTS, CHUNK_POINTS, 10]


def test_noisy_floats_cost_at_most_16_bytes_a_point(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "s")
    r = store.create_run(NewRun())
    rng = random.Random(1)
    n = 200_000
    t0 = time.time()
    for start in range(0, n, 20_000):
        values = [1 / (1 + i / 1000) + rng.gauss(0, 0.01) for i in range(start, start + 20_000)]
        times = [t0 + i * 0.001 for i in range(start, start + 20_000)]
        store.append_metrics(r.id, {"loss": SeriesBatch("number", values, [None] * 20_000, times)})  # type: ignore[arg-type]
    conn = store.db.conn()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = sum(f.stat().st_size for f in (tmp_path / "s").rglob("*") if f.is_file())
    assert size / n <= 16, size / n


def test_artifacts_stream_in_and_out_with_hashes(store: EmbeddedStore, tmp_path: Path) -> None:
    r = store.create_run(NewRun())
    local = tmp_path / "weights.bin"
    payload = os.urandom(3 * 1024 * 1024 + 17)
    local.write_bytes(payload)
    with open(local, "rb") as stream:
        info = store.put_artifact(r.id, "model/weights.bin", stream)
    assert info.size == len(payload)
    store.put_artifact(r.id, "model/config.json", io.BytesIO(b'{"lr": 0.1}'))  # not a real file
    store.put_artifact(r.id, "model2.txt", b"other")
    store.put_artifact(r.id, "notes.txt", b"v1")
    store.put_artifact(r.id, "notes.txt", b"v2")  # replaced
    assert [a.path for a in store.list_artifacts(r.id)] == [
        "model/config.json",
        "model/weights.bin",
        "model2.txt",
        "notes.txt",
    ]
    assert [a.path for a in store.list_artifacts(r.id, "model")] == ["model/config.json", "model/weights.bin"]
    assert [a.path for a in store.list_artifacts(r.id, "model/")] == ["model/config.json", "model/weights.bin"]
    with store.open_artifact(r.id, "notes.txt") as f:
        assert f.read() == b"v2"
    with pytest.raises(ArtifactNotFound):
        store.open_artifact(r.id, "missing")
    saved = download_artifacts(store, r.id, tmp_path / "out", prefix="model")
    assert [f.saved_to.relative_to(tmp_path / "out").as_posix() for f in saved] == [
        "model/config.json",
        "model/weights.bin",
    ]
    assert (tmp_path / "out/model/weights.bin").read_bytes() == payload
    # the same content is stored once
    blobs = sorted(f for f in (store.home / "blobs").rglob("*") if f.is_file())
    assert len(blobs) == 4  # notes.txt's first content went when it was replaced
    store.put_artifact(r.id, "copy.bin", payload)
    assert sorted(f for f in (store.home / "blobs").rglob("*") if f.is_file()) == blobs
    # a damaged blob is caught on download, and nothing is left behind
    blob = store.home / "blobs" / info.sha256[:2] / info.sha256[2:]
    blob.write_bytes(b"damaged")
    with pytest.raises(IntegrityError):
        download_artifacts(store, r.id, tmp_path / "out2", prefix="model/weights.bin")
    assert not any(f.is_file() for f in (tmp_path / "out2").rglob("*"))
    assert partial_files(store.home) == []


def test_a_newer_schema_is_refused_and_older_ones_migrate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "s"
    EmbeddedStore(home)
    conn = sqlite3.connect(home / "runhistory.sqlite3")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreVersionError, match="upgrade runhistory"):
        EmbeddedStore(home)
    # an older store is brought up to date by the named migrations after its version
    from runhistory.api._embedded import schema

    calls: list[str] = []
    added = schema.Migration("a step for the test", lambda conn: calls.append("applied"))
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, added])
    conn = sqlite3.connect(home / "runhistory.sqlite3")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    conn.close()
    EmbeddedStore(home)
    assert calls == ["applied"]
    conn = sqlite3.connect(home / "runhistory.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    conn.close()
