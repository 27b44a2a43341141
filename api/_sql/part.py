"""What the parts of a SQL store share: the database they talk to, and the run they check.

The embedded store (SQLite) and the PostgreSQL store run the same statements through
the same code (``runs``, ``series``, ``files``, ``query``); what differs between the two
databases is behind ``Database``: how a connection is had for a read or a write, how a
row is locked for the rest of a transaction, and how writers of one name are queued.
The SQL itself is what both understand: ``?`` placeholders (the PostgreSQL connection
turns them into its own), ``INSERT … ON CONFLICT``, ``TRUE`` and ``FALSE``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .._errors import RunNotFound

#: How a transaction holds a row it read until it ends: ``keep`` keeps it from being
#: deleted (writers of its other columns go on), ``read`` from being changed, ``change``
#: keeps others from changing it (to be written), ``delete`` from anything.
LockMode = Literal["keep", "read", "change", "delete"]


class Cursor(Protocol):
    """The rows a statement answered (a DB-API cursor)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """A connection as the store parts use it (``sqlite3.Connection`` is one)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor: ...


class Database(Protocol):
    """A store's database, as its parts use it."""

    def read(self) -> AbstractContextManager[Connection]:
        """A connection for reads (in one snapshot where the database offers it cheaply)."""
        ...

    def write(self) -> AbstractContextManager[Connection]:
        """One write transaction: committed when the block ends, rolled back when it raises."""
        ...

    def locking(self, mode: LockMode) -> str:
        """What a ``SELECT`` ends with to hold its rows in ``mode`` (see ``LockMode``) until the
        transaction ends: nothing where a write transaction holds the whole database."""
        ...

    def serialize(self, conn: Connection, what: str) -> None:
        """Queue this transaction behind any other holding ``what`` (a name of a thing no row
        stands for yet, such as the next version of an asset)."""
        ...


def upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """An ``INSERT`` of one row of ``columns`` that replaces the row with the same ``key``."""
    changed = [c for c in columns if c not in key]
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
    if not changed:
        return sql + f"ON CONFLICT ({', '.join(key)}) DO NOTHING"
    return sql + f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in changed)


@dataclass(frozen=True)
class Migration:
    """One change to a schema, applied inside the opening transaction.

    Attributes:
        name: What it does, in a few words (shown when it fails, recorded where the database keeps names).
        apply: Makes the change on the connection.
    """

    name: str
    apply: Callable[[Any], None]


def statements(*sql: str) -> Callable[[Connection], None]:
    """A migration made of SQL statements."""

    def apply(conn: Connection) -> None:
        for statement in sql:
            conn.execute(statement)

    return apply


class StorePart:
    """A part of a SQL store (runs, series, artifacts, assets): they share its database, blobs and clock.

    Attributes:
        db: Its database.
        lost_after: Seconds without a heartbeat after which a running run reads as ``lost``.
        clock: The current time, in epoch seconds (tests pass a fixed one).
    """

    db: Database
    lost_after: float
    clock: Callable[[], float]

    def _require_run(self, conn: Connection, run_id: str, lock: LockMode | None = None) -> None:
        """Raise ``RunNotFound`` unless the run exists (inside the caller's transaction, holding
        its row in ``lock`` mode when given)."""
        suffix = "" if lock is None else self.db.locking(lock)
        if conn.execute(f"SELECT 1 FROM runs WHERE id = ?{suffix}", (run_id,)).fetchone() is None:
            raise RunNotFound(f"no run {run_id!r}")

    def _unused_blobs(self, conn: Connection, sha256s: Iterable[str]) -> list[str]:
        """Those of ``sha256s`` that no artifact or asset file names (in the caller's transaction)."""
        return [
            sha256
            for sha256 in dict.fromkeys(sha256s)
            if conn.execute("SELECT 1 FROM artifacts WHERE sha256 = ? LIMIT 1", (sha256,)).fetchone() is None
            and conn.execute("SELECT 1 FROM asset_files WHERE sha256 = ? LIMIT 1", (sha256,)).fetchone() is None
        ]

    def _drop_blobs(self, conn: Connection, sha256s: list[str]) -> None:
        """Delete blobs no row names any more, inside the transaction that dropped their last rows
        (where its writes are serialised: the embedded store). Others leave them for ``_blobs_released``."""

    def _blobs_released(self, sha256s: list[str]) -> None:
        """Delete blobs whose last rows a committed transaction dropped (where writers run at
        once and a row must go before its blob: the PostgreSQL store)."""


#: The ``Store`` methods that talk to the database (and ``collect_garbage``, which only the SQL
#: stores have), each wrapped by ``translate_errors``.
DATABASE_METHODS = (
    "create_run",
    "get_run",
    "list_runs",
    "update_run",
    "heartbeat",
    "finish_run",
    "append_metrics",
    "list_metrics",
    "read_series",
    "put_artifact",
    "list_artifacts",
    "open_artifact",
    "promote",
    "list_assets",
    "list_asset_versions",
    "get_asset",
    "open_asset_file",
    "set_params",
    "update_tags",
    "set_note",
    "rename_run",
    "delete_run",
    "set_environment",
    "get_environment",
    "collect_garbage",
)


def translate_errors(
    cls: type[Any],
    errors: type[Exception] | tuple[type[Exception], ...],
    translated: Callable[[Any, Exception], Exception],
) -> None:
    """Make the database methods of the store class ``cls`` say the database's ``errors`` in the
    user's words: ``translated(store, error)`` gives the error to raise (the same one to let it go as it is)."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except errors as error:
                said = translated(self, error)
                if said is error:
                    raise
                raise said from None

        return call

    for name in DATABASE_METHODS:
        setattr(cls, name, wrap(getattr(cls, name)))
