"""The contract every store keeps, run on each backend (``conftest.BACKENDS``).

The same calls, the same answers and the same errors, whether the store is a
folder on this machine or a server in front of one.
"""

from __future__ import annotations

import io
import itertools
import math
import random
import time

import pytest

from runhistory.api import (
    AmbiguousRunId,
    InvalidInput,
    MetricKindMismatch,
    MetricNotFound,
    NewRun,
    RunNotFound,
    SeriesBatch,
    Store,
)
from runhistory.api._limits import CHUNK_POINTS, EARLIEST_TIME, LATEST_TIME

from ._streams import Trickle


def numbers(values: list[float], steps: list[int | None] | None = None) -> SeriesBatch:
    return SeriesBatch(
        "number", list(values), steps if steps is not None else [None] * len(values), [time.time()] * len(values)
    )


def test_runs_list_newest_first_with_filters_and_pages(store: Store) -> None:
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


def test_run_ids_resolve_from_a_unique_prefix(store: Store) -> None:
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


def test_metadata_and_finish(store: Store) -> None:
    r = store.create_run(NewRun(experiment="e", command=["python", "train.py"], host="h", user="u", pid=42))
    store.update_run(r.id, git_commit="abc", git_dirty=True, skipped_files=["outputs/big: too big"])
    done = store.finish_run(r.id, "killed", error="killed by SIGTERM")
    assert (done.status, done.error, done.git_commit, done.git_dirty) == ("killed", "killed by SIGTERM", "abc", True)
    assert done.command == ["python", "train.py"] and done.skipped_files == ["outputs/big: too big"]
    assert done.ended_at is not None and done.ended_at >= done.started_at
    with pytest.raises(InvalidInput):
        store.finish_run(r.id, "running")


def test_a_run_keeps_the_times_it_is_given(store: Store) -> None:
    # What `runhistory import` needs: a run another tracker recorded keeps its start and end.
    r = store.create_run(NewRun(experiment="e", started_at=1_700_000_000.125))
    assert r.started_at.timestamp() == 1_700_000_000.125
    assert store.get_run(r.id).started_at.timestamp() == 1_700_000_000.125
    done = store.finish_run(r.id, "failed", ended_at=1_700_000_100.5)
    assert (done.status, done.ended_at and done.ended_at.timestamp()) == ("failed", 1_700_000_100.5)
    assert store.get_run(r.id).ended_at == done.ended_at
    for edge in (EARLIEST_TIME, LATEST_TIME):
        at_edge = store.create_run(NewRun(started_at=edge))
        assert store.get_run(at_edge.id).started_at.timestamp() == edge
        assert store.finish_run(at_edge.id, "completed", ended_at=edge).ended_at == at_edge.started_at
    just_past = (math.nextafter(EARLIEST_TIME, -math.inf), math.nextafter(LATEST_TIME, math.inf), -2.8e16)
    for bad in (math.nan, math.inf, "soon", *just_past):
        with pytest.raises(InvalidInput, match="started_at"):
            store.create_run(NewRun(started_at=bad))  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="ended_at"):
            store.finish_run(r.id, "completed", ended_at=bad)  # type: ignore[arg-type]
    assert store.get_run(r.id).status == "failed"


def test_steps_default_to_the_previous_plus_one(store: Store) -> None:
    r = store.create_run(NewRun())
    store.append_metrics(r.id, {"x": numbers([1, 2, 3], [None, 10, None])})
    store.append_metrics(r.id, {"x": numbers([4])})
    assert store.read_series(r.id, "x").steps == [0, 10, 11, 12]
    assert store.list_metrics(r.id)[0].last_step == 12


def test_kinds_are_kept_per_series(store: Store) -> None:
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


def test_a_batch_key_is_stored_once(store: Store) -> None:
    r = store.create_run(NewRun())
    assert store.append_metrics(r.id, {"x": numbers([1.0, 2.0])}, key="k1") is True
    assert store.append_metrics(r.id, {"x": numbers([1.0, 2.0])}, key="k1") is False
    assert store.read_series(r.id, "x").values == [1.0, 2.0]


@pytest.mark.parametrize("count", [CHUNK_POINTS * 50 + 7, 5_000, 100])
@pytest.mark.parametrize("max_points", [2, 3, 10, 200, 1000])  # chunk summaries, block extremes, every point
def test_downsampling_keeps_first_last_and_extremes(store: Store, count: int, max_points: int) -> None:
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


@pytest.mark.parametrize("count", [CHUNK_POINTS * 50 + 7, 5_000])
def test_a_step_range_reads_the_points_inside_it(store: Store, count: int) -> None:
    r = store.create_run(NewRun())
    rng = random.Random(count)
    values = [math.sin(i / 300) + rng.gauss(0, 0.1) for i in range(count)]
    values[1_500] = 60.0
    values[2_500] = math.nan
    for at in range(0, count, 3000):
        steps = [2 * i for i in range(at, min(count, at + 3000))]
        store.append_metrics(r.id, {"x": numbers(values[at : at + 3000], steps)})  # type: ignore[arg-type]
    ranges = [(None, None), (0, CHUNK_POINTS - 1), (CHUNK_POINTS, 4 * CHUNK_POINTS - 1), (1_000, 4_321), (4_000, None)]
    for (start, end), max_points in itertools.product([*ranges, (None, 77)], [None, 10, 200, 1000]):
        lo, hi = -math.inf if start is None else start, math.inf if end is None else end
        inside = [(2 * i, v) for i, v in enumerate(values) if lo <= 2 * i <= hi]
        got = store.read_series(r.id, "x", max_points=max_points, start_step=start, end_step=end)
        where = (start, end, max_points)
        assert got.count == len(inside), where
        assert repr(got) == repr(store.read_series(r.id, "x", max_points=max_points, start_step=start, end_step=end))
        if max_points is None or len(inside) <= max_points:
            assert not got.downsampled, where
            assert got.steps == [s for s, _ in inside], where
            assert [repr(v) for v in got.values] == [repr(v) for _, v in inside], where
            continue
        assert got.downsampled and 2 <= len(got) <= max_points, where
        assert got.steps[0] == inside[0][0] and got.steps[-1] == inside[-1][0], where
        assert got.steps == sorted(got.steps), where
        exact = dict(inside)
        for step, value in zip(got.steps, got.values):
            assert repr(value) == repr(exact[step]), where
        finite = [v for _, v in inside if not math.isnan(v)]
        assert max(finite) in got.values and min(finite) in got.values, where


def test_a_zoomed_read_shows_a_spike_that_the_whole_read_hides(store: Store) -> None:
    # Two spikes in one bucket of the whole read: only the taller is kept there; a read of
    # the steps around them, at the same size, keeps both.
    r = store.create_run(NewRun())
    count = 100_000
    values = [0.0] * count
    values[30_000] = 10.0
    values[30_050] = 5.0
    for at in range(0, count, 25_000):
        store.append_metrics(r.id, {"loss": numbers(values[at : at + 25_000])})
    whole = store.read_series(r.id, "loss", max_points=200)
    assert 10.0 in whole.values and 5.0 not in whole.values
    zoomed = store.read_series(r.id, "loss", max_points=200, start_step=29_000, end_step=31_000)
    assert zoomed.count == 2_001 and zoomed.downsampled
    assert dict(zip(zoomed.steps, zoomed.values))[30_050] == 5.0


def test_a_step_range_follows_steps_that_go_back(store: Store) -> None:
    r = store.create_run(NewRun())
    store.append_metrics(r.id, {"x": numbers([float(i) for i in range(100)])})
    store.append_metrics(r.id, {"x": numbers([1000.0 + i for i in range(100)], list(range(50, 150)))})  # resumed
    got = store.read_series(r.id, "x", start_step=60, end_step=62)
    assert got.steps == [60, 61, 62, 60, 61, 62] and got.values == [60.0, 61.0, 62.0, 1010.0, 1011.0, 1012.0]
    assert store.read_series(r.id, "x", start_step=500).count == 0


@pytest.mark.parametrize("start, end", [(5, 4), (True, None), (None, 1.5), (None, 2**63)])
def test_a_bad_step_range_is_refused(store: Store, start: object, end: object) -> None:
    r = store.create_run(NewRun())
    store.append_metrics(r.id, {"x": numbers([1.0, 2.0])})
    with pytest.raises(InvalidInput, match="step"):
        store.read_series(r.id, "x", start_step=start, end_step=end)  # type: ignore[arg-type]


def test_downsampling_strings_and_charts_keeps_even_points(store: Store) -> None:
    r = store.create_run(NewRun())
    store.append_metrics(r.id, {"s": SeriesBatch("string", [str(i) for i in range(100)], [None] * 100, [0.0] * 100)})
    small = store.read_series(r.id, "s", max_points=5)
    assert small.values == ["0", "25", "50", "74", "99"]  # evenly spaced, first and last kept
    with pytest.raises(InvalidInput):
        store.read_series(r.id, "s", max_points=1)


def test_asset_versions_out_of_range_are_not_found(store: Store) -> None:
    from runhistory.api import AssetNotFound

    for version in (0, -1, 2**70):
        with pytest.raises(AssetNotFound):
            store.get_asset("m", version)
        with pytest.raises(AssetNotFound):
            store.open_asset_file("m", version, "x")


@pytest.mark.parametrize("size", [3, 9 * 1024 * 1024], ids=["small", "past-a-part"])
def test_an_artifact_with_its_sha256_announced_is_kept_only_when_it_matches(store: Store, size: int) -> None:
    import hashlib

    from runhistory.api import IntegrityError

    r = store.create_run(NewRun())
    payload, other = random.Random(size).randbytes(size), b"x" * size
    right, wrong = hashlib.sha256(payload).hexdigest(), hashlib.sha256(other).hexdigest()
    kept = store.put_artifact(r.id, "model.bin", b"before")
    for data in (payload, Trickle(payload)):
        with pytest.raises(IntegrityError, match="do not match the sha256 sent with them"):
            store.put_artifact(r.id, "model.bin", data, sha256=wrong)  # type: ignore[arg-type]
        assert [(a.path, a.sha256) for a in store.list_artifacts(r.id)] == [("model.bin", kept.sha256)]
    with pytest.raises(InvalidInput, match="is not a sha256"):
        store.put_artifact(r.id, "model.bin", payload, sha256=right.upper())
    stored = store.put_artifact(r.id, "model.bin", Trickle(payload), sha256=right)
    assert (stored.sha256, stored.size) == (right, size)
    again = store.put_artifact(r.id, "copy.bin", Trickle(payload), sha256=right)  # the blob is there already
    assert again.sha256 == right
    with pytest.raises(IntegrityError):  # there already, but these bytes are not it
        store.put_artifact(r.id, "copy.bin", Trickle(other), sha256=right)
    for path in ("model.bin", "copy.bin"):
        with store.open_artifact(r.id, path) as f:
            assert f.read() == payload


def test_artifacts_stream_in_and_out_and_prefixes_cover_folders(store: Store) -> None:

    from runhistory.api import ArtifactNotFound, ArtifactTooLarge, InvalidPath

    r = store.create_run(NewRun())
    payload = bytes(range(256)) * 5000
    info = store.put_artifact(r.id, "model/weights.bin", io.BytesIO(payload))
    assert (info.path, info.size) == ("model/weights.bin", len(payload))
    store.put_artifact(r.id, "model/config.json", b"{}")
    store.put_artifact(r.id, "model2.txt", b"not under model/")
    store.put_artifact(r.id, "notes.txt", b"v1")
    replaced = store.put_artifact(r.id, "notes.txt", b"v2")
    assert [a.path for a in store.list_artifacts(r.id)] == [
        "model/config.json",
        "model/weights.bin",
        "model2.txt",
        "notes.txt",
    ]
    for prefix in ("model", "model/"):
        assert [a.path for a in store.list_artifacts(r.id, prefix)] == ["model/config.json", "model/weights.bin"]
    assert [a.path for a in store.list_artifacts(r.id, "notes.txt")] == ["notes.txt"]
    assert store.list_artifacts(r.id, "mod") == []
    with store.open_artifact(r.id, "notes.txt") as f:
        assert f.read() == b"v2"
    with store.open_artifact(r.id, "model/weights.bin") as f:
        assert f.read() == payload
    assert {a.path: a.sha256 for a in store.list_artifacts(r.id)}["notes.txt"] == replaced.sha256
    with pytest.raises(ArtifactNotFound):
        store.open_artifact(r.id, "missing.txt")
    with pytest.raises(ArtifactTooLarge):
        store.put_artifact(r.id, "big.bin", b"x" * 11, max_size=10)
    with pytest.raises(InvalidPath):
        store.put_artifact(r.id, "../escape.txt", b"x")
    with pytest.raises(RunNotFound):
        store.put_artifact("0" * 32, "a.txt", b"x")
    assert "big.bin" not in [a.path for a in store.list_artifacts(r.id)]


def test_assets_are_promoted_as_immutable_versions_with_lineage(store: Store) -> None:
    from runhistory.api import ArtifactNotFound, AssetNotFound

    r = store.create_run(NewRun())
    store.put_artifact(r.id, "outputs/model.bin", b"weights v1")
    store.put_artifact(r.id, "outputs/config.json", b"{}")
    first = store.promote(r.id, "outputs", "mnist-cnn")
    assert (first.name, first.version, first.run_id, first.prefix) == ("mnist-cnn", 1, r.id, "outputs")
    assert [f.path for f in first.files] == ["outputs/config.json", "outputs/model.bin"]
    store.put_artifact(r.id, "outputs/model.bin", b"weights v2")  # the run's file changes; version 1 does not
    second = store.promote(r.id, "outputs/model.bin", "mnist-cnn")
    assert second.version == 2 and [f.path for f in second.files] == ["outputs/model.bin"]
    with store.open_asset_file("mnist-cnn", 1, "outputs/model.bin") as f:
        assert f.read() == b"weights v1"
    with store.open_asset_file("mnist-cnn", 2, "outputs/model.bin") as f:
        assert f.read() == b"weights v2"
    assert store.get_asset("mnist-cnn").version == 2
    assert store.get_asset("mnist-cnn", 1) == first
    assert [v.version for v in store.list_asset_versions("mnist-cnn")] == [1, 2]
    (summary,) = store.list_assets()
    assert (summary.name, summary.latest_version, summary.versions) == ("mnist-cnn", 2, 2)
    with pytest.raises(ArtifactNotFound, match="nothing promoted"):
        store.promote(r.id, "nothing/here", "mnist-cnn")
    assert store.get_asset("mnist-cnn").version == 2  # nothing was created
    with pytest.raises(InvalidInput):
        store.promote(r.id, "outputs", "bad name!")
    for missing in (
        lambda: store.get_asset("nope"),
        lambda: store.list_asset_versions("nope"),
        lambda: store.open_asset_file("mnist-cnn", 1, "missing.bin"),
    ):
        with pytest.raises(AssetNotFound):
            missing()


def test_values_round_trip_exactly_nan_infinities_and_hostile_text_included(store: Store) -> None:
    from runhistory.api._limits import MAX_INT, MAX_STRING_LENGTH

    r = store.create_run(NewRun(experiment="[/oops]", name="\u202eevil", command=["x\x1b]0;t\x07"]))
    assert store.get_run(r.id).command == ["x\x1b]0;t\x07"] and store.get_run(r.id).experiment == "[/oops]"
    store.append_metrics(
        r.id,
        {
            "i": numbers([MAX_INT, -MAX_INT, 0]),  # integers alone stay exact to 64 bits
            "n": numbers([math.nan, math.inf, -math.inf, 0.1]),
            "s": SeriesBatch("string", ["NaN", "\x1b[2J", "é" * MAX_STRING_LENGTH], [None] * 3, [1.0] * 3),
            "c": SeriesBatch("chart", [[1, math.nan, -math.inf], []], [None, None], [1.0, 2.0]),
        },
    )
    assert store.read_series(r.id, "i").values == [MAX_INT, -MAX_INT, 0]
    n = store.read_series(r.id, "n").values
    assert math.isnan(n[0]) and n[1:] == [math.inf, -math.inf, 0.1]  # type: ignore[arg-type]
    assert store.read_series(r.id, "s").values == ["NaN", "\x1b[2J", "é" * MAX_STRING_LENGTH]
    chart = store.read_series(r.id, "c").values
    assert chart[0][0] == 1 and math.isnan(chart[0][1]) and chart[0][2] == -math.inf and chart[1] == []  # type: ignore[index]
    latest = {m.name: m for m in store.list_metrics(r.id)}
    assert (latest["n"].count, latest["n"].last_value, latest["s"].kind) == (4, 0.1, "string")


@pytest.mark.parametrize(
    "batch",
    [
        {"": numbers([1.0])},
        {"x" * 257: numbers([1.0])},
        {"bad\x1bname": numbers([1.0])},
        {"s": SeriesBatch("string", ["x" * 65_537], [None], [1.0])},
        {"c": SeriesBatch("chart", [[0.0] * 100_001], [None], [1.0])},
        {"k": SeriesBatch("weird", [1.0], [None], [1.0])},  # type: ignore[arg-type]
        {"short": SeriesBatch("number", [1.0, 2.0], [None], [1.0, 2.0])},
    ],
    ids=["empty-name", "long-name", "control-name", "long-string", "long-chart", "bad-kind", "uneven"],
)
def test_a_bad_batch_is_refused_whole(store: Store, batch: dict[str, SeriesBatch]) -> None:
    r = store.create_run(NewRun())
    with pytest.raises(InvalidInput):
        store.append_metrics(r.id, {"fine": numbers([1.0]), **batch})
    assert store.list_metrics(r.id) == []


def test_a_run_whose_owner_went_silent_reads_as_lost(store: Store) -> None:
    r = store.create_run(NewRun())
    assert store.get_run(r.id).status == "running"
    store.heartbeat(r.id)
    assert [x.id for x in store.list_runs(status="running").runs] == [r.id]
    assert store.list_runs(status="lost").runs == []
