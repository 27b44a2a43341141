"""The embedded store's tables, and the named migrations that bring an older store up to date.

``PRAGMA user_version`` records a store's schema version: 1 is ``FIRST_SCHEMA``,
and version ``v + 1`` is version ``v`` with ``MIGRATIONS[v - 1]`` applied. A
store opens and migrates in place, in one transaction; a store written by a
newer runhistory is refused.
"""

from __future__ import annotations

import sqlite3

from .._errors import StoreReadOnly, StoreVersionError
from .._sql.part import Migration, statements
from .._sql.runs import RUN_TEXT
from .._sql.series import latest_columns
from .database import Database

__all__ = ["FIRST_SCHEMA", "MIGRATIONS", "RUN_TEXT", "SCHEMA_VERSION", "Migration", "latest_columns", "prepare"]

FIRST_SCHEMA = """
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


def _latest_values_from_metrics(conn: sqlite3.Connection) -> None:
    """Fill ``latest_values`` from the metrics' last values (a store written before it existed)."""
    import json

    rows = conn.execute("SELECT run_id, name, kind, last_value FROM metrics WHERE kind != 'chart'").fetchall()
    for run_id, name, kind, last_value in rows:
        value = None if last_value is None else json.loads(last_value)
        num, text = latest_columns(kind, value)
        conn.execute(
            "INSERT OR REPLACE INTO latest_values (name, run_id, num, text) VALUES (?, ?, ?, ?)",
            (name, run_id, num, text),
        )


def _metadata_tables(conn: sqlite3.Connection) -> None:
    """Params, tags, a note and the environment of each run; each metric's latest value."""
    statements(
        "ALTER TABLE runs ADD COLUMN params TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE runs ADD COLUMN note TEXT",
        # One row per param, typed, so that a query compares numbers as numbers.
        """CREATE TABLE run_params (
                    run_id TEXT NOT NULL,
                    key TEXT NOT NULL,
                    kind TEXT NOT NULL,  -- number, bool, text, null or list (JSON in text)
                    num REAL,
                    text TEXT,
                    PRIMARY KEY (run_id, key)
                ) WITHOUT ROWID""",
        # kind last: the index orders by value and still answers a typed comparison alone
        "CREATE INDEX run_params_by_num ON run_params (key, num, kind)",
        "CREATE INDEX run_params_by_text ON run_params (key, text, kind)",
        "CREATE TABLE run_tags (tag TEXT NOT NULL, run_id TEXT NOT NULL, PRIMARY KEY (tag, run_id)) WITHOUT ROWID",
        "CREATE INDEX run_tags_by_run ON run_tags (run_id)",
        """CREATE TABLE run_environment (
                    run_id TEXT PRIMARY KEY,
                    packages TEXT NOT NULL,
                    git_diff TEXT,
                    git_diff_truncated INTEGER NOT NULL DEFAULT 0
                ) WITHOUT ROWID""",
        # Each metric's latest value, written with every append: queries and sorts on
        # metrics.NAME read this table through its indexes, never the chunks.
        """CREATE TABLE latest_values (
                    name TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    num REAL,
                    text TEXT,
                    PRIMARY KEY (name, run_id)
                ) WITHOUT ROWID""",
        "CREATE INDEX latest_values_by_num ON latest_values (name, num)",
        "CREATE INDEX latest_values_by_text ON latest_values (name, text)",
        "CREATE INDEX latest_values_by_run ON latest_values (run_id)",
        # Each run's words (id, name, experiment, note, command, tags) in a trigram index, so a
        # plain-word search finds a substring among every run without reading them all.
        "CREATE VIRTUAL TABLE run_text USING fts5(run_id UNINDEXED, body, tokenize='trigram')",
    )(conn)
    _latest_values_from_metrics(conn)
    conn.execute(f"INSERT INTO run_text (run_id, body) SELECT id, {RUN_TEXT} FROM runs")


#: Every change since ``FIRST_SCHEMA``, oldest first.
MIGRATIONS: list[Migration] = [
    Migration("run metadata: params, tags, note, environment, latest metric values", _metadata_tables),
]

#: The schema version this code writes.
SCHEMA_VERSION = 1 + len(MIGRATIONS)


def prepare(db: Database, migrations: list[Migration] | None = None) -> None:
    """Create the tables of a new store, or bring an older store up to ``SCHEMA_VERSION``.

    Raises:
        StoreVersionError: the store was written by a newer runhistory.
        StoreReadOnly: it needs migrating but cannot be written here.
    """
    migrations = MIGRATIONS if migrations is None else migrations
    target = 1 + len(migrations)
    conn = db.conn()
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == target:
        return
    if version > target:
        raise StoreVersionError(
            f"{db.path} has schema version {version}; this runhistory understands up to {target}: upgrade runhistory"
        )
    if db.read_only:
        raise StoreReadOnly(f"{db.path} has schema version {version} and needs {target}, but it is read-only here")
    with db.write() as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have done it
        if version == 0:
            # One statement at a time: executescript() would commit the open transaction.
            for statement in FIRST_SCHEMA.split(";\n"):
                if statement.strip():
                    conn.execute(statement)
            version = 1
        for migration in migrations[version - 1 :]:
            migration.apply(conn)
        conn.execute(f"PRAGMA user_version = {target}")
