"""Downloads that check every file's sha256, for any store."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from ._errors import ArtifactNotFound, IntegrityError
from ._store import Store
from ._validate import check_artifact_path

#: Called with (path, bytes done, bytes in all) as a download proceeds.
Progress = Callable[[str, int, int], None]

_PIECE = 1 << 20


def _target(dest: Path, path: str) -> Path:
    check_artifact_path(path)
    target = dest.joinpath(*path.split("/"))
    # A stored path was validated when it was written; this is the second lock
    # on the door, in case a store (or a server) hands back something odd.
    if not target.resolve().is_relative_to(dest.resolve()):
        raise IntegrityError(f"artifact path {path!r} would land outside {dest}")
    return target


def _save(opener: Callable[[], BinaryIO], target: Path, sha256: str, on_bytes: Callable[[int], None]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    try:
        with opener() as source, open(part, "wb") as out:
            while piece := source.read(_PIECE):
                digest.update(piece)
                out.write(piece)
                on_bytes(len(piece))
        if digest.hexdigest() != sha256:
            raise IntegrityError(
                f"{target.name}: sha256 is {digest.hexdigest()}, expected {sha256}; the file was not kept"
            )
        os.replace(part, target)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _save_all(
    files: Iterable[tuple[str, int, str]],
    opener: Callable[[str], BinaryIO],
    dest: Path,
    progress: Progress | None,
) -> list[Path]:
    files = list(files)
    total = sum(size for _, size, _ in files)
    done = 0
    saved: list[Path] = []
    for path, _, sha256 in files:
        target = _target(dest, path)

        def on_bytes(n: int, path: str = path) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(path, done, total)

        _save(lambda: opener(path), target, sha256, on_bytes)
        saved.append(target)
    return saved


def download_artifacts(
    store: Store,
    run_id: str,
    dest: str | os.PathLike[str],
    *,
    prefix: str = "",
    path: str | None = None,
    progress: Progress | None = None,
) -> list[Path]:
    """Save a run's files at or under ``prefix`` (or the one file ``path``) below ``dest``, keeping their paths.

    Every file is written to ``NAME.part`` while its sha256 is computed, and
    renamed only when it matches.

    Returns:
        The saved files.

    Raises:
        ArtifactNotFound: nothing matches ``prefix``.
        IntegrityError: a file's bytes do not match its recorded sha256.
    """
    if path is not None:
        infos = [a for a in store.list_artifacts(run_id, path) if a.path == path]
        if not infos:
            raise ArtifactNotFound(f"run {run_id[:8]} has no artifact {path!r}")
    else:
        infos = store.list_artifacts(run_id, prefix)
        if not infos:
            raise ArtifactNotFound(f"run {run_id[:8]} has no artifact at or under {prefix!r}")
    return _save_all(
        ((a.path, a.size, a.sha256) for a in infos),
        lambda name: store.open_artifact(run_id, name),
        Path(dest),
        progress,
    )


def download_asset(
    store: Store,
    name: str,
    version: int | None,
    dest: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
) -> list[Path]:
    """Save an asset version's files below ``dest`` (the newest version when ``version`` is None).

    Raises:
        AssetNotFound: no such asset or version.
        IntegrityError: a file's bytes do not match its recorded sha256.
    """
    asset = store.get_asset(name, version)
    return _save_all(
        ((f.path, f.size, f.sha256) for f in asset.files),
        lambda path: store.open_asset_file(asset.name, asset.version, path),
        Path(dest),
        progress,
    )
