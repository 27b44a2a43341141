"""The embedded store: SQLite in WAL mode plus a content-addressed blob folder.

Layout of a store's home folder::

    runhistory.sqlite3        runs, metric chunks, artifact and asset records
    blobs/ab/cdef…            file contents, named by their sha256
    tmp/<pid>-<nonce>/        files being written, one folder per process (see _scratch)

Several processes may write at once: every write is one ``BEGIN IMMEDIATE``
transaction, and waiting writers queue on SQLite's busy timeout instead of
failing with "database is locked". Commits use ``synchronous=NORMAL``: a
committed batch survives the death of any process (crash, SIGKILL,
``os._exit``); only an operating-system crash or power cut can lose the last
commits.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
import weakref
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast

from . import _chunks
from ._errors import (
    AmbiguousRunId,
    ArtifactNotFound,
    ArtifactTooLarge,
    AssetNotFound,
    InvalidInput,
    MetricKindMismatch,
    MetricNotFound,
    RunNotFound,
    StoreVersionError,
)
from ._limits import (
    BATCH_KEY_TTL,
    CHUNK_POINTS,
    LOST_AFTER,
    MAX_ARTIFACT_SIZE,
    MAX_CHART_LENGTH,
    MAX_ERROR_LENGTH,
    MAX_INT,
    MAX_PAGE_SIZE,
    MAX_RUN_NAME_LENGTH,
    MAX_STRING_LENGTH,
)
from ._models import (
    FINAL_STATUSES,
    METRIC_KINDS,
    RUN_STATUSES,
    ArtifactInfo,
    AssetFile,
    AssetSummary,
    AssetVersion,
    MetricInfo,
    NewRun,
    Run,
    RunPage,
    RunStatus,
    Series,
    SeriesBatch,
    Value,
    utc,
)
from ._scratch import scratch_folder, sweep
from ._validate import (
    check_artifact_path,
    check_asset_name,
    check_experiment,
    check_metric_name,
    check_name,
    check_prefix,
    check_run_id,
)

#: The schema this code writes. ``PRAGMA user_version`` records a store's.
SCHEMA_VERSION = 1

#: Seconds a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT = 60.0

_DB_NAME = "runhistory.sqlite3"
_COPY_PIECE = 1 << 20  # bytes read or hashed at a time when streaming

_SCHEMA = """
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    name TEXT,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    heartbeat_at REAL,
    command TEXT NOT NULL,
    cwd TEXT NOT NULL,
    host TEXT NOT NULL,
    user TEXT NOT NULL,
    python TEXT NOT NULL,
    pid INTEGER,
    git_commit TEXT,
    git_dirty INTEGER,
    error TEXT,
    exit_code INTEGER,
    skipped_files TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX runs_by_start ON runs (started_at DESC, id DESC);
CREATE INDEX runs_by_experiment ON runs (experiment, started_at DESC, id DESC);
CREATE INDEX runs_by_status ON runs (status, started_at DESC, id DESC);

CREATE TABLE metrics (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    count INTEGER NOT NULL,
    last_step INTEGER,
    last_value TEXT,
    last_time REAL,
    UNIQUE (run_id, name)
);

-- Summary columns come before the blobs so that a downsampled read, which
-- selects only them, never touches the blobs' overflow pages.
CREATE TABLE chunks (
    metric_id INTEGER NOT NULL,
    chunk_no INTEGER NOT NULL,
    n INTEGER NOT NULL,
    f_step INTEGER, f_value REAL, f_time REAL,
    l_step INTEGER, l_value REAL, l_time REAL,
    lo_i INTEGER, lo_step INTEGER, lo_value REAL, lo_time REAL,
    hi_i INTEGER, hi_step INTEGER, hi_value REAL, hi_time REAL,
    step0 INTEGER NOT NULL,
    stride INTEGER,
    vtype TEXT NOT NULL,
    blocks BLOB,
    steps BLOB,
    times BLOB NOT NULL,
    vals BLOB NOT NULL,
    PRIMARY KEY (metric_id, chunk_no)
);

CREATE TABLE artifacts (
    run_id TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_id, path)
) WITHOUT ROWID;
CREATE INDEX artifacts_by_sha256 ON artifacts (sha256);

CREATE TABLE assets (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    prefix TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (name, version)
) WITHOUT ROWID;

CREATE TABLE asset_files (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (name, version, path)
) WITHOUT ROWID;
CREATE INDEX asset_files_by_sha256 ON asset_files (sha256);

CREATE TABLE batch_keys (
    key TEXT PRIMARY KEY,
    created_at REAL NOT NULL
) WITHOUT ROWID;
"""

#: Schema migrations: ``MIGRATIONS[v]`` turns a version-``v`` store into
#: version ``v + 1`` inside the opening transaction.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}

_RUN_COLUMNS = (
    "id, experiment, name, status, started_at, ended_at, heartbeat_at, command, cwd, host, "
    "user, python, pid, git_commit, git_dirty, error, exit_code, skipped_files"
)

# Connections handed down by fork() belong to the parent: a child that closed
# one could disturb the parent's locks, so they are kept here, never closed.
_INHERITED: list[object] = []
_STORES: weakref.WeakSet[EmbeddedStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_STORES):
        _INHERITED.append(store._local)
        store._local = threading.local()


os.register_at_fork(after_in_child=_after_fork_in_child)


class EmbeddedStore:
    """A store in a local folder (see the module docstring).

    Args:
        home: The folder; created if missing.
        lost_after: Seconds without a heartbeat after which a running run is
            reported ``lost``.
    """

    def __init__(self, home: str | os.PathLike[str], *, lost_after: float = LOST_AFTER) -> None:
        self.home = Path(home)
        self.lost_after = lost_after
        self._local = threading.local()
        self._blobs = self.home / "blobs"
        self._tmp = self.home / "tmp"
        for folder in (self.home, self._blobs, self._tmp):
            folder.mkdir(parents=True, exist_ok=True)
        sweep(self._tmp)  # what killed writers left behind
        self._db_path = self.home / _DB_NAME
        self._prepare_schema(self._conn())
        _STORES.add(self)

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.home)!r})"

    # -- connections --------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self._db_path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            for attempt in range(200):
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError:  # another process is switching it
                    if attempt == 199:
                        raise
                    time.sleep(0.05)
            conn.execute("PRAGMA synchronous=NORMAL")
            # A burst of large batches grows the WAL; give the disk back after a checkpoint.
            conn.execute("PRAGMA journal_size_limit=33554432")
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _prepare_schema(self, conn: sqlite3.Connection) -> None:
        if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        with self._write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreVersionError(
                    f"{self._db_path} has schema version {version}; this runhistory "
                    f"understands up to {SCHEMA_VERSION}: upgrade runhistory"
                )
            if version == 0:
                # One statement at a time: executescript() would commit the open transaction.
                for statement in _SCHEMA.split(";\n"):
                    if statement.strip():
                        conn.execute(statement)
                version = SCHEMA_VERSION
            while version < SCHEMA_VERSION:
                MIGRATIONS[version](conn)
                version += 1
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- runs ---------------------------------------------------------------

    def _to_run(self, row: Sequence[Any], now: float) -> Run:
        status = row[3]
        if status == "running" and (row[6] or row[4]) < now - self.lost_after:
            status = "lost"
        return Run(
            id=row[0],
            experiment=row[1],
            name=row[2],
            status=status,
            started_at=utc(row[4]),  # type: ignore[arg-type]
            ended_at=utc(row[5]),
            heartbeat_at=utc(row[6]),
            command=json.loads(row[7]),
            cwd=row[8],
            host=row[9],
            user=row[10],
            python=row[11],
            pid=row[12],
            git_commit=row[13],
            git_dirty=None if row[14] is None else bool(row[14]),
            error=row[15],
            exit_code=row[16],
            skipped_files=json.loads(row[17]),
        )

    def create_run(self, spec: NewRun) -> Run:
        """See ``Store.create_run``."""
        experiment = check_experiment(spec.experiment)
        if spec.name is not None:
            check_name(spec.name, "run name", MAX_RUN_NAME_LENGTH)
        run_id = uuid.uuid4().hex if spec.run_id is None else check_run_id(spec.run_id)
        now = time.time()
        row = (
            run_id, experiment, spec.name, "running", now, None, now, json.dumps(list(spec.command)),
            spec.cwd, spec.host, spec.user, spec.python, spec.pid, None, None, None, None, "[]",
        )  # fmt: skip
        try:
            with self._write() as conn:
                conn.execute(f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({', '.join('?' * 18)})", row)
        except sqlite3.IntegrityError:
            raise InvalidInput(f"a run with id {run_id} exists already") from None
        return self._to_run(row, now)

    def get_run(self, run_id: str) -> Run:
        """See ``Store.get_run``."""
        if not isinstance(run_id, str) or not run_id or any(c not in "0123456789abcdef" for c in run_id):
            raise RunNotFound(f"no run {run_id!r}: run ids are lowercase hex digits")
        rows = self._conn().execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT 11",
            (run_id, run_id + "g"),
        ).fetchall()
        if not rows:
            raise RunNotFound(f"no run {run_id!r}")
        if len(rows) > 1:
            exact = [r for r in rows if r[0] == run_id]
            if not exact:
                raise AmbiguousRunId(run_id, [r[0] for r in rows])
            rows = exact
        return self._to_run(rows[0], time.time())

    def list_runs(
        self,
        *,
        experiment: str | None = None,
        status: RunStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        """See ``Store.list_runs``."""
        if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidInput(f"limit must be 1 … {MAX_PAGE_SIZE}, got {limit!r}")
        now = time.time()
        where: list[str] = []
        args: list[Any] = []
        if experiment is not None:
            where.append("experiment = ?")
            args.append(experiment)
        if status is not None:
            if status not in RUN_STATUSES:
                raise InvalidInput(f"status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
            if status in ("running", "lost"):
                where.append("status = 'running'")
                where.append("heartbeat_at >= ?" if status == "running" else "heartbeat_at < ?")
                args.append(now - self.lost_after)
            else:
                where.append("status = ?")
                args.append(status)
        if cursor is not None:
            # The cursor is the last run id of the previous page.
            try:
                check_run_id(cursor)
            except InvalidInput:
                raise InvalidInput(f"malformed cursor {cursor!r}: expected a full run id") from None
            where.append("(started_at, id) < ((SELECT started_at FROM runs WHERE id = ?), ?)")
            args.extend((cursor, cursor))
        sql = f"SELECT {_RUN_COLUMNS} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, id DESC LIMIT ?"
        rows = self._conn().execute(sql, (*args, limit + 1)).fetchall()
        runs = [self._to_run(r, now) for r in rows[:limit]]
        next_cursor = rows[limit - 1][0] if len(rows) > limit else None
        return RunPage(runs, next_cursor)

    def _require_run(self, conn: sqlite3.Connection, run_id: str) -> None:
        if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
            raise RunNotFound(f"no run {run_id!r}")

    def update_run(
        self,
        run_id: str,
        *,
        git_commit: str | None = None,
        git_dirty: bool | None = None,
        skipped_files: list[str] | None = None,
    ) -> None:
        """See ``Store.update_run``."""
        changes: dict[str, Any] = {}
        if git_commit is not None:
            changes["git_commit"] = git_commit
        if git_dirty is not None:
            changes["git_dirty"] = int(git_dirty)
        if skipped_files is not None:
            changes["skipped_files"] = json.dumps(list(skipped_files))
        if not changes:
            return
        with self._write() as conn:
            self._require_run(conn, run_id)
            sets = ", ".join(f"{column} = ?" for column in changes)
            conn.execute(f"UPDATE runs SET {sets} WHERE id = ?", (*changes.values(), run_id))

    def heartbeat(self, run_id: str) -> None:
        """See ``Store.heartbeat``."""
        with self._write() as conn:
            conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (time.time(), run_id))

    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        *,
        error: str | None = None,
        exit_code: int | None = None,
    ) -> Run:
        """See ``Store.finish_run``."""
        if status not in FINAL_STATUSES:
            raise InvalidInput(f"a run finishes as one of {', '.join(FINAL_STATUSES)}, not {status!r}")
        if error is not None and len(error) > MAX_ERROR_LENGTH:
            error = "…" + error[-(MAX_ERROR_LENGTH - 1) :]  # the end of a traceback says the most
        now = time.time()
        with self._write() as conn:
            self._require_run(conn, run_id)
            conn.execute(
                "UPDATE runs SET status = ?, ended_at = ?, heartbeat_at = ?, error = ?, exit_code = ? "
                "WHERE id = ?",
                (status, now, now, error, exit_code, run_id),
            )
            row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return self._to_run(row, now)

    # -- metrics ------------------------------------------------------------

    @staticmethod
    def _check_batch(name: str, points: SeriesBatch) -> None:
        check_metric_name(name)
        if points.kind not in METRIC_KINDS:
            raise InvalidInput(f"metric {name!r}: kind must be one of {METRIC_KINDS}, got {points.kind!r}")
        n = len(points.values)
        if not n or len(points.steps) != n or len(points.times) != n:
            raise InvalidInput(f"metric {name!r}: values, steps and times must be equally long and not empty")
        if points.kind == "string":
            for value in points.values:
                if not isinstance(value, str) or len(value) > MAX_STRING_LENGTH:
                    raise InvalidInput(
                        f"metric {name!r}: string values of at most {MAX_STRING_LENGTH} characters expected"
                    )
        elif points.kind == "chart":
            for value in points.values:
                if not isinstance(value, list) or len(value) > MAX_CHART_LENGTH:
                    raise InvalidInput(
                        f"metric {name!r}: charts of at most {MAX_CHART_LENGTH} numbers expected"
                    )

    def append_metrics(
        self, run_id: str, batch: Mapping[str, SeriesBatch], *, key: str | None = None
    ) -> bool:
        """See ``Store.append_metrics``."""
        for name, points in batch.items():
            self._check_batch(name, points)
        now = time.time()
        with self._write() as conn:
            if key is not None:
                try:
                    conn.execute("INSERT INTO batch_keys (key, created_at) VALUES (?, ?)", (key, now))
                except sqlite3.IntegrityError:
                    return False
                if int(now) % 97 == 0:  # now and then, forget keys past their time
                    conn.execute("DELETE FROM batch_keys WHERE created_at < ?", (now - BATCH_KEY_TTL,))
            self._require_run(conn, run_id)
            for name, points in batch.items():
                self._append_series(conn, run_id, name, points)
        return True

    def _append_series(self, conn: sqlite3.Connection, run_id: str, name: str, points: SeriesBatch) -> None:
        row = conn.execute(
            "SELECT id, kind, count, last_step FROM metrics WHERE run_id = ? AND name = ?", (run_id, name)
        ).fetchone()
        if row is None:
            metric_id = cast(int, conn.execute(
                "INSERT INTO metrics (run_id, name, kind, count) VALUES (?, ?, ?, 0)",
                (run_id, name, points.kind),
            ).lastrowid)
            count, last_step = 0, None
        else:
            metric_id, kind, count, last_step = row
            if kind != points.kind:
                raise MetricKindMismatch(f"metric {name!r} holds {kind} values; got {points.kind} values")
        steps = _fill_steps(points.steps, last_step)
        values = list(points.values)
        times = list(points.times)
        chunk_no, held = divmod(count, CHUNK_POINTS)
        if held:  # the last chunk has room: rewrite it with the new points appended
            tail = conn.execute(
                "SELECT n, step0, stride, steps, times, vtype, vals FROM chunks "
                "WHERE metric_id = ? AND chunk_no = ?",
                (metric_id, chunk_no),
            ).fetchone()
            steps = _chunks.decode_steps(tail[0], tail[1], tail[2], tail[3]) + steps
            times = _chunks.decode_times(tail[4]) + times
            values = _chunks.decode_values(tail[5], tail[6]) + values
        for start in range(0, len(steps), CHUNK_POINTS):
            end = start + CHUNK_POINTS
            chunk = _chunks.encode(points.kind, steps[start:end], values[start:end], times[start:end])
            conn.execute(_INSERT_CHUNK, _chunk_row(metric_id, chunk_no, chunk))
            chunk_no += 1
        conn.execute(
            "UPDATE metrics SET count = ?, last_step = ?, last_value = ?, last_time = ? WHERE id = ?",
            (count + len(points.values), steps[-1], json.dumps(values[-1]), times[-1], metric_id),
        )

    def list_metrics(self, run_id: str) -> list[MetricInfo]:
        """See ``Store.list_metrics``."""
        rows = self._conn().execute(
            "SELECT name, kind, count, last_step, last_value, last_time FROM metrics "
            "WHERE run_id = ? ORDER BY name",
            (run_id,),
        ).fetchall()
        return [MetricInfo(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]

    def read_series(self, run_id: str, name: str, *, max_points: int | None = None) -> Series:
        """See ``Store.read_series``."""
        if max_points is not None and (not isinstance(max_points, int) or max_points < 2):
            raise InvalidInput(f"max_points must be an integer of at least 2, got {max_points!r}")
        conn = self._conn()
        row = conn.execute(
            "SELECT id, kind, count FROM metrics WHERE run_id = ? AND name = ?", (run_id, name)
        ).fetchone()
        if row is None:
            raise MetricNotFound(f"run {run_id[:8]} has no metric {name!r}")
        metric_id, kind, count = row
        if max_points is None or count <= max_points:
            steps, values, times = self._read_all(conn, metric_id)
            return Series(name, kind, count, steps, values, times)
        width = count // ((max_points - 2) // 2 or 1)  # points per bucket
        if kind == "number" and width >= CHUNK_POINTS:
            points = self._downsample_summaries(conn, metric_id, count, max_points)
        elif kind == "number" and width >= _chunks.BLOCK_POINTS and max_points >= 4:
            points = self._downsample_blocks(conn, metric_id, count, max_points)
        else:
            steps, values, times = self._read_all(conn, metric_id)
            if kind == "number":
                points = _downsample_points(steps, values, times, max_points)  # type: ignore[arg-type]
            else:
                picks = sorted({round(i * (count - 1) / (max_points - 1)) for i in range(max_points)})
                points = [(i, steps[i], values[i], times[i]) for i in picks]
        return Series(
            name, kind, count,
            [p[1] for p in points], [p[2] for p in points], [p[3] for p in points],
            downsampled=True,
        )  # fmt: skip

    def _read_all(self, conn: sqlite3.Connection, metric_id: int) -> tuple[list[int], list[Value], list[float]]:
        steps: list[int] = []
        values: list[Value] = []
        times: list[float] = []
        for n, step0, stride, steps_blob, times_blob, vtype, vals in conn.execute(
            "SELECT n, step0, stride, steps, times, vtype, vals FROM chunks "
            "WHERE metric_id = ? ORDER BY chunk_no",
            (metric_id,),
        ):
            steps += _chunks.decode_steps(n, step0, stride, steps_blob)
            times += _chunks.decode_times(times_blob)
            values += _chunks.decode_values(vtype, vals)
        return steps, values, times

    def _downsample_summaries(
        self, conn: sqlite3.Connection, metric_id: int, count: int, max_points: int
    ) -> list[tuple[int, int, Value, float]]:
        # Each bucket spans whole chunks, so the chunks' stored summaries
        # (minimum and maximum point) are all that is read.
        buckets = (max_points - 2) // 2
        n_chunks = -(-count // CHUNK_POINTS)
        rows = conn.execute(
            "SELECT chunk_no, n, f_step, f_value, f_time, l_step, l_value, l_time, "
            "lo_i, lo_step, lo_value, lo_time, hi_i, hi_step, hi_value, hi_time "
            "FROM chunks WHERE metric_id = ? ORDER BY chunk_no",
            (metric_id,),
        ).fetchall()
        nan = _chunks.nan_if_none
        first, last = rows[0], rows[-1]
        kept: dict[int, tuple[int, int, Value, float]] = {
            0: (0, first[2], nan(first[3]), first[4]),
            count - 1: (count - 1, last[5], nan(last[6]), last[7]),
        }
        lows: dict[int, tuple[int, int, float, float]] = {}
        highs: dict[int, tuple[int, int, float, float]] = {}
        for r in rows if buckets else ():
            bucket = r[0] * buckets // n_chunks
            base = r[0] * CHUNK_POINTS
            if r[8] is not None:
                low = (base + r[8], r[9], r[10], r[11])
                if bucket not in lows or low[2] < lows[bucket][2]:
                    lows[bucket] = low
                high = (base + r[12], r[13], r[14], r[15])
                if bucket not in highs or high[2] > highs[bucket][2]:
                    highs[bucket] = high
        for point in (*lows.values(), *highs.values()):
            kept[point[0]] = point
        return [kept[i] for i in sorted(kept)]

    def _downsample_blocks(
        self, conn: sqlite3.Connection, metric_id: int, count: int, max_points: int
    ) -> list[tuple[int, int, Value, float]]:
        # Buckets span whole blocks: each block's recorded minimum and maximum,
        # looked up in the values, decide; times are unpacked only for the
        # chunks that hold a kept point.
        buckets = (max_points - 2) // 2
        n_blocks = -(-count // _chunks.BLOCK_POINTS)
        per_chunk = CHUNK_POINTS // _chunks.BLOCK_POINTS
        lows: dict[int, tuple[float, int]] = {}
        highs: dict[int, tuple[float, int]] = {}
        chunks: dict[int, tuple[Any, ...]] = {}
        for row in conn.execute(
            "SELECT chunk_no, n, step0, stride, steps, times, vtype, vals, blocks FROM chunks "
            "WHERE metric_id = ? ORDER BY chunk_no",
            (metric_id,),
        ):
            chunk_no, vtype, vals, blocks = row[0], row[6], row[7], row[8]
            values: array[Any] = array(vtype)
            values.frombytes(vals)
            chunks[chunk_no] = (row, values)
            extremes: array[int] = array("H")
            extremes.frombytes(blocks)
            base = chunk_no * CHUNK_POINTS
            first_block = chunk_no * per_chunk
            for j in range(0, len(extremes), 2):
                lo, hi = extremes[j], extremes[j + 1]
                if lo == _chunks.NO_POINT:
                    continue
                bucket = (first_block + j // 2) * buckets // n_blocks
                low, high = values[lo], values[hi]
                if bucket not in lows or low < lows[bucket][0]:
                    lows[bucket] = (low, base + lo)
                if bucket not in highs or high > highs[bucket][0]:
                    highs[bucket] = (high, base + hi)
        wanted = {0, count - 1, *(i for _, i in lows.values()), *(i for _, i in highs.values())}
        unpacked: dict[int, tuple[Any, Any]] = {}
        kept = []
        for index in sorted(wanted):
            chunk_no, at = divmod(index, CHUNK_POINTS)
            row, values = chunks[chunk_no]
            if chunk_no not in unpacked:
                steps = None if row[4] is None else _chunks.decode_steps(row[1], row[2], row[3], row[4])
                unpacked[chunk_no] = (steps, _chunks.decode_times_array(row[5]))
            steps, times = unpacked[chunk_no]
            step = row[2] + (row[3] or 0) * at if steps is None else steps[at]
            kept.append((index, step, values[at], times[at]))
        return kept

    # -- artifacts ----------------------------------------------------------

    def _blob_path(self, sha256: str) -> Path:
        return self._blobs / sha256[:2] / sha256[2:]

    def put_artifact(
        self,
        run_id: str,
        path: str,
        data: bytes | BinaryIO,
        *,
        max_size: int | None = None,
    ) -> ArtifactInfo:
        """See ``Store.put_artifact``."""
        path = check_artifact_path(path)
        limit = MAX_ARTIFACT_SIZE if max_size is None else max_size
        self._require_run(self._conn(), run_id)  # fail before copying a large file
        fd, tmp_name = _mkstemp(self._tmp)
        tmp = Path(tmp_name)
        try:
            with open(fd, "wb") as out:
                sha256, size = _copy_hashing(data, out, limit, path)
            now = time.time()
            # The blob lands and its record is written in one transaction, so a
            # concurrent replacement that drops an unreferenced blob never
            # removes one that is about to be referenced.
            with self._write() as conn:
                self._require_run(conn, run_id)
                blob = self._blob_path(sha256)
                if blob.exists():
                    tmp.unlink()
                else:
                    blob.parent.mkdir(exist_ok=True)
                    os.replace(tmp, blob)
                old = conn.execute(
                    "SELECT sha256 FROM artifacts WHERE run_id = ? AND path = ?", (run_id, path)
                ).fetchone()
                conn.execute(
                    "INSERT OR REPLACE INTO artifacts (run_id, path, sha256, size, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (run_id, path, sha256, size, now),
                )
                if old is not None and old[0] != sha256 and not self._blob_referenced(conn, old[0]):
                    self._blob_path(old[0]).unlink(missing_ok=True)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return ArtifactInfo(path, size, sha256, now)

    @staticmethod
    def _blob_referenced(conn: sqlite3.Connection, sha256: str) -> bool:
        return (
            conn.execute("SELECT 1 FROM artifacts WHERE sha256 = ? LIMIT 1", (sha256,)).fetchone() is not None
            or conn.execute("SELECT 1 FROM asset_files WHERE sha256 = ? LIMIT 1", (sha256,)).fetchone()
            is not None
        )

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactInfo]:
        """See ``Store.list_artifacts``."""
        where, args = _prefix_clause(check_prefix(prefix))
        rows = self._conn().execute(
            f"SELECT path, size, sha256, created_at FROM artifacts WHERE run_id = ?{where} ORDER BY path",
            (run_id, *args),
        ).fetchall()
        return [ArtifactInfo(*r) for r in rows]

    def open_artifact(self, run_id: str, path: str) -> BinaryIO:
        """See ``Store.open_artifact``."""
        row = self._conn().execute(
            "SELECT sha256 FROM artifacts WHERE run_id = ? AND path = ?", (run_id, path)
        ).fetchone()
        if row is None:
            raise ArtifactNotFound(f"run {run_id[:8]} has no artifact {path!r}")
        return open(self._blob_path(row[0]), "rb")

    # -- assets -------------------------------------------------------------

    def promote(self, run_id: str, prefix: str, name: str) -> AssetVersion:
        """See ``Store.promote``."""
        name = check_asset_name(name)
        prefix = check_prefix(prefix)
        where, args = _prefix_clause(prefix)
        now = time.time()
        with self._write() as conn:
            self._require_run(conn, run_id)
            files = [
                AssetFile(*r)
                for r in conn.execute(
                    f"SELECT path, size, sha256 FROM artifacts WHERE run_id = ?{where} ORDER BY path",
                    (run_id, *args),
                )
            ]
            if not files:
                raise ArtifactNotFound(
                    f"run {run_id[:8]} has no artifact at or under {prefix or '(everything)'!r}: nothing promoted"
                )
            version = conn.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM assets WHERE name = ?", (name,)
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO assets (name, version, run_id, prefix, created_at) VALUES (?, ?, ?, ?, ?)",
                (name, version, run_id, prefix, now),
            )
            conn.executemany(
                "INSERT INTO asset_files (name, version, path, sha256, size) VALUES (?, ?, ?, ?, ?)",
                [(name, version, f.path, f.sha256, f.size) for f in files],
            )
        return AssetVersion(name, version, run_id, prefix, now, files)

    def list_assets(self) -> list[AssetSummary]:
        """See ``Store.list_assets``."""
        rows = self._conn().execute(
            "SELECT name, MAX(version), COUNT(*), MAX(created_at) FROM assets GROUP BY name ORDER BY name"
        ).fetchall()
        return [AssetSummary(*r) for r in rows]

    def _asset_version(self, conn: sqlite3.Connection, row: Sequence[Any]) -> AssetVersion:
        files = [
            AssetFile(*r)
            for r in conn.execute(
                "SELECT path, size, sha256 FROM asset_files WHERE name = ? AND version = ? ORDER BY path",
                (row[0], row[1]),
            )
        ]
        return AssetVersion(row[0], row[1], row[2], row[3], row[4], files)

    def list_asset_versions(self, name: str) -> list[AssetVersion]:
        """See ``Store.list_asset_versions``."""
        conn = self._conn()
        rows = conn.execute(
            "SELECT name, version, run_id, prefix, created_at FROM assets WHERE name = ? ORDER BY version",
            (name,),
        ).fetchall()
        if not rows:
            raise AssetNotFound(f"no asset {name!r}")
        return [self._asset_version(conn, r) for r in rows]

    def get_asset(self, name: str, version: int | None = None) -> AssetVersion:
        """See ``Store.get_asset``."""
        _check_version(name, version)
        conn = self._conn()
        if version is None:
            row = conn.execute(
                "SELECT name, version, run_id, prefix, created_at FROM assets WHERE name = ? "
                "ORDER BY version DESC LIMIT 1",
                (name,),
            ).fetchone()
        else:
            row = conn.execute(
                "SELECT name, version, run_id, prefix, created_at FROM assets WHERE name = ? AND version = ?",
                (name, version),
            ).fetchone()
        if row is None:
            raise AssetNotFound(f"no asset {name!r}" + ("" if version is None else f" version {version}"))
        return self._asset_version(conn, row)

    def open_asset_file(self, name: str, version: int, path: str) -> BinaryIO:
        """See ``Store.open_asset_file``."""
        _check_version(name, version)
        row = self._conn().execute(
            "SELECT sha256 FROM asset_files WHERE name = ? AND version = ? AND path = ?",
            (name, version, path),
        ).fetchone()
        if row is None:
            raise AssetNotFound(f"asset {name}:{version} has no file {path!r}")
        return open(self._blob_path(row[0]), "rb")


_INSERT_CHUNK = (
    "INSERT OR REPLACE INTO chunks (metric_id, chunk_no, n, f_step, f_value, f_time, l_step, l_value, l_time, "
    "lo_i, lo_step, lo_value, lo_time, hi_i, hi_step, hi_value, hi_time, step0, stride, vtype, blocks, steps, times, vals) "
    "VALUES (" + ", ".join("?" * 24) + ")"
)


def _chunk_row(metric_id: int, chunk_no: int, chunk: _chunks.Chunk) -> tuple[Any, ...]:
    s = chunk.summary
    summary: tuple[Any, ...] = (None,) * 14
    if s is not None:
        low = s.low or (None, None, None, None)
        high = s.high or (None, None, None, None)
        summary = (*s.first[1:], *s.last[1:], *low, *high)
    return (
        metric_id, chunk_no, chunk.n, *summary, chunk.step0, chunk.stride, chunk.vtype,
        chunk.blocks, chunk.steps_blob, chunk.times_blob, chunk.values_blob,
    )  # fmt: skip


def _fill_steps(steps: Sequence[int | None], last_step: int | None) -> list[int]:
    """Given steps, with each ``None`` taking the previous step + 1 (the first, the series' last + 1)."""
    previous = -1 if last_step is None else last_step
    if steps.count(None) == len(steps):
        filled = list(range(previous + 1, previous + 1 + len(steps)))
    else:
        filled = []
        for step in steps:
            previous = previous + 1 if step is None else step
            filled.append(previous)
    if max(filled) > MAX_INT or min(filled) < -MAX_INT:
        raise InvalidInput(f"a step would not fit in 64 bits (the series' last step is {last_step})")
    return filled


def _downsample_points(
    steps: list[int], values: list[float], times: list[float], max_points: int
) -> list[tuple[int, int, Value, float]]:
    """The first, last, and each bucket's minimum and maximum point, in order."""
    count = len(steps)
    kept = {0, count - 1}
    if max_points >= 4:
        buckets = (max_points - 2) // 2
        for b in range(buckets):
            start, end = b * count // buckets, (b + 1) * count // buckets
            if start == end:
                continue
            found = _chunks.extremes(values[start:end])
            if found is not None:
                kept.update((start + found[0], start + found[1]))
    return [(i, steps[i], values[i], times[i]) for i in sorted(kept)]


def _check_version(name: str, version: int | None) -> None:
    if version is not None and not (isinstance(version, int) and 1 <= version <= MAX_INT):
        raise AssetNotFound(f"no asset {name!r} version {version}: versions are 1, 2, 3 …")


def _prefix_clause(prefix: str) -> tuple[str, tuple[str, ...]]:
    """SQL matching the path itself or anything under it as a folder ('/' < '0')."""
    if not prefix:
        return "", ()
    return " AND (path = ? OR (path >= ? AND path < ?))", (prefix, prefix + "/", prefix + "0")


def _mkstemp(tmp: Path) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(dir=scratch_folder(tmp), prefix="upload-")


def _copy_hashing(data: bytes | BinaryIO, out: BinaryIO, limit: int, path: str) -> tuple[str, int]:
    """Write ``data`` to ``out``; return its sha256 and size. Refuses more than ``limit`` bytes."""

    def too_large(size: int | str) -> ArtifactTooLarge:
        return ArtifactTooLarge(f"artifact {path!r} is {size} bytes; the limit is {limit} bytes")

    if isinstance(data, (bytes, bytearray, memoryview)):
        if len(data) > limit:
            raise too_large(len(data))
        out.write(data)
        return hashlib.sha256(data).hexdigest(), len(data)
    regular = _regular_file_span(data)
    if regular is not None:
        fd, start, size = regular
        if size > limit:
            raise too_large(size)
        out.flush()
        return _copy_file_hashing(fd, start, size, out.fileno()), size
    digest = hashlib.sha256()
    size = 0
    while True:
        piece = data.read(_COPY_PIECE)
        if not piece:
            break
        size += len(piece)
        if size > limit:
            raise too_large(f"more than {limit}")
        digest.update(piece)
        out.write(piece)
    return digest.hexdigest(), size


def _regular_file_span(data: BinaryIO) -> tuple[int, int, int] | None:
    """(fd, offset, bytes left) when ``data`` is a regular file, else ``None``."""
    try:
        fd = data.fileno()
        start = data.tell()
        st = os.fstat(fd)
    except (AttributeError, OSError, ValueError):
        return None
    import stat

    if not stat.S_ISREG(st.st_mode):
        return None
    return fd, start, max(0, st.st_size - start)


def _copy_file_hashing(src: int, start: int, size: int, dst: int) -> str:
    """Copy ``size`` bytes of ``src`` from ``start`` inside the kernel while
    another thread hashes them: the copy and the hash overlap."""
    digest = hashlib.sha256()

    def hash_source() -> None:
        offset, end = start, start + size
        while offset < end:
            piece = os.pread(src, min(_COPY_PIECE * 4, end - offset), offset)
            if not piece:
                break
            digest.update(piece)
            offset += len(piece)

    hasher = threading.Thread(target=hash_source, name="runhistory-hash")
    hasher.start()
    try:
        offset, left = start, size
        while left > 0:
            try:
                copied = os.copy_file_range(src, dst, left, offset, offset - start)
            except OSError:
                copied = os.pwrite(dst, os.pread(src, min(_COPY_PIECE, left), offset), offset - start)
            if copied == 0:
                break
            offset += copied
            left -= copied
    finally:
        hasher.join()
    return digest.hexdigest()
