"""The writer: a background thread that stores what ``log()`` queued.

It drains the queue every ``FLUSH_INTERVAL`` seconds (at once when someone
waits), sorts the items by sequence number (the order of the ``log()``
calls), groups the points by metric and hands each batch to the delivery as
one operation; queued operations (uploads, run updates) go in their place in
that order, and a flush's barrier is settled once everything before it is.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from itertools import repeat, starmap
from operator import itemgetter
from typing import Any

from runhistory.api import SeriesBatch

from ._delivery import Delivery
from ._diagnostics import say
from ._ops import AppendMetrics, Item

#: Seconds the writer sleeps when nobody waits.
FLUSH_INTERVAL = 0.05

#: In a queue item's name slot: an operation (an upload, a run update) rather than a value.
OP = object()

_NAME, _VALUE, _STEP, _TIME = (itemgetter(i) for i in range(1, 5))


class Writer:
    """Stores one logger's queue (see the module docstring).

    Args:
        queue: What ``log()`` appends to; only this thread takes from its left.
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
        queue: deque[Item],
        delivery: Delivery,
        kinds: dict[str, str],
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
        popleft = queue.popleft
        while queue:
            # Only this thread takes from the left, so len() items are there.
            batch = list(starmap(popleft, repeat((), min(len(queue), self.batch_points))))
            self._store_batch(batch)

    def _store_batch(self, batch: list[Item]) -> None:
        batch.sort()  # by sequence number: the order of the log() calls
        names = tuple(map(_NAME, batch))
        others: list[Item] = []
        first = names[0]
        if type(first) is str and names.count(first) == len(names):
            points = batch  # the usual case: one metric, no barriers or operations
        elif names.count(None) or names.count(OP):  # barriers and operations carry no value
            points = [item for item in batch if type(item[1]) is str]
            others = [item for item in batch if type(item[1]) is not str]
            names = tuple(map(_NAME, points))
        else:
            points = batch
        if points:
            self.batch_no += 1
            series = self._group(names, list(map(_VALUE, points)), list(map(_STEP, points)), list(map(_TIME, points)))
            self.delivery.send(AppendMetrics(f"{self.key_prefix}-{self.batch_no}", series, points))
        for item in others:
            if item[1] is OP:
                op = item[2]
                op.items = [item]
                self.delivery.send(op)
            else:  # a barrier: settled once everything before it is
                self.delivery.receipts.stored([item[0]])

    def _group(
        self, names: tuple[str, ...], values: list[Any], steps: list[Any], times: list[Any]
    ) -> dict[str, SeriesBatch]:
        first = names[0]
        kinds = self.kinds
        if names.count(first) == len(names):
            return {first: SeriesBatch(kinds[first], values, steps, times)}  # type: ignore[arg-type]
        where: dict[str, list[int]] = {}
        for i, name in enumerate(names):
            slots = where.get(name)
            if slots is None:
                where[name] = [i]
            else:
                slots.append(i)
        groups = {}
        for name, slots in where.items():
            if len(slots) == 1:
                i = slots[0]
                groups[name] = SeriesBatch(kinds[name], [values[i]], [steps[i]], [times[i]])  # type: ignore[arg-type]
            else:
                pick = itemgetter(*slots)
                groups[name] = SeriesBatch(kinds[name], list(pick(values)), list(pick(steps)), list(pick(times)))  # type: ignore[arg-type]
        return groups
