"""The server's connections under slow, silent and vanishing clients, spoken to with raw sockets.

A real server runs with its timeouts shortened (``serve()``'s own arguments)
so that each can be crossed in a second: a request just inside a timeout is
answered, one past it is cut off.
"""

from __future__ import annotations

import hashlib
import os
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from runhistory.api import IntegrityError
from runhistory.api._http import HttpStore

from ._processes import partial_files
from ._server import Server

HEAD = 1.0  # seconds for a request line and headers
KEEP_ALIVE = 1  # seconds an idle kept-alive connection stays
BODY = 1.0  # seconds between pieces of a request body
JSON_BODY = 2.5  # seconds for a whole JSON body
SEND = 1.0  # seconds a client may take nothing of a response


# The server, its run and its big file are set up once a worker (session scope), not each time a
# worker comes back to this module: the slow tests run before the rest (see conftest), and the
# workers take tests one at a time, so the tests of a module are interleaved with others.
@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of this module's own, its timeouts short enough to cross (the tests only talk to it)."""
    settings = {
        "head_timeout": HEAD,
        "keep_alive_timeout": KEEP_ALIVE,
        "body_timeout": BODY,
        "json_body_timeout": JSON_BODY,
        "send_timeout": SEND,
    }
    srv = Server(tmp_path_factory.mktemp("server"), settings=settings).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def run_id(server: Server) -> str:
    return str(httpx.post(f"{server.url}/api/v1/runs", json={}).json()["id"])


def connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def read_to_the_end(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    data = b""
    with sock:
        while piece := sock.recv(1 << 16):
            data += piece
    return data, time.monotonic() - started


def read_response(sock: socket.socket) -> bytes:
    """One whole response (its head and its Content-Length of body), leaving the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(1 << 16)
        assert piece, f"closed after {data!r}"
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += sock.recv(1 << 16)
    return head + b"\r\n\r\n" + body


def dribble(sock: socket.socket, data: bytes, pieces: int, pause: float) -> None:
    step = -(-len(data) // pieces)
    for start in range(0, len(data), step):
        sock.sendall(data[start : start + step])
        time.sleep(pause)


# -- request heads ---------------------------------------------------------------


@pytest.mark.slow
def test_a_connection_that_sends_nothing_is_closed(server: Server) -> None:
    data, took = read_to_the_end(connect(server))
    assert data == b"" and HEAD * 0.8 < took < HEAD + 2


@pytest.mark.slow
def test_headers_that_dribble_past_the_head_timeout_get_408_and_the_connection_closed(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        for _ in range(20):  # a header line every fifth of the timeout, until the server speaks
            if select.select([sock], [], [], HEAD / 5)[0]:
                break
            sock.sendall(b"X: y\r\n")
        data, _ = read_to_the_end(sock)
    assert data.startswith(b"HTTP/1.1 408 ") and b'"error": "RequestTimeout"' in data


def test_headers_that_dribble_within_the_head_timeout_are_answered(server: Server) -> None:
    with connect(server) as sock:
        dribble(sock, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 4, HEAD / 8)
        data, _ = read_to_the_end(sock)
    assert data.startswith(b"HTTP/1.1 200 ")


@pytest.mark.slow
def test_an_idle_kept_alive_connection_is_closed_and_a_busy_one_is_not(server: Server) -> None:
    with connect(server) as sock:
        for _ in range(3):  # requests closer together than the keep-alive timeout share the connection
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock).startswith(b"HTTP/1.1 200 ")
            time.sleep(KEEP_ALIVE / 2)
        data, took = read_to_the_end(sock)
    assert data == b"" and took < KEEP_ALIVE + 2


# -- request bodies -----------------------------------------------------------------


def put_head(run_id: str, length: int) -> bytes:
    return (
        f"PUT /api/v1/runs/{run_id}/artifacts/slow.bin HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def announced_put_head(run_id: str, length: int) -> bytes:
    """An upload whose sha256 is said (that of ``length`` bytes of ``z``): passed on as it arrives."""
    sha256 = hashlib.sha256(b"z" * length).hexdigest()
    return put_head(run_id, length).replace(b"\r\n\r\n", f"\r\nx-runhistory-sha256: {sha256}\r\n\r\n".encode())


def metrics_head(run_id: str, length: int) -> bytes:
    return (
        f"POST /api/v1/runs/{run_id}/metrics HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


@pytest.mark.slow
@pytest.mark.parametrize("head", [put_head, announced_put_head, metrics_head])
def test_a_body_that_stalls_gets_408_and_leaves_nothing(server: Server, run_id: str, head: object) -> None:
    with connect(server) as sock:
        sock.sendall(head(run_id, 1000) + b"{" + b" " * 99)  # type: ignore[operator]
        data, took = read_to_the_end(sock)
    assert data.startswith(b"HTTP/1.1 408 ") and b"no part of the request body came for 1 s" in data
    assert BODY * 0.8 < took < BODY + 2
    assert b"connection: close" in data.lower()
    assert partial_files(server.home) == []


@pytest.mark.slow
@pytest.mark.parametrize("head", [put_head, announced_put_head])
def test_a_body_whose_pieces_come_within_the_body_timeout_is_stored(server: Server, run_id: str, head: object) -> None:
    with connect(server) as sock:
        sock.sendall(head(run_id, 4000))  # type: ignore[operator]
        dribble(sock, b"z" * 4000, 4, BODY / 2)  # 2 s in all, but never 1 s without a piece
        assert read_response(sock).startswith(b"HTTP/1.1 201 ")


@pytest.mark.slow
def test_a_json_body_that_dribbles_past_its_deadline_gets_408(server: Server, run_id: str) -> None:
    body = b'{"series": {"x": {"kind": "number", "values": [1], "steps": [null], "times": [1]}}}'
    body += b" " * (200 - len(body))
    with connect(server) as sock:
        sock.sendall(metrics_head(run_id, len(body)))
        started = time.monotonic()
        for start in range(0, len(body), 20):  # every piece in time, the whole not
            # No piece is sent near the deadline: one landing as the server closes would
            # make its kernel reset the connection, and the 408 would be lost.
            if time.monotonic() - started > JSON_BODY - BODY / 2 or select.select([sock], [], [], BODY / 2)[0]:
                break
            sock.sendall(body[start : start + 20])
        data, _ = read_to_the_end(sock)
    assert data.startswith(b"HTTP/1.1 408 ") and b"did not arrive whole within 2.5 s" in data


@pytest.mark.slow
def test_a_json_body_within_its_deadline_is_stored(server: Server, run_id: str) -> None:
    body = b'{"series": {"y": {"kind": "number", "values": [1], "steps": [null], "times": [1]}}}'
    with connect(server) as sock:
        sock.sendall(metrics_head(run_id, len(body)))
        dribble(sock, body, 3, BODY / 2)
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")


# -- downloads ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def big_artifact(server: Server, run_id: str) -> str:
    """A run file far larger than the socket buffers between client and server."""
    with HttpStore(server.url) as remote:
        remote.put_artifact(run_id, "big.bin", os.urandom(1 << 20) * 64)
    return f"/api/v1/runs/{run_id}/artifacts/big.bin"


def open_blobs(server: Server) -> list[str]:
    """The blob files the server process holds open."""
    assert server.process is not None
    found = []
    for fd in Path(f"/proc/{server.process.pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed while we looked
        if "/blobs/" in target:
            found.append(target)
    return found


def wait_until(condition: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.02)
    return time.monotonic() - started


def test_a_download_declares_its_length(server: Server, big_artifact: str) -> None:
    with httpx.stream("GET", server.url + big_artifact) as response:
        assert response.headers["content-length"] == str(64 << 20)
        assert sum(len(p) for p in response.iter_raw()) == 64 << 20
    assert wait_until(lambda: open_blobs(server) == [], 5) < 1


def test_a_client_that_closes_a_download_midway_frees_its_file_at_once(server: Server, big_artifact: str) -> None:
    with connect(server) as sock:
        sock.sendall(f"GET {big_artifact} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        received = 0
        while received < 1 << 20:
            received += len(sock.recv(1 << 16))
        time.sleep(0.3)  # stalls a moment, the server blocked on its full buffers
        assert len(open_blobs(server)) == 1
    assert wait_until(lambda: open_blobs(server) == [], 5) < 0.5


@pytest.mark.slow
def test_a_client_that_takes_nothing_of_a_download_is_disconnected(server: Server, big_artifact: str) -> None:
    with connect(server) as sock:
        sock.sendall(f"GET {big_artifact} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        wait_until(lambda: len(open_blobs(server)) == 1, 5)
        took = wait_until(lambda: open_blobs(server) == [], SEND * 2 + 3)  # one quiet period to see, one to act
        assert took >= SEND * 0.8
        received = 0
        with pytest.raises(ConnectionResetError):  # reset: the server's kernel dropped its queue too
            while piece := sock.recv(1 << 20):
                received += len(piece)
        assert received < 64 << 20


# -- a server that lies -------------------------------------------------------------------


class LyingServer:
    """Answers one request declaring ``Content-Length: 10``, then sends up to 100 MiB in chunks.

    (A response with both headers is read by its chunks: HTTP gives Transfer-Encoding the last word.)
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.sent = 0
        self.thread = threading.Thread(target=self.answer, daemon=True)
        self.thread.start()

    def answer(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            while b"\r\n\r\n" not in conn.recv(1 << 16):
                pass
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n")
            piece = b"x" * (1 << 16)
            try:
                while self.sent < 100 << 20:
                    conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.sent += len(piece)
                conn.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # the client stopped reading and closed

    def close(self) -> None:
        self.thread.join(10)
        self.listener.close()


def test_a_download_that_runs_past_its_declared_length_is_stopped_at_once() -> None:
    liar = LyingServer()
    try:
        with HttpStore(liar.url) as remote, remote.open_artifact("a" * 32, "a.bin") as f:
            with pytest.raises(IntegrityError, match="more than the 10 bytes it declared"):
                f.read()
        liar.thread.join(10)
        assert liar.sent < 16 << 20  # what the socket buffers took before the client closed, not 100 MiB
    finally:
        liar.close()
