"""What the PostgreSQL store does its own way, on a real throwaway cluster (``_postgres``):
writers on several connections at once, keys retried across replicas, migrations raced by
processes, a fork, and a server that goes away. The contract every store keeps is in
``test_contract*.py``."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import psycopg
import pytest

from runhistory.api import NewRun, SeriesBatch, StoreUnavailable, StoreVersionError
from runhistory.api._embedded.blobs import LocalBlobs
from runhistory.api._postgres import SCHEMA_VERSION, PostgresStore
from runhistory.api._postgres.database import without_password
from runhistory.api._postgres.query import glob_regex

from ._postgres import Cluster
from .conftest import ROOT, folder_blobs

#: Threads (each on a connection of its own) appending at once in the concurrency tests.
THREADS = 6
#: Batches each thread appends.
BATCHES = 15


def numbers(values: list[float], steps: list[int | None] | None = None) -> SeriesBatch:
    return SeriesBatch("number", values, steps or [None] * len(values), [0.0] * len(values))


@pytest.fixture
def open_store(postgres_dsn: str, tmp_path: Path) -> Iterator[Callable[[], PostgresStore]]:
    """Opens stores on the test's database, as server replicas would (each its own pool)."""
    opened: list[PostgresStore] = []
    blobs = folder_blobs(tmp_path)

    def open_one() -> PostgresStore:
        store = PostgresStore(postgres_dsn, blobs=blobs, staging=blobs.tmp)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


def at_once(count: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` on ``count`` threads released together; their results (errors raised again)."""
    start = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except BaseException as error:  # reported in the test's thread
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def test_concurrent_appends_to_one_run_keep_every_point_once(open_store: Callable[[], PostgresStore]) -> None:
    replicas = [open_store(), open_store()]
    run = replicas[0].create_run(NewRun())

    def append(i: int) -> None:
        store = replicas[i % 2]
        for b in range(BATCHES):
            value = float(i * 1000 + b)
            # every thread writes "shared"; the names come in both orders, so no two batches wait for each other
            batch = {"shared": numbers([value, value + 0.5]), f"own-{i}": numbers([value])}
            store.append_metrics(run.id, dict(reversed(batch.items())) if i % 2 else batch)

    at_once(THREADS, append)
    shared = replicas[1].read_series(run.id, "shared")
    expected = sorted(float(i * 1000 + b) + half for i in range(THREADS) for b in range(BATCHES) for half in (0, 0.5))
    assert shared.count == len(expected) == THREADS * BATCHES * 2
    assert sorted(shared.values) == expected  # type: ignore[type-var]
    assert shared.steps == list(range(len(expected)))  # steps went on from the previous append each time
    # each batch's two points stayed together: no append read a tail another was rewriting
    pairs = list(zip(shared.values[::2], shared.values[1::2]))
    assert all(b == a + 0.5 for a, b in pairs)  # type: ignore[operator]
    for i in range(THREADS):
        assert replicas[0].read_series(run.id, f"own-{i}").count == BATCHES
    (latest,) = [m for m in replicas[0].list_metrics(run.id) if m.name == "shared"]
    assert latest.count == len(expected) and latest.last_step == len(expected) - 1


def test_a_retried_batch_is_stored_once_whichever_replica_gets_it(open_store: Callable[[], PostgresStore]) -> None:
    replicas = [open_store(), open_store()]
    run = replicas[0].create_run(NewRun())
    batch = {"loss": numbers([1.0, 2.0, 3.0])}
    stored = at_once(THREADS, lambda i: replicas[i % 2].append_metrics(run.id, batch, key="batch-1"))
    assert sorted(stored, key=bool) == [False] * (THREADS - 1) + [True]
    assert replicas[1].read_series(run.id, "loss").values == [1.0, 2.0, 3.0]
    assert replicas[0].append_metrics(run.id, batch, key="batch-1") is False
    assert replicas[0].append_metrics(run.id, batch, key="batch-2") is True
    assert replicas[0].read_series(run.id, "loss").count == 6


def test_a_refused_batch_leaves_its_key_unused(open_store: Callable[[], PostgresStore]) -> None:
    from runhistory.api import MetricKindMismatch

    store = open_store()
    run = store.create_run(NewRun())
    store.append_metrics(run.id, {"x": numbers([1.0])})
    with pytest.raises(MetricKindMismatch):
        store.append_metrics(run.id, {"x": SeriesBatch("string", ["a"], [None], [0.0])}, key="k")
    assert store.append_metrics(run.id, {"x": numbers([2.0])}, key="k") is True  # the retry is stored
    assert store.read_series(run.id, "x").values == [1.0, 2.0]


def test_concurrent_promotions_number_versions_one_by_one(open_store: Callable[[], PostgresStore]) -> None:
    replicas = [open_store(), open_store()]
    run = replicas[0].create_run(NewRun())
    replicas[0].put_artifact(run.id, "model.bin", b"weights")
    versions = at_once(4, lambda i: replicas[i % 2].promote(run.id, "model.bin", "model").version)  # type: ignore[attr-defined]
    assert sorted(versions) == [1, 2, 3, 4]  # type: ignore[type-var]


def test_a_run_whose_owner_went_silent_is_lost_and_can_be_deleted(postgres_dsn: str, tmp_path: Path) -> None:
    from runhistory.api import RunStillRunning

    now = [1_000_000.0]
    store = PostgresStore(postgres_dsn, blobs=folder_blobs(tmp_path), clock=lambda: now[0])
    try:
        run = store.create_run(NewRun())
        with pytest.raises(RunStillRunning):
            store.delete_run(run.id)
        now[0] += 3600
        assert store.get_run(run.id).status == "lost"
        assert [r.id for r in store.list_runs(status="lost").runs] == [run.id]
        assert [r.id for r in store.list_runs(where="lost").runs] == [run.id]  # a word search finds the status too
        store.delete_run(run.id)
        assert store.list_runs().runs == []
        store.close()
        assert store.list_runs().runs == []  # a closed store opens new connections when used again
    finally:
        store.close()


def test_a_blob_goes_with_its_last_row_only(open_store: Callable[[], PostgresStore], tmp_path: Path) -> None:
    store = open_store()
    a, b = store.create_run(NewRun()), store.create_run(NewRun())
    info = store.put_artifact(a.id, "x.bin", b"same")
    store.put_artifact(b.id, "y.bin", b"same")
    blob = tmp_path / "blobs" / info.sha256[:2] / info.sha256[2:]
    store.put_artifact(a.id, "x.bin", b"other")  # a's row moves to other bytes; b's still names the blob
    assert blob.exists()
    store.finish_run(b.id, "completed")
    assert store.delete_run(b.id).blobs_freed == 1
    assert not blob.exists()


class _DeletedWhileUploading(LocalBlobs):
    """Folder blobs where another process's delete lands right after the first upload of each
    file: the race between putting a blob and committing the row that names it, made to happen."""

    def __init__(self, folder: Path, tmp: Path) -> None:
        super().__init__(folder, tmp)
        self.raced: set[str] = set()

    def put(self, data: bytes | BinaryIO, *, limit: int, path: str, sha256: str | None = None) -> tuple[str, int]:
        sha256, size = super().put(data, limit=limit, path=path, sha256=sha256)
        if sha256 not in self.raced:
            self.raced.add(sha256)
            self.delete(sha256)
        return sha256, size


def test_an_upload_whose_blob_was_freed_before_its_row_puts_it_again(postgres_dsn: str, tmp_path: Path) -> None:
    plain = folder_blobs(tmp_path)
    blobs = _DeletedWhileUploading(plain.folder, plain.tmp)
    store = PostgresStore(postgres_dsn, blobs=blobs)
    try:
        run = store.create_run(NewRun())
        store.put_artifact(run.id, "a.bin", b"bytes")  # put again from the bytes
        store.put_artifact(run.id, "b.bin", io.BytesIO(b"stream"))  # from the stream, read again from its start
        assert len(blobs.raced) == 2
        with store.open_artifact(run.id, "a.bin") as a, store.open_artifact(run.id, "b.bin") as b:
            assert (a.read(), b.read()) == (b"bytes", b"stream")
        unseekable = io.BufferedReader(io.BytesIO(b"pipe"))
        unseekable.seekable = lambda: False  # type: ignore[method-assign]
        with pytest.raises(StoreUnavailable, match="upload the file again"):
            store.put_artifact(run.id, "c.bin", unseekable)
        assert [a.path for a in store.list_artifacts(run.id)] == ["a.bin", "b.bin"]
    finally:
        store.close()


MIGRATE = """
import sys
from runhistory.api._embedded.blobs import LocalBlobs
from runhistory.api._postgres import PostgresStore
PostgresStore(sys.argv[1], blobs=LocalBlobs(*map(__import__("pathlib").Path, sys.argv[2:4]))).close()
"""


@pytest.mark.slow
def test_processes_opening_a_new_database_at_once_migrate_it_once(postgres_cluster: Cluster, tmp_path: Path) -> None:
    dsn = postgres_cluster.dsn(postgres_cluster.new_database())  # empty: no tables yet
    blobs = folder_blobs(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, dsn, str(blobs.folder), str(blobs.tmp)], env=env, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    for process in processes:
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err.decode()
    with psycopg.connect(dsn) as conn:
        versions = conn.execute("SELECT version FROM runhistory_migrations ORDER BY version").fetchall()
    assert [v for (v,) in versions] == list(range(1, SCHEMA_VERSION + 1))


def test_a_database_of_a_newer_runhistory_is_refused(postgres_dsn: str, tmp_path: Path) -> None:
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute("INSERT INTO runhistory_migrations VALUES (%s, 'from the future', 0)", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreVersionError, match="upgrade runhistory"):
        PostgresStore(postgres_dsn, blobs=folder_blobs(tmp_path))


def _word_search_plan(dsn: str) -> str:
    """PostgreSQL's plan for the runs holding a word, as the store compiles it (sequential
    scans off, so that a table of a few runs still shows whether the index can be read)."""
    from runhistory.api._postgres.query import PostgresCompiler
    from runhistory.api._query import parse_query

    sql, args = PostgresCompiler(time.time(), 60.0).where(parse_query("trial-42"))
    with psycopg.connect(dsn) as conn:
        conn.execute("SET enable_seqscan = off")
        rows = conn.execute(f"EXPLAIN SELECT id FROM runs WHERE {sql.replace('?', '%s')}", args).fetchall()
    return "\n".join(row for (row,) in rows)


def test_a_word_search_reads_the_trigram_index(open_store: Callable[[], PostgresStore], postgres_dsn: str) -> None:
    store = open_store()
    runs = [store.create_run(NewRun(name=f"trial-{n}")) for n in (4, 42, 420)]
    assert {r.id for r in store.list_runs(where="TRIAL-42").runs} == {runs[1].id, runs[2].id}
    assert store.list_runs(where="trial-4_").runs == []  # _ and % are themselves, not wildcards
    assert "run_text_trigrams" in _word_search_plan(postgres_dsn)


def test_without_pg_trgm_a_database_goes_without_the_index(
    postgres_cluster: Cluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A role that may not create extensions (pg_trgm is trusted: any role that may create in the
    database may) migrates a new database all the same; its word searches read every row."""
    database = postgres_cluster.new_database()
    postgres_cluster.execute("DO $$ BEGIN CREATE ROLE plain LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    postgres_cluster.execute(f"ALTER DATABASE {database} OWNER TO postgres")
    postgres_cluster.execute(f"REVOKE CREATE ON DATABASE {database} FROM PUBLIC, plain")
    with psycopg.connect(postgres_cluster.dsn(database), autocommit=True) as conn:
        conn.execute("GRANT ALL ON SCHEMA public TO plain")
    dsn = postgres_cluster.dsn(database).replace("postgresql://postgres@", "postgresql://plain@")
    with caplog.at_level("WARNING", logger="runhistory"):
        store = PostgresStore(dsn, blobs=folder_blobs(tmp_path))
    assert "could not create the pg_trgm extension" in caplog.text
    try:
        run = store.create_run(NewRun(name="trial-42"))
        assert [r.id for r in store.list_runs(where="trial-42").runs] == [run.id]
        with psycopg.connect(dsn) as conn:
            versions = conn.execute("SELECT count(*) FROM runhistory_migrations").fetchone()
            index = conn.execute("SELECT to_regclass('run_text_trigrams')").fetchone()
        assert versions == (SCHEMA_VERSION,) and index == (None,)
        assert "run_text_trigrams" not in _word_search_plan(dsn)
    finally:
        store.close()
        postgres_cluster.drop_later(database)


def test_a_forked_child_opens_connections_of_its_own(open_store: Callable[[], PostgresStore]) -> None:
    store = open_store()
    parent = store.create_run(NewRun(experiment="parent"))
    store.append_metrics(parent.id, {"x": numbers([1.0])})  # the pool holds an open connection
    pid = os.fork()
    if pid == 0:  # the child: log through the same store object, then leave at once
        code = 1
        try:
            child = store.create_run(NewRun(experiment="child"))
            store.append_metrics(child.id, {"x": numbers([2.0])})
            store.append_metrics(parent.id, {"x": numbers([3.0])})
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    store.append_metrics(parent.id, {"x": numbers([4.0])})  # the parent's connections still work
    assert store.read_series(parent.id, "x").values == [1.0, 3.0, 4.0]
    assert [r.experiment for r in store.list_runs().runs] == ["child", "parent"]


@pytest.mark.slow
def test_a_stopped_server_is_said_clearly_and_a_restarted_one_is_used_again(tmp_path: Path) -> None:
    cluster = Cluster()
    try:
        cluster.start()
        dsn = cluster.dsn().replace("postgres@", "postgres:hunter2@")
        store = PostgresStore(dsn, blobs=folder_blobs(tmp_path))
        assert "hunter2" not in store.location and str(cluster.port) in store.location
        run = store.create_run(NewRun())
        cluster.stop(mode="fast")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="PostgreSQL server at .* cannot be used now") as down:
            store.get_run(run.id)
        assert "hunter2" not in str(down.value) and down.value.__cause__ is None
        with pytest.raises(StoreUnavailable, match="PostgreSQL server at") as opening:
            PostgresStore(dsn, blobs=folder_blobs(tmp_path))
        assert "hunter2" not in str(opening.value)
        assert time.monotonic() - started < 10
        cluster.restart()
        started = time.monotonic()
        assert store.get_run(run.id).id == run.id  # the next call finds the server back
        store.append_metrics(run.id, {"x": numbers([1.0])})
        assert time.monotonic() - started < 5
        store.close()
    finally:
        cluster.remove()


def test_a_database_that_is_not_there_is_said_clearly(postgres_cluster: Cluster, tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match='database "nowhere" does not exist'):
        PostgresStore(postgres_cluster.dsn("nowhere"), blobs=folder_blobs(tmp_path))


def test_a_value_postgres_refuses_is_invalid_input(open_store: Callable[[], PostgresStore]) -> None:
    from runhistory.api import InvalidInput

    store = open_store()
    run = store.create_run(NewRun())
    with pytest.raises(InvalidInput, match="refused a value"):
        store.set_note(run.id, "a NUL \x00 byte")
    assert store.get_run(run.id).id == run.id


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://me:secret@db:5432/runs", "postgresql://me@db:5432/runs"),
        ("postgresql://db/runs?password=secret&sslmode=require", "postgresql://db/runs?sslmode=require"),
        ("host=db dbname=runs password=secret", "dbname=runs host=db"),
    ],
)
def test_the_location_never_shows_a_password(dsn: str, shown: str) -> None:
    assert without_password(dsn) == shown


@pytest.mark.parametrize(
    ("glob", "regex"),
    [("sweep-*", "^sweep\\-.*$"), ("a?c", "^a.c$"), ("[12]x", "^[12]x$"), ("[^a]", "^[^a]$"), ("a.b", "^a\\.b$")],
)
def test_globs_become_anchored_regular_expressions(glob: str, regex: str) -> None:
    assert glob_regex(glob) == regex
