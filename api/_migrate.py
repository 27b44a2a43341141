"""``runhistory migrate``: an embedded store copied into the team backend (PostgreSQL and its blobs), exactly.

The two stores keep the same tables (``_embedded.schema``, ``_postgres.schema``), so the copy
is made row by row, as stored: ids, times, status, params, tags, note, environment, every
metric's chunks byte for byte with its latest values, artifacts, asset versions and their
files, and the idempotency keys still within ``BATCH_KEY_TTL`` (a logger retrying a batch
after the move is still stored once). Replaying the ``Store`` calls could not do that: they
stamp their own times.

How it goes:

1. **Look first.** Every run and asset version of the source that the target holds already is
   compared with it (a hash over its rows and chunk bytes, ``RunRows.digest``). The same: it is
   skipped. Different, and the target's copy is the one an earlier ``migrate`` made (its hash
   is in ``migrated_runs``): the source changed since (the run was running), and the run is
   copied again over it. Different otherwise: a ``MigrationConflict`` naming the runs, before
   anything is copied.
2. **Runs,** one at a time, each from one snapshot of the source: its blobs first (those the
   target has are skipped), then its rows in one target transaction, with its hash in
   ``migrated_runs``. The blob-then-row rule of ``runhistory.api._blobs`` holds: a migrate killed
   at any moment leaves whole runs and at worst orphan blobs (``runhistory gc`` takes them), and
   run again it skips what is there and copies the rest.
3. **Assets** after the runs (each version with its files in one transaction), then the
   **batch keys** (each was committed with its points, which are all there by then).
4. **Verify.** Rows counted per table on both sides (the target's counted over the source's
   runs and assets, so that other data there does not count), every run's and asset version's
   hash compared, one hash over them all, and every blob the source names present in the target.
"""

from __future__ import annotations

import hashlib
import sqlite3
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg

from ._chunks import CHUNK_COLUMNS
from ._errors import IntegrityError, InvalidInput, MigrationConflict, RunhistoryError, StoreCorrupt, StoreUnavailable
from ._limits import BATCH_KEY_TTL
from ._sql.part import Connection
from ._sql.runs import RUN_TEXT

if TYPE_CHECKING:
    from ._embedded import EmbeddedStore
    from ._postgres import PostgresStore

#: A run's columns, in the order both schemas read and write them (``user`` quoted: PostgreSQL reserves it).
RUN_COLUMNS = (
    "id",
    "experiment",
    "name",
    "status",
    "started_at",
    "ended_at",
    "heartbeat_at",
    "command",
    "cwd",
    "host",
    "user",
    "python",
    "pid",
    "git_commit",
    "git_dirty",
    "error",
    "exit_code",
    "skipped_files",
    "params",
    "tags",
    "note",
)
_RUNS = ", ".join(f'"{c}"' for c in RUN_COLUMNS)
_CHUNKS = CHUNK_COLUMNS[1:]  # a chunk without its series' id, which each database gives its own
_METRICS = ("name", "kind", "count", "last_step", "last_value", "last_time")

#: Run ids named in the conflict error (the rest are counted).
SHOWN_CONFLICTS = 5
#: Batch keys written to the target in one statement.
KEYS_AT_ONCE = 1000

#: The tables compared by count when verifying (``run_text`` is each store's search index of the runs).
TABLES = (
    "runs",
    "run_params",
    "run_tags",
    "run_environment",
    "metrics",
    "chunks",
    "latest_values",
    "artifacts",
    "run_text",
    "assets",
    "asset_files",
    "batch_keys",
)

Row = tuple[Any, ...]


def _feed(digest: Any, value: Any) -> None:
    """Add one stored value to ``digest``, its type with it (so that 1 and 1.0 and "1" differ)."""
    if value is None:
        digest.update(b"N")
    elif isinstance(value, int):
        digest.update(b"I%d;" % value)
    elif isinstance(value, float):
        digest.update(b"F" + struct.pack("<d", value))
    elif isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        digest.update(b"S%d:" % len(data) + data)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        digest.update(b"B%d:" % len(data) + data)
    else:
        digest.update(b"(%d" % len(value))
        for item in value:
            _feed(digest, item)
        digest.update(b")")


@dataclass(frozen=True)
class RunRows:
    """Everything stored of one run, as rows without the ids a database gives (a series' id).

    Attributes:
        run: Its ``runs`` row (``RUN_COLUMNS``).
        params: ``(key, kind, num, text)`` by key.
        tags: ``(tag,)`` by tag.
        environment: ``(packages, git_diff, git_diff_truncated)``, none or one.
        metrics: Each series' ``_METRICS`` row with its chunks (``CHUNK_COLUMNS`` but the id), by name.
        latest: ``(name, num, text)`` by name.
        artifacts: ``(path, sha256, size, created_at)`` by path.
    """

    run: Row
    params: list[Row]
    tags: list[Row]
    environment: list[Row]
    metrics: list[tuple[Row, list[Row]]]
    latest: list[Row]
    artifacts: list[Row]

    @property
    def id(self) -> str:
        return str(self.run[0])

    @property
    def points(self) -> int:
        return sum(int(metric[2]) for metric, _ in self.metrics)

    def digest(self) -> str:
        """A hash of every row and every chunk's bytes."""
        digest = hashlib.sha256()
        _feed(digest, (self.run, self.params, self.tags, self.environment, self.metrics, self.latest, self.artifacts))
        return digest.hexdigest()


@dataclass(frozen=True)
class AssetRows:
    """One asset version: its ``assets`` row and its files ``(path, sha256, size)`` by path."""

    version: Row
    files: list[Row]

    @property
    def ref(self) -> str:
        return f"{self.version[0]}:{self.version[1]}"

    def digest(self) -> str:
        digest = hashlib.sha256()
        _feed(digest, (self.version, self.files))
        return digest.hexdigest()


def _sorted(rows: Iterable[Any]) -> list[Row]:
    return sorted((tuple(r) for r in rows), key=lambda r: r[0])


def read_run(conn: Connection, run_id: str) -> RunRows | None:
    """The run's rows (``None`` when there is no such run), read through ``conn`` of either database."""
    row = conn.execute(f"SELECT {_RUNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        return None
    metrics = []
    series = conn.execute(f"SELECT id, {', '.join(_METRICS)} FROM metrics WHERE run_id = ?", (run_id,)).fetchall()
    for metric in sorted(series, key=lambda r: r[1]):
        chunks = conn.execute(
            f"SELECT {', '.join(_CHUNKS)} FROM chunks WHERE metric_id = ? ORDER BY chunk_no", (metric[0],)
        ).fetchall()
        metrics.append((tuple(metric[1:]), [tuple(c) for c in chunks]))
    return RunRows(
        run=tuple(row),
        params=_sorted(conn.execute("SELECT key, kind, num, text FROM run_params WHERE run_id = ?", (run_id,))),
        tags=_sorted(conn.execute("SELECT tag FROM run_tags WHERE run_id = ?", (run_id,))),
        environment=_sorted(
            conn.execute(
                "SELECT packages, git_diff, git_diff_truncated FROM run_environment WHERE run_id = ?", (run_id,)
            )
        ),
        metrics=metrics,
        latest=_sorted(conn.execute("SELECT name, num, text FROM latest_values WHERE run_id = ?", (run_id,))),
        artifacts=_sorted(
            conn.execute("SELECT path, sha256, size, created_at FROM artifacts WHERE run_id = ?", (run_id,))
        ),
    )


def read_asset(conn: Connection, name: str, version: int) -> AssetRows | None:
    """One asset version's rows (``None`` when there is no such version)."""
    row = conn.execute(
        "SELECT name, version, run_id, prefix, created_at FROM assets WHERE name = ? AND version = ?", (name, version)
    ).fetchone()
    if row is None:
        return None
    files = conn.execute(
        "SELECT path, sha256, size FROM asset_files WHERE name = ? AND version = ?", (name, version)
    ).fetchall()
    return AssetRows(tuple(row), _sorted(files))


def _insert_run(conn: Connection, rows: RunRows) -> None:
    """Write the run's rows (the target holds none of them)."""
    run_id = rows.id
    conn.execute(f"INSERT INTO runs ({_RUNS}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})", rows.run)
    conn.executemany(
        "INSERT INTO run_params (run_id, key, kind, num, text) VALUES (?, ?, ?, ?, ?)",
        [(run_id, *r) for r in rows.params],
    )
    conn.executemany("INSERT INTO run_tags (tag, run_id) VALUES (?, ?)", [(r[0], run_id) for r in rows.tags])
    conn.executemany(
        "INSERT INTO run_environment (run_id, packages, git_diff, git_diff_truncated) VALUES (?, ?, ?, ?)",
        [(run_id, *r) for r in rows.environment],
    )
    for metric, chunks in rows.metrics:
        metric_id = conn.execute(
            f"INSERT INTO metrics (run_id, {', '.join(_METRICS)}) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (run_id, *metric),
        ).fetchone()[0]
        conn.executemany(
            f"INSERT INTO chunks ({', '.join(CHUNK_COLUMNS)}) VALUES ({', '.join('?' * len(CHUNK_COLUMNS))})",
            [(metric_id, *c) for c in chunks],
        )
    conn.executemany(
        "INSERT INTO latest_values (name, run_id, num, text) VALUES (?, ?, ?, ?)",
        [(r[0], run_id, r[1], r[2]) for r in rows.latest],
    )
    conn.executemany(
        "INSERT INTO artifacts (run_id, path, sha256, size, created_at) VALUES (?, ?, ?, ?, ?)",
        [(run_id, *r) for r in rows.artifacts],
    )
    conn.execute(f"INSERT INTO run_text (run_id, body) SELECT id, {RUN_TEXT} FROM runs WHERE id = ?", (run_id,))


def _delete_run(conn: Connection, run_id: str) -> None:
    """Remove the run's rows (its blobs stay: another row may name them, else ``gc`` takes them)."""
    conn.execute("DELETE FROM chunks WHERE metric_id IN (SELECT id FROM metrics WHERE run_id = ?)", (run_id,))
    for table in ("metrics", "latest_values", "run_params", "run_tags", "run_environment", "artifacts", "run_text"):
        conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
    conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))


@dataclass
class Verification:
    """What ``verify`` found.

    Attributes:
        tables: Rows per table: (in the source, of them in the target).
        runs_differ: Runs whose contents differ in the target (or are missing there).
        assets_differ: Asset versions (``name:version``) that differ or are missing.
        blobs_missing: Blobs the source names that the target does not hold.
        source_digest: One hash over every run's and asset version's hash, in the source.
        target_digest: The same over the target's copies.
    """

    tables: dict[str, tuple[int, int]]
    runs_differ: list[str]
    assets_differ: list[str]
    blobs_missing: list[str]
    source_digest: str
    target_digest: str

    @property
    def ok(self) -> bool:
        return (
            all(a == b for a, b in self.tables.values())
            and not self.runs_differ
            and not self.assets_differ
            and not self.blobs_missing
            and self.source_digest == self.target_digest
        )

    def problems(self) -> list[str]:
        """What failed, in words (empty when verified)."""
        said = [f"table {t}: {a} rows here, {b} in the target" for t, (a, b) in self.tables.items() if a != b]
        for what, names in (("run", self.runs_differ), ("asset", self.assets_differ), ("blob", self.blobs_missing)):
            if names:
                more = f" and {len(names) - SHOWN_CONFLICTS} more" if len(names) > SHOWN_CONFLICTS else ""
                verb = "missing from the target" if what == "blob" else "differs in the target"
                said.append(f"{what} {', '.join(names[:SHOWN_CONFLICTS])}{more} {verb}")
        return said


@dataclass
class MigrationSummary:
    """What ``migrate`` did.

    Attributes:
        runs: Runs in the source.
        runs_copied: Runs the target did not hold, copied.
        runs_updated: Runs an earlier migrate copied and the source changed since, copied again.
        runs_skipped: Runs the target held already, the same.
        points: Metric points in the source's runs.
        points_copied: Of them, those in the runs copied now.
        artifacts: Artifact rows in the source.
        assets_copied: Asset versions copied.
        assets_skipped: Asset versions the target held already.
        blobs_copied: Blobs put into the target.
        blobs_skipped: Blobs the target held already.
        bytes_copied: Their bytes.
        bytes_skipped: Their bytes.
        batch_keys: Idempotency keys within their time copied (or there already).
        seconds: How long it took, verification included.
        refused: What the target refused to hold, in words (left out; the verification fails).
        verification: What the check at the end found.
    """

    runs: int = 0
    runs_copied: int = 0
    runs_updated: int = 0
    runs_skipped: int = 0
    points: int = 0
    points_copied: int = 0
    artifacts: int = 0
    assets_copied: int = 0
    assets_skipped: int = 0
    blobs_copied: int = 0
    blobs_skipped: int = 0
    bytes_copied: int = 0
    bytes_skipped: int = 0
    batch_keys: int = 0
    seconds: float = 0.0
    verification: Verification | None = None
    refused: list[str] = field(default_factory=list)


@contextmanager
def _snapshot(source: EmbeddedStore) -> Iterator[Connection]:
    """The source's connection in one read transaction: its statements see one moment of it."""
    conn = source.db.conn()
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")


class Migrator:
    """Copies ``source`` into ``target`` (see the module docstring).

    Args:
        source: The embedded store.
        target: The team backend.
        progress: Called with a line of progress after each run and asset.
        clock: The current time (for the batch keys' age and ``migrated_runs``).
    """

    def __init__(
        self,
        source: EmbeddedStore,
        target: PostgresStore,
        *,
        progress: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.target = target
        self.progress = progress
        self.clock = clock
        self.done = MigrationSummary()
        self._present: set[str] = set()  # blobs known to be in the target
        self._counted: set[str] = set()  # blobs this migrate counted as copied or skipped
        self._same: dict[str, str] = {}  # runs found the same in the target when it looked first: their hash

    def run(self) -> MigrationSummary:
        """Copy, then verify.

        Raises:
            MigrationConflict: the target holds a run or asset version of the same id with other
                contents; nothing was copied.
            StoreCorrupt: a blob the source names is missing from it, or does not match its name.
        """
        try:
            return self._run()
        except psycopg.Error as error:
            said = self.target.db.translated(error)
            if isinstance(said, RunhistoryError):
                raise said from None
            raise StoreUnavailable(f"migrating into {self.target.location} failed: {error}") from None
        except sqlite3.DatabaseError as error:
            raise self.source.db.translated(error) from None

    def _run(self) -> MigrationSummary:
        begun = time.monotonic()
        with _snapshot(self.source) as conn:
            run_ids = [r[0] for r in conn.execute("SELECT id FROM runs ORDER BY started_at, id")]
            assets = [
                (r[0], int(r[1])) for r in conn.execute("SELECT name, version FROM assets ORDER BY name, version")
            ]
        self._check_conflicts(run_ids, assets)
        self._present = {sha256 for sha256, _ in self.target.blobs.all()}  # one listing, not a request a blob
        done = self.done
        done.runs = len(run_ids)
        for n, run_id in enumerate(run_ids, start=1):
            with self._refusals(f"run {run_id}"):
                self._copy_run(run_id)
            self._say(f"runs {n}/{len(run_ids)}")
        for n, (name, version) in enumerate(assets, start=1):
            with self._refusals(f"asset {name}:{version}"):
                self._copy_asset(name, version)
            self._say(f"assets {n}/{len(assets)}")
        with self._refusals("the batch keys"):
            self._copy_batch_keys()
        self._say("verifying")
        done.verification = verify(self.source, self.target, now=self.clock())
        done.seconds = time.monotonic() - begun
        return done

    @contextmanager
    def _refusals(self, what: str) -> Iterator[None]:
        """A value the target cannot hold (text with a NUL character, which SQLite keeps and
        PostgreSQL refuses) leaves ``what`` out, said in ``refused``, and the rest goes on;
        any other failure of the server ends the migrate, in the user's words."""
        try:
            yield
        except psycopg.Error as error:
            said = self.target.db.translated(error)
            if isinstance(said, InvalidInput):
                self.done.refused.append(f"{what} was not copied: {said}")
                return
            if isinstance(said, RunhistoryError):
                raise said from None
            raise StoreUnavailable(f"copying {what} into {self.target.location} failed: {error}") from None

    def _say(self, what: str) -> None:
        if self.progress is not None:
            done = self.done
            self.progress(
                f"{what} · {done.runs_copied + done.runs_updated} copied, {done.runs_skipped} there · "
                f"{done.blobs_copied} blobs, {done.bytes_copied:,} bytes"
            )

    # -- looking first ------------------------------------------------------------

    def _check_conflicts(self, run_ids: list[str], assets: list[tuple[str, int]]) -> None:
        """Raise ``MigrationConflict`` when the target holds a run or asset version with other contents."""
        with self.target.db.read() as conn:
            there = {r[0] for r in conn.execute("SELECT id FROM runs WHERE id = ANY(?)", (run_ids,))}
        conflicts = []
        for run_id in run_ids:
            if run_id in there:
                with _snapshot(self.source) as sconn:
                    rows = read_run(sconn, run_id)
                if rows is None:
                    continue
                state = self._target_run(rows.digest(), run_id)
                if state == "conflict":
                    conflicts.append(run_id)
                elif state == "same":
                    self._same[run_id] = rows.digest()
        for name, version in assets:
            with _snapshot(self.source) as sconn:
                mine = read_asset(sconn, name, version)
            with self.target.db.read() as conn:
                theirs = read_asset(conn, name, version)
            if mine is not None and theirs is not None and mine.digest() != theirs.digest():
                conflicts.append(mine.ref)
        if conflicts:
            shown = ", ".join(conflicts[:SHOWN_CONFLICTS])
            more = f" and {len(conflicts) - SHOWN_CONFLICTS} more" if len(conflicts) > SHOWN_CONFLICTS else ""
            raise MigrationConflict(
                f"the target {self.target.location} already holds {shown}{more} with other contents than this "
                "store's (not copied from here, or changed there since): nothing was copied. Delete "
                f"{'it' if len(conflicts) == 1 else 'them'} there, or migrate into another database",
                conflicts,
            )

    def _target_run(self, digest: str, run_id: str, conn: Connection | None = None) -> str:
        """What the target's copy of a run is to the source's: ``same``, ``stale`` (an earlier
        migrate's copy of it, changed here since), ``conflict`` or ``missing``."""
        if conn is None:
            with self.target.db.read() as read:
                return self._target_run(digest, run_id, read)
        theirs = read_run(conn, run_id)
        if theirs is None:
            return "missing"
        found = theirs.digest()
        if found == digest:
            return "same"
        copied = conn.execute("SELECT digest FROM migrated_runs WHERE run_id = ?", (run_id,)).fetchone()
        return "stale" if copied is not None and copied[0] == found else "conflict"

    # -- copying ------------------------------------------------------------------

    def _copy_blobs(self, named: Sequence[Row], where: str) -> None:
        """Put the blobs ``named`` (``(sha256, size)``) into the target, skipping those there."""
        done = self.done
        for sha256, size in named:
            if sha256 in self._counted:
                continue
            if sha256 in self._present:
                done.blobs_skipped += 1
                done.bytes_skipped += int(size)
            else:
                self._put_blob(sha256, where)
                done.blobs_copied += 1
                done.bytes_copied += int(size)
                self._present.add(sha256)
            self._counted.add(sha256)

    def _put_blob(self, sha256: str, where: str) -> None:
        try:
            source = self.source.blobs.open(sha256)
        except FileNotFoundError:
            raise StoreCorrupt(
                f"{where} names the stored contents {sha256}, which are missing from {self.source.blobs.folder}: "
                "nothing of it was copied"
            ) from None
        with source:
            put, _ = self.target.blobs.put(source, limit=1 << 62, path=sha256)
        if put != sha256:
            self.target.blobs.delete(put)
            raise IntegrityError(
                f"the stored contents {sha256} of {where} in {self.source.blobs.folder} do not match their sha256 "
                f"(they hash to {put}): the file is damaged; nothing of it was copied"
            )

    def _hold_blobs(self, conn: Connection, named: Sequence[Row], where: str) -> None:
        """Inside the target transaction about to name them: each blob held against ``gc`` (the
        lock ``put_artifact`` shares), and put again if it went since it was looked at."""
        for sha256 in dict.fromkeys(r[0] for r in named):
            self.target.db.share(conn, f"blob {sha256}")
            if not self.target.blobs.exists(sha256):
                self._put_blob(sha256, where)

    def _copy_run(self, run_id: str) -> None:
        with _snapshot(self.source) as sconn:
            rows = read_run(sconn, run_id)
        if rows is None:
            self.done.runs -= 1  # deleted here since it was listed
            return
        done = self.done
        done.points += rows.points
        done.artifacts += len(rows.artifacts)
        digest = rows.digest()
        where = f"run {run_id}"
        named = [(r[1], r[2]) for r in rows.artifacts]
        if self._same.get(run_id) == digest or self._target_run(digest, run_id) == "same":
            done.runs_skipped += 1
            self._copy_blobs(named, where)  # a blob gone from the target since is put back
            return
        self._copy_blobs(named, where)
        with self.target.db.write() as conn:
            locked = conn.execute("SELECT 1 FROM runs WHERE id = ? FOR UPDATE", (run_id,)).fetchone()
            state = "missing" if locked is None else self._target_run(digest, run_id, conn)
            if state == "same":
                done.runs_skipped += 1
                return
            if state == "conflict":
                raise MigrationConflict(
                    f"run {run_id} was changed in the target {self.target.location} while it was migrated: "
                    "it is left as it is there; run migrate again to compare",
                    [run_id],
                )
            if state == "stale":
                _delete_run(conn, run_id)
            self._hold_blobs(conn, named, where)
            _insert_run(conn, rows)
            conn.execute(
                "INSERT INTO migrated_runs (run_id, digest, migrated_at) VALUES (?, ?, ?) ON CONFLICT (run_id) "
                "DO UPDATE SET digest = excluded.digest, migrated_at = excluded.migrated_at",
                (run_id, digest, self.clock()),
            )
        if state == "stale":
            done.runs_updated += 1
        else:
            done.runs_copied += 1
        done.points_copied += rows.points

    def _copy_asset(self, name: str, version: int) -> None:
        with _snapshot(self.source) as sconn:
            mine = read_asset(sconn, name, version)
        if mine is None:
            return
        where = f"asset {mine.ref}"
        named = [(r[1], r[2]) for r in mine.files]
        self._copy_blobs(named, where)
        with self.target.db.write() as conn:
            self.target.db.serialize(conn, f"asset {name}")  # as a promotion of the same name does
            theirs = read_asset(conn, name, version)
            if theirs is not None:
                if theirs.digest() != mine.digest():
                    raise MigrationConflict(
                        f"asset {mine.ref} was made in the target {self.target.location} while this store was "
                        "migrated, with other files: it is left as it is there",
                        [mine.ref],
                    )
                self.done.assets_skipped += 1
                return
            self._hold_blobs(conn, named, where)
            conn.execute(
                "INSERT INTO assets (name, version, run_id, prefix, created_at) VALUES (?, ?, ?, ?, ?)", mine.version
            )
            conn.executemany(
                "INSERT INTO asset_files (name, version, path, sha256, size) VALUES (?, ?, ?, ?, ?)",
                [(name, version, *f) for f in mine.files],
            )
        self.done.assets_copied += 1

    def _copy_batch_keys(self) -> None:
        with _snapshot(self.source) as sconn:
            keys = sconn.execute(
                "SELECT key, created_at FROM batch_keys WHERE created_at >= ?", (self.clock() - BATCH_KEY_TTL,)
            ).fetchall()
        for start in range(0, len(keys), KEYS_AT_ONCE):
            with self.target.db.write() as conn:
                conn.executemany(
                    "INSERT INTO batch_keys (key, created_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                    [tuple(k) for k in keys[start : start + KEYS_AT_ONCE]],
                )
        self.done.batch_keys = len(keys)


def _counts(conn: Connection, run_ids: list[str], assets: list[tuple[str, int]], keys: list[str] | None) -> list[int]:
    """Rows per table of ``TABLES``: all of them (the source: ``keys`` is ``None``), or those of
    ``run_ids``, ``assets`` and ``keys`` (the target, which may hold other data too)."""
    if keys is None:
        return [int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in TABLES if t != "batch_keys"]
    counts = []
    for table in TABLES:
        args: tuple[Any, ...]
        if table == "runs":
            sql, args = "SELECT COUNT(*) FROM runs WHERE id = ANY(?)", (run_ids,)
        elif table == "chunks":
            sql = "SELECT COUNT(*) FROM chunks WHERE metric_id IN (SELECT id FROM metrics WHERE run_id = ANY(?))"
            args = (run_ids,)
        elif table in ("assets", "asset_files"):
            sql = (
                f"SELECT COUNT(*) FROM {table} WHERE (name, version) IN (SELECT * FROM unnest(?::text[], ?::bigint[]))"
            )
            args = ([a[0] for a in assets], [a[1] for a in assets])
        elif table == "batch_keys":
            sql, args = "SELECT COUNT(*) FROM batch_keys WHERE key = ANY(?)", (keys,)
        else:
            sql, args = f"SELECT COUNT(*) FROM {table} WHERE run_id = ANY(?)", (run_ids,)
        counts.append(int(conn.execute(sql, args).fetchone()[0]))
    return counts


def verify(source: EmbeddedStore, target: PostgresStore, *, now: float) -> Verification:
    """Compare what the source holds with the target's copy (see the module docstring, 4)."""
    with _snapshot(source) as sconn:
        run_ids = [r[0] for r in sconn.execute("SELECT id FROM runs ORDER BY id")]
        assets = [(r[0], int(r[1])) for r in sconn.execute("SELECT name, version FROM assets ORDER BY name, version")]
        keys = [r[0] for r in sconn.execute("SELECT key FROM batch_keys WHERE created_at >= ?", (now - BATCH_KEY_TTL,))]
        mine = [*_counts(sconn, run_ids, assets, None), len(keys)]
        named = {r[0] for r in sconn.execute("SELECT sha256 FROM artifacts UNION SELECT sha256 FROM asset_files")}
    with target.db.read() as conn:
        theirs = _counts(conn, run_ids, assets, keys)
    whole_source, whole_target = hashlib.sha256(), hashlib.sha256()
    runs_differ, assets_differ = [], []
    for run_id in run_ids:
        with _snapshot(source) as sconn:
            here = read_run(sconn, run_id)
        with target.db.read() as conn:
            there = read_run(conn, run_id)
        a = here.digest() if here is not None else ""
        b = there.digest() if there is not None else ""
        whole_source.update(f"run {run_id} {a}\n".encode())
        whole_target.update(f"run {run_id} {b}\n".encode())
        if a != b:
            runs_differ.append(run_id)
    for name, version in assets:
        with _snapshot(source) as sconn:
            mine_asset = read_asset(sconn, name, version)
        with target.db.read() as conn:
            their_asset = read_asset(conn, name, version)
        a = mine_asset.digest() if mine_asset is not None else ""
        b = their_asset.digest() if their_asset is not None else ""
        whole_source.update(f"asset {name}:{version} {a}\n".encode())
        whole_target.update(f"asset {name}:{version} {b}\n".encode())
        if a != b:
            assets_differ.append(f"{name}:{version}")
    present = {sha256 for sha256, _ in target.blobs.all()}
    return Verification(
        tables={t: (a, b) for t, a, b in zip(TABLES, mine, theirs)},
        runs_differ=runs_differ,
        assets_differ=assets_differ,
        blobs_missing=sorted(named - present),
        source_digest=whole_source.hexdigest(),
        target_digest=whole_target.hexdigest(),
    )


def migration_doc(done: MigrationSummary) -> dict[str, Any]:
    """The ``--json`` summary of a migration."""
    check = done.verification
    return {
        "runs": {
            "total": done.runs,
            "copied": done.runs_copied,
            "updated": done.runs_updated,
            "skipped": done.runs_skipped,
        },
        "points": {"total": done.points, "copied": done.points_copied},
        "artifacts": done.artifacts,
        "assets": {"copied": done.assets_copied, "skipped": done.assets_skipped},
        "blobs": {"copied": done.blobs_copied, "skipped": done.blobs_skipped},
        "bytes": {"copied": done.bytes_copied, "skipped": done.bytes_skipped},
        "batch_keys": done.batch_keys,
        "seconds": round(done.seconds, 3),
        "tables": {} if check is None else {t: {"source": a, "target": b} for t, (a, b) in check.tables.items()},
        "digest": None if check is None else check.source_digest,
        "verified": check is not None and check.ok and not done.refused,
        "problems": done.refused + ([] if check is None else check.problems()),
    }


__all__ = ["MigrationSummary", "Migrator", "RunRows", "Verification", "migration_doc", "read_run", "verify"]
