"""A TCP relay on 127.0.0.1 that counts the bytes it carries each way: put between a client
and a server, it says how many bytes of a transfer passed through that server's front door."""

from __future__ import annotations

import functools
import socket
import threading


class Relay:
    """Forwards every connection made to ``url`` to ``target_port`` on 127.0.0.1.

    Attributes:
        sent: Bytes from the clients to the server.
        received: Bytes from the server to the clients.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.sent = 0
        self.received = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._closed = False
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def counts(self) -> tuple[int, int]:
        """(sent, received) so far."""
        with self._lock:
            return self.sent, self.received

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            left, self._open = self._open, []
        for end in left:
            end.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._open += [client, server]
            done = threading.Barrier(2, action=functools.partial(self._forget, client, server))
            threading.Thread(target=self._pump, args=(client, server, True, done), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False, done), daemon=True).start()

    def _forget(self, *ends: socket.socket) -> None:
        with self._lock:
            self._open = [s for s in self._open if s not in ends]
        for end in ends:
            end.close()

    def _pump(self, source: socket.socket, target: socket.socket, upstream: bool, done: threading.Barrier) -> None:
        try:
            while piece := source.recv(1 << 16):
                with self._lock:
                    if upstream:
                        self.sent += len(piece)
                    else:
                        self.received += len(piece)
                target.sendall(piece)
        except OSError:
            pass
        try:
            target.shutdown(socket.SHUT_WR)  # the other side's end of input
        except OSError:
            pass
        try:
            done.wait()
        except threading.BrokenBarrierError:
            pass
