"""``runhistory migrate`` (an embedded store copied into PostgreSQL and S3, exactly, resumably,
verified) and ``runhistory gc`` (blobs no row names, past a grace period), with the real services."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from runhistory.api import EmbeddedStore, Environment, NewRun, SeriesBatch, Store
from runhistory.api._limits import CHUNK_POINTS

from ._cli import as_json, cli
from ._processes import clean_env
from .conftest import Team, folder_blobs


def _series(kind: Any, values: list[Any], t0: float) -> SeriesBatch:
    return SeriesBatch(kind, values, [None] * len(values), [t0 + i / 7 for i in range(len(values))])


def fill(home: Path, runs: int = 3, clock: Iterator[float] | None = None) -> EmbeddedStore:
    """An embedded store with ``runs`` runs holding every kind of thing a run holds."""
    ticks = clock or itertools.count(round(time.time()) - 86_400.125, 1.5)  # keys within their time
    store = EmbeddedStore(home, clock=lambda: next(ticks))
    for n in range(runs):
        run = store.create_run(
            NewRun(
                experiment=f"exp{n % 2}",
                name=f"run {n}",
                command=["train.py", "--seed", str(n)],
                cwd="/work",
                host="gpu1",
                user="ada",
                python="3.12.1",
                pid=1000 + n,
            )
        )
        store.set_params(run.id, {"optimizer.lr": 1e-3 * (n + 1), "seed": n, "layers": [64, 32], "name": "résumé"})
        store.update_tags(run.id, add=["baseline", f"t{n}"])
        store.set_note(run.id, f"note {n}\nsecond line")
        store.set_environment(run.id, Environment({"torch": "2.3.0", "numpy": "1.26"}, "diff --git a b\n+x", n == 1))
        store.update_run(run.id, git_commit="abc123", git_dirty=n == 1)
        t0 = 1_700_000_000.0 + n
        loss = [1 / (i + 1) for i in range(CHUNK_POINTS * 2 + 17)]  # more than two chunks
        loss[5], loss[6], loss[7] = math.nan, math.inf, -math.inf
        store.append_metrics(run.id, {"loss": _series("number", loss[:1500], t0)}, key=f"batch-{n}-a")
        store.append_metrics(run.id, {"loss": _series("number", loss[1500:], t0 + 500)}, key=f"batch-{n}-b")
        store.append_metrics(
            run.id,
            {
                "phase": _series("string", ["warmup", "train", "eval"], t0),
                "hist": _series("chart", [[1.0, 3.0, 5.0], [2.0, math.nan]], t0),
                "val/acc": _series("number", [0.5, 0.75, 0.9], t0),
            },
        )
        store.put_artifact(run.id, "outputs/model.bin", bytes(range(256)) * (40 + n))
        store.put_artifact(run.id, "outputs/config.json", b'{"same": "in every run"}')
        store.put_artifact(run.id, "log.txt", f"log of run {n}\n".encode())
        if n == 0:
            store.promote(run.id, "outputs", "model")
            store.promote(run.id, "outputs/model.bin", "model")
        if n < runs - 1:  # the last one is still running
            store.finish_run(run.id, "failed" if n == 1 else "completed", error="boom" if n == 1 else None, exit_code=n)
    store.clock = time.time  # read as the team's store reads (the running run shows as lost in both)
    return store


def same_stores(a: Store, b: Store) -> None:
    """Everything of ``a`` read through the ``Store`` API is the same in ``b`` (which may hold other
    runs and assets too), file contents included."""
    runs_a = a.list_runs(limit=1000).runs
    assert runs_a == [r for r in b.list_runs(limit=1000).runs if r.id in {r.id for r in runs_a}]
    for run in runs_a:
        assert a.get_run(run.id) == b.get_run(run.id)
        assert a.get_environment(run.id) == b.get_environment(run.id)
        metrics = a.list_metrics(run.id)
        assert repr(metrics) == repr(b.list_metrics(run.id))  # repr: NaN == NaN
        for metric in metrics:
            assert repr(a.read_series(run.id, metric.name)) == repr(b.read_series(run.id, metric.name))
        artifacts = a.list_artifacts(run.id)
        assert artifacts == b.list_artifacts(run.id)
        for artifact in artifacts:
            with a.open_artifact(run.id, artifact.path) as x, b.open_artifact(run.id, artifact.path) as y:
                assert x.read() == y.read()
    assets = a.list_assets()
    for asset in assets:
        assert a.list_asset_versions(asset.name) == b.list_asset_versions(asset.name)


def chunk_bytes(conn: Any, run_id: str, param: str) -> list[tuple[Any, ...]]:
    sql = (
        "SELECT m.name, c.chunk_no, c.steps, c.times, c.vals, c.blocks FROM chunks c JOIN metrics m ON m.id = c.metric_id "
        f"WHERE m.run_id = {param} ORDER BY m.name, c.chunk_no"
    )
    return [
        tuple(bytes(v) if isinstance(v, (bytes, memoryview)) else v for v in r) for r in conn.execute(sql, (run_id,))
    ]


def migrate(home: Path, team: Team, *args: str, process: bool = False) -> subprocess.CompletedProcess[bytes]:
    return cli(home, "migrate", "--to", team.dsn, "--blobs", team.blobs, *args, process=process, **team.env)


def test_migrate_copies_every_run_exactly_and_a_second_time_copies_nothing(tmp_path: Path, team: Team) -> None:
    home = tmp_path / "home"
    source = fill(home)
    first = as_json(migrate(home, team, "--json"))
    assert first["verified"] is True and first["problems"] == []
    assert first["runs"] == {"total": 3, "copied": 3, "updated": 0, "skipped": 0}
    assert first["points"]["total"] == first["points"]["copied"] == 3 * (CHUNK_POINTS * 2 + 17 + 8)
    assert first["assets"] == {"copied": 2, "skipped": 0}
    assert first["blobs"]["copied"] == 3 + 1 + 3 and first["blobs"]["skipped"] == 0  # config.json is one blob
    assert first["batch_keys"] == 6
    assert all(t["source"] == t["target"] for t in first["tables"].values())
    assert first["tables"]["chunks"]["source"] == 3 * (3 + 3)
    same_stores(source, team.store)
    with psycopg.connect(team.dsn) as conn:
        for run in source.list_runs().runs:
            assert chunk_bytes(conn, run.id, "%s") == chunk_bytes(source.db.conn(), run.id, "?")
            assert team.store.list_runs(where="note ~ 'second'").runs  # the search index came along
    # A logger retrying a batch after the move: stored once.
    run_id = source.list_runs(limit=1).runs[0].id
    assert team.store.append_metrics(run_id, {"loss": _series("number", [9.0], 0)}, key=f"batch-{2}-a") is False

    again = as_json(migrate(home, team, "--json"))
    assert again["verified"] is True
    assert again["runs"] == {"total": 3, "copied": 0, "updated": 0, "skipped": 3}
    assert again["blobs"]["copied"] == 0 and again["bytes"]["copied"] == 0
    assert again["assets"] == {"copied": 0, "skipped": 2}
    assert again["digest"] == first["digest"]

    human = migrate(home, team)
    assert human.returncode == 0, human.stderr.decode()
    assert "verified: every run's rows and chunk bytes hash the same" in human.stdout.decode()
    source.close()


def test_verification_names_a_run_whose_copy_differs_and_a_blob_that_is_missing(tmp_path: Path, team: Team) -> None:
    from runhistory.api._migrate import MigrationSummary, migration_doc, verify

    home = tmp_path / "home"
    source = fill(home, runs=2)
    as_json(migrate(home, team, "--json"))
    run = source.list_runs().runs[0]
    with psycopg.connect(team.dsn, autocommit=True) as conn:  # one chunk's bytes damaged in the target
        conn.execute(
            "UPDATE chunks SET vals = vals || '\\x00'::bytea WHERE chunk_no = 0 AND metric_id = "
            "(SELECT id FROM metrics WHERE run_id = %s AND name = 'loss')",
            (run.id,),
        )
    artifact = source.list_artifacts(run.id, "log.txt")[0]
    team.store.blobs.delete(artifact.sha256)  # type: ignore[attr-defined]
    found = verify(source, team.store, now=time.time())  # type: ignore[arg-type]
    assert not found.ok and found.runs_differ == [run.id] and found.blobs_missing == [artifact.sha256]
    assert found.source_digest != found.target_digest
    doc = migration_doc(MigrationSummary(verification=found))
    assert doc["verified"] is False
    assert any(run.id in p and "differs in the target" in p for p in doc["problems"])
    source.close()


def test_a_run_that_changed_since_is_brought_up_to_date_and_a_conflict_is_refused(tmp_path: Path, team: Team) -> None:
    home = tmp_path / "home"
    source = fill(home, runs=2)
    own = team.store.create_run(NewRun(experiment="the team's own"))  # other data there is no conflict
    team.store.put_artifact(own.id, "log.txt", b"the team's")
    assert as_json(migrate(home, team, "--json"))["verified"] is True
    running = next(r for r in source.list_runs().runs if r.ended_at is None)  # reported lost by now
    source.append_metrics(running.id, {"loss": _series("number", [0.01, 0.02], 1_800_000_000)})
    source.put_artifact(running.id, "log.txt", b"a longer log\n")
    source.finish_run(running.id, "completed", exit_code=0)
    done = as_json(migrate(home, team, "--json"))
    assert done["runs"] == {"total": 2, "copied": 0, "updated": 1, "skipped": 1} and done["verified"] is True
    same_stores(source, team.store)

    # The team changed its copy of a run: migrate refuses, naming it, and copies nothing.
    finished = next(r for r in source.list_runs().runs if r.id != running.id)
    team.store.update_tags(finished.id, add=["team-made"])
    source.set_note(running.id, "changed here too")
    refused = migrate(home, team, "--json")
    assert refused.returncode == 1
    error = json.loads(refused.stderr)
    assert (
        error["kind"] == "MigrationConflict"
        and finished.id in error["error"]
        and "nothing was copied" in error["error"]
    )
    assert team.store.get_run(running.id).note != "changed here too"
    source.close()


def test_an_asset_version_made_in_the_target_under_the_same_name_is_a_conflict(tmp_path: Path, team: Team) -> None:
    home = tmp_path / "home"
    source = fill(home, runs=1)  # promotes model:1 and model:2
    own = team.store.create_run(NewRun(experiment="the team's own"))
    team.store.put_artifact(own.id, "model.bin", b"the team's model")
    team.store.promote(own.id, "model.bin", "model")
    refused = migrate(home, team, "--json")
    assert refused.returncode == 1
    error = json.loads(refused.stderr)
    assert error["kind"] == "MigrationConflict" and "model:1" in error["error"] and "model:2" not in error["error"]
    assert [r.id for r in team.store.list_runs().runs] == [own.id]  # nothing copied
    source.close()


def test_migrate_names_what_is_missing(tmp_path: Path, team: Team) -> None:
    nothing = migrate(tmp_path / "nowhere", team)
    assert nothing.returncode == 1 and "there is no store in" in nothing.stderr.decode()
    home = tmp_path / "home"
    EmbeddedStore(home).close()
    no_db = cli(home, "migrate", "--blobs", team.blobs)
    assert no_db.returncode == 2 and "--to postgresql://" in no_db.stderr.decode()
    no_blobs = cli(home, "migrate", "--to", team.dsn)
    assert no_blobs.returncode == 1 and "give --blobs" in no_blobs.stderr.decode()
    assert b"Traceback" not in no_db.stderr + no_blobs.stderr + nothing.stderr
    empty = as_json(migrate(home, team, "--json"))
    assert empty["verified"] is True and empty["runs"]["total"] == 0


def test_a_run_holding_what_postgresql_cannot_is_named_and_the_others_are_copied(tmp_path: Path, team: Team) -> None:
    home = tmp_path / "home"
    source = fill(home, runs=1)
    odd = source.create_run(NewRun(experiment="odd"))
    source.set_note(odd.id, "a NUL \x00 in a note")  # SQLite keeps it; PostgreSQL text cannot
    done = migrate(home, team, "--json")
    assert done.returncode == 1
    doc = json.loads(done.stdout)
    assert doc["verified"] is False and doc["runs"]["copied"] == 1
    assert f"run {odd.id} was not copied" in doc["problems"][0] and "NUL" in doc["problems"][0]
    assert json.loads(done.stderr)["kind"] == "MigrationNotVerified"
    source.close()


def test_migrate_into_a_folder_of_blobs(tmp_path: Path, postgres_dsn: str) -> None:
    from runhistory.api._postgres import PostgresStore

    home = tmp_path / "home"
    source = fill(home, runs=1)
    done = as_json(cli(home, "migrate", "--to", postgres_dsn, "--blobs", str(tmp_path / "team"), "--json"))
    assert done["verified"] is True and done["blobs"]["copied"] == 3
    target = PostgresStore(postgres_dsn, blobs=folder_blobs(tmp_path / "team"))
    same_stores(source, target)
    target.close()
    source.close()


def _target_runs(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT COUNT(*) FROM runs").fetchone()
        return int(row[0]) if row else 0


@pytest.mark.slow
def test_a_migrate_killed_halfway_then_run_again_ends_with_an_exact_copy(tmp_path: Path, team: Team) -> None:
    home = tmp_path / "home"
    source = fill(home, runs=30)
    migrating = subprocess.Popen(
        [sys.executable, "-m", "runhistory.app.cli", "migrate", "--to", team.dsn, "--blobs", team.blobs, "--json"],
        env=clean_env(home, **team.env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while (copied := _target_runs(team.dsn)) < 3:
        assert migrating.poll() is None and time.monotonic() < deadline, migrating.stderr.read()  # type: ignore[union-attr]
        time.sleep(0.01)
    os.kill(migrating.pid, signal.SIGKILL)
    migrating.communicate(timeout=30)
    copied = _target_runs(team.dsn)
    assert 3 <= copied < 30, copied

    done = as_json(migrate(home, team, "--json"))
    assert done["verified"] is True
    assert done["runs"]["skipped"] == copied and done["runs"]["copied"] == 30 - copied
    same_stores(source, team.store)
    source.close()


# -- gc ------------------------------------------------------------------------------------


def _age(home: Path, sha256: str, seconds: float) -> None:
    """Make a blob of the embedded store in ``home`` ``seconds`` old (a bucket's times cannot be set)."""
    path = home / "blobs" / sha256[:2] / sha256[2:]
    os.utime(path, (time.time() - seconds, time.time() - seconds))


def test_gc_deletes_old_orphans_and_keeps_young_and_named_blobs_in_an_embedded_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = EmbeddedStore(home)
    run = store.create_run(NewRun())
    named = store.put_artifact(run.id, "kept.txt", b"named").sha256
    old, _ = store.blobs.put(b"an old orphan", limit=100, path="x")
    young, _ = store.blobs.put(b"a young orphan", limit=100, path="x")
    _age(home, old, 7200)
    _age(home, named, 7200)

    dry = as_json(cli(home, "gc", "--dry-run", "--json"))
    assert dry["would_delete"] == 1 and dry["deleted"] == 0 and dry["blobs"] == [{"sha256": old, "size": 13}]
    assert store.blobs.exists(old)

    done = as_json(cli(home, "gc", "--json"))
    assert done["deleted"] == 1 and done["bytes"] == 13 and done["kept_young"] == 1 and done["kept_named"] == 1
    assert not store.blobs.exists(old) and store.blobs.exists(young) and store.blobs.exists(named)
    with store.open_artifact(run.id, "kept.txt") as f:
        assert f.read() == b"named"

    human = cli(home, "gc", "--grace", "0")
    assert human.returncode == 0 and "deleted 1 blob no row names" in human.stdout.decode()
    assert not store.blobs.exists(young)
    assert cli(home, "gc", "--grace", "-1").returncode == 2
    store.close()


@pytest.mark.slow
def test_gc_on_postgres_and_s3_keeps_a_blob_named_again_while_it_runs(tmp_path: Path, team: Team) -> None:
    from runhistory.api._postgres import PostgresStore

    store = team.store
    run = store.create_run(NewRun())
    named = store.put_artifact(run.id, "kept.txt", b"named").sha256
    blobs = store.blobs  # type: ignore[attr-defined]
    orphan, _ = blobs.put(b"an orphan", limit=100, path="x")
    args = ("--db", team.dsn, "--blobs", team.blobs)

    young = as_json(cli(tmp_path, "gc", *args, "--json", **team.env))  # everything is younger than an hour
    assert young["deleted"] == 0 and young["kept_young"] == 1 and young["kept_named"] == 1
    # A bucket keeps its own times (to the second, rounded down): the blobs are made older by
    # waiting past a short grace.
    time.sleep(0.6)
    dry = as_json(cli(tmp_path, "gc", *args, "--grace", "0.5", "--dry-run", "--json", **team.env))
    assert dry["would_delete"] == 1 and dry["blobs"][0]["sha256"] == orphan and blobs.exists(orphan)

    # Named by a new artifact while gc runs (after it listed the blobs; the blob's time stays old): it stays.
    racing = PostgresStore(
        team.dsn, blobs=_NamedWhileListed(blobs, lambda: store.put_artifact(run.id, "again.txt", b"an orphan"))
    )
    kept = racing.collect_garbage(grace=0.5)
    racing.close()
    assert kept.orphans == [] and kept.named == 2 and blobs.exists(orphan) and blobs.exists(named)
    assert kept.temporary == 0

    store.finish_run(run.id, "completed")
    store.delete_run(run.id)  # its blobs go with it; one more orphan, put by hand, goes to gc
    other, _ = blobs.put(b"another orphan", limit=100, path="x")
    time.sleep(0.6)
    gone = as_json(cli(tmp_path, "gc", *args, "--grace", "0.5", "--json", **team.env))
    assert gone["deleted"] == 1 and gone["blobs"] == [{"sha256": other, "size": 14}] and not blobs.exists(other)


class _NamedWhileListed:
    """A bucket's blobs, of which a row comes to name one just after gc has listed them."""

    def __init__(self, blobs: Any, name_one: Any) -> None:
        self.inner = blobs
        self.name_one = name_one

    def all(self) -> Iterator[tuple[str, float]]:
        yield from list(self.inner.all())
        self.name_one()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
