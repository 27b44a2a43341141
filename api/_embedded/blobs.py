"""The embedded store's blobs: a folder of files named by their sha256.

    blobs/ab/cdef…   a blob (its sha256, split after two characters)
    tmp/<pid>-<n>/   files being written, one folder per process (see ``_scratch``)

``stage()`` streams bytes into ``tmp/`` while hashing them; ``land()``
renames a staged file into place (or drops it when that blob exists). The
store calls ``land()`` inside the transaction that commits the row naming the
blob (see ``runhistory.api._blobs`` for the contract every store keeps).
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .._blobs import HashedSource, announced_mismatch, too_large
from .._scratch import scratch_folder, sweep

_COPY_PIECE = 1 << 20  # bytes read or hashed at a time when streaming


@dataclass(frozen=True)
class Staged:
    """Bytes written to a temporary file and hashed, waiting to land."""

    file: Path
    sha256: str
    size: int


class LocalBlobs:
    """Blobs in ``folder``, staged in ``tmp`` (on the same file system, so landing is a rename).

    Args:
        folder: Where blobs live.
        tmp: Where partial files are written.
    """

    def __init__(self, folder: Path, tmp: Path) -> None:
        self.folder = folder
        self.tmp = tmp

    def path(self, sha256: str) -> Path:
        """Where the blob ``sha256`` is (or would be)."""
        return self.folder / sha256[:2] / sha256[2:]

    def stage(self, data: bytes | BinaryIO, *, limit: int, path: str, sha256: str | None = None) -> Staged:
        """Write ``data`` to a temporary file, hashing it.

        Raises:
            ArtifactTooLarge: more than ``limit`` bytes (nothing is kept).
            IntegrityError: ``sha256`` is given and the bytes hash otherwise (nothing is kept).
        """
        fd, name = tempfile.mkstemp(dir=scratch_folder(self.tmp), prefix="upload-")
        try:
            with open(fd, "wb") as out:
                found, size = _copy_hashing(data, out, limit, path)
            if sha256 is not None and found != sha256:
                raise announced_mismatch(path, sha256, found)
        except BaseException:
            os.unlink(name)
            raise
        return Staged(Path(name), found, size)

    def land(self, staged: Staged) -> None:
        """Move a staged file into place as its blob (dropping it when the blob exists)."""
        blob = self.path(staged.sha256)
        if blob.exists():
            staged.file.unlink()
        else:
            blob.parent.mkdir(exist_ok=True)
            os.replace(staged.file, blob)

    def discard(self, staged: Staged) -> None:
        """Drop a staged file that will not land."""
        staged.file.unlink(missing_ok=True)

    def put(self, data: bytes | BinaryIO, *, limit: int, path: str, sha256: str | None = None) -> tuple[str, int]:
        """Stage and land ``data``; returns (sha256, size)."""
        staged = self.stage(data, limit=limit, path=path, sha256=sha256)
        self.land(staged)
        return staged.sha256, staged.size

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path(sha256), "rb")

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def size(self, sha256: str) -> int | None:
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def sweep(self) -> int:
        """Remove what dead processes left in ``tmp`` (see ``_scratch.sweep``)."""
        return sweep(self.tmp)

    def all(self) -> Iterator[tuple[str, float]]:
        for sub in sorted(self.folder.iterdir()) if self.folder.is_dir() else ():
            for blob in sorted(sub.iterdir()):
                yield sub.name + blob.name, blob.stat().st_mtime


def _copy_hashing(data: bytes | BinaryIO, out: BinaryIO, limit: int, path: str) -> tuple[str, int]:
    """Write ``data`` to ``out``; return its sha256 and size. Refuses more than ``limit`` bytes."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        if len(data) > limit:
            raise too_large(path, len(data), limit)
        out.write(data)
        return hashlib.sha256(data).hexdigest(), len(data)
    regular = _regular_file_span(data)
    if regular is not None:
        fd, start, size = regular
        if size > limit:
            raise too_large(path, size, limit)
        out.flush()
        return _copy_file_hashing(fd, start, size, out.fileno()), size
    source = HashedSource(data, limit, path)
    while piece := source.read(_COPY_PIECE):
        out.write(piece)
    return source.sha256(), source.size


def _regular_file_span(data: BinaryIO) -> tuple[int, int, int] | None:
    """(fd, offset, bytes left) when ``data`` is a regular file, else ``None``."""
    try:
        fd = data.fileno()
        start = data.tell()
        st = os.fstat(fd)
    except (AttributeError, OSError, ValueError):
        return None

    if not stat.S_ISREG(st.st_mode):
        return None
    return fd, start, max(0, st.st_size - start)


def _copy_file_hashing(src: int, start: int, size: int, dst: int) -> str:
    """Copy ``size`` bytes of ``src`` from ``start`` inside the kernel while
    another thread hashes them: the copy and the hash overlap."""
    digest = hashlib.sha256()

    def hash_source() -> None:
        offset, end = start, start + size
        while offset < end:
            piece = os.pread(src, min(_COPY_PIECE * 4, end - offset), offset)
            if not piece:
                break
            digest.update(piece)
            offset += len(piece)

    hasher = threading.Thread(target=hash_source, name="runhistory-hash")
    hasher.start()
    try:
        offset, left = start, size
        while left > 0:
            try:
                copied = os.copy_file_range(src, dst, left, offset, offset - start)
            except OSError:
                copied = os.pwrite(dst, os.pread(src, min(_COPY_PIECE, left), offset), offset - start)
            if copied == 0:
                break
            offset += copied
            left -= copied
    finally:
        hasher.join()
    return digest.hexdigest()
