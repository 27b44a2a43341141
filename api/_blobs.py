"""The blob contract: how a store keeps file contents, and keeps them consistent with its rows.

A blob is a file's bytes, named by their sha256; it never changes. An
artifact or an asset file is a row that names a blob. Where the rows and the
blobs cannot be written in one transaction (a database beside an object
store), every store keeps them consistent the same way:

1. **Blob first.** The bytes are streamed to the blob store under their hash
   (writing a blob that exists already changes nothing), and only then is the
   row that names it committed. A crash between the two leaves an *orphan*
   blob, never a row without its bytes.
2. **Rows go first.** A row is replaced or deleted before its blob; a blob no
   row names any more is an orphan too.
3. **Orphans are collected later,** by ``runhistory gc``: blobs no row names
   and older than a grace period (so that a blob uploaded for a row about to be
   committed is never taken) are deleted.

The embedded store does better because SQLite's write lock serialises its
writers: a blob lands (is renamed into ``blobs/``) inside the transaction
that commits its row, and an unreferenced blob is deleted in the transaction
that drops its last row, so its folder never holds an orphan for long.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol, runtime_checkable

from ._errors import ArtifactTooLarge, IntegrityError


class BlobStore(Protocol):
    """Content-addressed, immutable bytes (see the module docstring)."""

    def put(self, data: bytes | BinaryIO, *, limit: int, path: str, sha256: str | None = None) -> tuple[str, int]:
        """Stream ``data`` in, hashing it; returns (sha256, size).

        ``sha256``, when given, is the hash the caller says ``data`` has: the bytes
        may then go to their final place as they are read (a bucket's content key),
        and they are kept only if they hash the same. A stream that is no file may
        say how many bytes it holds with an int ``length`` attribute.

        Raises:
            ArtifactTooLarge: more than ``limit`` bytes (nothing is kept); ``path`` names it in the message.
            IntegrityError: the bytes do not hash to the ``sha256`` given (nothing is kept).
        """
        ...

    def open(self, sha256: str) -> BinaryIO:
        """A stream of the blob's bytes; the caller closes it.

        Raises:
            FileNotFoundError: no such blob.
        """
        ...

    def exists(self, sha256: str) -> bool:
        """Whether the blob is stored."""
        ...

    def delete(self, sha256: str) -> None:
        """Remove the blob (nothing happens when it is not there)."""
        ...

    def all(self) -> Iterator[tuple[str, float]]:
        """Every blob with when it was stored (epoch seconds), for garbage collection."""
        ...

    def size(self, sha256: str) -> int | None:
        """The blob's size in bytes (``None`` when it is not there)."""
        ...

    def sweep(self) -> int:
        """Remove what interrupted uploads left behind, once it is stale; how many went."""
        ...


@dataclass(frozen=True)
class DirectUpload:
    """Where a client sends a blob's bytes itself, and how.

    Attributes:
        url: The presigned URL to ``PUT`` the bytes to.
        headers: Headers the ``PUT`` must carry, as they are (they are signed).
        upload: The upload's id, handed back to ``commit``.
        sha256: The hash the client announced.
        expires: When the URL stops working (epoch seconds).
    """

    url: str
    headers: dict[str, str]
    upload: str
    sha256: str
    expires: float


@dataclass(frozen=True)
class DirectDownload:
    """Where a client fetches a file's bytes itself, and what it must get.

    Attributes:
        url: The presigned URL to ``GET`` the bytes from.
        sha256: The bytes' hash, which the client checks.
        size: How many bytes there are.
    """

    url: str
    sha256: str
    size: int


@runtime_checkable
class PresigningBlobs(BlobStore, Protocol):
    """Blobs a client may send and fetch itself, by presigned URL (the S3 bucket's).

    No URL can make a blob visible under a hash its bytes do not have: what a
    client sends lands at the blob's key only where the service refuses bytes
    that do not match the hash the URL is signed with, and otherwise under a
    temporary name, to become a blob only when ``commit`` has hashed it and it matches.
    """

    def presigned_get(self, sha256: str) -> str:
        """A URL from which whoever holds it may ``GET`` the blob, for a while."""
        ...

    def presigned_put(self, sha256: str, *, size: int | None = None) -> DirectUpload:
        """A URL to which a client ``PUT``s the bytes (``size`` of them, given) of the blob ``sha256``, for a while."""
        ...

    def commit(self, upload: str, sha256: str, *, limit: int, path: str) -> tuple[str, int]:
        """Make what was sent for ``upload`` the blob ``sha256``, once it is hashed and matches;
        returns (sha256, size).

        Raises:
            InvalidInput: nothing was sent for ``upload`` (or it was committed already).
            ArtifactTooLarge: more than ``limit`` bytes were sent (they are dropped).
            IntegrityError: the bytes sent do not match ``sha256`` (they are dropped).
        """
        ...


def announced_mismatch(path: str, announced: str, found: str | None, why: str = "") -> IntegrityError:
    """The error for an upload whose bytes do not hash to the sha256 sent with them
    (``found``: theirs, when it is known; ``why``: how it was found out, when it is not)."""
    they = f"they have {found}" if found is not None else why
    return IntegrityError(
        f"the bytes sent for {path!r} do not match the sha256 sent with them ({announced}; {they}): nothing was stored"
    )


def too_large(path: str, size: int | str, limit: int) -> ArtifactTooLarge:
    """The error for an artifact ``path`` of ``size`` bytes, past ``limit``."""
    return ArtifactTooLarge(f"artifact {path!r} is {size} bytes; the limit is {limit} bytes")


class HashedSource:
    """A source read in pieces, each hashed and counted as it passes.

    Args:
        data: The source.
        limit: Most bytes it may give.
        path: The artifact it is, for the error.
    """

    def __init__(self, data: BinaryIO, limit: int, path: str) -> None:
        self.data = data
        self.limit = limit
        self.path = path
        self.size = 0
        self._digest = hashlib.sha256()

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes (none at the end).

        Raises:
            ArtifactTooLarge: the source has given more than ``limit`` bytes.
        """
        piece = self.data.read(size)
        self.size += len(piece)
        if self.size > self.limit:
            raise too_large(self.path, f"more than {self.limit}", self.limit)
        self._digest.update(piece)
        return piece

    def sha256(self) -> str:
        """The hash of what was read so far."""
        return self._digest.hexdigest()
