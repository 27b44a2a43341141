"""Artifacts and assets in a SQL store: rows that name blobs (see ``runhistory.api._blobs``).

How a file's bytes reach the blobs before its row is committed is each store's own
(``put_artifact``); what the rows say, and how they are read, is here. A promotion holds
the artifact rows it copies until it commits, so that the blobs they name cannot be
freed (by a replaced or deleted artifact) before the asset's own rows name them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from .. import _rules as rules
from .._errors import ArtifactNotFound, AssetNotFound
from .._limits import GC_GRACE, MAX_ARTIFACT_SIZE
from .._models import ArtifactInfo, AssetFile, AssetSummary, AssetVersion
from .._validate import check_artifact_path, check_asset_name, check_prefix, check_sha256
from .part import Connection, StorePart, upsert

_VERSION = "SELECT name, version, run_id, prefix, created_at FROM assets"
_SET_ARTIFACT = upsert("artifacts", ("run_id", "path", "sha256", "size", "created_at"), ("run_id", "path"))


class Blobs(Protocol):
    """What the rows' part needs of a store's blobs: to read one, and to collect those no row names."""

    def open(self, sha256: str) -> BinaryIO: ...

    def all(self) -> Iterator[tuple[str, float]]: ...

    def size(self, sha256: str) -> int | None: ...

    def delete(self, sha256: str) -> None: ...

    def sweep(self) -> int: ...


@dataclass(frozen=True)
class Garbage:
    """What ``collect_garbage`` found (and, unless it was a dry run, removed).

    Attributes:
        orphans: The blobs no row names and older than the grace period, each with its size:
            deleted, or those a dry run would delete.
        young: Blobs no row names, left because they are younger than the grace period.
        named: Blobs some row names (kept), counting those named while the collection ran.
        temporary: Stale temporary uploads removed (``None`` in a dry run: they are only counted by removing them).
        dry_run: Whether nothing was removed.
    """

    orphans: list[tuple[str, int]]
    young: int
    named: int
    temporary: int | None
    dry_run: bool

    @property
    def orphan_bytes(self) -> int:
        """The orphans' bytes together."""
        return sum(size for _, size in self.orphans)


def _under(prefix: str) -> tuple[str, tuple[str, ...]]:
    """SQL keeping the paths ``prefix`` covers (see ``_rules.prefix_bounds``)."""
    bounds = rules.prefix_bounds(prefix)
    if bounds is None:
        return "", ()
    return " AND (path = ? OR (path >= ? AND path < ?))", bounds


class Files(StorePart):
    """The artifacts' and assets' part of a SQL store (each store adds ``put_artifact``).

    Attributes:
        blobs: Where the files' bytes are.
    """

    blobs: Blobs

    # -- artifacts ------------------------------------------------------------

    def _upload(self, run_id: str, path: str, max_size: int | None, sha256: str | None = None) -> tuple[str, int]:
        """The checked path of a file about to be stored, and the most bytes it may have;
        ``RunNotFound`` before a large file is copied for a run that is not there, and
        ``InvalidInput`` for a ``sha256`` announced with it that is no sha256."""
        path = check_artifact_path(path)
        if sha256 is not None:
            check_sha256(sha256)
        with self.db.read() as conn:
            self._require_run(conn, run_id)
        return path, MAX_ARTIFACT_SIZE if max_size is None else max_size

    def _record_artifact(
        self, conn: Connection, run_id: str, path: str, sha256: str, size: int, now: float
    ) -> str | None:
        """Name the blob ``sha256`` as the run's file ``path`` (replacing the file there, held
        until the transaction ends); the blob the replaced file named when it was another."""
        old = conn.execute(
            f"SELECT sha256 FROM artifacts WHERE run_id = ? AND path = ?{self.db.locking('change')}", (run_id, path)
        ).fetchone()
        conn.execute(_SET_ARTIFACT, (run_id, path, sha256, size, now))
        return None if old is None or old[0] == sha256 else str(old[0])

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactInfo]:
        """See ``Store.list_artifacts``."""
        where, args = _under(check_prefix(prefix))
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT path, size, sha256, created_at FROM artifacts WHERE run_id = ?{where} ORDER BY path",
                (run_id, *args),
            ).fetchall()
        return [ArtifactInfo(*r) for r in rows]

    def _artifact_blob(self, run_id: str, path: str) -> tuple[str, int]:
        """The sha256 and size of the run's file ``path``; ``ArtifactNotFound`` when there is none."""
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT sha256, size FROM artifacts WHERE run_id = ? AND path = ?", (run_id, path)
            ).fetchone()
        if row is None:
            raise ArtifactNotFound(f"run {run_id[:8]} has no artifact {path!r}")
        return str(row[0]), int(row[1])

    def open_artifact(self, run_id: str, path: str) -> BinaryIO:
        """See ``Store.open_artifact``."""
        return self.blobs.open(self._artifact_blob(run_id, path)[0])

    # -- garbage ----------------------------------------------------------------

    def collect_garbage(self, *, grace: float = GC_GRACE, dry_run: bool = False) -> Garbage:
        """Delete the blobs no row names that are older than ``grace`` seconds, and the stale
        temporary uploads (see ``runhistory.api._blobs``).

        Each candidate is looked at again just before it goes, in a transaction that waits for
        any writer naming it (``serialize`` on the blob, which ``put_artifact`` shares): a blob
        put again while the collection runs is named by then, or put again by its writer after
        it is gone. A blob's time is when it was first stored, so the grace period alone could
        not keep it.

        Args:
            grace: Seconds a blob no row names is left alone (an upload about to be committed).
            dry_run: Find them, remove nothing.
        """
        cutoff = self.clock() - grace
        with self.db.read() as conn:
            named = {row[0] for row in conn.execute("SELECT sha256 FROM artifacts")}
            named.update(row[0] for row in conn.execute("SELECT sha256 FROM asset_files"))
        candidates: list[str] = []
        young = kept = 0
        for sha256, stored_at in self.blobs.all():
            if sha256 in named:
                kept += 1
            elif stored_at > cutoff:
                young += 1
            else:
                candidates.append(sha256)
        orphans: list[tuple[str, int]] = []
        for sha256 in candidates:
            size = self.blobs.size(sha256)
            if size is None:
                continue  # gone meanwhile
            with self.db.read() if dry_run else self.db.write() as conn:
                if not dry_run:
                    self.db.serialize(conn, f"blob {sha256}")
                if not self._unused_blobs(conn, [sha256]):
                    kept += 1
                    continue
                if not dry_run:
                    self.blobs.delete(sha256)
            orphans.append((sha256, size))
        temporary = None if dry_run else self.blobs.sweep()
        return Garbage(orphans, young, kept, temporary, dry_run)

    # -- assets ---------------------------------------------------------------

    def promote(self, run_id: str, prefix: str, name: str) -> AssetVersion:
        """See ``Store.promote``."""
        name = check_asset_name(name)
        prefix = check_prefix(prefix)
        where, args = _under(prefix)
        now = self.clock()
        with self.db.write() as conn:
            self._require_run(conn, run_id, "keep")
            files = [
                AssetFile(*r)
                for r in conn.execute(
                    f"SELECT path, size, sha256 FROM artifacts WHERE run_id = ?{where} ORDER BY path"
                    + self.db.locking("read"),
                    (run_id, *args),
                )
            ]
            if not files:
                raise ArtifactNotFound(
                    f"run {run_id[:8]} has no artifact at or under {prefix or '(everything)'!r}: nothing promoted"
                )
            self.db.serialize(conn, f"asset {name}")  # one new version of a name at a time
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
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT name, MAX(version), COUNT(*), MAX(created_at) FROM assets GROUP BY name ORDER BY name"
            ).fetchall()
        return [AssetSummary(*r) for r in rows]

    def _asset_version(self, conn: Connection, row: Sequence[Any]) -> AssetVersion:
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
        with self.db.read() as conn:
            rows = conn.execute(f"{_VERSION} WHERE name = ? ORDER BY version", (name,)).fetchall()
            if not rows:
                raise AssetNotFound(f"no asset {name!r}")
            return [self._asset_version(conn, r) for r in rows]

    def get_asset(self, name: str, version: int | None = None) -> AssetVersion:
        """See ``Store.get_asset``."""
        rules.check_version(name, version)
        with self.db.read() as conn:
            if version is None:
                row = conn.execute(f"{_VERSION} WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)).fetchone()
            else:
                row = conn.execute(f"{_VERSION} WHERE name = ? AND version = ?", (name, version)).fetchone()
            if row is None:
                raise AssetNotFound(f"no asset {name!r}" + ("" if version is None else f" version {version}"))
            return self._asset_version(conn, row)

    def _asset_file_blob(self, name: str, version: int, path: str) -> tuple[str, int]:
        """The sha256 and size of one file of an asset version; ``AssetNotFound`` when there is none."""
        rules.check_version(name, version)
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT sha256, size FROM asset_files WHERE name = ? AND version = ? AND path = ?",
                (name, version, path),
            ).fetchone()
        if row is None:
            raise AssetNotFound(f"asset {name}:{version} has no file {path!r}")
        return str(row[0]), int(row[1])

    def open_asset_file(self, name: str, version: int, path: str) -> BinaryIO:
        """See ``Store.open_asset_file``."""
        return self.blobs.open(self._asset_file_blob(name, version, path)[0])
