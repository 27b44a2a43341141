"""The contract for what describes a run (params, tags, note, name, environment),
deleting runs, and queries answered by the store — run on each backend."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runhistory.api import (
    EmbeddedStore,
    InvalidInput,
    NewRun,
    RunNotFound,
    SeriesBatch,
    Store,
)
from runhistory.api._errors import ParamConflict, RunStillRunning
from runhistory.api._limits import (
    MAX_NOTE_LENGTH,
    MAX_PARAM_KEY_LENGTH,
    MAX_PARAM_LIST_LENGTH,
    MAX_PARAM_TEXT_LENGTH,
    MAX_PARAMS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
)
from runhistory.api._models import Environment


def numbers(*values: float) -> SeriesBatch:
    return SeriesBatch("number", list(values), [None] * len(values), [time.time()] * len(values))


def test_params_are_typed_set_once_and_travel_with_the_run(store: Store) -> None:
    run = store.create_run(NewRun())
    params = {"lr": 1e-3, "epochs": 10, "optimizer.name": "adam", "amp": True, "seed": None, "layers": [64, 32]}
    store.set_params(run.id, params)
    got = store.get_run(run.id).params
    assert got == params
    assert type(got["epochs"]) is int and type(got["lr"]) is float and type(got["amp"]) is bool
    store.set_params(run.id, {"lr": 1e-3})  # the same value again: nothing to do
    with pytest.raises(ParamConflict, match=r"lr = 0.001 \(now 0.1\).*overwrite") as refused:
        store.set_params(run.id, {"lr": 0.1, "new": 1})
    assert refused.value.keys == ["lr"]
    assert store.get_run(run.id).params == params  # nothing of a refused call is stored
    with pytest.raises(ParamConflict):
        store.set_params(run.id, {"epochs": 10.0})  # 10.0 is not the int 10 the run ran with
    store.set_params(run.id, {"lr": 0.1, "new": 1}, overwrite=True)
    assert store.get_run(run.id).params == {**params, "lr": 0.1, "new": 1}
    assert store.list_runs().runs[0].params["lr"] == 0.1
    with pytest.raises(RunNotFound):
        store.set_params("f" * 32, {"a": 1})


def test_param_limits_hold_at_the_edge_and_just_past_it(store: Store) -> None:
    run = store.create_run(NewRun())
    store.set_params(
        run.id,
        {
            "k" * MAX_PARAM_KEY_LENGTH: "t" * MAX_PARAM_TEXT_LENGTH,
            "list": list(range(MAX_PARAM_LIST_LENGTH)),
        },
    )
    past = [
        ({"k" * (MAX_PARAM_KEY_LENGTH + 1): 1}, "param key"),
        ({"text": "t" * (MAX_PARAM_TEXT_LENGTH + 1)}, "characters long"),
        ({"list": list(range(MAX_PARAM_LIST_LENGTH + 1))}, "items"),
        ({"nested": {"a": 1}}, "params are str, int"),
        ({"inf": float("inf")}, "finite"),
        ({"bad\x1bkey": 1}, "control characters"),
    ]
    for bad, why in past:
        with pytest.raises(InvalidInput, match=why):
            store.set_params(run.id, bad, overwrite=True)
    many = {f"p{i}": i for i in range(MAX_PARAMS - 2)}  # with the two above: exactly the limit
    store.set_params(run.id, many)
    assert len(store.get_run(run.id).params) == MAX_PARAMS
    with pytest.raises(InvalidInput, match=f"at most {MAX_PARAMS}"):
        store.set_params(run.id, {"one.more": 1})


def test_tags_note_and_name(store: Store) -> None:
    run = store.create_run(NewRun(name="first"))
    assert store.update_tags(run.id, add=["baseline", "best"]) == ["baseline", "best"]
    assert store.update_tags(run.id, add=["best", "v2"], remove=["baseline", "absent"]) == ["best", "v2"]
    assert store.get_run(run.id).tags == ["best", "v2"]
    for bad in ("", "two words", "x" * (MAX_TAG_LENGTH + 1), "+plus", "esc\x1b"):
        with pytest.raises(InvalidInput):
            store.update_tags(run.id, add=[bad])
    store.update_tags(run.id, add=["t" * MAX_TAG_LENGTH])
    store.update_tags(run.id, add=[f"t{i}" for i in range(MAX_TAGS - 3)])
    assert len(store.get_run(run.id).tags) == MAX_TAGS
    with pytest.raises(InvalidInput, match=f"at most {MAX_TAGS}"):
        store.update_tags(run.id, add=["one-more"])

    store.set_note(run.id, "lr too high?\nsecond line")
    assert store.get_run(run.id).note == "lr too high?\nsecond line"
    store.set_note(run.id, "n" * MAX_NOTE_LENGTH)
    with pytest.raises(InvalidInput, match="note"):
        store.set_note(run.id, "n" * (MAX_NOTE_LENGTH + 1))
    assert store.get_run(run.id).note == "n" * MAX_NOTE_LENGTH
    store.set_note(run.id, None)
    assert store.get_run(run.id).note is None

    store.rename_run(run.id, "second")
    assert store.get_run(run.id).name == "second"
    # A word search follows the changes: the new name, not the old one.
    assert [r.id for r in store.list_runs(where="second").runs] == [run.id]
    assert store.list_runs(where="first").runs == []
    store.rename_run(run.id, None)
    assert store.get_run(run.id).name is None
    with pytest.raises(InvalidInput):
        store.rename_run(run.id, "bad\x07name")


def test_the_environment_is_kept_with_the_run(store: Store) -> None:
    run = store.create_run(NewRun())
    assert store.get_environment(run.id) == Environment()
    env = Environment({"torch": "2.13.0", "numpy": "2.1.0"}, "diff --git a/x b/x\n+1\n", False)
    store.set_environment(run.id, env)
    assert store.get_environment(run.id) == env
    with pytest.raises(RunNotFound):
        store.get_environment("e" * 32)


def test_delete_frees_what_only_the_run_held_and_keeps_asset_versions(store: Store) -> None:
    keep = store.create_run(NewRun())
    gone = store.create_run(NewRun())
    for run in (keep, gone):
        store.put_artifact(run.id, "shared.txt", b"same bytes")
        store.append_metrics(run.id, {"loss": numbers(1.0, 0.5)})
        store.set_params(run.id, {"lr": 0.1})
        store.update_tags(run.id, add=["x"])
    store.put_artifact(gone.id, "own.txt", b"only mine")
    store.put_artifact(gone.id, "model/w.bin", b"weights")
    store.promote(gone.id, "model", "model")
    with pytest.raises(RunStillRunning, match="running"):
        store.delete_run(gone.id)
    store.finish_run(gone.id, "completed")
    deleted = store.delete_run(gone.id)
    assert (deleted.artifacts, deleted.blobs_freed, deleted.bytes_freed) == (3, 1, len(b"only mine"))
    assert deleted.kept_asset_versions == ["model:1"]
    with pytest.raises(RunNotFound):
        store.get_run(gone.id)
    assert [r.id for r in store.list_runs(where="tag:x").runs] == [keep.id]
    assert [r.id for r in store.list_runs(where="params.lr = 0.1").runs] == [keep.id]
    with store.open_artifact(keep.id, "shared.txt") as shared:
        assert shared.read() == b"same bytes"
    with store.open_asset_file("model", 1, "model/w.bin") as weights:
        assert weights.read() == b"weights"
    with pytest.raises(RunNotFound):
        store.delete_run(gone.id)


def _sweep(store: Store) -> dict[str, str]:
    """Ten finished runs of a small sweep; name → id."""
    ids = {}
    for i in range(10):
        run = store.create_run(NewRun(experiment="mnist" if i % 2 else "cifar", name=f"sweep-{i}"))
        store.set_params(
            run.id,
            {
                "lr": 10.0**-i,
                "optimizer.name": "sgd" if i % 3 == 0 else "adam",
                "amp": i % 2 == 0,
                "seed": None if i == 3 else i,
                "layers": [64, i],
            },
        )
        if i != 4:
            store.append_metrics(run.id, {"val/accuracy": numbers(0.0, 0.1 * i), "simple float value": numbers(i)})
        if i < 4:
            store.update_tags(run.id, add=["baseline"])
        store.set_note(run.id, "diverged at epoch 3" if i == 7 else None)
        store.finish_run(run.id, "failed" if i == 9 else "completed")
        ids[f"sweep-{i}"] = run.id
    return ids


QUERIES = {
    "params.lr >= 1e-3": {0, 1, 2, 3},
    "params.lr >= 1e-3 and metrics.val/accuracy > 0.15": {2, 3},
    "tag:baseline and not status = failed": {0, 1, 2, 3},
    "not tag:baseline": {4, 5, 6, 7, 8, 9},
    "status = completed and experiment = mnist": {1, 3, 5, 7},
    "status != completed": {9},
    "params.optimizer.name = sgd or params.amp = true": {0, 2, 3, 4, 6, 8, 9},
    "params.seed = null": {3},
    "params.seed != null": {0, 1, 2, 4, 5, 6, 7, 8, 9},
    "params.seed > 5": {6, 7, 8, 9},
    "params.optimizer.name > 5": set(),  # a number never compares with text
    'name ~ "sweep-[12]"': {1, 2},
    "name ~ SWEEP-1": {1},
    'metrics."simple float value" > 6': {7, 8, 9},
    "metrics.val/accuracy <= 0.1": {0, 1},
    "sweep-5": {5},
    "diverged": {7},
    "(experiment = mnist or tag:baseline) and not params.amp = false": {0, 2},
    'params.layers ~ "64"': set(range(10)),
    "note ~ epoch": {7},
}


@pytest.fixture(params=["sets", "probes"])
def plan(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways an SQL store runs a query: rare terms read as sets first, or every term dense,
    so runs are read in the sort's index order and probed (the plan large stores take)."""
    from runhistory.api._sql import query

    if request.param == "probes":
        monkeypatch.setattr(query, "DENSE", 0)
    return str(request.param)


def test_queries_are_answered_by_the_store(store: Store, plan: str) -> None:
    ids = _sweep(store)
    names = {v: k for k, v in ids.items()}
    for query, expected in QUERIES.items():
        found = {int(names[r.id].split("-")[1]) for r in store.list_runs(where=query, limit=100).runs}
        assert found == expected, query
        for sort in ("metrics.val/accuracy desc", "params.lr"):
            sorted_found = {r.id for r in store.list_runs(where=query, sort=sort, limit=100).runs}
            assert sorted_found == {r.id for r in store.list_runs(where=query, limit=100).runs}, (query, sort)


SORTS = [
    "metrics.val/accuracy desc",
    "metrics.val/accuracy",
    "params.lr",
    "params.seed desc",
    "params.optimizer.name, params.lr desc",
    "name desc",
    "status, experiment desc",
    "ended_at",
    "duration desc",
]


def test_pages_follow_each_other_over_any_sort(store: Store, plan: str) -> None:
    _sweep(store)
    for sort in SORTS:
        whole = [r.id for r in store.list_runs(sort=sort, limit=100).runs]
        assert len(whole) == 10
        paged: list[str] = []
        cursor = None
        while True:
            page = store.list_runs(sort=sort, limit=3, cursor=cursor)
            paged += [r.id for r in page.runs]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert paged == whole, sort
        matching = [r.id for r in store.list_runs(where="params.lr < 0.5", sort=sort, limit=100).runs]
        paged = []
        cursor = None
        while True:
            page = store.list_runs(where="params.lr < 0.5", sort=sort, limit=2, cursor=cursor)
            paged += [r.id for r in page.runs]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert paged == matching and len(matching) == 9, sort


def test_sorts_put_missing_values_last_either_way(store: Store, plan: str) -> None:
    ids = _sweep(store)
    best_first = [r.name for r in store.list_runs(sort="metrics.val/accuracy desc", limit=100).runs]
    assert best_first[:3] == ["sweep-9", "sweep-8", "sweep-7"] and best_first[-1] == "sweep-4"
    worst_first = [r.name for r in store.list_runs(sort="metrics.val/accuracy", limit=100).runs]
    assert worst_first[0] == "sweep-0" and worst_first[-1] == "sweep-4"
    by_lr = [r.name for r in store.list_runs(where="experiment = cifar", sort="params.lr desc").runs]
    assert by_lr == ["sweep-0", "sweep-2", "sweep-4", "sweep-6", "sweep-8"]
    assert ids  # every run was made


def test_a_bad_query_points_at_the_offending_token(store: Store) -> None:
    store.create_run(NewRun())
    with pytest.raises(InvalidInput) as bad:
        store.list_runs(where="params.lr >= and tag:x")
    assert "params.lr >= and tag:x" in str(bad.value) and "^^^" in str(bad.value)
    with pytest.raises(InvalidInput, match="not a field"):
        store.list_runs(sort="nonsense desc")


def test_a_lost_run_can_be_deleted(tmp_path: Path) -> None:
    now = [1_000_000.0]
    store = EmbeddedStore(tmp_path / "s", clock=lambda: now[0])
    run = store.create_run(NewRun())
    with pytest.raises(RunStillRunning):
        store.delete_run(run.id)
    now[0] += 3600
    assert store.get_run(run.id).status == "lost"
    store.delete_run(run.id)
    assert store.list_runs().runs == []
    store.close()
