"""``PostgresStore``: run history in a PostgreSQL database, file contents in a ``BlobStore``.

The team backend: any number of processes and servers share one database and one blob
store. Runs, series, artifacts and assets are the tables of the embedded store, read and
written by the same SQL (``runhistory.api._sql``); what PostgreSQL does its own way:

- **Concurrency.** Writers run at once: each holds the rows it changes until it commits
  (a series' ``metrics`` row while its tail chunk is rewritten, a run's row while its
  params or tags are merged), so that concurrent appends to one run neither lose nor
  repeat a point. A batch's idempotency key commits with its points.
- **Direct transfers.** With its blobs in an S3 bucket the store is a ``DirectTransfer``:
  clients send and fetch file bytes by presigned URL; a sent file is verified in the
  bucket (``S3Blobs.commit``) and then recorded as ``put_artifact`` records one.
- **Blobs** follow ``runhistory.api._blobs``: a file's bytes are put before its row is
  committed, and a blob is deleted only after the rows naming it are gone. Writers of a
  row naming a blob share an advisory lock on it; a blob is deleted under that lock held
  alone, once no committed row names it, so an upload racing a delete of the same bytes
  puts them again instead of naming a blob that is gone.

The parts: ``database`` (the pool, transactions, errors), ``schema`` (tables and named
migrations) and ``query`` (globs and substrings in PostgreSQL's words).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import psycopg
import psycopg_pool

from .._blobs import BlobStore, DirectDownload, DirectUpload, PresigningBlobs, too_large
from .._errors import DirectTransferNotOffered, IntegrityError, InvalidInput, StoreUnavailable
from .._limits import LOST_AFTER, REMOTE_BATCH_POINTS
from .._models import ArtifactInfo
from .._sql.files import Files
from .._sql.part import Connection, translate_errors
from .._sql.runs import Runs
from .._sql.series import SeriesPart
from .._validate import check_artifact_path
from .database import POOL_SIZE, Database
from .query import PostgresCompiler
from .schema import prepare

#: The most points a logger sends in one ``append_metrics`` call: a transaction that holds its
#: series' rows briefly, and a batch small enough to send again quickly when a server replica
#: in front of the database goes away.
POSTGRES_BATCH_POINTS = REMOTE_BATCH_POINTS


class PostgresStore(Runs, SeriesPart, Files):
    """A store in a PostgreSQL database (see the module docstring).

    Args:
        dsn: The database (``postgresql://user:password@host:port/name``); its tables are
            made, or migrated, on open.
        blobs: Where file contents go (a folder, an object store bucket).
        staging: A folder of this machine where a logger may stage files (its scratch folder
            is made there); ``<home>/tmp`` of ``default_home()`` when not given.
        lost_after: Seconds without a heartbeat after which a running run is reported ``lost``.
        clock: The current time in epoch seconds, for every time the store records or compares.
        pool_size: Most connections this process opens to the server.

    Raises:
        StoreUnavailable: the server cannot be reached, or refuses the connection.
        StoreVersionError: the database was migrated by a newer runhistory.
    """

    compiler = PostgresCompiler
    db: Database
    blobs: BlobStore

    def __init__(
        self,
        dsn: str,
        *,
        blobs: BlobStore,
        staging: Path | None = None,
        lost_after: float = LOST_AFTER,
        clock: Callable[[], float] = time.time,
        pool_size: int = POOL_SIZE,
    ) -> None:
        self.db = Database(dsn, pool_size=pool_size)
        self.blobs = blobs
        self.staging = staging
        self.lost_after = lost_after
        self.clock = clock
        try:
            prepare(self.db)
        except psycopg.Error as error:
            raise self.db.translated(error) from None

    def __repr__(self) -> str:
        return f"PostgresStore({self.location!r})"

    # -- what callers need to know (see ``Store``) ----------------------------

    @property
    def location(self) -> str:
        """The database's connection string, without its password."""
        return self.db.location

    @property
    def is_local(self) -> bool:
        """Never: the database is a server, which may be away."""
        return False

    @property
    def batch_points(self) -> int:
        """``POSTGRES_BATCH_POINTS``."""
        return POSTGRES_BATCH_POINTS

    def staging_dir(self) -> Path:
        """This process's scratch folder in ``staging`` (or ``<home>/tmp`` on this machine; see ``_scratch``)."""
        from .._open import default_home
        from .._scratch import scratch_folder

        return scratch_folder(self.staging if self.staging is not None else default_home() / "tmp")

    def close(self) -> None:
        """Close this process's connections."""
        self.db.close()

    # -- artifacts: blob first, then its row ------------------------------------

    def put_artifact(
        self,
        run_id: str,
        path: str,
        data: bytes | BinaryIO,
        *,
        max_size: int | None = None,
        sha256: str | None = None,
    ) -> ArtifactInfo:
        """See ``Store.put_artifact``."""
        path, limit = self._upload(run_id, path, max_size, sha256)
        start = _position(data)
        found, size = self.blobs.put(data, limit=limit, path=path, sha256=sha256)
        return self._name_blob(run_id, path, found, size, lambda: self._put_again(data, start, limit, path))

    def _name_blob(self, run_id: str, path: str, sha256: str, size: int, put_again: Callable[[], None]) -> ArtifactInfo:
        """Record the blob ``sha256``, just put, as the run's file ``path`` (see the module docstring)."""
        now = self.clock()
        with self.db.write() as conn:
            self._require_run(conn, run_id, "keep")
            self.db.share(conn, f"blob {sha256}")
            if not self.blobs.exists(sha256):
                # Freed by a delete that committed between the put and this lock: put it again.
                put_again()
            old = self._record_artifact(conn, run_id, path, sha256, size, now)
        if old is not None:
            self._blobs_released([old])
        return ArtifactInfo(path, size, sha256, now)

    def _put_again(self, data: bytes | BinaryIO, start: int | None, limit: int, path: str) -> None:
        if isinstance(data, (bytes, bytearray, memoryview)):
            self.blobs.put(bytes(data), limit=limit, path=path)
        elif start is not None:
            data.seek(start)
            self.blobs.put(data, limit=limit, path=path)
        else:
            raise StoreUnavailable(
                f"the contents of {path!r} were freed by a delete while they were uploaded, and the stream "
                "cannot be read again: upload the file again"
            )

    # -- direct transfers (see ``DirectTransfer``) -------------------------------

    @property
    def offers_direct_transfer(self) -> bool:
        """Whether clients may send and fetch bytes by presigned URL: when the blobs are in a bucket."""
        return isinstance(self.blobs, PresigningBlobs)

    def _presigning(self) -> PresigningBlobs:
        if not isinstance(self.blobs, PresigningBlobs):
            raise DirectTransferNotOffered(
                f"the files of {self.location} are kept in {self.blobs!r}, which no client can be sent to"
            )
        return self.blobs

    def begin_direct_upload(
        self, run_id: str, path: str, sha256: str, size: int, *, max_size: int | None = None
    ) -> DirectUpload:
        """See ``DirectTransfer.begin_direct_upload``."""
        blobs = self._presigning()
        path, limit = self._upload(run_id, path, max_size)
        if size > limit:
            raise too_large(path, size, limit)
        return blobs.presigned_put(sha256, size=size)

    def finish_direct_upload(
        self, run_id: str, path: str, upload: str, sha256: str, *, max_size: int | None = None
    ) -> ArtifactInfo:
        """See ``DirectTransfer.finish_direct_upload``."""
        blobs = self._presigning()
        path, limit = self._upload(run_id, path, max_size)
        try:
            sha256, size = blobs.commit(upload, sha256, limit=limit, path=path)
        except IntegrityError as error:
            # The client's bytes, not the store, are wrong: a refusal, not a failure.
            raise InvalidInput(str(error)) from None

        def sent_again() -> None:
            raise StoreUnavailable(
                f"the contents of {path!r} were freed by a delete while they were committed: upload the file again"
            )

        return self._name_blob(run_id, path, sha256, size, sent_again)

    def artifact_download(self, run_id: str, path: str) -> DirectDownload:
        """See ``DirectTransfer.artifact_download``."""
        blobs = self._presigning()
        sha256, size = self._artifact_blob(run_id, check_artifact_path(path))
        return DirectDownload(blobs.presigned_get(sha256), sha256, size)

    def asset_file_download(self, name: str, version: int, path: str) -> DirectDownload:
        """See ``DirectTransfer.asset_file_download``."""
        blobs = self._presigning()
        sha256, size = self._asset_file_blob(name, version, path)
        return DirectDownload(blobs.presigned_get(sha256), sha256, size)

    def _blobs_released(self, sha256s: list[str]) -> None:
        """Delete each blob no committed row names, holding its lock alone (see the module docstring)."""
        for sha256 in sha256s:
            with self.db.write() as conn:
                self.db.serialize(conn, f"blob {sha256}")
                if self._unused_blobs(conn, [sha256]):
                    self.blobs.delete(sha256)

    def _drop_blobs(self, conn: Connection, sha256s: list[str]) -> None:
        """Nothing inside the transaction: a blob goes after its rows (``_blobs_released``)."""


def _position(data: bytes | BinaryIO) -> int | None:
    """Where a seekable stream starts (to read it again); ``None`` for bytes or a stream that cannot seek."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return None
    try:
        return data.tell() if data.seekable() else None
    except (OSError, ValueError, io.UnsupportedOperation, AttributeError):
        return None


def _translated(store: PostgresStore, error: Exception) -> Exception:
    return store.db.translated(error)


# The server's errors said in the user's words (see ``Database.translated``).
translate_errors(PostgresStore, (psycopg.Error, psycopg_pool.PoolTimeout), _translated)
