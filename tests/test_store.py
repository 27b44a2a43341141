"""The embedded store on a real SQLite file."""

from __future__ import annotations

import io
import math
import os
import random
import sqlite3
import time
from pathlib import Path

import pytest

from runhistory.api import (
    SCHEMA_VERSION,
    AmbiguousRunId,
    ArtifactNotFound,
    EmbeddedStore,
    IntegrityError,
    InvalidInput,
    MetricKindMismatch,
    MetricNotFound,
    NewRun,
    RunNotFound,
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


def test_runs_list_newest_first_with_filters_and_pages(store: EmbeddedStore) -> None:
    made = [store.create_run(NewRun(experiment=f"exp{i % 3}")) for i in range(25)]
    store.finish_run(made[0].id, "failed", error="boom")
    page = store.list_runs(limit=10)
    assert [r.id for r in page.runs] == [r.id for r in reversed(made)][:10]
    seen = [r.id for r in page.runs]
    while page.next_cursor:
        page = store.list_runs(limit=10, cursor=page.next_cursor)
        seen += [r.id for r in page.runs]
    assert seen == [r.id for r in reversed(made)]
    exp1 = store.list_runs(experiment="exp1", limit=100).runs
    assert [r.id for r in exp1] == [r.id for r in reversed(made) if r.experiment == "exp1"]
    failed = store.list_runs(status="failed").runs
    assert [(r.id, r.error) for r in failed] == [(made[0].id, "boom")]
    assert len(store.list_runs(status="running", limit=100).runs) == 24
    with pytest.raises(InvalidInput, match="status must be one of"):
        store.list_runs(status="sleeping")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="limit"):
        store.list_runs(limit=0)
    with pytest.raises(InvalidInput, match="malformed cursor"):
        store.list_runs(cursor="nonsense")


def test_run_ids_resolve_from_a_unique_prefix(store: EmbeddedStore) -> None:
    a = store.create_run(NewRun(run_id="ab" + "0" * 30))
    store.create_run(NewRun(run_id="ab" + "1" * 30))
    assert store.get_run("ab0").id == a.id
    assert store.get_run(a.id).id == a.id
    with pytest.raises(AmbiguousRunId) as ambiguous:
        store.get_run("ab")
    assert len(ambiguous.value.candidates) == 2
    with pytest.raises(RunNotFound):
        store.get_run("ff")
    with pytest.raises(RunNotFound):
        store.get_run("not-hex")
    with pytest.raises(InvalidInput, match="exists already"):
        store.create_run(NewRun(run_id=a.id))


def test_metadata_and_finish(store: EmbeddedStore) -> None:
    r = store.create_run(NewRun(experiment="e", command=["python", "train.py"], host="h", user="u", pid=42))
    store.update_run(r.id, git_commit="abc", git_dirty=True, skipped_files=["outputs/big: too big"])
    done = store.finish_run(r.id, "killed", error="killed by SIGTERM")
    assert (done.status, done.error, done.git_commit, done.git_dirty) == ("killed", "killed by SIGTERM", "abc", True)
    assert done.command == ["python", "train.py"] and done.skipped_files == ["outputs/big: too big"]
    assert done.ended_at is not None and done.ended_at >= done.started_at
    with pytest.raises(InvalidInput):
        store.finish_run(r.id, "running")


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


def test_steps_default_to_the_previous_plus_one(store: EmbeddedStore) -> None:
    r = store.create_run(NewRun())
    store.append_metrics(r.id, {"x": numbers([1, 2, 3], [None, 10, None])})
    store.append_metrics(r.id, {"x": numbers([4])})
    assert store.read_series(r.id, "x").steps == [0, 10, 11, 12]
    assert store.list_metrics(r.id)[0].last_step == 12


def test_kinds_are_kept_per_series(store: EmbeddedStore) -> None:
    r = store.create_run(NewRun())
    store.append_metrics(r.id, {"x": numbers([1.0])})
    with pytest.raises(MetricKindMismatch):
        store.append_metrics(r.id, {"x": SeriesBatch("string", ["a"], [None], [0.0]), "y": numbers([1.0])})
    assert [m.name for m in store.list_metrics(r.id)] == ["x"]  # nothing of the batch was written
    store.append_metrics(r.id, {"s": SeriesBatch("string", ["a", "b"], [None, None], [0.0, 0.0])})
    store.append_metrics(r.id, {"c": SeriesBatch("chart", [[1, 2.5, math.inf]], [None], [0.0])})
    assert store.read_series(r.id, "s").values == ["a", "b"]
    assert store.read_series(r.id, "c").values == [[1, 2.5, math.inf]]
    with pytest.raises(MetricNotFound):
        store.read_series(r.id, "nope")
    with pytest.raises(RunNotFound):
        store.append_metrics("0" * 32, {"x": numbers([1.0])})


def test_a_batch_key_is_stored_once(store: EmbeddedStore) -> None:
    r = store.create_run(NewRun())
    assert store.append_metrics(r.id, {"x": numbers([1.0, 2.0])}, key="k1") is True
    assert store.append_metrics(r.id, {"x": numbers([1.0, 2.0])}, key="k1") is False
    assert store.read_series(r.id, "x").values == [1.0, 2.0]


@pytest.mark.parametrize("count", [CHUNK_POINTS * 50 + 7, 5_000, 100])
@pytest.mark.parametrize("max_points", [2, 3, 10, 200, 1000])  # chunk summaries, block extremes, every point
def test_downsampling_keeps_first_last_and_extremes(store: EmbeddedStore, count: int, max_points: int) -> None:
    r = store.create_run(NewRun())
    rng = random.Random(count)
    values = [math.sin(i / 300) + rng.gauss(0, 0.1) for i in range(count)]
    values[count // 3] = 50.0  # a spike
    values[count // 2] = -50.0
    values[count // 4] = math.nan  # NaN is never a minimum or maximum
    for start in range(0, count, 3000):
        store.append_metrics(r.id, {"x": numbers(values[start : start + 3000])})
    whole = store.read_series(r.id, "x")
    assert whole.count == count and whole.steps == list(range(count))
    small = store.read_series(r.id, "x", max_points=max_points)
    assert repr(small) == repr(store.read_series(r.id, "x", max_points=max_points))  # deterministic
    if count <= max_points:
        assert not small.downsampled and len(small) == count
        return
    assert small.downsampled and small.count == count
    assert 2 <= len(small) <= max_points
    assert small.steps == sorted(small.steps)
    assert small.steps[0] == 0 and small.steps[-1] == count - 1
    for step, value in zip(small.steps, small.values):
        assert value == values[step] or (math.isnan(value) and math.isnan(values[step]))  # type: ignore[arg-type]
    if max_points >= 4:
        assert 50.0 in small.values and -50.0 in small.values


def test_downsampling_strings_and_charts_keeps_even_points(store: EmbeddedStore) -> None:
    r = store.create_run(NewRun())
    store.append_metrics(r.id, {"s": SeriesBatch("string", [str(i) for i in range(100)], [None] * 100, [0.0] * 100)})
    small = store.read_series(r.id, "s", max_points=5)
    assert small.values == ["0", "25", "50", "74", "99"]  # evenly spaced, first and last kept
    with pytest.raises(InvalidInput):
        store.read_series(r.id, "s", max_points=1)


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
        "model/config.json", "model/weights.bin", "model2.txt", "notes.txt",
    ]  # fmt: skip
    assert [a.path for a in store.list_artifacts(r.id, "model")] == ["model/config.json", "model/weights.bin"]
    assert [a.path for a in store.list_artifacts(r.id, "model/")] == ["model/config.json", "model/weights.bin"]
    with store.open_artifact(r.id, "notes.txt") as f:
        assert f.read() == b"v2"
    with pytest.raises(ArtifactNotFound):
        store.open_artifact(r.id, "missing")
    saved = download_artifacts(store, r.id, tmp_path / "out", prefix="model")
    assert [f.saved_to.relative_to(tmp_path / "out").as_posix() for f in saved] == ["model/config.json", "model/weights.bin"]
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


def test_asset_versions_out_of_range_are_not_found(store: EmbeddedStore) -> None:
    from runhistory.api import AssetNotFound

    for version in (0, -1, 2**70):
        with pytest.raises(AssetNotFound):
            store.get_asset("m", version)
        with pytest.raises(AssetNotFound):
            store.open_asset_file("m", version, "x")
