"""An HTTP store that talks to a server app in this process.

``httpx.WSGITransport`` is httpx's own synchronous in-process transport (what
``HttpStore``'s sync client needs); the server's ASGI app runs behind
``a2wsgi.ASGIMiddleware``, which drives it on an event loop of its own in a
background thread. Every request goes through the real routes, validation,
error table and encoders, everything but a socket, so the HTTP store answers
as it does over the network, fast enough to run the whole contract suite
through it. Restarts, kills and concurrency are tested against a real
``runhistory serve`` instead (``tests/_server.py``).
"""

from __future__ import annotations

from typing import Any

import httpx
from a2wsgi import ASGIMiddleware

from runhistory.api import HttpStore, Store
from runhistory.api._server import create_app


class _WholeBodies(httpx.WSGITransport):
    """WSGI reads a body by its length: a streamed (chunked) one is read here first and sent with it."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if "content-length" not in request.headers:
            headers = {k: v for k, v in request.headers.items() if k.lower() != "transfer-encoding"}
            request = httpx.Request(request.method, request.url, headers=headers, content=request.read())
        return super().handle_request(request)


def in_process(store: Store, *, direct_min_size: int | None = None, **app_options: Any) -> HttpStore:
    """An ``HttpStore`` whose requests are answered by ``create_app(store, **app_options)`` in this process.

    With ``direct_min_size``, files of that size or more move straight to and from the store's
    bucket, both ways, when the store has one (the bucket is reached over the network).
    """
    sizes = {} if direct_min_size is None else {"direct_min_size": direct_min_size}
    app = create_app(store, **app_options, **sizes)
    transport = _WholeBodies(app=ASGIMiddleware(app))  # type: ignore[arg-type]
    return HttpStore("http://runhistory.test", transport=transport, **sizes)
