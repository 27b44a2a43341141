"""The server's HTTP connections, with the timeouts uvicorn leaves out.

uvicorn (0.54, h11) closes a kept-alive connection that idles after a response
(``timeout_keep_alive``), but it sets no clock on a new connection that sends
nothing, on request headers that arrive a byte at a time, or on a client that
stops taking a response: each holds a socket (and a download its file and
buffers) for as long as the client likes. This protocol adds those clocks;
request bodies are timed in the application (``_server``), which can answer
408.
"""

from __future__ import annotations

import asyncio
import socket
import struct

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from ._limits import REQUEST_HEAD_TIMEOUT, SEND_STALL_TIMEOUT

_REQUEST_TIMEOUT = b'{"error": "RequestTimeout", "message": "the request line and headers did not arrive in time"}'


def timed_protocol(
    head_timeout: float = REQUEST_HEAD_TIMEOUT, send_timeout: float = SEND_STALL_TIMEOUT
) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a clock on request heads and on stalled responses.

    Args:
        head_timeout: Seconds from a connection's opening (or from the first byte
            of its next request) to the end of the request's headers.
        send_timeout: Seconds a response may wait on a client that takes none of it.
    """

    class TimedH11Protocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None
        _send_timer: asyncio.TimerHandle | None = None
        _send_left = 0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._start_head_clock()

        def data_received(self, data: bytes) -> None:
            if self._head_timer is None and self.conn.their_state is h11.IDLE:
                self._start_head_clock()  # the first byte of the next request
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:  # the head is whole (or refused)
                self._stop_head_clock()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head_clock()
            self._stop_send_clock()
            super().connection_lost(exc)

        def pause_writing(self) -> None:
            super().pause_writing()
            if self._send_timer is None:
                self._send_left = self.transport.get_write_buffer_size()
                self._send_timer = self.loop.call_later(send_timeout, self._send_check)

        def resume_writing(self) -> None:
            self._stop_send_clock()
            super().resume_writing()

        def _start_head_clock(self) -> None:
            self._head_timer = self.loop.call_later(head_timeout, self._head_timed_out)

        def _stop_head_clock(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return
            if self.conn.trailing_data[0]:  # part of a request came: say why it ends
                self.transport.write(
                    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                    + b"content-length: %d\r\n\r\n" % len(_REQUEST_TIMEOUT)
                    + _REQUEST_TIMEOUT
                )
            self.transport.close()

        def _stop_send_clock(self) -> None:
            if self._send_timer is not None:
                self._send_timer.cancel()
                self._send_timer = None

        def _send_check(self) -> None:
            # Disconnect only a client that took nothing in a whole period: a slow
            # one that drains the buffer a little at a time keeps its download.
            left = self.transport.get_write_buffer_size()
            if left < self._send_left:
                self._send_left = left
                self._send_timer = self.loop.call_later(send_timeout, self._send_check)
                return
            self._send_timer = None
            # A reset, not a close: close() would wait for the buffers to drain,
            # and the kernel would go on holding what it has queued for the client.
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()

    return TimedH11Protocol
