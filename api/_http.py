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
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote

from . import _errors
from . import _wire as wire
from ._errors import (
    AmbiguousRunId,
    ArtifactTooLarge,
    IntegrityError,
    InvalidInput,
    StoreUnavailable,
    Unauthorized,
)
from ._limits import MAX_ARTIFACT_SIZE, MAX_BATCH_BYTES
from ._models import (
    ArtifactInfo,
    AssetSummary,
    AssetVersion,
    MetricInfo,
    NewRun,
    Run,
    RunPage,
    RunStatus,
    Series,
    SeriesBatch,
)
from ._validate import check_artifact_path, check_asset_name

if TYPE_CHECKING:
    import httpx

API = "/api/v1"
_PIECE = 1 << 20

# Errors the server may name, raised again here as themselves.
_KNOWN = {
    name: getattr(_errors, name)
    for name in (
        "RunNotFound", "MetricNotFound", "ArtifactNotFound", "AssetNotFound", "NotFound", "InvalidInput",
        "InvalidPath", "MetricKindMismatch", "ArtifactTooLarge", "IntegrityError", "StoreVersionError",
    )
}  # fmt: skip

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
    if status == 401:
        raise Unauthorized(f"{response.request.url.host}: {message} (set RUNHISTORY_TOKEN)")
    if status >= 500 or status == 429:
        raise StoreUnavailable(f"server answered {status}: {message}")
    if status == 409 and body.get("error") == "AmbiguousRunId":
        raise AmbiguousRunId(str(body.get("prefix", "")), body.get("candidates", [])) from None
    kind = _KNOWN.get(str(body.get("error")))
    if kind is not None:
        raise kind(message)
    if status == 413:
        raise ArtifactTooLarge(message)
    raise InvalidInput(f"server answered {status}: {message}")


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
        if not self._left:
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
        return wire.run_from_wire(self._call("POST", "/runs", json=body).json())

    def get_run(self, run_id: str) -> Run:
        if not run_id:
            raise _errors.RunNotFound("no run ''")
        return wire.run_from_wire(self._call("GET", f"/runs/{quote(run_id, safe='')}").json())

    def list_runs(
        self,
        *,
        experiment: str | None = None,
        status: RunStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        params: dict[str, str | int] = {
            k: v for k, v in (("experiment", experiment), ("status", status), ("cursor", cursor)) if v is not None
        }
        params["limit"] = limit
        return wire.page_from_wire(self._call("GET", "/runs", params=params).json())

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
        return wire.run_from_wire(self._call("POST", f"/runs/{run_id}/finish", json=body).json())

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
            response = self._call(
                "POST", f"/runs/{run_id}/metrics", content=body, headers={"Content-Type": "application/json"}
            )
            stored = bool(response.json()["stored"]) or stored
        return stored

    def list_metrics(self, run_id: str) -> list[MetricInfo]:
        return [wire.metric_from_wire(m) for m in self._call("GET", f"/runs/{run_id}/metrics").json()]

    def read_series(self, run_id: str, name: str, *, max_points: int | None = None) -> Series:
        params: dict[str, Any] = {"name": name}
        if max_points is not None:
            params["max_points"] = max_points
        return wire.series_from_wire(self._call("GET", f"/runs/{run_id}/series", params=params).json())

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
        response = self._call("PUT", f"/runs/{run_id}/artifacts/{quote(path, safe='/')}", content=content, headers=headers)
        return wire.artifact_from_wire(response.json())

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactInfo]:
        found = self._call("GET", f"/runs/{run_id}/artifacts", params={"prefix": prefix}).json()
        return [wire.artifact_from_wire(a) for a in found]

    def open_artifact(self, run_id: str, path: str) -> BinaryIO:
        check_artifact_path(path)
        return self._open(f"/runs/{run_id}/artifacts/{quote(path, safe='/')}")

    # -- assets -----------------------------------------------------------------

    def promote(self, run_id: str, prefix: str, name: str) -> AssetVersion:
        check_asset_name(name)
        body = {"run_id": run_id, "prefix": prefix}
        return wire.asset_from_wire(self._call("POST", f"/assets/{quote(name, safe='')}/versions", json=body).json())

    def list_assets(self) -> list[AssetSummary]:
        return [wire.asset_summary_from_wire(a) for a in self._call("GET", "/assets").json()]

    def list_asset_versions(self, name: str) -> list[AssetVersion]:
        return [wire.asset_from_wire(a) for a in self._call("GET", f"/assets/{quote(name, safe='')}/versions").json()]

    def get_asset(self, name: str, version: int | None = None) -> AssetVersion:
        where = "latest" if version is None else f"versions/{int(version)}"
        return wire.asset_from_wire(self._call("GET", f"/assets/{quote(name, safe='')}/{where}").json())

    def open_asset_file(self, name: str, version: int, path: str) -> BinaryIO:
        check_artifact_path(path)
        return self._open(f"/assets/{quote(name, safe='')}/versions/{int(version)}/files/{quote(path, safe='/')}")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


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

