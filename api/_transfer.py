"""Downloads that check every file's sha256 and never replace a file unasked, for any store.

A download is planned whole before its first byte is written: every target is
looked at on disk, so that a file already there with other contents, a folder
where a file should go (or a file where a folder is needed), or two artifacts
that would be a file and a folder at one place stop it with nothing written.
A file already there with the same sha256 is skipped.
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from ._errors import ArtifactNotFound, DownloadConflict, IntegrityError, InvalidInput
from ._store import Store
from ._validate import check_artifact_path

#: Called with (path, bytes done, bytes in all) as a download proceeds.
Progress = Callable[[str, int, int], None]

#: What became of a file: written where nothing was, written over a different
#: file (only when asked to overwrite), or left as it was (the same bytes were there).
DownloadStatus = Literal["saved", "replaced", "skipped"]

_PIECE = 1 << 20


@dataclass(frozen=True)
class DownloadedFile:
    """One file of a download, and what became of it.

    Attributes:
        path: The artifact's path in its run (or asset version).
        saved_to: Where the file is on disk.
        size: Its size in bytes.
        sha256: Its sha256, which the file on disk has.
        status: ``saved`` (nothing was there), ``replaced`` (a file with other
            contents was there; only with ``overwrite``) or ``skipped`` (a file
            with the same sha256 was already there and was left as it was).
    """

    path: str
    saved_to: Path
    size: int
    sha256: str
    status: DownloadStatus


@dataclass(frozen=True)
class _Wanted:
    path: str  # in the run or asset
    where: tuple[str, ...]  # below the destination folder
    size: int
    sha256: str


def _target(dest: Path, where: tuple[str, ...], path: str) -> Path:
    target = dest.joinpath(*where)
    # A stored path was validated when it was written; this is the second lock
    # on the door, in case a store (or a server) hands back something odd.
    if not target.resolve().is_relative_to(dest.resolve()):
        raise IntegrityError(f"artifact path {path!r} would land outside {dest}")
    return target


def _sha256_of(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        while piece := f.read(_PIECE):
            digest.update(piece)
    return digest.hexdigest()


def _plan(wanted: list[_Wanted], dest: Path, overwrite: bool) -> list[DownloadedFile]:
    """What each file will become, from what is on disk; raises ``DownloadConflict`` and writes nothing."""
    targets = [_target(dest, w.where, w.path) for w in wanted]
    files = {w.where: w for w in wanted}
    # Every folder the files need (the destination too), with a file that needs it.
    folders: dict[tuple[str, ...], _Wanted] = {}
    for w in wanted:
        for depth in range(len(w.where)):
            folders.setdefault(w.where[:depth], w)
    blocked: list[tuple[Path, str]] = []
    differing: list[Path] = []
    bad: set[tuple[str, ...]] = set()  # places said to be in the way (what is below them is not looked at)

    def below_bad(where: tuple[str, ...]) -> bool:
        return any(where[:depth] in bad for depth in range(len(where) + 1))

    for where in sorted(folders, key=len):
        if below_bad(where):
            continue
        place, needing = dest.joinpath(*where), folders[where].path
        if where in files:
            why = f"the artifact {files[where].path!r} would be a file there, and {needing!r} needs a folder there"
        elif os.path.lexists(place) and not place.is_dir():
            why = f"a file is there, and {needing!r} needs a folder there"
        else:
            continue
        blocked.append((place, why))
        bad.add(where)
    plan: list[DownloadedFile] = []
    for w, target in zip(wanted, targets):
        status: DownloadStatus = "saved"
        if not below_bad(w.where):
            try:
                info = target.stat()
            except FileNotFoundError:
                if target.is_symlink():  # a link leading nowhere: something of the user's is there
                    differing.append(target)
                    status = "replaced"
            else:
                if stat.S_ISDIR(info.st_mode):
                    blocked.append((target, f"a folder is there, where the file {w.path!r} should go"))
                elif not stat.S_ISREG(info.st_mode):
                    blocked.append((target, f"something other than a file is there, where {w.path!r} should go"))
                elif info.st_size == w.size and _sha256_of(target) == w.sha256:
                    status = "skipped"
                else:
                    differing.append(target)
                    status = "replaced"
        plan.append(DownloadedFile(w.path, target, w.size, w.sha256, status))
    if blocked or (differing and not overwrite):
        raise DownloadConflict(differing, blocked)
    return plan


def _temporary(folder: Path) -> tuple[Path, BinaryIO]:
    """A new hidden file in ``folder``, its name short whatever the target's (created with the umask's mode)."""
    while True:
        part = folder / f".{secrets.token_hex(6)}.part"
        try:
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            continue
        return part, os.fdopen(fd, "wb")


def _save(opener: Callable[[], BinaryIO], file: DownloadedFile, on_bytes: Callable[[int], None]) -> None:
    target = file.saved_to
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with opener() as source:
        part, out = _temporary(target.parent)
        try:
            with out:
                while piece := source.read(_PIECE):
                    digest.update(piece)
                    out.write(piece)
                    on_bytes(len(piece))
            if digest.hexdigest() != file.sha256:
                raise IntegrityError(
                    f"{target.name!r}: sha256 is {digest.hexdigest()}, expected {file.sha256}; the file was not kept"
                )
            if file.status == "saved" and os.path.lexists(target):
                # Something was put there while the download ran: it is not this download's to replace.
                raise DownloadConflict([target], [])
            os.replace(part, target)
        except BaseException:
            part.unlink(missing_ok=True)
            raise


def _save_all(
    wanted: Iterable[_Wanted],
    opener: Callable[[str], BinaryIO],
    dest: Path,
    overwrite: bool,
    progress: Progress | None,
) -> list[DownloadedFile]:
    plan = _plan(list(wanted), dest, overwrite)
    total = sum(f.size for f in plan if f.status != "skipped")
    done = 0
    for file in plan:
        if file.status == "skipped":
            continue

        def on_bytes(n: int, path: str = file.path) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(path, done, total)

        _save(functools.partial(opener, file.path), file, on_bytes)
    return plan


def _wanted(path: str, size: int, sha256: str, *, flat: bool = False) -> _Wanted:
    check_artifact_path(path)
    where = tuple(path.split("/"))
    return _Wanted(path, where[-1:] if flat else where, size, sha256)


def download_artifacts(
    store: Store,
    run_id: str,
    dest: str | os.PathLike[str],
    *,
    prefix: str = "",
    path: str | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> list[DownloadedFile]:
    """Save a run's files at or under ``prefix`` (or the one file ``path``) below ``dest``, keeping their paths.

    Every target is looked at before anything is written. A file already there
    with the same sha256 is skipped. Each other file is written to a hidden
    temporary file in its folder while its sha256 is computed, and renamed into
    place only when it matches.

    Args:
        store: The store the run is in.
        run_id: The run.
        dest: The folder to save below (made when missing).
        prefix: Only files at or under this prefix.
        path: Only this file.
        overwrite: Replace files already there with other contents (otherwise they stop the download).
        progress: Called as bytes arrive.

    Returns:
        Every file asked for, saved, replaced or skipped, in the run's order.

    Raises:
        ArtifactNotFound: nothing matches ``prefix`` (or ``path``).
        DownloadConflict: files or folders on disk are in the way; nothing was written.
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
        [_wanted(a.path, a.size, a.sha256) for a in infos],
        lambda name: store.open_artifact(run_id, name),
        Path(dest),
        overwrite,
        progress,
    )


def download_asset(
    store: Store,
    name: str,
    version: int | None,
    dest: str | os.PathLike[str],
    *,
    flat: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> list[DownloadedFile]:
    """Save an asset version's files below ``dest`` (the newest version when ``version`` is None).

    Args:
        store: The store the asset is in.
        name: The asset.
        version: Its version; the newest when None.
        dest: The folder to save below (made when missing).
        flat: Save the version's one file as ``dest/<its file name>`` rather than below its path.
        overwrite: Replace files already there with other contents (otherwise they stop the download).
        progress: Called as bytes arrive.

    Returns:
        Every file of the version, saved, replaced or skipped.

    Raises:
        AssetNotFound: no such asset or version.
        InvalidInput: ``flat`` for a version of several files.
        DownloadConflict: files or folders on disk are in the way; nothing was written.
        IntegrityError: a file's bytes do not match its recorded sha256.
    """
    asset = store.get_asset(name, version)
    if flat and len(asset.files) != 1:
        raise InvalidInput(
            f"{asset.name}:{asset.version} has {len(asset.files)} files; only a version of one file is saved flat"
        )
    return _save_all(
        [_wanted(f.path, f.size, f.sha256, flat=flat) for f in asset.files],
        lambda path: store.open_asset_file(asset.name, asset.version, path),
        Path(dest),
        overwrite,
        progress,
    )
