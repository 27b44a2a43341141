"""A real HTTP server that answers what a test tells it to: a server that lies,
refuses or breaks, for the clients' error paths."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: An answer: (status, headers, body).
Answer = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class Request:
    """What the server was asked."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def json_answer(doc: Any, status: int = 200) -> Answer:
    """A JSON body, as the server sends it (escapes and all)."""
    return status, {"Content-Type": "application/json"}, json.dumps(doc).encode()


class Liar:
    """An HTTP server on 127.0.0.1 (an ephemeral port) whose answers come from ``answer(request)``.

    Use as a context manager; ``requests`` lists what it was asked.
    """

    def __init__(self, answer: Callable[[Request], Answer]) -> None:
        self.answer = answer
        self.requests: list[Request] = []
        liar = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received = b""
                if length:
                    received = self.rfile.read(length)
                elif self.headers.get("Transfer-Encoding") == "chunked":
                    while True:
                        size = int(self.rfile.readline().strip() or b"0", 16)
                        received += self.rfile.read(size + 2)[:size]
                        if size == 0:
                            break
                request = Request(self.command, self.path, dict(self.headers.items()), received)
                liar.requests.append(request)
                status, headers, body = liar.answer(request)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _reply

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Liar:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def forward(request: Request, url: str) -> Answer:
    """``request`` sent on to the server at ``url``, and its answer."""
    import httpx

    headers = {
        k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length", "transfer-encoding")
    }
    response = httpx.request(request.method, url + request.path, content=request.body, headers=headers, timeout=60)
    kept = {k: v for k, v in response.headers.items() if k.lower() in ("content-type",)}
    return response.status_code, kept, response.content
