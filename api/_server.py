"""``runhistory serve``: a store as a REST API under ``/api/v1``.

A thin layer: every route calls one ``Store`` method. Blocking store calls run
in the thread pool; artifact bodies stream both ways in pieces, so memory use
does not grow with file size. JSON bodies are capped at ``MAX_BATCH_BYTES``
and at most ``MAX_CONCURRENT_BATCHES`` of them are read and decoded at once,
so memory use does not grow with the number of clients either. When the store is a
``DirectTransfer`` (and ``direct`` is on), clients may move artifact bytes
straight to and from its bucket instead: the server only signs URLs and
verifies what was sent (see the README's "Direct transfer"). Every route
but ``/health`` needs ``Authorization: Bearer <token>`` when the server has a
token.
"""

from __future__ import annotations

import io
import json
import math
import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast

import anyio
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import _wire as wire
from ._blobs import DirectDownload
from ._errors import (
    AmbiguousRunId,
    ArtifactTooLarge,
    BatchTooLarge,
    BodyStalled,
    DirectTransferNotOffered,
    InvalidInput,
    ParamConflict,
    RunhistoryError,
    status_of,
)
from ._limits import (
    BODY_READ_TIMEOUT,
    DIRECT_MIN_SIZE,
    EARLIEST_TIME,
    JSON_BODY_TIMEOUT,
    KEEP_ALIVE_TIMEOUT,
    LATEST_TIME,
    MAX_ARTIFACT_SIZE,
    MAX_BATCH_BYTES,
    MAX_CONCURRENT_BATCHES,
    MAX_EXPERIMENT_NAME_LENGTH,
    MAX_INT,
    MAX_NOTE_LENGTH,
    MAX_PAGE_SIZE,
    MAX_RUN_NAME_LENGTH,
    MAX_TAGS,
    REQUEST_HEAD_TIMEOUT,
    SEND_STALL_TIMEOUT,
    SWEEP_INTERVAL,
)
from ._models import Environment, NewRun
from ._openapi import FILE_BODY, METRICS_BODY, REDIRECT, SHA256_UPLOAD_HEADER, complete, ok
from ._query import MAX_QUERY_LENGTH
from ._scratch import scratch_folder, sweep
from ._store import DirectTransfer, Store
from ._validate import check_artifact_path, check_sha256

API = "/api/v1"
_PIECE = 1 << 20


def error_response(error: Exception) -> JSONResponse:
    """The answer to ``error``: its status from ``HTTP_STATUS``, and ``{"error", "message"}``."""
    status = status_of(error)
    body: dict[str, Any] = {"error": type(error).__name__, "message": str(error)}
    if isinstance(error, AmbiguousRunId):
        body["candidates"] = error.candidates
        body["prefix"] = error.prefix
    if isinstance(error, ParamConflict):
        body["keys"] = error.keys
    return JSONResponse(body, status_code=status)


def _json(doc: Any, status: int = 200) -> Response:
    # Bodies are already strict JSON values: skip FastAPI's per-item encoder.
    return Response(json.dumps(doc, allow_nan=False), status_code=status, media_type="application/json")


class _BearerToken:
    """Pure ASGI middleware: a constant-time check of the bearer token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] != "/health":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not secrets.compare_digest(given, self.expected):
                response = JSONResponse(
                    {"error": "Unauthorized", "message": "a valid 'Authorization: Bearer <token>' header is required"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _BodyGuard:
    """Pure ASGI middleware: how much of a request body is read, how fast, and how many at once.

    Every body must keep coming: each piece within ``body_timeout`` (408).
    A PUT streams a file to disk and has its own size limit; every other body
    is JSON that is read whole and decoded, so it is capped at
    ``MAX_BATCH_BYTES`` (413) and admitted ``MAX_CONCURRENT_BATCHES`` at a
    time, before any of it is read: a waiting body stays in its socket. An
    admitted body must arrive whole within ``json_body_timeout``.
    """

    def __init__(self, app: ASGIApp, body_timeout: float, json_body_timeout: float) -> None:
        self.app = app
        self.body_timeout = body_timeout
        self.json_body_timeout = json_body_timeout
        self._admission: anyio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"").decode("latin-1")
        has_body = (declared.isdigit() and int(declared) > 0) or b"transfer-encoding" in headers
        if not has_body:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "PUT":
            await self._guarded(scope, receive, send, cap=None, deadline=None)
            return
        if declared.isdigit() and int(declared) > MAX_BATCH_BYTES:
            await self._refuse(scope, receive, send, _too_large())
            return
        if self._admission is None:
            self._admission = anyio.Semaphore(MAX_CONCURRENT_BATCHES)
        async with self._admission:
            deadline = anyio.current_time() + self.json_body_timeout
            await self._guarded(scope, receive, send, cap=MAX_BATCH_BYTES, deadline=deadline)

    async def _guarded(
        self, scope: Scope, receive: Receive, send: Send, cap: int | None, deadline: float | None
    ) -> None:
        failure: RunhistoryError | None = None
        started = False
        body_done = False
        size = 0

        async def receive_guarded() -> Message:
            nonlocal failure, body_done, size
            if body_done:  # past the body: a wait for the disconnect, untimed
                return await receive()
            left = math.inf if deadline is None else deadline - anyio.current_time()
            try:
                with anyio.fail_after(max(min(self.body_timeout, left), 0.0)):
                    message = await receive()
            except TimeoutError:
                failure = BodyStalled(
                    f"no part of the request body came for {self.body_timeout:g} s"
                    if self.body_timeout <= left
                    else f"the request body did not arrive whole within {self.json_body_timeout:g} s"
                )
                raise failure from None
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if cap is not None and size > cap:
                    failure = _too_large()
                    raise failure
            return message

        async def send_guarded(message: Message) -> None:
            nonlocal started
            if failure is not None and not started:
                return  # the app's own answer to the failure; ours goes out below
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_guarded, send_guarded)
        except ClientDisconnect:
            return  # the client went away mid-body (killed, say): nobody is left to answer
        except Exception:
            if failure is None or started:
                raise
        if failure is not None and not started:
            await self._refuse(scope, receive, send, failure)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, failure: RunhistoryError) -> None:
        # The body was not read to its end: close the connection after answering.
        response = error_response(failure)
        response.headers["connection"] = "close"
        await response(scope, receive, send)


def _too_large() -> BatchTooLarge:
    return BatchTooLarge(f"a request body may be at most {MAX_BATCH_BYTES} bytes; send smaller batches")


class _FileResponse(StreamingResponse):
    """A file's bytes in pieces, with its length declared; the file is closed the
    moment the response ends or the client goes away (not when garbage is collected)."""

    def __init__(self, stream: BinaryIO) -> None:
        try:
            size: int | None = os.fstat(stream.fileno()).st_size - stream.tell()
        except (AttributeError, OSError, ValueError):
            size = None
        headers = None if size is None else {"content-length": str(size)}
        super().__init__(iter(()), media_type="application/octet-stream", headers=headers)
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as tasks:

                async def stop_on_disconnect() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    tasks.cancel_scope.cancel()

                tasks.start_soon(stop_on_disconnect)
                await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
                while piece := await anyio.to_thread.run_sync(self.stream.read, _PIECE):
                    await send({"type": "http.response.body", "body": piece, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                tasks.cancel_scope.cancel()
        finally:
            self.stream.close()


_DIRECT_GET = (
    "answer a large file of a store whose files are in a bucket with a 307 to a presigned URL there "
    "(x-runhistory-sha256: the hash to check); otherwise, or when off, the bytes"
)
_PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f]*$"  # no control characters (as _validate checks)


class _Arriving(io.RawIOBase):
    """A request body as a file a store reads on a worker thread: each ``read`` waits for
    the next piece to arrive (on the event loop), so the body is read as fast as the
    store takes it and never held whole."""

    def __init__(self, pieces: AsyncIterator[bytes], length: int | None) -> None:
        super().__init__()
        self.length = length  # what its Content-Length says (see BlobStore.put)
        self._pieces = pieces
        self._held = b""
        self._at = 0  # what of _held was read
        self._ended = False

    async def _next(self) -> bytes:
        try:
            return await self._pieces.__anext__()
        except StopAsyncIteration:
            return b""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        while self._at == len(self._held) and not self._ended:
            self._held, self._at = anyio.from_thread.run(self._next), 0
            self._ended = not self._held
        if size is None or size < 0:
            pieces = [self._held[self._at :]]
            while not self._ended:
                piece = anyio.from_thread.run(self._next)
                self._ended = not piece
                pieces.append(piece)
            self._held, self._at = b"", 0
            return b"".join(pieces)
        if self._at == 0 and size >= len(self._held):  # the usual case: a whole piece, not copied
            piece, self._held = self._held, b""
            return piece
        piece = self._held[self._at : self._at + size]
        self._at += len(piece)
        return piece


class NewRunBody(BaseModel):
    """A run to start."""

    # The store checks every field again; these bounds are here to be documented.
    experiment: str = Field("default", min_length=1, max_length=MAX_EXPERIMENT_NAME_LENGTH, pattern=_PRINTABLE)
    name: str | None = Field(None, max_length=MAX_RUN_NAME_LENGTH, pattern=_PRINTABLE)
    command: list[str] = Field(default_factory=list)
    cwd: str = ""
    host: str = ""
    user: str = ""
    python: str = ""
    pid: int | None = Field(None, ge=0, le=MAX_INT)
    run_id: str | None = Field(None, pattern="^[0-9a-f]{32}$", description="use this id (32 lowercase hex digits)")
    started_at: float | None = Field(
        None, ge=EARLIEST_TIME, le=LATEST_TIME, description="when the run started, epoch seconds (default: now)"
    )


class RunChangesBody(BaseModel):
    """Facts learnt after a run started."""

    git_commit: str | None = None
    git_dirty: bool | None = None
    skipped_files: list[str] | None = None


class ParamsBody(BaseModel):
    """Params to record."""

    # Each value is checked by the store (types, limits); any JSON is taken here.
    params: dict[str, Any]
    overwrite: bool = False


class TagsBody(BaseModel):
    """Tags to add and remove."""

    add: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    remove: list[str] = Field(default_factory=list, max_length=MAX_TAGS)


class NoteBody(BaseModel):
    """A run's note."""

    note: str | None = Field(None, max_length=MAX_NOTE_LENGTH)


class NameBody(BaseModel):
    """A run's name."""

    name: str | None = Field(None, max_length=MAX_RUN_NAME_LENGTH)


class EnvironmentBody(BaseModel):
    """What a run ran with."""

    packages: dict[str, str] = Field(default_factory=dict)
    git_diff: str | None = None
    git_diff_truncated: bool = False


class FinishBody(BaseModel):
    """How a run ended."""

    status: Literal["completed", "failed", "killed"]
    error: str | None = None
    exit_code: int | None = Field(None, ge=-MAX_INT, le=MAX_INT)
    ended_at: float | None = Field(
        None, ge=EARLIEST_TIME, le=LATEST_TIME, description="when the run ended, epoch seconds (default: now)"
    )


class DirectUploadBody(BaseModel):
    """A file a client sends to the bucket itself: which, and what it holds."""

    path: str = Field(min_length=1, description="the artifact's path in the run")
    sha256: str = Field(pattern="^[0-9a-f]{64}$", description="the sha256 of the file's bytes")
    size: int = Field(ge=0, le=MAX_INT, description="the file's size in bytes")


class PromoteBody(BaseModel):
    """What to promote."""

    run_id: str
    prefix: str = ""


async def _sweep_every(tmp: Path, interval: float) -> None:
    while True:
        await anyio.sleep(interval)
        await anyio.to_thread.run_sync(sweep, tmp)


def create_app(
    store: Store,
    *,
    token: str | None = None,
    max_file_size: int = MAX_ARTIFACT_SIZE,
    body_timeout: float = BODY_READ_TIMEOUT,
    json_body_timeout: float = JSON_BODY_TIMEOUT,
    sweep_interval: float = SWEEP_INTERVAL,
    direct: bool = True,
    direct_min_size: int = DIRECT_MIN_SIZE,
) -> FastAPI:
    """The FastAPI application serving ``store``.

    Args:
        store: The store to serve.
        token: When set, every route but ``/health`` needs this bearer token.
        max_file_size: Largest artifact accepted, in bytes (413 beyond).
        body_timeout: Seconds to wait for the next piece of a request body (408 beyond).
        json_body_timeout: Seconds an admitted JSON body has to arrive whole (408 beyond).
        sweep_interval: Seconds between sweeps of ``tmp/`` for what dead processes left.
        direct: Offer clients direct transfers when the store has them (``DirectTransfer``).
        direct_min_size: Smallest file a download is redirected to the bucket for.
    """
    transfer = store if direct and isinstance(store, DirectTransfer) and store.offers_direct_transfer else None

    def direct_transfer() -> DirectTransfer:
        if transfer is None:
            why = (
                "was started with --no-direct (or direct = false in its config file)"
                if not direct
                else f"keeps files where clients cannot be sent ({store.location})"
            )
            raise DirectTransferNotOffered(f"this server moves files itself: it {why}; send them through it")
        return transfer

    def redirect(download: DirectDownload) -> Response:
        # The client fetches the bytes from the bucket and checks them against the hash said here.
        headers = {"location": download.url, "x-runhistory-sha256": download.sha256, "cache-control": "no-store"}
        return Response(status_code=307, headers=headers)

    # Uploads are received into this process's scratch folder; what a killed
    # server or client left there is swept now and every ``sweep_interval``.
    tmp = Path(getattr(store, "home", tempfile.gettempdir())) / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    sweep(tmp)

    @asynccontextmanager
    async def sweeping(app: FastAPI) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_sweep_every, tmp, sweep_interval)
            yield
            tasks.cancel_scope.cancel()

    app = FastAPI(
        title="runhistory",
        description="Run history for machine-learning work: runs, metric series, artifacts, assets.",
        version="1",
        docs_url=None,
        redoc_url=None,
        lifespan=sweeping,
    )

    @app.exception_handler(RunhistoryError)
    async def on_store_error(request: Request, error: RunhistoryError) -> JSONResponse:
        return error_response(error)

    # Every failure answers with the same body, {"error", "message"}: bad
    # parameters, unknown routes and the unexpected too.
    @app.exception_handler(RequestValidationError)
    async def on_bad_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in error.errors()
        )
        return error_response(InvalidInput(problems or "the request is not acceptable"))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400:  # FastAPI's word for a body it could not parse (not UTF-8, say)
            return error_response(InvalidInput(f"the body is not JSON: {error.detail}"))
        name = HTTPStatus(error.status_code).phrase.replace(" ", "").replace("-", "")
        body = {"error": name, "message": str(error.detail)}
        return JSONResponse(body, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse(
            {"error": "InternalError", "message": "the server failed; its log says why"}, status_code=500
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = complete(doc, token=bool(token))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(UnicodeError)
    async def on_bad_text(request: Request, error: UnicodeError) -> JSONResponse:
        # A lone surrogate ("\ud800" in JSON) cannot be stored as text.
        return error_response(InvalidInput(f"text is not valid Unicode: {error}"))

    @app.exception_handler(OverflowError)
    async def on_huge_number(request: Request, error: OverflowError) -> JSONResponse:
        return error_response(InvalidInput(f"a number does not fit in 64 bits: {error}"))

    @app.get("/health", tags=["service"], responses=ok(200, "Health"))
    def health() -> dict[str, str]:
        """Whether the service is up (needs no token)."""
        return {"status": "ok"}

    # -- runs ---------------------------------------------------------------

    @app.post(f"{API}/runs", status_code=201, tags=["runs"], responses=ok(201, "Run"))
    def create_run(body: NewRunBody) -> Response:
        """Start a run."""
        run = store.create_run(NewRun(**body.model_dump()))
        return _json(wire.run_to_wire(run), 201)

    @app.get(f"{API}/runs", tags=["runs"], responses=ok(200, "RunPage"))
    def list_runs(
        experiment: str | None = None,
        status: str | None = Query(None, description="running, completed, failed, killed or lost"),
        where: str | None = Query(None, max_length=MAX_QUERY_LENGTH, description="a query (see the README: Queries)"),
        sort: str | None = Query(None, max_length=MAX_QUERY_LENGTH, description="keys, e.g. 'metrics.loss desc'"),
        limit: int = Query(50, description=f"runs per page, 1 … {MAX_PAGE_SIZE}"),
        cursor: str | None = None,
    ) -> Response:
        """Runs, newest first unless sorted, a page at a time; the query is run by the store."""
        page = store.list_runs(
            experiment=experiment,
            status=status,  # type: ignore[arg-type]
            where=where,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
        return _json(wire.page_to_wire(page))

    @app.get(f"{API}/runs/{{run_ref}}", tags=["runs"], responses=ok(200, "Run"))
    def get_run(run_ref: str) -> Response:
        """One run, by its id or any unique prefix."""
        return _json(wire.run_to_wire(store.get_run(run_ref)))

    @app.patch(f"{API}/runs/{{run_id}}", status_code=204, tags=["runs"], responses=ok(204))
    def update_run(run_id: str, body: RunChangesBody) -> Response:
        """Record facts learnt after the start."""
        store.update_run(run_id, git_commit=body.git_commit, git_dirty=body.git_dirty, skipped_files=body.skipped_files)
        return Response(status_code=204)

    @app.delete(f"{API}/runs/{{run_id}}", tags=["runs"], responses=ok(200, "Deleted"))
    def delete_run(run_id: str) -> Response:
        """Remove a run; contents nothing else refers to are freed, asset versions stay."""
        return _json(wire.deleted_to_wire(store.delete_run(run_id)))

    @app.put(f"{API}/runs/{{run_id}}/params", status_code=204, tags=["runs"], responses=ok(204))
    def set_params(run_id: str, body: ParamsBody) -> Response:
        """Record params (a key set to another value is refused with 409 unless overwrite)."""
        store.set_params(run_id, body.params, overwrite=body.overwrite)
        return Response(status_code=204)

    @app.post(f"{API}/runs/{{run_id}}/tags", tags=["runs"], responses=ok(200, "Tags"))
    def update_tags(run_id: str, body: TagsBody) -> Response:
        """Add and remove tags; answers the tags afterwards."""
        return _json({"tags": store.update_tags(run_id, add=body.add, remove=body.remove)})

    @app.put(f"{API}/runs/{{run_id}}/note", status_code=204, tags=["runs"], responses=ok(204))
    def set_note(run_id: str, body: NoteBody) -> Response:
        """Replace the note (null clears it)."""
        store.set_note(run_id, body.note)
        return Response(status_code=204)

    @app.put(f"{API}/runs/{{run_id}}/name", status_code=204, tags=["runs"], responses=ok(204))
    def rename_run(run_id: str, body: NameBody) -> Response:
        """Rename the run (null clears the name)."""
        store.rename_run(run_id, body.name)
        return Response(status_code=204)

    @app.put(f"{API}/runs/{{run_id}}/environment", status_code=204, tags=["runs"], responses=ok(204))
    def set_environment(run_id: str, body: EnvironmentBody) -> Response:
        """Record what the run ran with."""
        store.set_environment(run_id, Environment(body.packages, body.git_diff, body.git_diff_truncated))
        return Response(status_code=204)

    @app.get(f"{API}/runs/{{run_id}}/environment", tags=["runs"], responses=ok(200, "Environment"))
    def get_environment(run_id: str) -> Response:
        """What the run ran with."""
        return _json(wire.environment_to_wire(store.get_environment(run_id)))

    @app.post(f"{API}/runs/{{run_id}}/heartbeat", status_code=204, tags=["runs"], responses=ok(204))
    def heartbeat(run_id: str) -> Response:
        """The run's owner is alive."""
        store.heartbeat(run_id)
        return Response(status_code=204)

    @app.post(f"{API}/runs/{{run_id}}/finish", tags=["runs"], responses=ok(200, "Run"))
    def finish_run(run_id: str, body: FinishBody) -> Response:
        """End a run."""
        run = store.finish_run(run_id, body.status, error=body.error, exit_code=body.exit_code, ended_at=body.ended_at)
        return _json(wire.run_to_wire(run))

    # -- metrics ------------------------------------------------------------

    @app.post(
        f"{API}/runs/{{run_id}}/metrics",
        tags=["metrics"],
        responses=ok(200, "Stored"),
        openapi_extra={"requestBody": METRICS_BODY},
    )
    async def append_metrics(run_id: str, request: Request) -> Response:
        """Append a batch of points, once per idempotency key."""
        body = bytearray()  # at most MAX_BATCH_BYTES: _BodyGuard stops a longer one
        async for piece in request.stream():
            body += piece

        def parse_and_store() -> bool:
            # Off the event loop: decoding a large batch takes tens of milliseconds.
            try:
                doc = json.loads(body, parse_constant=_refuse_constant)
            except (ValueError, RecursionError) as error:
                raise InvalidInput(f"the body is not strict JSON: {error}") from None
            body.clear()  # decoded: give its bytes back before the store encodes the points
            if not isinstance(doc, dict):
                raise InvalidInput("the body must be an object with 'series' (and an optional 'key')")
            key = doc.get("key")
            if key is not None and not isinstance(key, str):
                raise InvalidInput("'key' must be a string")
            return store.append_metrics(run_id, wire.batch_from_wire(doc.get("series")), key=key)

        return _json({"stored": await run_in_threadpool(parse_and_store)})

    @app.get(f"{API}/runs/{{run_id}}/metrics", tags=["metrics"], responses=ok(200, "Metric", many=True))
    def list_metrics(run_id: str) -> Response:
        """The run's metrics with their newest values."""
        return _json([wire.metric_to_wire(m) for m in store.list_metrics(run_id)])

    @app.get(f"{API}/runs/{{run_id}}/series", tags=["metrics"], responses=ok(200, "Series"))
    def read_series(
        run_id: str,
        name: str,
        max_points: int | None = Query(None, description="at most this many points (2 or more)"),
        start_step: int | None = Query(None, description="only points whose step is at least this"),
        end_step: int | None = Query(None, description="only points whose step is at most this"),
    ) -> Response:
        """One metric's points; ``max_points`` downsamples on the server, over the step range when one is given."""
        found = store.read_series(run_id, name, max_points=max_points, start_step=start_step, end_step=end_step)
        return _json(wire.series_to_wire(found))

    # -- artifacts ----------------------------------------------------------

    @app.put(
        f"{API}/runs/{{run_id}}/artifacts/{{path:path}}",
        status_code=201,
        tags=["artifacts"],
        responses=ok(201, "Artifact"),
        openapi_extra={"requestBody": FILE_BODY, "parameters": [SHA256_UPLOAD_HEADER]},
    )
    async def put_artifact(run_id: str, path: str, request: Request) -> Response:
        """Store a file, streamed; 413 past the per-file limit. With its sha256 announced
        (``x-runhistory-sha256``) the bytes are passed on to the store as they arrive and kept
        only if they hash as announced (422 ``IntegrityError`` otherwise); without it they are
        received whole first."""
        check_artifact_path(path)
        declared = request.headers.get("content-length", "")
        length = int(declared) if declared.isdigit() else None
        if length is not None and length > max_file_size:
            raise ArtifactTooLarge(f"artifact {path!r} is {length} bytes; the limit is {max_file_size} bytes")
        announced = request.headers.get(wire.SHA256_HEADER)
        if announced is not None:
            sha256 = check_sha256(announced)
            body = cast(BinaryIO, _Arriving(request.stream(), length))  # read() is all a store calls
            stored = await run_in_threadpool(
                lambda: store.put_artifact(run_id, path, body, max_size=max_file_size, sha256=sha256)
            )
            return _json(wire.artifact_to_wire(stored), 201)
        fd, name = tempfile.mkstemp(dir=scratch_folder(tmp), prefix="receive-")
        try:
            size = 0
            with open(fd, "wb") as out:
                async for piece in request.stream():
                    size += len(piece)
                    if size > max_file_size:
                        raise ArtifactTooLarge(
                            f"artifact {path!r} is more than {max_file_size} bytes; the limit is {max_file_size} bytes"
                        )
                    out.write(piece)

            def put() -> Any:
                with open(name, "rb") as stream:
                    return store.put_artifact(run_id, path, stream, max_size=max_file_size)

            info = await run_in_threadpool(put)
        finally:
            os.unlink(name)
        return _json(wire.artifact_to_wire(info), 201)

    @app.get(f"{API}/runs/{{run_id}}/artifacts", tags=["artifacts"], responses=ok(200, "Artifact", many=True))
    def list_artifacts(run_id: str, prefix: str = "") -> Response:
        """The run's files at or under ``prefix``."""
        return _json([wire.artifact_to_wire(a) for a in store.list_artifacts(run_id, prefix)])

    @app.get(
        f"{API}/runs/{{run_id}}/artifacts/{{path:path}}",
        tags=["artifacts"],
        responses={**ok(200, binary=True), **REDIRECT},
    )
    def get_artifact(run_id: str, path: str, direct: bool = Query(False, description=_DIRECT_GET)) -> Response:
        """One file's bytes, streamed (or, asked ``direct``, a redirect to the bucket)."""
        check_artifact_path(path)
        if direct and transfer is not None:
            download = transfer.artifact_download(run_id, path)
            if download.size >= direct_min_size:
                return redirect(download)
        return _FileResponse(store.open_artifact(run_id, path))

    @app.post(
        f"{API}/runs/{{run_id}}/direct-uploads",
        status_code=201,
        tags=["artifacts"],
        responses=ok(201, "DirectUpload"),
    )
    def begin_direct_upload(run_id: str, body: DirectUploadBody) -> Response:
        """Where to send a file's bytes straight to the bucket; 409 when this server does not offer it."""
        if body.size > max_file_size:
            raise ArtifactTooLarge(f"artifact {body.path!r} is {body.size} bytes; the limit is {max_file_size} bytes")
        offer = direct_transfer().begin_direct_upload(run_id, body.path, body.sha256, body.size, max_size=max_file_size)
        return _json(wire.direct_upload_to_wire(offer), 201)

    @app.post(
        f"{API}/runs/{{run_id}}/direct-uploads/{{upload}}",
        status_code=201,
        tags=["artifacts"],
        responses=ok(201, "Artifact"),
    )
    def finish_direct_upload(run_id: str, upload: str, body: DirectUploadBody) -> Response:
        """Store what was sent to the bucket for ``upload``, once its bytes are verified (422 when they differ)."""
        info = direct_transfer().finish_direct_upload(run_id, body.path, upload, body.sha256, max_size=max_file_size)
        if info.size != body.size:
            # Verified against its hash, so whole: the client said another size by mistake.
            raise InvalidInput(f"artifact {body.path!r} was stored with {info.size} bytes, not the {body.size} said")
        return _json(wire.artifact_to_wire(info), 201)

    # -- assets -------------------------------------------------------------

    @app.post(f"{API}/assets/{{name}}/versions", status_code=201, tags=["assets"], responses=ok(201, "Asset"))
    def promote(name: str, body: PromoteBody) -> Response:
        """Make the next version of an asset from a run's files."""
        return _json(wire.asset_to_wire(store.promote(body.run_id, body.prefix, name)), 201)

    @app.get(f"{API}/assets", tags=["assets"], responses=ok(200, "AssetSummary", many=True))
    def list_assets() -> Response:
        """Every asset with its newest version."""
        return _json([wire.asset_summary_to_wire(a) for a in store.list_assets()])

    @app.get(f"{API}/assets/{{name}}/versions", tags=["assets"], responses=ok(200, "Asset", many=True))
    def list_asset_versions(name: str) -> Response:
        """Every version of an asset."""
        return _json([wire.asset_to_wire(a) for a in store.list_asset_versions(name)])

    @app.get(f"{API}/assets/{{name}}/latest", tags=["assets"], responses=ok(200, "Asset"))
    def get_latest_asset(name: str) -> Response:
        """The newest version of an asset."""
        return _json(wire.asset_to_wire(store.get_asset(name)))

    @app.get(f"{API}/assets/{{name}}/versions/{{version}}", tags=["assets"], responses=ok(200, "Asset"))
    def get_asset(name: str, version: int) -> Response:
        """One version of an asset."""
        return _json(wire.asset_to_wire(store.get_asset(name, version)))

    @app.get(
        f"{API}/assets/{{name}}/versions/{{version}}/files/{{path:path}}",
        tags=["assets"],
        responses={**ok(200, binary=True), **REDIRECT},
    )
    def get_asset_file(
        name: str, version: int, path: str, direct: bool = Query(False, description=_DIRECT_GET)
    ) -> Response:
        """One file of an asset version, streamed (or, asked ``direct``, a redirect to the bucket)."""
        check_artifact_path(path)
        if direct and transfer is not None:
            download = transfer.asset_file_download(name, version, path)
            if download.size >= direct_min_size:
                return redirect(download)
        return _FileResponse(store.open_asset_file(name, version, path))

    app.add_middleware(_BodyGuard, body_timeout=body_timeout, json_body_timeout=json_body_timeout)
    if token:  # outermost: a refused request is never admitted nor read
        app.add_middleware(_BearerToken, token=token)
    return app


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON; send non-finite numbers as the strings 'NaN', 'Infinity', '-Infinity'")


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(
    store: Store,
    *,
    host: str = "127.0.0.1",
    port: int = 5100,
    token: str | None = None,
    insecure: bool = False,
    max_file_size: int = MAX_ARTIFACT_SIZE,
    head_timeout: float = REQUEST_HEAD_TIMEOUT,
    keep_alive_timeout: int = KEEP_ALIVE_TIMEOUT,
    body_timeout: float = BODY_READ_TIMEOUT,
    json_body_timeout: float = JSON_BODY_TIMEOUT,
    send_timeout: float = SEND_STALL_TIMEOUT,
    sweep_interval: float = SWEEP_INTERVAL,
    workers: int = 1,
    direct: bool = True,
) -> int:
    """Run the server until SIGINT/SIGTERM (in-flight requests finish first); returns
    the exit code (0 unless a worker failed).

    The timeouts and the sweep interval default to the constants of the same
    meaning in ``_limits`` (see the README's "history service"). With ``workers``
    above 1, that many processes serve the one port (see ``_workers``). ``direct``
    offers clients direct transfers to and from the store's bucket, when it has one.

    Raises:
        InvalidInput: a non-loopback ``host`` without a token and without ``insecure``,
            or ``workers`` out of its range.
    """
    from ._workers import check_workers

    try:
        check_workers(workers)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    if not is_loopback(host) and not token and not insecure:
        raise InvalidInput(
            f"refusing to serve on {host} without a token: anyone who can reach it could read and "
            "write your runs. Set --token (or RUNHISTORY_TOKEN), or pass --insecure if the network is trusted."
        )
    import socket
    import sys

    import uvicorn

    from ._connections import timed_protocol

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on connections whose socket
    # says TCP, and with it on a response's body waited for the client's delayed ACK (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))  # port 0 picks a free one; say which below
    bound = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if family == socket.AF_INET6 else host
    app = create_app(
        store,
        token=token,
        max_file_size=max_file_size,
        body_timeout=body_timeout,
        json_body_timeout=json_body_timeout,
        sweep_interval=sweep_interval,
        direct=direct,
    )
    config = uvicorn.Config(
        app,
        log_level="warning",
        timeout_graceful_shutdown=30,
        http=timed_protocol(head_timeout, send_timeout),
        timeout_keep_alive=keep_alive_timeout,
    )
    print(
        f"runhistory: serving {store.location} on http://{shown}:{bound}"
        + (" (token required)" if token else "")
        + (f" with {workers} workers" if workers > 1 else "")
        + (
            " (direct transfers to and from the bucket)"
            if direct and isinstance(store, DirectTransfer) and store.offers_direct_transfer
            else ""
        ),
        file=sys.stderr,
        flush=True,
    )
    if workers == 1:
        uvicorn.Server(config).run(sockets=[sock])
        return 0
    from ._workers import run_workers

    return run_workers(lambda: uvicorn.Server(config).run(sockets=[sock]), workers)
