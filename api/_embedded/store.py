"""``EmbeddedStore``: the parts of the embedded store behind one name.

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

The parts: ``database`` (connections, transactions), ``schema`` (tables and
named migrations), ``runs`` and ``query`` (how a page is planned), ``files``
(artifacts landed in their transactions) and ``blobs``; the SQL of runs, series,
artifacts and assets is the one every SQL store shares (``runhistory.api._sql``).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from .._limits import EMBEDDED_BATCH_POINTS, LOST_AFTER
from .._scratch import scratch_folder, sweep
from .._sql.part import translate_errors
from .._sql.series import SeriesPart
from .blobs import LocalBlobs
from .database import Database
from .files import EmbeddedFiles
from .runs import EmbeddedRuns
from .schema import prepare

#: The database file in a store's folder.
DB_NAME = "runhistory.sqlite3"


class EmbeddedStore(EmbeddedRuns, SeriesPart, EmbeddedFiles):
    """A store in a local folder (see the module docstring).

    Args:
        home: The folder; created if missing.
        lost_after: Seconds without a heartbeat after which a running run is reported ``lost``.
        clock: The current time in epoch seconds, for every time the store records or
            compares (tests pass a fixed one).

    Raises:
        StoreCorrupt: the database file is damaged.
        StoreVersionError: the store was written by a newer runhistory.
        StoreReadOnly: it needs migrating but cannot be written here.
    """

    db: Database
    blobs: LocalBlobs

    def __init__(
        self,
        home: str | os.PathLike[str],
        *,
        lost_after: float = LOST_AFTER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.home = Path(home)
        self.lost_after = lost_after
        self.clock = clock
        tmp = self.home / "tmp"
        self.blobs = LocalBlobs(self.home / "blobs", tmp)
        for folder in (self.home, self.blobs.folder, tmp):
            folder.mkdir(parents=True, exist_ok=True)
        sweep(tmp)  # what killed writers left behind
        self.db = Database(self.home / DB_NAME)
        try:
            prepare(self.db)
        except sqlite3.DatabaseError as error:
            raise self.db.translated(error) from None

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.home)!r})"

    @property
    def read_only(self) -> bool:
        """Whether the store could only be opened for reading (a read-only folder or file system)."""
        return self.db.read_only

    # -- what callers need to know (see ``Store``) ----------------------------

    @property
    def location(self) -> str:
        """The store's folder."""
        return str(self.home)

    @property
    def is_local(self) -> bool:
        """Always: the store is this machine's folder."""
        return True

    @property
    def batch_points(self) -> int:
        """``EMBEDDED_BATCH_POINTS``: one transaction takes many points."""
        return EMBEDDED_BATCH_POINTS

    def staging_dir(self) -> Path:
        """This process's scratch folder in the store's ``tmp/`` (files staged there are
        renamed into ``blobs/``; see ``_scratch``)."""
        return scratch_folder(self.blobs.tmp)

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        self.db.close()


def _translated(store: EmbeddedStore, error: Exception) -> Exception:
    assert isinstance(error, sqlite3.DatabaseError)
    return store.db.translated(error)


# SQLite's errors said in the user's words (see ``Database.translated``).
translate_errors(EmbeddedStore, sqlite3.DatabaseError, _translated)
