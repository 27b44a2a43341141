"""The PostgreSQL store's database: a pool of connections, transactions, and the server's
errors in the user's words. Nothing else.

Connections come from a ``psycopg_pool.ConnectionPool`` opened on first use in each
process: a forked child never touches its parent's connections (they share the sockets;
a child that used one would break the parent's session), and opens a pool of its own.
The inherited ones are kept, never closed (psycopg, too, closes a connection only in
the process that opened it). Every write is one transaction (``READ COMMITTED``); the store's parts hold the
rows they change with ``SELECT … FOR …`` (see ``locking``). A read is one ``REPEATABLE
READ, READ ONLY`` transaction, so that its statements (a series' count, then its chunks)
see the same moment.

The store's SQL is written with ``?`` placeholders, as SQLite's is; ``Connection`` turns
them into psycopg's ``%s``.
"""

from __future__ import annotations

import functools
import os
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors

from .._errors import InvalidInput, StoreCorrupt, StoreReadOnly, StoreUnavailable
from .._sql.part import Connection as AnyConnection
from .._sql.part import LockMode

#: Most connections a store opens to the server (per process), unless told otherwise.
POOL_SIZE = 8
#: Seconds to wait for the server to answer when a connection is opened.
CONNECT_TIMEOUT = 10
#: Seconds a call waits for a connection (all in use, or the server unreachable) before it fails.
POOL_TIMEOUT = 15.0

# Pools handed down by fork() belong to the parent: kept here, never closed nor used.
_INHERITED: list[object] = []
_DATABASES: weakref.WeakSet[Database] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for database in list(_DATABASES):
        _INHERITED.append(database._pool)
        database._pool = None
        database._pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)

#: The row locks of ``_sql.part.LockMode``.
_LOCKS: dict[LockMode, str] = {
    "keep": " FOR KEY SHARE",
    "read": " FOR SHARE",
    "change": " FOR NO KEY UPDATE",
    "delete": " FOR UPDATE",
}


#: Statements whose psycopg form is kept (the store's SQL is a few hundred distinct texts).
_KEPT_STATEMENTS = 1024


@functools.lru_cache(maxsize=_KEPT_STATEMENTS)
def _placeholders(sql: str) -> bytes:
    """``sql`` with psycopg's placeholders: ``?`` becomes ``%s``, a literal ``%`` is doubled."""
    return sql.replace("%", "%%").replace("?", "%s").encode()


class Connection:
    """A psycopg connection that takes the store's SQL (``?`` placeholders; see ``_sql.part.Connection``)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        """Run one statement; its cursor."""
        return self.raw.execute(_placeholders(sql), parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> psycopg.Cursor[Any]:
        """Run one statement for each of ``parameters``."""
        cursor = self.raw.cursor()
        cursor.executemany(_placeholders(sql), list(parameters))
        return cursor


def without_password(dsn: str) -> str:
    """The connection string with any password taken out (it is shown to people and written down)."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        netloc = parts.netloc
        if "@" in netloc:
            user, host = netloc.rsplit("@", 1)
            netloc = user.split(":", 1)[0] + "@" + host
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "password"])
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    try:
        settings = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(a malformed PostgreSQL connection string)"
    settings.pop("password", None)
    return psycopg.conninfo.make_conninfo("", **settings)


class Database:
    """A PostgreSQL database reached through a pool of connections (see the module docstring).

    Args:
        dsn: Where the database is (``postgresql://user:password@host:port/name``, or ``key=value`` words).
        pool_size: Most connections open at once in this process.
    """

    def __init__(self, dsn: str, *, pool_size: int = POOL_SIZE) -> None:
        if not isinstance(pool_size, int) or pool_size < 1:
            raise InvalidInput(f"pool_size must be a whole number of connections, 1 or more; got {pool_size!r}")
        self.dsn = dsn
        self.location = without_password(dsn)
        self.pool_size = pool_size
        self._pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] | None = None
        self._pool_lock = threading.Lock()
        #: Set when a connection broke (the server went away): the next call looks before it uses the pool.
        self._suspect = False
        _DATABASES.add(self)

    def connect(self) -> psycopg.Connection[Any]:
        """A connection of its own, outside the pool (the caller closes it)."""
        return psycopg.connect(self.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT)

    def _pool_here(self) -> psycopg_pool.ConnectionPool[psycopg.Connection[Any]]:
        """This process's pool (opened on first use, and again in a forked child)."""
        pool = self._pool
        if pool is not None and not self._suspect:
            return pool
        with self._pool_lock:
            if self._suspect:
                # The connections the pool holds were to a server that went away, and it would wait
                # POOL_TIMEOUT (then back off) before it tried again: ask the server at once,
                # raising why it cannot be reached, and start a new pool when it answers.
                self.connect().close()
                stale, self._pool, self._suspect = self._pool, None, False
                if stale is not None:
                    stale.close(timeout=0)
            if self._pool is None:
                self._pool = psycopg_pool.ConnectionPool(
                    self.dsn,
                    kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
                    min_size=1,
                    max_size=self.pool_size,
                    timeout=POOL_TIMEOUT,
                    num_workers=1,
                    name="runhistory",
                    open=True,
                )
            return self._pool

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection of the pool in a transaction, committed when the block ends (see ``_suspect``).

        A connection the server dropped while it sat in the pool (a restart, a failover) fails
        at ``BEGIN``, before anything of the call was sent: the call is then begun once more,
        on a connection the server has just given, so a restarted server costs no call an error.
        """
        for attempt in range(2):
            with ExitStack() as stack:
                conn = stack.enter_context(self._pool_here().connection())
                try:
                    stack.enter_context(conn.transaction())
                except psycopg.OperationalError:
                    if not conn.broken:
                        raise
                    self._suspect = True
                    if attempt:
                        raise
                    continue  # the broken connection goes back, and the pool drops it
                try:
                    yield conn
                except psycopg.OperationalError:
                    if conn.broken:
                        self._suspect = True
                    raise
                return

    @contextmanager
    def read(self) -> Iterator[AnyConnection]:
        """A read-only transaction that sees one moment of the database."""
        with self._transaction() as conn:
            conn.execute(b"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield Connection(conn)

    @contextmanager
    def write(self) -> Iterator[AnyConnection]:
        """One write transaction: committed when the block ends, rolled back when it raises."""
        with self._transaction() as conn:
            yield Connection(conn)

    def locking(self, mode: LockMode) -> str:
        """See ``_sql.part.Database.locking``: PostgreSQL's row locks."""
        return _LOCKS[mode]

    def serialize(self, conn: AnyConnection, what: str) -> None:
        """See ``_sql.part.Database.serialize``: an advisory lock on ``what``, held until the transaction ends."""
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", ("runhistory " + what,))

    def share(self, conn: AnyConnection, what: str) -> None:
        """Hold ``what`` alongside other sharers until the transaction ends; ``serialize`` waits for them all."""
        conn.execute("SELECT pg_advisory_xact_lock_shared(hashtextextended(?, 0))", ("runhistory " + what,))

    def close(self) -> None:
        """Close this process's connections (a forked child never closes its parent's); a later
        call opens new ones, as the embedded store's does."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def translated(self, error: Exception) -> Exception:
        """A database error in the user's words (others as they are)."""
        said = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        where = f"the PostgreSQL server at {self.location}"
        if isinstance(error, psycopg_pool.PoolTimeout):
            return StoreUnavailable(
                f"no connection to {where} within {POOL_TIMEOUT:g} s: it is down, unreachable or refusing "
                "connections (or every connection of this process is busy)"
            )
        if isinstance(error, (pg_errors.InsufficientPrivilege, pg_errors.ReadOnlySqlTransaction)):
            return StoreReadOnly(f"{where} does not let this user write ({said}): it can be read, not written")
        if isinstance(error, pg_errors.ProgramLimitExceeded):
            return InvalidInput(f"{where} refused a value past one of its limits: {said}")
        if isinstance(error, pg_errors.UndefinedTable):
            return StoreCorrupt(f"the database at {self.location} is missing runhistory's tables ({said})")
        if isinstance(error, psycopg.OperationalError):
            return StoreUnavailable(f"{where} cannot be used now: {said}")
        if isinstance(error, psycopg.DataError):
            return InvalidInput(f"{where} refused a value: {said}")
        return error
