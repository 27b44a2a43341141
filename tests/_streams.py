"""Streams that are no files, for uploads a store cannot measure by ``fstat``."""

from __future__ import annotations

import io
from typing import Any


class Trickle(io.RawIOBase):
    """``data`` given 64 KiB at a time, as a request body reaches a server; with ``length``, it
    also says how long it is (as a body with a ``Content-Length`` does: see ``BlobStore.put``)."""

    def __init__(self, data: bytes, length: int | None = None) -> None:
        super().__init__()
        self._data = io.BytesIO(data)
        if length is not None:
            self.length = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        piece = self._data.read(min(len(buffer), 65_536))
        buffer[: len(piece)] = piece
        return len(piece)
