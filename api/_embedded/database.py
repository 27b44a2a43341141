"""The embedded store's SQLite file: connections and transactions, nothing else.

Each thread has a connection of its own (a forked child opens new ones and
never closes its parent's). Every write is one ``BEGIN IMMEDIATE``
transaction; waiting writers queue on SQLite's busy timeout instead of failing
with "database is locked". A file this process cannot write (a read-only folder
or file system) is opened read only: reads work, writes are refused at once.
SQLite's own errors are said in the user's words (``translated``).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .._errors import StoreCorrupt, StoreReadOnly, StoreUnavailable
from .._sql.part import Connection, LockMode

#: Seconds a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT = 60.0
#: Tries at switching a new connection to WAL while another process holds the database (0.05 s apart).
WAL_ATTEMPTS = 200
#: Bytes of WAL kept after a checkpoint: a burst of large batches grows it; the disk is given back.
WAL_SIZE_LIMIT = 32 * 1024 * 1024

# Connections handed down by fork() belong to the parent: a child that closed
# one could disturb the parent's locks, so they are kept here, never closed.
_INHERITED: list[object] = []
_DATABASES: weakref.WeakSet[Database] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for database in list(_DATABASES):
        _INHERITED.append(database._local)
        database._local = threading.local()


os.register_at_fork(after_in_child=_after_fork_in_child)


class Database:
    """One SQLite file in WAL mode (see the module docstring).

    Args:
        path: The database file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        #: True when the file could only be opened for reading.
        self.read_only = False
        self._local = threading.local()
        _DATABASES.add(self)

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open_read_only() if self.read_only else self._open()
            self._local.conn = conn
        return conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, for reads (each statement sees the last commit)."""
        yield self.conn()

    def locking(self, mode: LockMode) -> str:
        """Nothing: a write transaction holds the whole file (``BEGIN IMMEDIATE``)."""
        return ""

    def serialize(self, conn: Connection, what: str) -> None:
        """Nothing to do: write transactions run one at a time."""

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back when it raises."""
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
        for attempt in range(WAL_ATTEMPTS):
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as error:
                if not self._writable():
                    # Nothing here can be written (not even WAL's shared-memory file): read only.
                    conn.close()
                    self.read_only = True
                    return self._open_read_only()
                if "locked" not in str(error) or attempt == WAL_ATTEMPTS - 1:
                    raise
                time.sleep(0.05)  # another process is switching it
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        return conn

    def _writable(self) -> bool:
        folder = self.path.parent
        return os.access(folder, os.W_OK) and (not self.path.exists() or os.access(self.path, os.W_OK))

    def _open_read_only(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri()
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA user_version").fetchone()
        except sqlite3.OperationalError:
            # WAL needs its shared-memory file, which a read-only folder cannot hold:
            # read the database file as it is (nobody can write it through this path).
            conn.close()
            conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None, check_same_thread=False)
        return conn

    def translated(self, error: sqlite3.DatabaseError) -> Exception:
        """A SQLite error in the user's words: a damaged file, a read-only store; others as they are."""
        text = str(error)
        home = self.path.parent
        if "readonly" in text or "read-only" in text or self.read_only and "unable to open" in text:
            return StoreReadOnly(
                f"the store at {home} is read-only here ({text}): it can be read, not written; "
                "use a store you can write (--home DIR or RUNHISTORY_HOME)"
            )
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return StoreCorrupt(
                f"the store's database {self.path} is damaged ({text}): restore it from a backup, or "
                "move it aside (its blobs/ stay) to start a new store there"
            )
        if isinstance(error, sqlite3.OperationalError) and "unable to open" in text:
            return StoreUnavailable(f"cannot open the store's database {self.path}: {text}")
        return error
