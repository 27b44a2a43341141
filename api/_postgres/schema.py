"""The PostgreSQL store's tables, and the named migrations that bring a database up to date.

Each migration applied is a row of ``runhistory_migrations`` (its number, its name, when).
Opening a store applies the missing ones in one transaction, under an advisory lock, so
that processes opening the same database at once apply each exactly once (the others
wait, then find nothing left to do); a database migrated by a newer runhistory is refused.

The tables are those of the embedded store (the same columns, so the same SQL reads and
writes both), in PostgreSQL's types: text in the ``C`` collation (paths, ids and names
order by their bytes, as in SQLite, which the artifact prefixes and run id prefixes rely
on), ``double precision`` for times and values, ``bytea`` for the chunks' packed points.
"""

from __future__ import annotations

import logging
import time

import psycopg

from .._errors import StoreVersionError
from .._sql.part import Migration, statements
from .database import Connection, Database

_TEXT = 'TEXT COLLATE "C"'
log = logging.getLogger("runhistory")

FIRST_SCHEMA = (
    f"""CREATE TABLE runs (
        id {_TEXT} PRIMARY KEY,
        experiment {_TEXT} NOT NULL,
        name {_TEXT},
        status {_TEXT} NOT NULL,
        started_at DOUBLE PRECISION NOT NULL,
        ended_at DOUBLE PRECISION,
        heartbeat_at DOUBLE PRECISION,
        command {_TEXT} NOT NULL,
        cwd {_TEXT} NOT NULL,
        host {_TEXT} NOT NULL,
        "user" {_TEXT} NOT NULL,
        python {_TEXT} NOT NULL,
        pid BIGINT,
        git_commit {_TEXT},
        git_dirty INTEGER,
        error {_TEXT},
        exit_code BIGINT,
        skipped_files {_TEXT} NOT NULL DEFAULT '[]',
        params {_TEXT} NOT NULL DEFAULT '{{}}',
        tags {_TEXT} NOT NULL DEFAULT '[]',
        note {_TEXT}
    )""",
    "CREATE INDEX runs_by_start ON runs (started_at DESC, id DESC)",
    "CREATE INDEX runs_by_experiment ON runs (experiment, started_at DESC, id DESC)",
    "CREATE INDEX runs_by_status ON runs (status, started_at DESC, id DESC)",
    f"""CREATE TABLE metrics (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        run_id {_TEXT} NOT NULL,
        name {_TEXT} NOT NULL,
        kind {_TEXT} NOT NULL,
        count BIGINT NOT NULL,
        last_step BIGINT,
        last_value {_TEXT},
        last_time DOUBLE PRECISION,
        UNIQUE (run_id, name)
    )""",
    f"""CREATE TABLE chunks (
        metric_id BIGINT NOT NULL,
        chunk_no BIGINT NOT NULL,
        n INTEGER NOT NULL,
        f_step BIGINT, f_value DOUBLE PRECISION, f_time DOUBLE PRECISION,
        l_step BIGINT, l_value DOUBLE PRECISION, l_time DOUBLE PRECISION,
        lo_i INTEGER, lo_step BIGINT, lo_value DOUBLE PRECISION, lo_time DOUBLE PRECISION,
        hi_i INTEGER, hi_step BIGINT, hi_value DOUBLE PRECISION, hi_time DOUBLE PRECISION,
        step0 BIGINT NOT NULL,
        stride BIGINT,
        vtype {_TEXT} NOT NULL,
        blocks BYTEA,
        steps BYTEA,
        times BYTEA NOT NULL,
        vals BYTEA NOT NULL,
        PRIMARY KEY (metric_id, chunk_no)
    )""",
    # The packed points are deflated already: stored out of line as they are, not compressed again.
    "ALTER TABLE chunks ALTER COLUMN blocks SET STORAGE EXTERNAL, ALTER COLUMN steps SET STORAGE EXTERNAL, "
    "ALTER COLUMN times SET STORAGE EXTERNAL, ALTER COLUMN vals SET STORAGE EXTERNAL",
    f"""CREATE TABLE artifacts (
        run_id {_TEXT} NOT NULL,
        path {_TEXT} NOT NULL,
        sha256 {_TEXT} NOT NULL,
        size BIGINT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (run_id, path)
    )""",
    "CREATE INDEX artifacts_by_sha256 ON artifacts (sha256)",
    f"""CREATE TABLE assets (
        name {_TEXT} NOT NULL,
        version BIGINT NOT NULL,
        run_id {_TEXT} NOT NULL,
        prefix {_TEXT} NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (name, version)
    )""",
    f"""CREATE TABLE asset_files (
        name {_TEXT} NOT NULL,
        version BIGINT NOT NULL,
        path {_TEXT} NOT NULL,
        sha256 {_TEXT} NOT NULL,
        size BIGINT NOT NULL,
        PRIMARY KEY (name, version, path)
    )""",
    "CREATE INDEX asset_files_by_sha256 ON asset_files (sha256)",
    f"CREATE TABLE batch_keys (key {_TEXT} PRIMARY KEY, created_at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX batch_keys_by_age ON batch_keys (created_at)",
    # One row per param, typed, so that a query compares numbers as numbers. Texts are not
    # indexed: a B-tree entry holds at most 2704 bytes, and a param's text may be longer.
    f"""CREATE TABLE run_params (
        run_id {_TEXT} NOT NULL,
        key {_TEXT} NOT NULL,
        kind {_TEXT} NOT NULL,
        num DOUBLE PRECISION,
        text {_TEXT},
        PRIMARY KEY (run_id, key)
    )""",
    "CREATE INDEX run_params_by_num ON run_params (key, num, kind)",
    f"CREATE TABLE run_tags (tag {_TEXT} NOT NULL, run_id {_TEXT} NOT NULL, PRIMARY KEY (tag, run_id))",
    "CREATE INDEX run_tags_by_run ON run_tags (run_id)",
    f"""CREATE TABLE run_environment (
        run_id {_TEXT} PRIMARY KEY,
        packages {_TEXT} NOT NULL,
        git_diff {_TEXT},
        git_diff_truncated INTEGER NOT NULL DEFAULT 0
    )""",
    # Each metric's latest value, written with every append: queries and sorts on metrics.NAME
    # read this table through its indexes, never the chunks.
    f"""CREATE TABLE latest_values (
        name {_TEXT} NOT NULL,
        run_id {_TEXT} NOT NULL,
        num DOUBLE PRECISION,
        text {_TEXT},
        PRIMARY KEY (name, run_id)
    )""",
    "CREATE INDEX latest_values_by_num ON latest_values (name, num)",
    "CREATE INDEX latest_values_by_run ON latest_values (run_id)",
    # Each run's words (id, name, experiment, note, command, tags), searched for a substring.
    f"CREATE TABLE run_text (run_id {_TEXT} PRIMARY KEY, body {_TEXT} NOT NULL)",
)


def _trigram_index(conn: Connection) -> None:
    """A trigram index of the runs' words (``pg_trgm``, PostgreSQL's contrib), which a text
    search (``body ILIKE '%word%'``) reads instead of every run's words. Where the extension
    is not installed, or this role may not create it, the database goes without: searches
    read every row, as before, and the reason is logged."""
    if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").fetchone() is None:
        log.warning("PostgreSQL has no pg_trgm extension (contrib): text searches will read every run's words")
        return
    conn.execute("SAVEPOINT trigrams")
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except psycopg.Error as error:
        conn.execute("ROLLBACK TO SAVEPOINT trigrams")
        log.warning("could not create the pg_trgm extension (%s): text searches will read every run's words", error)
        return
    conn.execute("CREATE INDEX run_text_trigrams ON run_text USING gin (body gin_trgm_ops)")


#: Every change to a new database, oldest first; a row of ``runhistory_migrations`` each once applied.
MIGRATIONS: list[Migration] = [
    Migration("runs, metric chunks, artifacts, assets, batch keys and run metadata", statements(*FIRST_SCHEMA)),
    # What ``runhistory migrate`` copied of each run (the hash of its contents), so that a run
    # changed in its embedded store since is brought up to date, and one changed here is not.
    Migration(
        "runs copied by runhistory migrate",
        statements(
            f"CREATE TABLE migrated_runs (run_id {_TEXT} PRIMARY KEY, digest {_TEXT} NOT NULL, "
            "migrated_at DOUBLE PRECISION NOT NULL)"
        ),
    ),
    # PostgreSQL takes a param's key, kind and text for independent, and judged a common value
    # (``optimizer = adam``, a quarter of the runs) a few hundred runs: it then drove a sorted
    # query from that set and sorted every match (190 ms on 100,000 runs). Statistics of the
    # three together give it the true share, and it reads the sort's index instead (27 ms).
    Migration(
        "statistics of params' key, kind and text together",
        statements(
            "CREATE STATISTICS run_params_together (mcv, dependencies) ON key, kind, text FROM run_params",
            "ANALYZE run_params",
        ),
    ),
    # A word searched for in 100,000 runs read every run's words (strpos): 93-103 ms for a
    # page; through a trigram index, only the rows holding its trigrams: 3-9 ms. Without
    # pg_trgm the database goes without (see there).
    Migration("a trigram index of the runs' words, where pg_trgm is there", _trigram_index),
]

#: The number of migrations this code applies: the schema version it writes.
SCHEMA_VERSION = len(MIGRATIONS)

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('runhistory schema', 0))"
_APPLIED = "SELECT version, name FROM runhistory_migrations ORDER BY version"


def prepare(db: Database, migrations: list[Migration] | None = None) -> None:
    """Create the tables of a new database, or apply the migrations it misses (see the module docstring).

    Raises:
        StoreVersionError: the database was migrated by a newer runhistory.
        psycopg.OperationalError: the server cannot be reached (the store says it in the user's words).
    """
    migrations = MIGRATIONS if migrations is None else migrations
    with db.connect() as raw:
        # Most opens find everything in place: no lock, no write.
        if raw.execute(b"SELECT to_regclass('runhistory_migrations')").fetchone() not in (None, (None,)):
            applied = raw.execute(_APPLIED.encode()).fetchall()
            _check_version(db, len(applied), len(migrations))
            if len(applied) == len(migrations):
                return
        with raw.transaction():
            raw.execute(_LOCK.encode())  # another process migrating: wait for it, then look again
            raw.execute(
                b"CREATE TABLE IF NOT EXISTS runhistory_migrations ("
                b"version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
            )
            applied = raw.execute(_APPLIED.encode()).fetchall()
            _check_version(db, len(applied), len(migrations))
            conn = Connection(raw)
            for version, migration in enumerate(migrations[len(applied) :], start=len(applied) + 1):
                migration.apply(conn)
                conn.execute(
                    "INSERT INTO runhistory_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, migration.name, time.time()),
                )


def _check_version(db: Database, applied: int, known: int) -> None:
    if applied > known:
        raise StoreVersionError(
            f"the database at {db.location} has schema version {applied}; this runhistory understands up to "
            f"{known}: upgrade runhistory"
        )
