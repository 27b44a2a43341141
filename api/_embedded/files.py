"""Artifacts and assets in the embedded store: rows that name blobs (see ``blobs``).

An artifact's blob lands inside the transaction that commits its row, and a
blob that no artifact or asset file names any more is deleted in the
transaction that dropped its last row: a concurrent upload of the same bytes
cannot lose its blob, and the folder keeps no orphans.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, BinaryIO

from .. import _rules as rules
from .._errors import ArtifactNotFound, AssetNotFound
from .._limits import MAX_ARTIFACT_SIZE
from .._models import ArtifactInfo, AssetFile, AssetSummary, AssetVersion
from .._validate import check_artifact_path, check_asset_name, check_prefix
from .part import StorePart

_VERSION = "SELECT name, version, run_id, prefix, created_at FROM assets"


def _under(prefix: str) -> tuple[str, tuple[str, ...]]:
    """SQL keeping the paths ``prefix`` covers (see ``_rules.prefix_bounds``)."""
    bounds = rules.prefix_bounds(prefix)
    if bounds is None:
        return "", ()
    return " AND (path = ? OR (path >= ? AND path < ?))", bounds


class Files(StorePart):
    """The artifacts' and assets' part of ``EmbeddedStore``."""

    # -- artifacts ------------------------------------------------------------

    def put_artifact(
        self, run_id: str, path: str, data: bytes | BinaryIO, *, max_size: int | None = None
    ) -> ArtifactInfo:
        """See ``Store.put_artifact``."""
        path = check_artifact_path(path)
        limit = MAX_ARTIFACT_SIZE if max_size is None else max_size
        self._require_run(self.db.conn(), run_id)  # fail before copying a large file
        staged = self.blobs.stage(data, limit=limit, path=path)
        try:
            now = self.clock()
            with self.db.write() as conn:
                self._require_run(conn, run_id)
                self.blobs.land(staged)
                old = conn.execute(
                    "SELECT sha256 FROM artifacts WHERE run_id = ? AND path = ?", (run_id, path)
                ).fetchone()
                conn.execute(
                    "INSERT OR REPLACE INTO artifacts (run_id, path, sha256, size, created_at) VALUES (?, ?, ?, ?, ?)",
                    (run_id, path, staged.sha256, staged.size, now),
                )
                if old is not None and old[0] != staged.sha256:
                    self._drop_blob_if_unused(conn, old[0])
        except BaseException:
            self.blobs.discard(staged)
            raise
        return ArtifactInfo(path, staged.size, staged.sha256, now)

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactInfo]:
        """See ``Store.list_artifacts``."""
        where, args = _under(check_prefix(prefix))
        rows = (
            self.db.conn()
            .execute(
                f"SELECT path, size, sha256, created_at FROM artifacts WHERE run_id = ?{where} ORDER BY path",
                (run_id, *args),
            )
            .fetchall()
        )
        return [ArtifactInfo(*r) for r in rows]

    def open_artifact(self, run_id: str, path: str) -> BinaryIO:
        """See ``Store.open_artifact``."""
        row = (
            self.db.conn()
            .execute("SELECT sha256 FROM artifacts WHERE run_id = ? AND path = ?", (run_id, path))
            .fetchone()
        )
        if row is None:
            raise ArtifactNotFound(f"run {run_id[:8]} has no artifact {path!r}")
        return self.blobs.open(row[0])

    # -- assets ---------------------------------------------------------------

    def promote(self, run_id: str, prefix: str, name: str) -> AssetVersion:
        """See ``Store.promote``."""
        name = check_asset_name(name)
        prefix = check_prefix(prefix)
        where, args = _under(prefix)
        now = self.clock()
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            files = [
                AssetFile(*r)
                for r in conn.execute(
                    f"SELECT path, size, sha256 FROM artifacts WHERE run_id = ?{where} ORDER BY path", (run_id, *args)
                )
            ]
            if not files:
                raise ArtifactNotFound(
                    f"run {run_id[:8]} has no artifact at or under {prefix or '(everything)'!r}: nothing promoted"
                )
            version = conn.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM assets WHERE name = ?", (name,)
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO assets (name, version, run_id, prefix, created_at) VALUES (?, ?, ?, ?, ?)",
                (name, version, run_id, prefix, now),
            )
            conn.executemany(
                "INSERT INTO asset_files (name, version, path, sha256, size) VALUES (?, ?, ?, ?, ?)",
                [(name, version, f.path, f.sha256, f.size) for f in files],
            )
        return AssetVersion(name, version, run_id, prefix, now, files)

    def list_assets(self) -> list[AssetSummary]:
        """See ``Store.list_assets``."""
        rows = (
            self.db.conn()
            .execute("SELECT name, MAX(version), COUNT(*), MAX(created_at) FROM assets GROUP BY name ORDER BY name")
            .fetchall()
        )
        return [AssetSummary(*r) for r in rows]

    def _asset_version(self, conn: sqlite3.Connection, row: Sequence[Any]) -> AssetVersion:
        files = [
            AssetFile(*r)
            for r in conn.execute(
                "SELECT path, size, sha256 FROM asset_files WHERE name = ? AND version = ? ORDER BY path",
                (row[0], row[1]),
            )
        ]
        return AssetVersion(row[0], row[1], row[2], row[3], row[4], files)

    def list_asset_versions(self, name: str) -> list[AssetVersion]:
        """See ``Store.list_asset_versions``."""
        conn = self.db.conn()
        rows = conn.execute(f"{_VERSION} WHERE name = ? ORDER BY version", (name,)).fetchall()
        if not rows:
            raise AssetNotFound(f"no asset {name!r}")
        return [self._asset_version(conn, r) for r in rows]

    def get_asset(self, name: str, version: int | None = None) -> AssetVersion:
        """See ``Store.get_asset``."""
        rules.check_version(name, version)
        conn = self.db.conn()
        if version is None:
            row = conn.execute(f"{_VERSION} WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)).fetchone()
        else:
            row = conn.execute(f"{_VERSION} WHERE name = ? AND version = ?", (name, version)).fetchone()
        if row is None:
            raise AssetNotFound(f"no asset {name!r}" + ("" if version is None else f" version {version}"))
        return self._asset_version(conn, row)

    def open_asset_file(self, name: str, version: int, path: str) -> BinaryIO:
        """See ``Store.open_asset_file``."""
        rules.check_version(name, version)
        row = (
            self.db.conn()
            .execute(
                "SELECT sha256 FROM asset_files WHERE name = ? AND version = ? AND path = ?", (name, version, path)
            )
            .fetchone()
        )
        if row is None:
            raise AssetNotFound(f"asset {name}:{version} has no file {path!r}")
        return self.blobs.open(row[0])
