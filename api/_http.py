"""A ``Store`` that talks to ``runhistory serve`` over HTTP with httpx.

One keep-alive connection pool per process (a forked child opens its own);
metric batches travel whole up to the server's ``MAX_BATCH_BYTES`` (larger
ones in parts), artifact bodies stream in pieces both ways.

Direct transfer: when the server offers it, a file of ``direct_min_size`` or
more goes straight to the store's bucket and comes straight from it, by the
presigned URLs the server hands out (an upload is hashed here first, sent,
then verified and recorded by the server; a download is checked against the
hash the server names). When the server does not offer it (an embedded
store, ``serve --no-direct``, an older server), or the bucket cannot be
reached from here, the file goes through the server as before, and the
client says so in the ``runhistory`` log and does not try again for
``DIRECT_RECHECK`` seconds.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar
from urllib.parse import quote

from . import _errors
from . import _rules as rules
from . import _wire as wire
from ._blobs import DirectUpload
from ._errors import (
    ArtifactTooLarge,
    BadResponse,
    IntegrityError,
    StoreUnavailable,
    error_from_answer,
)
from ._limits import DIRECT_MIN_SIZE, DIRECT_RECHECK, MAX_ARTIFACT_SIZE, MAX_BATCH_BYTES, REMOTE_BATCH_POINTS
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
from ._rules import check_time
from ._validate import check_artifact_path, check_asset_name, check_sha256
from ._wire import SHA256_HEADER

if TYPE_CHECKING:
    import httpx

API = "/api/v1"
_PIECE = 1 << 20
log = logging.getLogger("runhistory")
# A failure the server answers when it has no such route (an older server) or offers no direct transfer.
_NOT_OFFERED = {"DirectTransferNotOffered", "NotFound", "MethodNotAllowed"}
_T = TypeVar("_T")
# What a decoder raises when an answer is not what it should be (InvalidInput is a ValueError).
_MALFORMED = (ValueError, KeyError, TypeError, AttributeError, IndexError)

_CLIENTS: weakref.WeakSet[HttpStore] = weakref.WeakSet()
_INHERITED: list[object] = []


def _after_fork_in_child() -> None:
    # The parent's sockets are the parent's: a child talks through its own.
    for store in list(_CLIENTS):
        _INHERITED.extend((store._client, store._bucket))
        store._client = None
        store._bucket = None


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
    ``Content-Length`` stops the download at the first piece beyond it. Given a
    ``sha256`` (a file from the bucket), the bytes are checked against it at their end.
    """

    def __init__(self, response: httpx.Response, sha256: str | None = None) -> None:
        self._response = response
        self._sha256 = sha256
        self._digest = hashlib.sha256() if sha256 is not None else None
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
                self._check()
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
            if self._digest is not None:
                self._digest.update(self._left)
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n

    def _check(self) -> None:
        if self._digest is not None and self._digest.hexdigest() != self._sha256:
            found, self._digest = self._digest.hexdigest(), None  # said once
            raise IntegrityError(
                f"the {self._received} bytes from {self._response.url.host} have sha256 {found}, not {self._sha256}"
            )

    def close(self) -> None:
        self._response.close()
        super().close()


class HttpStore:
    """The ``Store`` of a ``runhistory serve`` at ``url``.

    Args:
        url: The server, e.g. ``http://127.0.0.1:5100``.
        token: Bearer token, when the server wants one.
        timeout: Seconds to wait for an answer.
        transport: An httpx transport (tests use ``httpx.ASGITransport``); the bucket is
            always reached over the network.
        direct: Move files straight to and from the store's bucket when the server offers it
            (see the module docstring).
        direct_min_size: Smallest file sent to the bucket directly (smaller ones go through the server).

    Raises (from every method):
        StoreUnavailable: the server cannot be reached or failed (worth trying again).
        Unauthorized: the token is missing or wrong.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        direct: bool = True,
        direct_min_size: int = DIRECT_MIN_SIZE,
    ) -> None:
        self.url = url.rstrip("/")
        self.direct = direct
        self.direct_min_size = direct_min_size
        self._direct_off_until = 0.0
        self._bucket: httpx.Client | None = None
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
        """The client for the server's API (its base URL, its token)."""

        def make(module: Any) -> httpx.Client:
            headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
            made: httpx.Client = module.Client(
                base_url=self.url,
                headers=headers,
                timeout=module.Timeout(self._timeout, connect=5.0),
                transport=self._transport,
            )
            return made

        return self._made("_client", make)

    @property
    def bucket(self) -> httpx.Client:
        """The client for presigned URLs: no base URL, and never the server's token."""
        return self._made("_bucket", lambda module: module.Client(timeout=module.Timeout(self._timeout, connect=5.0)))

    def _made(self, name: str, make: Callable[[Any], httpx.Client]) -> httpx.Client:
        """The client in attribute ``name``, made once by ``make(httpx)`` (httpx is imported when first needed)."""
        client: httpx.Client | None = getattr(self, name)
        if client is None:
            import httpx

            with self._lock:
                client = getattr(self, name)
                if client is None:
                    client = make(httpx)
                    setattr(self, name, client)
        return client

    def _direct_now(self) -> bool:
        return self.direct and time.monotonic() >= self._direct_off_until

    def _direct_off(self, why: str, level: int = logging.WARNING) -> None:
        """Send files through the server for a while (see the module docstring), and say why."""
        if time.monotonic() >= self._direct_off_until:
            log.log(level, "%s: files go through the server for the next %g s: %s", self.url, DIRECT_RECHECK, why)
        self._direct_off_until = time.monotonic() + DIRECT_RECHECK

    def _call(self, method: str, path: str, *, refusals: Set[str] = frozenset(), **kwargs: Any) -> httpx.Response:
        """The answer to a request; a failure raised as its error, but for those ``refusals``
        (by the error's name), which are answered for the caller to read."""
        import httpx

        try:
            response = self.client.request(method, API + path, **kwargs)
        except httpx.TransportError as error:
            raise StoreUnavailable(f"{self.url}: {error or type(error).__name__}") from error
        if response.status_code >= 400 and _error_name(response) in refusals:
            return response
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
        direct = self._direct_now()
        response = self._send_get(API + path, {"direct": "true"} if direct else None)
        if direct and response.status_code == 307:
            response.close()
            location, sha256 = response.headers.get("location"), response.headers.get(SHA256_HEADER)
            fetched = self._fetch(location, sha256) if location and sha256 else None
            if fetched is not None:
                return fetched
            response = self._send_get(API + path, None)
        if response.status_code >= 400:
            response.read()
            response.close()
            _raise_for(response)
        return io.BufferedReader(_ResponseReader(response), _PIECE)

    def _send_get(self, path: str, params: dict[str, str] | None, client: httpx.Client | None = None) -> httpx.Response:
        import httpx

        client = client or self.client
        # Files travel as they are: nothing to decode, nothing to be surprised by.
        request = client.build_request("GET", path, params=params, headers={"Accept-Encoding": "identity"})
        try:
            return client.send(request, stream=True)
        except httpx.TransportError as error:
            where = self.url if client is self.client else "the bucket"
            raise StoreUnavailable(f"{where}: {error or type(error).__name__}") from error

    def _fetch(self, url: str, sha256: str) -> BinaryIO | None:
        """The bytes at a presigned URL, checked against ``sha256``; ``None`` when the bucket
        cannot be reached or refuses (the caller asks the server for them instead)."""
        try:
            response = self._send_get(url, None, self.bucket)
        except StoreUnavailable as error:
            self._direct_off(f"the bucket cannot be reached from here ({error.__cause__ or error})")
            return None
        if response.status_code != 200:
            response.read()
            response.close()
            self._direct_off(f"the bucket answered a download with {response.status_code}: {response.text[:200]!r}")
            return None
        return io.BufferedReader(_ResponseReader(response, sha256), _PIECE)

    def health(self) -> bool:
        """Whether the server answers its health check."""
        import httpx

        try:
            return self.client.get("/health", timeout=5.0).status_code == 200
        except httpx.TransportError:
            return False

    # -- runs -----------------------------------------------------------------

    def create_run(self, spec: NewRun) -> Run:
        check_time(spec.started_at, "started_at")  # NaN has no JSON: refused here, as the store would
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
        ended_at: float | None = None,
    ) -> Run:
        body: dict[str, object] = {"status": status, "error": error, "exit_code": exit_code}
        if check_time(ended_at, "ended_at") is not None:  # left out when not given: any server takes the call
            body["ended_at"] = ended_at
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

    def read_series(
        self,
        run_id: str,
        name: str,
        *,
        max_points: int | None = None,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> Series:
        rules.check_max_points(max_points)
        rules.check_step_range(start_step, end_step)
        params: dict[str, Any] = {"name": name}
        if max_points is not None:
            params["max_points"] = max_points
        if start_step is not None:
            params["start_step"] = start_step
        if end_step is not None:
            params["end_step"] = end_step
        return self._answer("GET", f"/runs/{run_id}/series", wire.series_from_wire, params=params)

    # -- artifacts --------------------------------------------------------------

    def put_artifact(
        self,
        run_id: str,
        path: str,
        data: bytes | BinaryIO,
        *,
        max_size: int | None = None,
        sha256: str | None = None,
    ) -> ArtifactInfo:
        """See ``Store.put_artifact``. A file of ``direct_min_size`` or more is hashed first
        (when ``sha256`` is not given): it goes to the bucket directly when the server offers
        that, and otherwise through the server with its sha256 announced
        (``x-runhistory-sha256``), which lets the server pass the bytes on as they arrive."""
        check_artifact_path(path)
        if sha256 is not None:
            check_sha256(sha256)
        given = sha256
        limit = MAX_ARTIFACT_SIZE if max_size is None else max_size
        headers = {"Content-Type": "application/octet-stream"}
        content: bytes | Iterator[bytes]
        if isinstance(data, (bytes, bytearray, memoryview)):
            if len(data) > limit:
                raise ArtifactTooLarge(f"artifact {path!r} is {len(data)} bytes; the limit is {limit} bytes")
            content = bytes(data)
            if len(content) >= self.direct_min_size:
                sha256 = sha256 or hashlib.sha256(content).hexdigest()
                if self._direct_now():
                    stored = self._put_direct(run_id, path, io.BytesIO(content), len(content), sha256)
                    if stored is not None:
                        return stored
        else:
            size = _size_left(data)
            if size is not None:
                if size > limit:
                    raise ArtifactTooLarge(f"artifact {path!r} is {size} bytes; the limit is {limit} bytes")
                headers["Content-Length"] = str(size)
                if size >= self.direct_min_size:
                    start = data.tell()
                    if sha256 is None:
                        digest = hashlib.sha256()
                        for piece in _pieces(data, size):
                            digest.update(piece)
                        sha256 = digest.hexdigest()
                        data.seek(start)
                    if self._direct_now():
                        stored = self._put_direct(run_id, path, data, size, sha256)
                        if stored is not None:
                            return stored
                        data.seek(start)  # through the server, from the start
            content = _pieces(data)
        where = f"/runs/{run_id}/artifacts/{quote(path, safe='/')}"
        if sha256 is not None:
            headers[SHA256_HEADER] = sha256
        if sha256 is None or given is not None or isinstance(data, (bytes, bytearray, memoryview)):
            # No hash, the caller's, or one of bytes held: a refusal is theirs to hear.
            return wire.artifact_from_wire(self._call("PUT", where, content=content, headers=headers).json())
        start = data.tell()  # a file this client hashed, which may have changed since
        response = self._call("PUT", where, content=content, refusals={"IntegrityError"}, headers=headers)
        if response.status_code >= 400:  # it did: stored as it is now, as any stream is
            log.info("%s: %r changed while it was sent; sending it again as it is", self.url, path)
            data.seek(start)
            del headers[SHA256_HEADER], headers["Content-Length"]
            response = self._call("PUT", where, content=_pieces(data), headers=headers)
        return wire.artifact_from_wire(response.json())

    def _put_direct(self, run_id: str, path: str, stream: BinaryIO, size: int, sha256: str) -> ArtifactInfo | None:
        """Send ``size`` bytes of a file (or of bytes held), which hash to ``sha256``, straight to
        the bucket; ``None`` when they must go through the server instead (see the module docstring)."""
        import httpx

        said = {"path": path, "sha256": sha256, "size": size}
        begun = self._call("POST", f"/runs/{run_id}/direct-uploads", json=said, refusals=_NOT_OFFERED)
        if begun.status_code >= 400:
            self._direct_off(f"it offers no direct transfer ({_message(begun)})", logging.INFO)
            return None
        try:
            offer: DirectUpload = wire.direct_upload_from_wire(begun.json())
        except _MALFORMED as error:
            raise BadResponse(
                f"{self.url} answered a direct upload with something else than runhistory's ({error})"
            ) from None
        headers = {**offer.headers, "Content-Length": str(size), "Content-Type": "application/octet-stream"}
        try:
            sent = self.bucket.put(offer.url, content=_pieces(stream, size), headers=headers)
        except httpx.TransportError as error:
            self._direct_off(f"the bucket cannot be reached from here ({error or type(error).__name__})")
            return None
        if sent.status_code >= 300:
            # Refused (a file that changed while it was read, a clock far off): the server takes it.
            log.warning(
                "%s: the bucket answered %s to the upload of %r (%s); it goes through the server",
                self.url,
                sent.status_code,
                path,
                sent.text[:200],
            )
            return None
        finished = self._call(
            "POST",
            f"/runs/{run_id}/direct-uploads/{quote(offer.upload, safe='')}",
            json=said,
            refusals={"InvalidInput", "IntegrityError"},
        )
        if finished.status_code >= 400:
            log.warning(
                "%s: the direct upload of %r was refused (%s); it goes through the server",
                self.url,
                path,
                _message(finished),
            )
            return None
        return wire.artifact_from_wire(finished.json())

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
        if self._bucket is not None:
            self._bucket.close()
            self._bucket = None


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


def _pieces(stream: BinaryIO, size: int | None = None) -> Iterator[bytes]:
    """The stream's bytes in pieces: to its end, or its next ``size`` bytes (fewer when it ends first)."""
    left = size
    while left is None or left > 0:
        piece = stream.read(_PIECE if left is None else min(_PIECE, left))
        if not piece:
            return
        if left is not None:
            left -= len(piece)
        yield piece


def _error_name(response: httpx.Response) -> str | None:
    """The ``error`` a failure's body names, if it is runhistory's."""
    try:
        body = response.json()
    except ValueError:
        return None
    name = body.get("error") if isinstance(body, dict) else None
    return name if isinstance(name, str) else None


def _message(response: httpx.Response) -> str:
    """A refusal in a few words: its status and message."""
    try:
        body = response.json()
        message = body.get("message") if isinstance(body, dict) else None
    except ValueError:
        message = None
    return f"{response.status_code}: {message if isinstance(message, str) else response.text[:200]}"
