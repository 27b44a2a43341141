"""Errors raised by runhistory stores and the logger.

The hierarchy::

    RunhistoryError
    ├── NotFound (also LookupError)
    │   ├── RunNotFound
    │   ├── MetricNotFound
    │   ├── ArtifactNotFound
    │   └── AssetNotFound
    ├── AmbiguousRunId (also LookupError)
    ├── InvalidInput (also ValueError)
    │   ├── InvalidPath
    │   ├── MetricKindMismatch
    │   ├── ArtifactTooLarge
    │   ├── BatchTooLarge     a metrics request past the server's size limit
    │   └── BodyStalled       a request body stopped arriving
    ├── IntegrityError        a file does not match its sha256 (downloaded, or announced with an upload)
    ├── DownloadConflict      files on disk are in the way of a download
    ├── StoreVersionError     the store was written by a newer runhistory
    ├── StoreCorrupt          the store's database file is damaged
    ├── StoreReadOnly         the store cannot be written (it can still be read)
    ├── StoreUnavailable      the server cannot be reached (worth trying again)
    │   └── BadResponse       its answer is not what a runhistory server sends
    ├── MigrationConflict     the target of a migrate holds other contents under the same names
    ├── Unauthorized          the server wants another token
    ├── DirectTransferNotOffered  the store (or server) moves no bytes by presigned URL
    └── LoggingError          a logged value could not be stored
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class RunhistoryError(Exception):
    """Base class of every error runhistory raises on purpose."""


class NotFound(RunhistoryError, LookupError):
    """Something asked for by id, name or path does not exist."""


class RunNotFound(NotFound):
    """No run has this id (or id prefix)."""


class MetricNotFound(NotFound):
    """The run has no metric of this name."""


class ArtifactNotFound(NotFound):
    """The run has no artifact at this path (or under this prefix)."""


class AssetNotFound(NotFound):
    """No asset (or asset version) of this name exists."""


class AmbiguousRunId(RunhistoryError, LookupError):
    """A run id prefix matches more than one run."""

    def __init__(self, prefix: str, candidates: Sequence[str]) -> None:
        self.prefix = prefix
        self.candidates = list(candidates)
        shown = ", ".join(self.candidates[:10])
        more = "" if len(self.candidates) <= 10 else f" and {len(self.candidates) - 10} more"
        super().__init__(f"run id prefix {prefix!r} is ambiguous: {shown}{more}")


class InvalidInput(RunhistoryError, ValueError):
    """A name, value, path or size is not acceptable."""


class InvalidPath(InvalidInput):
    """An artifact path is absolute, escapes with ``..``, or holds control characters."""


class MetricKindMismatch(InvalidInput, TypeError):
    """A value's kind (number, string, chart) differs from its series' kind."""


class ArtifactTooLarge(InvalidInput):
    """An artifact is larger than the per-file limit."""


class BatchTooLarge(InvalidInput):
    """A metrics batch is larger than the server takes in one request; smaller ones go."""


class BodyStalled(InvalidInput):
    """A request body stopped arriving before it was whole (the server answers 408)."""


class ParamConflict(InvalidInput):
    """A param is set already to another value; ``overwrite=True`` replaces it.

    Attributes:
        keys: The params whose values differ.
    """

    def __init__(self, message: str, keys: Sequence[str] = ()) -> None:
        self.keys = list(keys)
        super().__init__(message)


class MigrationConflict(RunhistoryError):
    """The store ``runhistory migrate`` copies into holds a run (or an asset version) of the same
    id with other contents, not copied from here or changed there since; nothing is overwritten.

    Attributes:
        names: The runs' ids and the assets' ``name:version`` that differ.
    """

    def __init__(self, message: str, names: Sequence[str] = ()) -> None:
        self.names = list(names)
        super().__init__(message)


class RunStillRunning(RunhistoryError):
    """The run is running (its owner is alive), so it cannot be deleted."""


class IntegrityError(RunhistoryError):
    """Bytes do not match their sha256: a download's the recorded one, an upload's the one announced."""


class DownloadConflict(RunhistoryError):
    """Files or folders on disk are in the way of a download, which wrote nothing.

    Attributes:
        differing: Files already there with other contents (``overwrite=True`` replaces them).
        blocked: Places no download can fill, each with why: a folder where a file
            should go, a file where a folder is needed, two artifacts that would be
            a file and a folder at one place.

    Args:
        differing: As above.
        blocked: As above.
        advice: What to do about it, added to the message.
    """

    def __init__(self, differing: Sequence[Path], blocked: Sequence[tuple[Path, str]], advice: str = "") -> None:
        self.differing = list(differing)
        self.blocked = list(blocked)
        # Places are quoted with repr(): what a stored path holds is shown, never acted on by a terminal.
        items = [f"{str(place)!r}: {why}" for place, why in self.blocked]
        items += [f"{str(place)!r} is already there with other contents" for place in self.differing]
        shown = "; ".join(items[:5]) + (f"; and {len(items) - 5} more" if len(items) > 5 else "")
        super().__init__(f"nothing was downloaded: {shown}" + (f" ({advice})" if advice else ""))


class StoreVersionError(RunhistoryError):
    """The store's schema is newer than this version of runhistory understands."""


class StoreCorrupt(RunhistoryError):
    """The embedded store's database file is damaged (truncated, overwritten, not a database)."""


class StoreReadOnly(RunhistoryError):
    """The store cannot be written here (a read-only folder or file system); reads still work."""


class StoreUnavailable(RunhistoryError):
    """The store cannot be reached right now (connection refused, timeout, 5xx)."""


class BadResponse(StoreUnavailable):
    """The server's answer is not what a runhistory server sends (a proxy's page, a wrong URL)."""


class Unauthorized(RunhistoryError):
    """The server refused the bearer token, or none was given (401), or the token may not do this (403)."""


class DirectTransferNotOffered(RunhistoryError):
    """The store keeps its files where no client can be sent (a folder), or the server was told
    not to send clients there (``serve --no-direct``): files go through the server instead."""


class LoggingError(RunhistoryError):
    """A logged value could not be stored; raised by ``Handle.wait()``."""


#: The HTTP status for each error a store raises on purpose: the one table both
#: directions are built from. The server answers an exception with the status of
#: the first class it is an instance of (so the specific come before the general),
#: and a body ``{"error": <class name>, "message": …}``. The client raises the
#: class the body names when it is in this table, else the most general class with
#: the answer's status. Every 5xx (the server's store failed, or it is overloaded)
#: and 429 read as ``StoreUnavailable`` on the client: worth trying again, and a
#: logger spools meanwhile; 401 and 403 as ``Unauthorized``.
HTTP_STATUS: tuple[tuple[type[RunhistoryError], int], ...] = (
    (ParamConflict, 409),
    (RunStillRunning, 409),
    (AmbiguousRunId, 409),
    (DirectTransferNotOffered, 409),
    (RunNotFound, 404),
    (MetricNotFound, 404),
    (ArtifactNotFound, 404),
    (AssetNotFound, 404),
    (NotFound, 404),
    (BodyStalled, 408),
    (BatchTooLarge, 413),
    (ArtifactTooLarge, 413),
    (IntegrityError, 422),
    (InvalidPath, 422),
    (MetricKindMismatch, 422),
    (InvalidInput, 422),
    (Unauthorized, 401),
    (StoreUnavailable, 503),
    (StoreReadOnly, 503),
    (RunhistoryError, 500),
)

_BY_NAME: dict[str, type[RunhistoryError]] = {kind.__name__: kind for kind, _ in HTTP_STATUS}
_BY_STATUS: dict[int, type[RunhistoryError]] = {
    status: kind for kind, status in HTTP_STATUS
}  # the last: the most general


def status_of(error: BaseException) -> int:
    """The HTTP status the server answers ``error`` with (500 for anything not in ``HTTP_STATUS``)."""
    return next((status for kind, status in HTTP_STATUS if isinstance(error, kind)), 500)


def error_from_answer(status: int, name: object, message: str, body: dict[str, object]) -> RunhistoryError:
    """The error a client raises for an answer ``status`` whose body named the error ``name``."""
    if status in (401, 403):
        return Unauthorized(message)
    if status >= 500 or status == 429:
        shown = f"{name}: {message}" if isinstance(name, str) and name in _BY_NAME else message
        return StoreUnavailable(f"server answered {status}: {shown}")
    if name == "AmbiguousRunId":
        candidates = body.get("candidates")
        return AmbiguousRunId(
            str(body.get("prefix", "")), [str(c) for c in candidates] if isinstance(candidates, list) else []
        )
    if name == "QueryError":
        from ._query import QueryError

        return QueryError.from_message(message)
    if name == "ParamConflict":
        keys = body.get("keys")
        return ParamConflict(message, [str(k) for k in keys] if isinstance(keys, list) else [])
    kind = _BY_NAME.get(name) if isinstance(name, str) else None
    if kind is None:
        kind = _BY_STATUS.get(status, InvalidInput)
        message = f"server answered {status}: {message}"
    return kind(message)
