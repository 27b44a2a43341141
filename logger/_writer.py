"""The writer: a background thread that stores what ``log()`` queued.

It drains the queue every ``FLUSH_INTERVAL`` seconds (at once when someone
waits), puts each metric's points in the order of their sequence numbers (the
order of the ``log()`` calls) and hands each batch to the delivery as one
operation; queued operations (uploads, run updates) go after the values before
them, in the order of their numbers, and a flush's barrier is settled once
everything before it is.

Most batches are one metric's points, perhaps with a few strangers: another
thread's points (the system metrics sampler's, a few a sample), a barrier, an
operation. That metric's points go to the store as the queue's columns, sliced
in C; the strangers are found by counting halves of the names column in C
(``_dominant``), cut out, and sorted and grouped on their own. Only a batch of
many metrics, or of one metric logged from several threads, is sorted and
grouped point by point in Python (tens of milliseconds for 200,000 points, which
the training loop would wait for: the writer holds the GIL meanwhile).

The queue is one flat list: ``log()`` extends it by an item's ``ITEM_WIDTH``
slots in one call, so that no tuple outlives the call (thousands of live
tuples would keep Python's cycle collector busy) and the writer takes its
columns by slicing. Only this thread removes from the front of the list, and
only what it has copied, so what is appended meanwhile stays.
"""

from __future__ import annotations

import threading
import time
from bisect import insort
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from runhistory.api import SeriesBatch

from ._delivery import Delivery
from ._diagnostics import say
from ._ops import ITEM_WIDTH, AppendMetrics

#: Seconds the writer sleeps when nobody waits.
FLUSH_INTERVAL = 0.05

#: In a queue item's name slot: an operation (an upload, a run update) rather than a value.
OP = object()

#: A batch whose one metric holds all but ``1 / MOSTLY`` of its items at most goes to the store
#: with that metric's points taken by slicing (the strangers picked out, see ``_dominant``);
#: any other is sorted and grouped point by point.
MOSTLY = 64

_SEQ = itemgetter(0)
#: Spans of the queue this short are looked through item by item for strangers.
_SCAN = 16
#: Runs of strangers cut out of a batch in place, and strangers' numbers put in place one by one,
#: at most (more: the batch copied around them, the numbers sorted in).
_FEW_RUNS = 8


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
        names: list[Any] = flat[1::ITEM_WIDTH]
        name, strangers = _dominant(names)
        if name is not None:
            runs = _runs(strangers)
            mine = _cut(seqs, runs, 1)
            ordered = sorted(mine)
            if ordered == mine:  # the metric's points are in the order of their numbers
                rows = [flat[i * ITEM_WIDTH : (i + 1) * ITEM_WIDTH] for i in strangers]
                flat = _cut(flat, runs, ITEM_WIDTH)
                values, steps, times = (flat[i::ITEM_WIDTH] for i in range(2, ITEM_WIDTH))
                batch = SeriesBatch(self.kinds[name], values, steps, times)
                if not strangers:  # the usual case: one metric, no barriers or operations
                    self._send({name: batch}, mine, {name: mine})
                else:
                    self._store_with_strangers(name, batch, mine, ordered, rows)
                return
        self._store_grouped(flat)

    def _store_grouped(self, flat: list[Any]) -> None:
        """Many metrics, or one logged from several threads: every point sorted and grouped."""
        seqs: list[int] = flat[0::ITEM_WIDTH]
        names: list[Any] = flat[1::ITEM_WIDTH]
        if sorted(seqs) != seqs:  # another thread queued its value after a later number's
            columns = (flat[i::ITEM_WIDTH] for i in range(ITEM_WIDTH))
            rows = sorted(zip(*columns, strict=True), key=_SEQ)
            seqs, names, values, steps, times = (list(column) for column in zip(*rows, strict=True))
        else:
            values, steps, times = (flat[i::ITEM_WIDTH] for i in range(2, ITEM_WIDTH))
        others: list[Sequence[Any]] = []
        if names.count(None) or names.count(OP):  # barriers and operations carry no value
            keep_at = [i for i, name in enumerate(names) if type(name) is str]
            others = [(seqs[i], names[i], values[i]) for i, name in enumerate(names) if type(name) is not str]
            seqs, names, values, steps, times = ([c[i] for i in keep_at] for c in (seqs, names, values, steps, times))
        if seqs:
            series, series_seqs = self._group(names, values, steps, times, seqs)
            self._send(series, seqs, series_seqs)
        self._settle(others)

    def _store_with_strangers(
        self, name: str, batch: SeriesBatch, mine: list[int], ordered: list[int], rows: list[list[Any]]
    ) -> None:
        """One metric's points (``batch``, numbered ``mine``; ``ordered`` is a copy of ``mine``)
        and a few items of others (``rows``) in one batch, each metric's points in the order of
        their numbers; then the operations and barriers among the others, in theirs."""
        rows.sort(key=_SEQ)
        kinds = self.kinds
        where: dict[str, list[list[Any]]] = {}
        others: list[Sequence[Any]] = []
        for row in rows:
            if type(row[1]) is str:
                where.setdefault(row[1], []).append(row)
            else:
                others.append(row)
        series = {name: batch}
        series_seqs: dict[str, Sequence[int]] = {name: mine}
        for other, points in where.items():
            series[other] = SeriesBatch(
                kinds[other], [p[2] for p in points], [p[3] for p in points], [p[4] for p in points]
            )
            series_seqs[other] = [p[0] for p in points]
        theirs = [row[0] for row in rows if type(row[1]) is str]
        if len(theirs) <= _FEW_RUNS:  # each put in its place (a binary search, one move in C)
            for seq in theirs:
                insort(ordered, seq)
        else:  # a long run and the rest: merged by the sort
            ordered += theirs
            ordered.sort()
        self._send(series, ordered, series_seqs)
        self._settle(others)

    def _settle(self, others: list[Sequence[Any]]) -> None:
        """Operations and barriers, in the order of their numbers, after the values before them."""
        for seq, name, value, *_ in others:
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


def _dominant(names: list[Any]) -> tuple[str | None, list[int]]:
    """The metric that holds all of a batch but ``1 / MOSTLY`` of it at most, and the
    positions of the rest (the strangers), increasing; ``(None, [])`` when none does.

    The metric is the first item's, the last's or the middle one's, counted in C (when a
    stranger sits at all three places, the batch is grouped point by point: same result,
    more work); the strangers are found by ``_strangers``.
    """
    n = len(names)
    for candidate in (names[0], names[-1], names[n // 2]):
        if type(candidate) is str:
            strangers = n - names.count(candidate)
            if strangers * MOSTLY <= n:
                return candidate, _strangers(names, candidate, strangers) if strangers else []
            if strangers * 2 < n:  # it holds most of the batch, and still too little
                break
    return None, []


def _strangers(names: list[Any], name: str, many: int) -> list[int]:
    """The positions of the ``many`` items of ``names`` that are not ``name``, increasing.

    Halves that hold none of them are passed over after one count in C, so that a few
    strangers among 200,000 points cost a few counts of halves, not a step per point.
    (A loop over a stack rather than a nested function calling itself: that would be a
    reference cycle, holding the names until the cycle collector runs.)
    """
    found: list[int] = []
    spans = [(0, len(names), many)]  # (lo, hi, how many of names[lo:hi] are strangers)
    while spans:
        lo, hi, here = spans.pop()
        if here == hi - lo:
            found += range(lo, hi)
        elif hi - lo <= _SCAN:
            found += [i for i in range(lo, hi) if names[i] != name]
        else:
            mid = (lo + hi) // 2
            left = mid - lo - names[lo:mid].count(name)
            if here > left:  # the right half goes on the stack first, to be taken after the left
                spans.append((mid, hi, here - left))
            if left:
                spans.append((lo, mid, left))
    return found


def _runs(positions: list[int]) -> list[tuple[int, int]]:
    """Increasing positions as spans ``[a, b)`` of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for i in positions:
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


def _cut(column: list[Any], runs: list[tuple[int, int]], width: int) -> list[Any]:
    """``column`` without its items (``width`` slots each) in ``runs``: cut out in place
    when they are few (each cut moves the rest of the list down, touching no item), else
    copied around them."""
    if len(runs) <= _FEW_RUNS:
        for a, b in reversed(runs):
            del column[a * width : b * width]
        return column
    kept: list[Any] = []
    start = 0
    for a, b in runs:
        kept += column[start * width : a * width]
        start = b
    kept += column[start * width :]
    return kept
