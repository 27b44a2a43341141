"""A ``Store`` that talks to ``runhistory serve`` over HTTP with httpx.

One keep-alive connection pool per process (a forked child opens its own);
metric batches travel whole up to the server's ``MAX_BATCH_BYTES`` (larger
ones in parts), artifact bodies stream in pieces both ways.
"""

from __future__ import annotations

import io
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar
from urllib.parse import quote

from . import _errors
from . import _wire as wire
from ._errors import (
    ArtifactTooLarge,
    BadResponse,
    IntegrityError,
    StoreUnavailable,
    error_from_answer,
)
from ._limits import MAX_ARTIFACT_SIZE, MAX_BATCH_BYTES, REMOTE_BATCH_POINTS
from ._models import (
    ArtifactInfo,
    AssetSummary,
    AssetVersion,
    DeletedRun,
    Environment,
    MetricInfo,
    NewRun,
    ParamValue,
    Run,
    RunPage,
    RunStatus,
    Series,
    SeriesBatch,
)
from ._params import check_note, check_params, check_tags
from ._validate import check_artifact_path, check_asset_name

if TYPE_CHECKING:
    import httpx

API = "/api/v1"
_PIECE = 1 << 20
_T = TypeVar("_T")
# What a decoder raises when an answer is not what it should be (InvalidInput is a ValueError).
_MALFORMED = (ValueError, KeyError, TypeError, AttributeError, IndexError)

_CLIENTS: weakref.WeakSet[HttpStore] = weakref.WeakSet()
_INHERITED: list[object] = []


def _after_fork_in_child() -> None:
    # The parent's sockets are the parent's: a child talks through its own.
    for store in list(_CLIENTS):
        _INHERITED.append(store._client)
        store._client = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def _raise_for(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = body.get("message") or body.get("detail") or response.text[:500] or response.reason_phrase
    if not isinstance(message, str):
        message = "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}" if isinstance(d, dict) else str(d)
            for d in (message if isinstance(message, list) else [message])
        )
    if status in (401, 403):
        message = f"{response.request.url.host} answered {status}: {message} (set RUNHISTORY_TOKEN)"
    raise error_from_answer(status, body.get("error"), message, body)


class _ResponseReader(io.RawIOBase):
    """A streamed response body as a binary file, no longer than the server declared.

    The bytes are taken as they came (a file is never encoded on the way; one
    decoded on the way could be any size), and a body that runs past its
    ``Content-Length`` stops the download at the first piece beyond it.
    """

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._pieces: Iterator[bytes] = response.iter_raw()
        self._left = b""
        declared = response.headers.get("content-length", "")
        self._declared = int(declared) if declared.isdigit() else None
        self._received = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:  # an empty piece is not the end (a transport may yield one first)
            try:
                self._left = next(self._pieces)
            except StopIteration:
                return 0
            except Exception as error:
                raise StoreUnavailable(f"download interrupted: {error}") from error
            self._received += len(self._left)
            if self._declared is not None and self._received > self._declared:
                self._left = b""
                self._response.close()
                raise IntegrityError(
                    f"the server sent more than the {self._declared} bytes it declared; the download was stopped"
                )
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n

    def close(self) -> None:
        self._response.close()
        super().close()


class HttpStore:
    """The ``Store`` of a ``runhistory serve`` at ``url``.

    Args:
        url: The server, e.g. ``http://127.0.0.1:5100``.
        token: Bearer token, when the server wants one.
        timeout: Seconds to wait for an answer.
        transport: An httpx transport (tests use ``httpx.ASGITransport``).

    Raises (from every method):
        StoreUnavailable: the server cannot be reached or failed (worth trying again).
        Unauthorized: the token is missing or wrong.
    """

    def __init__(
        self, url: str, *, token: str | None = None, timeout: float = 60.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._transport = transport
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        _CLIENTS.add(self)

    def __repr__(self) -> str:
        return f"HttpStore({self.url!r})"

    # -- what callers need to know (see ``Store``) ----------------------------

    @property
    def location(self) -> str:
        """The server's URL."""
        return self.url

    @property
    def is_local(self) -> bool:
        """Never: the server may be away, and a logger spools for it."""
        return False

    @property
    def batch_points(self) -> int:
        """``REMOTE_BATCH_POINTS``: a request small enough to send and retry quickly."""
        return REMOTE_BATCH_POINTS

    def staging_dir(self) -> Path:
        """This process's scratch folder in ``<home>/tmp`` on this machine (see ``default_home()``, ``_scratch``)."""
        from ._open import default_home
        from ._scratch import scratch_folder

        return scratch_folder(default_home() / "tmp")

    def __enter__(self) -> HttpStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def client(self) -> httpx.Client:
        client = self._client
        if client is None:
            import httpx

            with self._lock:
                if self._client is None:
                    headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
                    self._client = httpx.Client(
                        base_url=self.url,
                        headers=headers,
                        timeout=httpx.Timeout(self._timeout, connect=5.0),
                        transport=self._transport,
                    )
                client = self._client
        return client

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        import httpx

        try:
            response = self.client.request(method, API + path, **kwargs)
        except httpx.TransportError as error:
            raise StoreUnavailable(f"{self.url}: {error or type(error).__name__}") from error
        _raise_for(response)
        return response

    def _answer(self, method: str, path: str, decode: Callable[[Any], _T], **kwargs: Any) -> _T:
        """The decoded answer to a request; ``BadResponse`` when it is not what runhistory sends."""
        response = self._call(method, path, **kwargs)
        try:
            return decode(response.json())
        except _MALFORMED as error:
            raise BadResponse(
                f"{self.url} answered {method} {API}{path} with something that is not runhistory's answer "
                f"({error}); is it a runhistory server? It began: {response.text[:200]!r}"
            ) from None

    def _open(self, path: str) -> BinaryIO:
        import httpx

        # Files travel as they are: nothing to decode, nothing to be surprised by.
        request = self.client.build_request("GET", API + path, headers={"Accept-Encoding": "identity"})
        try:
            response = self.client.send(request, stream=True)
        except httpx.TransportError as error:
            raise StoreUnavailable(f"{self.url}: {error or type(error).__name__}") from error
        if response.status_code >= 400:
            response.read()
            response.close()
            _raise_for(response)
        return io.BufferedReader(_ResponseReader(response), _PIECE)

    def health(self) -> bool:
        """Whether the server answers its health check."""
        import httpx

        try:
            return self.client.get("/health", timeout=5.0).status_code == 200
        except httpx.TransportError:
            return False

    # -- runs -----------------------------------------------------------------

    def create_run(self, spec: NewRun) -> Run:
        body = {f: getattr(spec, f) for f in NewRun.__dataclass_fields__}
        return self._answer("POST", "/runs", wire.run_from_wire, json=body)

    def get_run(self, run_id: str) -> Run:
        if not run_id:
            raise _errors.RunNotFound("no run ''")
        return self._answer("GET", f"/runs/{quote(run_id, safe='')}", wire.run_from_wire)

    def list_runs(
        self,
        *,
        experiment: str | None = None,
        status: RunStatus | None = None,
        where: str | None = None,
        sort: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        given = (("experiment", experiment), ("status", status), ("where", where), ("sort", sort), ("cursor", cursor))
        params: dict[str, str | int] = {k: v for k, v in given if v is not None}
        params["limit"] = limit
        return self._answer("GET", "/runs", wire.page_from_wire, params=params)

    def set_params(self, run_id: str, params: Mapping[str, ParamValue], *, overwrite: bool = False) -> None:
        checked = check_params(params)  # a bad value fails here, before the request
        self._call("PUT", f"/runs/{run_id}/params", json={"params": checked, "overwrite": overwrite})

    def update_tags(self, run_id: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> list[str]:
        body = {"add": check_tags(add), "remove": check_tags(remove)}
        return self._answer("POST", f"/runs/{run_id}/tags", wire.tags_from_wire, json=body)

    def set_note(self, run_id: str, note: str | None) -> None:
        self._call("PUT", f"/runs/{run_id}/note", json={"note": check_note(note)})

    def rename_run(self, run_id: str, name: str | None) -> None:
        self._call("PUT", f"/runs/{run_id}/name", json={"name": name or None})

    def delete_run(self, run_id: str) -> DeletedRun:
        return self._answer("DELETE", f"/runs/{run_id}", wire.deleted_from_wire)

    def set_environment(self, run_id: str, environment: Environment) -> None:
        self._call("PUT", f"/runs/{run_id}/environment", json=wire.environment_to_wire(environment))

    def get_environment(self, run_id: str) -> Environment:
        return self._answer("GET", f"/runs/{run_id}/environment", wire.environment_from_wire)

    def update_run(
        self,
        run_id: str,
        *,
        git_commit: str | None = None,
        git_dirty: bool | None = None,
        skipped_files: list[str] | None = None,
    ) -> None:
        body = {"git_commit": git_commit, "git_dirty": git_dirty, "skipped_files": skipped_files}
        self._call("PATCH", f"/runs/{run_id}", json=body)

    def heartbeat(self, run_id: str) -> None:
        self._call("POST", f"/runs/{run_id}/heartbeat")

    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        *,
        error: str | None = None,
        exit_code: int | None = None,
    ) -> Run:
        body = {"status": status, "error": error, "exit_code": exit_code}
        return self._answer("POST", f"/runs/{run_id}/finish", wire.run_from_wire, json=body)

    # -- metrics ----------------------------------------------------------------

    def append_metrics(self, run_id: str, batch: Mapping[str, SeriesBatch], *, key: str | None = None) -> bool:
        """See ``Store.append_metrics``.

        A batch whose JSON is larger than the server takes (``MAX_BATCH_BYTES``)
        travels as several requests, split the same way every time, each stored
        once under ``key`` + ``/<n>``; returns True when any of them was stored now.
        """
        stored = False
        parts = _split_for_the_wire(wire.batch_to_wire(dict(batch)))
        for n, part in enumerate(parts):
            part_key = key if len(parts) == 1 or key is None else f"{key}/{n}"
            body = b'{"key": %s, "series": %s}' % (_dumps(part_key), part)
            stored = (
                self._answer(
                    "POST",
                    f"/runs/{run_id}/metrics",
                    _stored,
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
                or stored
            )
        return stored

    def list_metrics(self, run_id: str) -> list[MetricInfo]:
        return self._answer("GET", f"/runs/{run_id}/metrics", _list_of(wire.metric_from_wire))

    def read_series(self, run_id: str, name: str, *, max_points: int | None = None) -> Series:
        params: dict[str, Any] = {"name": name}
        if max_points is not None:
            params["max_points"] = max_points
        return self._answer("GET", f"/runs/{run_id}/series", wire.series_from_wire, params=params)

    # -- artifacts --------------------------------------------------------------

    def put_artifact(
        self,
        run_id: str,
        path: str,
        data: bytes | BinaryIO,
        *,
        max_size: int | None = None,
    ) -> ArtifactInfo:
        check_artifact_path(path)
        limit = MAX_ARTIFACT_SIZE if max_size is None else max_size
        headers = {"Content-Type": "application/octet-stream"}
        content: bytes | Iterator[bytes]
        if isinstance(data, (bytes, bytearray, memoryview)):
            if len(data) > limit:
                raise ArtifactTooLarge(f"artifact {path!r} is {len(data)} bytes; the limit is {limit} bytes")
            content = bytes(data)
        else:
            size = _size_left(data)
            if size is not None:
                if size > limit:
                    raise ArtifactTooLarge(f"artifact {path!r} is {size} bytes; the limit is {limit} bytes")
                headers["Content-Length"] = str(size)
            content = _pieces(data)
        response = self._call(
            "PUT", f"/runs/{run_id}/artifacts/{quote(path, safe='/')}", content=content, headers=headers
        )
        return wire.artifact_from_wire(response.json())

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactInfo]:
        return self._answer(
            "GET", f"/runs/{run_id}/artifacts", _list_of(wire.artifact_from_wire), params={"prefix": prefix}
        )

    def open_artifact(self, run_id: str, path: str) -> BinaryIO:
        check_artifact_path(path)
        return self._open(f"/runs/{run_id}/artifacts/{quote(path, safe='/')}")

    # -- assets -----------------------------------------------------------------

    def promote(self, run_id: str, prefix: str, name: str) -> AssetVersion:
        check_asset_name(name)
        body = {"run_id": run_id, "prefix": prefix}
        return self._answer("POST", f"/assets/{quote(name, safe='')}/versions", wire.asset_from_wire, json=body)

    def list_assets(self) -> list[AssetSummary]:
        return self._answer("GET", "/assets", _list_of(wire.asset_summary_from_wire))

    def list_asset_versions(self, name: str) -> list[AssetVersion]:
        return self._answer("GET", f"/assets/{quote(name, safe='')}/versions", _list_of(wire.asset_from_wire))

    def get_asset(self, name: str, version: int | None = None) -> AssetVersion:
        where = "latest" if version is None else f"versions/{int(version)}"
        return self._answer("GET", f"/assets/{quote(name, safe='')}/{where}", wire.asset_from_wire)

    def open_asset_file(self, name: str, version: int, path: str) -> BinaryIO:
        check_artifact_path(path)
        return self._open(f"/assets/{quote(name, safe='')}/versions/{int(version)}/files/{quote(path, safe='/')}")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _list_of(decode: Callable[[Any], _T]) -> Callable[[Any], list[_T]]:
    def decode_all(doc: Any) -> list[_T]:
        if not isinstance(doc, list):
            raise TypeError(f"a list was expected, not a {type(doc).__name__}")
        return [decode(item) for item in doc]

    return decode_all


def _stored(doc: Any) -> bool:
    stored = doc["stored"]
    if not isinstance(stored, bool):
        raise TypeError("'stored' must be true or false")
    return stored


def _dumps(doc: Any) -> bytes:
    import json

    return json.dumps(doc, allow_nan=False).encode()


# Room kept beside the series for the request's key and wrapping.
_WRAPPING = 1024


def _split_for_the_wire(series: dict[str, Any]) -> list[bytes]:
    """A batch's series as JSON parts of at most ``MAX_BATCH_BYTES`` (with their wrapping).

    Points are cut, in order, into as many even runs as the size asks for, and
    a run that is still too large is cut again; one point always fits (the
    longest string or chart encodes to under 3 MB). The cut depends only on the
    batch, so a batch sent again travels in the same parts.
    """
    encoded = _dumps(series)
    room = MAX_BATCH_BYTES - _WRAPPING
    total = sum(len(points["values"]) for points in series.values())
    if len(encoded) <= room or total < 2:
        return [encoded]  # (an unsplittable one goes as it is; the server says what is wrong)
    parts = min(total, max(2, -(-len(encoded) * 11 // (room * 10))))  # 10 % slack for uneven points
    per = -(-total // parts)
    out: list[bytes] = []
    for first in range(0, total, per):
        out += _split_for_the_wire(_points_between(series, first, first + per))
    return out


def _points_between(series: dict[str, Any], first: int, last: int) -> dict[str, Any]:
    """The points numbered ``first`` to ``last`` (excluded), counting through the series in order."""
    out = {}
    offset = 0
    for name, points in series.items():
        n = len(points["values"])
        start, end = max(first - offset, 0), min(last - offset, n)
        if start < end:
            out[name] = {**points, **{f: points[f][start:end] for f in ("values", "steps", "times")}}
        offset += n
    return out


def _size_left(stream: BinaryIO) -> int | None:
    try:
        return os.fstat(stream.fileno()).st_size - stream.tell()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def _pieces(stream: BinaryIO) -> Iterator[bytes]:
    while piece := stream.read(_PIECE):
        yield piece
