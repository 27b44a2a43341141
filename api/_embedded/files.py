"""Artifacts in the embedded store: the rows every SQL store shares (``runhistory.api._sql.files``),
with blobs landed and freed inside the transactions that write their rows.

An artifact's blob lands inside the transaction that commits its row, and a
blob that no artifact or asset file names any more is deleted in the
transaction that dropped its last row: SQLite's write lock serialises these
transactions, so a concurrent upload of the same bytes cannot lose its blob,
and the folder keeps no orphans.
"""

from __future__ import annotations

from typing import BinaryIO

from .._models import ArtifactInfo
from .._sql.files import Files
from .._sql.part import Connection
from .blobs import LocalBlobs


class EmbeddedFiles(Files):
    """The artifacts' and assets' part of ``EmbeddedStore``."""

    blobs: LocalBlobs

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
        staged = self.blobs.stage(data, limit=limit, path=path, sha256=sha256)
        try:
            now = self.clock()
            with self.db.write() as conn:
                self._require_run(conn, run_id)
                self.blobs.land(staged)
                old = self._record_artifact(conn, run_id, path, staged.sha256, staged.size, now)
                if old is not None:
                    self._drop_blobs(conn, self._unused_blobs(conn, [old]))
        except BaseException:
            self.blobs.discard(staged)
            raise
        return ArtifactInfo(path, staged.size, staged.sha256, now)

    def _drop_blobs(self, conn: Connection, sha256s: list[str]) -> None:
        """Delete them now: the write lock keeps any other writer out until this transaction ends."""
        for sha256 in sha256s:
            self.blobs.delete(sha256)
