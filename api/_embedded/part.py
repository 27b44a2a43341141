"""What every part of the embedded store shares."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from .._errors import RunNotFound
from .blobs import LocalBlobs
from .database import Database


class StorePart:
    """A part of ``EmbeddedStore`` (runs, series, artifacts, assets): they share its file, blobs and clock.

    Attributes:
        home: The store's folder.
        db: Its SQLite file.
        blobs: Its blobs.
        lost_after: Seconds without a heartbeat after which a running run reads as ``lost``.
        clock: The current time, in epoch seconds (tests pass a fixed one).
    """

    home: Path
    db: Database
    blobs: LocalBlobs
    lost_after: float
    clock: Callable[[], float]

    def _require_run(self, conn: sqlite3.Connection, run_id: str) -> None:
        """Raise ``RunNotFound`` unless the run exists (inside the caller's transaction)."""
        if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
            raise RunNotFound(f"no run {run_id!r}")

    def _drop_blob_if_unused(self, conn: sqlite3.Connection, sha256: str) -> bool:
        """Remove the blob when no artifact or asset refers to it; whether it went."""
        used = (
            conn.execute("SELECT 1 FROM artifacts WHERE sha256 = ? LIMIT 1", (sha256,)).fetchone()
            or conn.execute("SELECT 1 FROM asset_files WHERE sha256 = ? LIMIT 1", (sha256,)).fetchone()
        )
        if not used:
            self.blobs.delete(sha256)
        return not used
