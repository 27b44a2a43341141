"""The writer: a background thread that stores what ``log()`` queued.

It drains the queue every ``FLUSH_INTERVAL`` seconds (at once when someone
waits), sorts the items by sequence number (the order of the ``log()``
calls), groups the points by metric and hands each batch to the delivery as
one operation; queued operations (uploads, run updates) go in their place in
that order, and a flush's barrier is settled once everything before it is.

The queue is one flat list: ``log()`` extends it by an item's ``ITEM_WIDTH``
slots in one call, so that no tuple outlives the call (thousands of live
tuples would keep Python's cycle collector busy) and the writer takes its
columns by slicing. Only this thread removes from the front of the list, and
only what it has copied, so what is appended meanwhile stays.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from runhistory.api import SeriesBatch

from ._delivery import Delivery
from ._diagnostics import say
from ._ops import ITEM_WIDTH, AppendMetrics, Item

#: Seconds the writer sleeps when nobody waits.
FLUSH_INTERVAL = 0.05

#: In a queue item's name slot: an operation (an upload, a run update) rather than a value.
OP = object()

_SEQ = itemgetter(0)


class Writer:
    """Stores one logger's queue (see the module docstring).

    Args:
        queue: What ``log()`` extends by an item's slots; only this thread takes from its front.
        delivery: Where operations go.
        kinds: Each metric's kind, as ``log()`` learnt it.
        key_prefix: Idempotency keys of this writer's batches start with it.
        batch_points: Most points in one batch.
        heartbeat: Called every ``heartbeat_interval`` seconds while the store is reachable.
        heartbeat_interval: Seconds between heartbeats.
        first: Called once on the thread before anything is stored (records git state).
    """

    def __init__(
        self,
        queue: list[Any],
        delivery: Delivery,
        kinds: dict[str, Any],
        key_prefix: str,
        batch_points: int,
        heartbeat: Callable[[], None],
        heartbeat_interval: float,
        first: Callable[[], None] | None = None,
    ) -> None:
        self.queue = queue
        self.delivery = delivery
        self.kinds = kinds
        self.key_prefix = key_prefix
        self.batch_points = batch_points
        self.heartbeat = heartbeat
        self.heartbeat_interval = heartbeat_interval
        self.first = first
        self.batch_no = 0
        self.wake = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, name="runhistory-writer", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def is_alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self) -> None:
        """Store what is queued, then end the thread."""
        self.stopping = True
        self.wake.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join()

    def _loop(self) -> None:
        if self.first is not None:
            self.first()
        next_beat = time.monotonic() + self.heartbeat_interval
        while True:
            self.wake.wait(FLUSH_INTERVAL)
            self.wake.clear()
            stopping = self.stopping
            self._drain()
            self.delivery.retry_spool()
            now = time.monotonic()
            if now >= next_beat and self.delivery.spool is None:
                next_beat = now + self.heartbeat_interval
                try:
                    self.heartbeat()
                except Exception as error:
                    say(f"heartbeat failed: {error}")
            if stopping and not self.queue:
                return

    def _drain(self) -> None:
        queue = self.queue
        most = self.batch_points * ITEM_WIDTH
        while queue:
            flat = queue[:most]
            del queue[: len(flat)]  # what log() appended since the copy stays
            self._store_batch(flat)

    def _store_batch(self, flat: list[Any]) -> None:
        seqs: list[int] = flat[0::ITEM_WIDTH]
        names, values, steps, times = (flat[i::ITEM_WIDTH] for i in range(1, ITEM_WIDTH))
        if sorted(seqs) != seqs:  # another thread queued its value after a later number's
            rows = sorted(zip(seqs, names, values, steps, times, strict=True), key=_SEQ)
            seqs, names, values, steps, times = (list(column) for column in zip(*rows, strict=True))
        first = names[0]
        if type(first) is str and names.count(first) == len(names):
            # The usual case: one metric, no barriers or operations.
            self._send({first: SeriesBatch(self.kinds[first], values, steps, times)}, seqs, {first: seqs})
            return
        others: list[Item] = []
        if names.count(None) or names.count(OP):  # barriers and operations carry no value
            keep = [i for i, name in enumerate(names) if type(name) is str]
            others = [(seqs[i], names[i], values[i]) for i, name in enumerate(names) if type(name) is not str]
            seqs, names, values, steps, times = ([c[i] for i in keep] for c in (seqs, names, values, steps, times))
        if seqs:
            series, series_seqs = self._group(names, values, steps, times, seqs)
            self._send(series, seqs, series_seqs)
        for seq, name, value in others:
            if name is OP:
                value.seqs = [seq]
                self.delivery.send(value)
            else:  # a barrier: settled once everything before it is
                self.delivery.receipts.stored([seq])

    def _send(self, series: dict[str, SeriesBatch], seqs: list[int], series_seqs: dict[str, Sequence[int]]) -> None:
        self.batch_no += 1
        self.delivery.send(AppendMetrics(f"{self.key_prefix}-{self.batch_no}", series, seqs, series_seqs))

    def _group(
        self, names: list[str], values: list[Any], steps: list[Any], times: list[Any], seqs: list[int]
    ) -> tuple[dict[str, SeriesBatch], dict[str, Sequence[int]]]:
        """The points by metric, each metric's in their order, and the numbers each settles."""
        kinds = self.kinds
        where: dict[str, list[int]] = {}
        for i, name in enumerate(names):
            slots = where.get(name)
            if slots is None:
                where[name] = [i]
            else:
                slots.append(i)
        groups = {}
        series_seqs: dict[str, Sequence[int]] = {}
        for name, slots in where.items():
            if len(slots) == 1:
                i = slots[0]
                groups[name] = SeriesBatch(kinds[name], [values[i]], [steps[i]], [times[i]])
                series_seqs[name] = [seqs[i]]
            else:
                pick = itemgetter(*slots)
                groups[name] = SeriesBatch(kinds[name], pick(values), pick(steps), pick(times))
                series_seqs[name] = pick(seqs)
        return groups, series_seqs
