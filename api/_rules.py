"""Rules every store follows, whatever it is built on.

A store decides where rows and bytes go; what a run's status reads as, how
steps are filled, what a prefix covers, how long an error may be, what a batch
may hold and which points a downsampled read keeps are decided here, once,
so that every backend answers the same (the contract tests check it).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence
from typing import Any

from . import _chunks
from ._errors import AssetNotFound, InvalidInput
from ._limits import (
    CHUNK_POINTS,
    EARLIEST_TIME,
    LATEST_TIME,
    LOST_AFTER,
    MAX_CHART_LENGTH,
    MAX_ERROR_LENGTH,
    MAX_INT,
    MAX_PAGE_SIZE,
    MAX_STRING_LENGTH,
)
from ._models import FINAL_STATUSES, METRIC_KINDS, RUN_STATUSES, RunStatus, SeriesBatch, Value
from ._validate import check_metric_name

#: A kept point of a downsampled read: (index in the series, step, value, time).
Point = tuple[int, int, Value, float]


def reported_status(
    stored: str, heartbeat_at: float | None, started_at: float, now: float, lost_after: float = LOST_AFTER
) -> RunStatus:
    """The status a run reads as: a ``running`` run whose owner has been silent for
    ``lost_after`` seconds is ``lost`` (never stored: it is how staleness reads)."""
    if stored == "running" and (heartbeat_at or started_at) < now - lost_after:
        return "lost"
    return stored  # type: ignore[return-value]


def check_status(status: object) -> RunStatus:
    """A status to filter runs by."""
    if status not in RUN_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
    return status


def check_final_status(status: object) -> RunStatus:
    """A status a run can finish with."""
    if status not in FINAL_STATUSES:
        raise InvalidInput(f"a run finishes as one of {', '.join(FINAL_STATUSES)}, not {status!r}")
    return status


def check_time(value: object, what: str) -> float | None:
    """A time given for a run (``None``: now): epoch seconds from ``EARLIEST_TIME``
    to ``LATEST_TIME`` (1970-01-01 … 9999-12-30 UTC)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"{what} must be a finite number of epoch seconds, got {value!r}")
    if not EARLIEST_TIME <= value <= LATEST_TIME:
        raise InvalidInput(
            f"{what} must be epoch seconds from {EARLIEST_TIME:.0f} to {LATEST_TIME:.0f} "
            f"(1970-01-01 … 9999-12-30 UTC), got {value!r}"
        )
    return float(value)


def check_page_size(limit: object) -> int:
    """A page size: 1 … ``MAX_PAGE_SIZE``."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be 1 … {MAX_PAGE_SIZE}, got {limit!r}")
    return limit


def kept_error(error: str | None) -> str | None:
    """The error text kept on a run: its end, at most ``MAX_ERROR_LENGTH`` characters
    (the end of a traceback says the most)."""
    if error is not None and len(error) > MAX_ERROR_LENGTH:
        return "…" + error[-(MAX_ERROR_LENGTH - 1) :]
    return error


def fill_steps(steps: Sequence[int | None], last_step: int | None) -> Sequence[int]:
    """Given steps, with each ``None`` taking the previous step + 1 (the first, the series' last + 1).

    Steps all left to the store (the usual case) come back as a ``range``.
    """
    previous = -1 if last_step is None else last_step
    filled: Sequence[int]
    if steps.count(None) == len(steps):
        filled = range(previous + 1, previous + 1 + len(steps))
        low, high = filled[0], filled[-1]
    else:
        filled = []
        for step in steps:
            previous = previous + 1 if step is None else step
            filled.append(previous)
        low, high = min(filled), max(filled)
    if high > MAX_INT or low < -MAX_INT:
        raise InvalidInput(f"a step would not fit in 64 bits (the series' last step is {last_step})")
    return filled


def check_batch(name: str, points: SeriesBatch) -> None:
    """One metric's points to append: a good name, a known kind, equally long columns, values in their limits."""
    check_metric_name(name)
    if points.kind not in METRIC_KINDS:
        raise InvalidInput(f"metric {name!r}: kind must be one of {METRIC_KINDS}, got {points.kind!r}")
    n = len(points.values)
    if not n or len(points.steps) != n or len(points.times) != n:
        raise InvalidInput(f"metric {name!r}: values, steps and times must be equally long and not empty")
    if points.kind == "string":
        for value in points.values:
            if not isinstance(value, str) or len(value) > MAX_STRING_LENGTH:
                raise InvalidInput(f"metric {name!r}: string values of at most {MAX_STRING_LENGTH} characters expected")
    elif points.kind == "chart":
        for value in points.values:
            if not isinstance(value, list) or len(value) > MAX_CHART_LENGTH:
                raise InvalidInput(f"metric {name!r}: charts of at most {MAX_CHART_LENGTH} numbers expected")


def check_max_points(max_points: object) -> int | None:
    """A downsampled read's size: ``None`` (every point) or at least 2."""
    if max_points is not None and (not isinstance(max_points, int) or isinstance(max_points, bool) or max_points < 2):
        raise InvalidInput(f"max_points must be an integer of at least 2, got {max_points!r}")
    return max_points


def check_version(name: str, version: int | None) -> None:
    """An asset version asked for: ``None`` (the newest) or 1, 2, 3 …"""
    if version is not None and not (isinstance(version, int) and 1 <= version <= MAX_INT):
        raise AssetNotFound(f"no asset {name!r} version {version}: versions are 1, 2, 3 …")


def prefix_bounds(prefix: str) -> tuple[str, str, str] | None:
    """What an artifact prefix covers, as range bounds: the path itself, and paths
    ``>= prefix + "/"`` and ``< prefix + "0"`` (``/`` sorts just before ``0``, so that
    ``a/b`` is under ``a`` but ``ab`` is not). ``None`` for the empty prefix (everything)."""
    if not prefix:
        return None
    return prefix, prefix + "/", prefix + "0"


def is_under(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or inside it as a folder (see ``prefix_bounds``)."""
    return not prefix or path == prefix or path.startswith(prefix + "/")


# -- downsampling ----------------------------------------------------------------------------
#
# A read of at most ``max_points`` points keeps the shape of a number series: the
# first and the last point, and the minimum and maximum of each of
# (max_points - 2) // 2 equal buckets; text and chart series keep evenly
# spaced points. The same answer every time, from any backend.


def buckets_for(max_points: int) -> int:
    """How many buckets a read of ``max_points`` keeps the extremes of."""
    return (max_points - 2) // 2


def bucket_width(count: int, max_points: int) -> int:
    """Points per bucket (decides whether chunk summaries or block extremes can answer)."""
    return count // (buckets_for(max_points) or 1)


def even_picks(count: int, max_points: int) -> list[int]:
    """Indexes of ``max_points`` evenly spaced points (first and last included)."""
    return sorted({round(i * (count - 1) / (max_points - 1)) for i in range(max_points)})


def downsample_points(steps: list[int], values: list[float], times: list[float], max_points: int) -> list[Point]:
    """The first, last, and each bucket's minimum and maximum point, in order (every point known)."""
    count = len(steps)
    kept = {0, count - 1}
    if max_points >= 4:
        buckets = buckets_for(max_points)
        for b in range(buckets):
            start, end = b * count // buckets, (b + 1) * count // buckets
            if start == end:
                continue
            found = _chunks.extremes(values[start:end])
            if found is not None:
                kept.update((start + found[0], start + found[1]))
    return [(i, steps[i], values[i], times[i]) for i in sorted(kept)]


def downsample_summaries(rows: Sequence[Sequence[Any]], count: int, max_points: int) -> list[Point]:
    """The same points from chunk summaries alone, when a bucket spans whole chunks.

    Args:
        rows: One per chunk, in order: ``(chunk_no, n, f_step, f_value, f_time, l_step,
            l_value, l_time, lo_i, lo_step, lo_value, lo_time, hi_i, hi_step, hi_value,
            hi_time)`` as a chunk's summary stores them (NaN may read as ``None``).
        count: Points in the series.
        max_points: The read's size.
    """
    buckets = buckets_for(max_points)
    n_chunks = -(-count // CHUNK_POINTS)
    nan = _chunks.nan_if_none
    first, last = rows[0], rows[-1]
    kept: dict[int, Point] = {
        0: (0, first[2], nan(first[3]), first[4]),
        count - 1: (count - 1, last[5], nan(last[6]), last[7]),
    }
    lows: dict[int, Point] = {}
    highs: dict[int, Point] = {}
    for r in rows if buckets else ():
        bucket = r[0] * buckets // n_chunks
        base = r[0] * CHUNK_POINTS
        if r[8] is not None:
            low: Point = (base + r[8], r[9], r[10], r[11])
            if bucket not in lows or low[2] < lows[bucket][2]:  # type: ignore[operator]
                lows[bucket] = low
            high: Point = (base + r[12], r[13], r[14], r[15])
            if bucket not in highs or high[2] > highs[bucket][2]:  # type: ignore[operator]
                highs[bucket] = high
    for point in (*lows.values(), *highs.values()):
        kept[point[0]] = point
    return [kept[i] for i in sorted(kept)]


def downsample_blocks(rows: Iterable[Sequence[Any]], count: int, max_points: int) -> list[Point]:
    """The same points from each block's recorded extremes, when a bucket spans whole blocks.

    Only the values are unpacked for every chunk; steps and times only for the
    chunks that hold a kept point.

    Args:
        rows: One per chunk, in order: ``(chunk_no, n, step0, stride, steps, times, vtype, vals, blocks)``
            as a number chunk stores them.
        count: Points in the series.
        max_points: The read's size.
    """
    buckets = buckets_for(max_points)
    n_blocks = -(-count // _chunks.BLOCK_POINTS)
    per_chunk = CHUNK_POINTS // _chunks.BLOCK_POINTS
    lows: dict[int, tuple[float, int]] = {}
    highs: dict[int, tuple[float, int]] = {}
    chunks: dict[int, tuple[Sequence[Any], array[Any]]] = {}
    for row in rows:
        chunk_no, vtype, vals, blocks = row[0], row[6], row[7], row[8]
        values: array[Any] = array(vtype)
        values.frombytes(vals)
        chunks[chunk_no] = (row, values)
        extremes: array[int] = array("H")
        extremes.frombytes(blocks)
        base = chunk_no * CHUNK_POINTS
        first_block = chunk_no * per_chunk
        for j in range(0, len(extremes), 2):
            lo, hi = extremes[j], extremes[j + 1]
            if lo == _chunks.NO_POINT:
                continue
            bucket = (first_block + j // 2) * buckets // n_blocks
            low, high = values[lo], values[hi]
            if bucket not in lows or low < lows[bucket][0]:
                lows[bucket] = (low, base + lo)
            if bucket not in highs or high > highs[bucket][0]:
                highs[bucket] = (high, base + hi)
    wanted = {0, count - 1, *(i for _, i in lows.values()), *(i for _, i in highs.values())}
    unpacked: dict[int, tuple[list[int] | None, array[float]]] = {}
    kept: list[Point] = []
    for index in sorted(wanted):
        chunk_no, at = divmod(index, CHUNK_POINTS)
        row, values = chunks[chunk_no]
        if chunk_no not in unpacked:
            steps = None if row[4] is None else _chunks.decode_steps(row[1], row[2], row[3], row[4])
            unpacked[chunk_no] = (steps, _chunks.decode_times_array(row[5]))
        steps, times = unpacked[chunk_no]
        step = row[2] + (row[3] or 0) * at if steps is None else steps[at]
        kept.append((index, step, values[at], times[at]))
    return kept


# -- step ranges -----------------------------------------------------------------------------
#
# A read may ask for the points whose step lies in ``[start_step, end_step]`` (either end
# open). A chunk whose steps all lie inside is taken whole, so its summary or its blocks'
# extremes still answer a downsampled read; a chunk the range cuts through gives its
# points one by one. Buckets are counted over the points in the range, in logging order.

#: A chunk a step range takes: ``(chunk_no, n)`` for the whole chunk of ``n`` points, or
#: ``(chunk_no, [i, …])`` for the indexes (within the chunk) of the points inside.
Taken = tuple[int, int | list[int]]


def check_step_range(start_step: object, end_step: object) -> None:
    """A read's step range: whole numbers (or ``None`` for an open end), the start not after the end."""
    for label, value in (("start_step", start_step), ("end_step", end_step)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or abs(value) > MAX_INT):
            raise InvalidInput(f"{label} must be an integer step, got {value!r}")
    if start_step is not None and end_step is not None and start_step > end_step:  # type: ignore[operator]
        raise InvalidInput(f"start_step {start_step} is after end_step {end_step}")


def steps_in_range(chunks: Iterable[Sequence[Any]], start_step: int | None, end_step: int | None) -> list[Taken]:
    """Which points of each chunk a step range takes, in logging order.

    Args:
        chunks: ``(chunk_no, n, step0, stride, steps)`` of every chunk, in order.
        start_step: The first step taken (``None``: from the start).
        end_step: The last step taken (``None``: to the end).
    """
    lo = -MAX_INT - 1 if start_step is None else start_step
    hi = MAX_INT + 1 if end_step is None else end_step
    taken: list[Taken] = []
    for chunk_no, n, step0, stride, blob in chunks:
        steps = _chunks.decode_step_range(n, step0, stride, blob)
        if isinstance(steps, range):
            low, high = (steps[0], steps[-1]) if steps.step > 0 else (steps[-1], steps[0])
        elif blob is None:  # every step the same (stride 0)
            low = high = step0
        else:
            low, high = min(steps), max(steps)
        if high < lo or low > hi:
            continue
        if lo <= low and high <= hi:
            taken.append((chunk_no, n))
            continue
        inside = [i for i, s in enumerate(steps) if lo <= s <= hi]
        if inside:
            taken.append((chunk_no, inside))
    return taken


def taken_count(taken: Sequence[Taken]) -> int:
    """Points a step range takes."""
    return sum(which if isinstance(which, int) else len(which) for _, which in taken)


class _Chunk:
    """One stored chunk, decoded as far as a read needs (a row in ``RANGE_COLUMNS`` order)."""

    __slots__ = ("_steps", "_times", "_values", "row")

    def __init__(self, row: Sequence[Any]) -> None:
        self.row = row
        self._steps: Sequence[int] | None = None
        self._times: array[float] | None = None
        self._values: Sequence[Any] | None = None

    @property
    def values(self) -> Sequence[Any]:
        if self._values is None:
            if self.row[20] == "json":
                self._values = _chunks.decode_values(self.row[20], self.row[21])
            else:
                unpacked: array[Any] = array(self.row[20])
                unpacked.frombytes(self.row[21])
                self._values = unpacked
        return self._values

    def point(self, chunk_no: int, at: int) -> Point:
        if self._steps is None:
            self._steps = _chunks.decode_step_range(self.row[1], self.row[16], self.row[17], self.row[18])
            self._times = _chunks.decode_times_array(self.row[19])
        assert self._times is not None
        value = self.values[at]
        return (chunk_no * CHUNK_POINTS + at, self._steps[at], value, self._times[at])


#: What a read of a step range selects from each chunk it takes: the summary, then the
#: columns ``_chunks.decode_*`` read.
RANGE_COLUMNS = (*_chunks.SUMMARY_COLUMNS, "step0", "stride", "steps", "times", "vtype", "vals", "blocks")


def read_range(taken: Sequence[Taken], rows: Iterable[Sequence[Any]], kind: str, max_points: int | None) -> list[Point]:
    """The points of a step range, downsampled to ``max_points`` as a whole read is.

    Args:
        taken: What ``steps_in_range`` found.
        rows: The chunks ``taken`` names, in ``RANGE_COLUMNS`` order (others are ignored).
        kind: The series' kind.
        max_points: The read's size (``None``: every point).
    """
    chunks = {row[0]: _Chunk(row) for row in rows}
    count = taken_count(taken)

    def every() -> list[Point]:
        out: list[Point] = []
        for chunk_no, which in taken:
            chunk = chunks[chunk_no]
            for at in range(which) if isinstance(which, int) else which:
                out.append(chunk.point(chunk_no, at))
        return out

    if max_points is None or count <= max_points:
        return every()
    if kind != "number":
        points = every()
        return [points[i] for i in even_picks(count, max_points)]
    buckets = buckets_for(max_points)
    width = count // (buckets or 1)
    if width < _chunks.BLOCK_POINTS or max_points < 4:
        points = every()
        numbers: list[float] = [p[2] for p in points]  # type: ignore[misc]  # a number series
        picked = downsample_points([p[1] for p in points], numbers, [p[3] for p in points], max_points)
        return [points[p[0]] for p in picked]
    # Units in logging order: a whole chunk's summary, a whole block's extremes, or one point.
    lows: dict[int, tuple[float, int, int]] = {}
    highs: dict[int, tuple[float, int, int]] = {}
    known: dict[int, Point] = {}

    def consider(position: int, low: float, low_at: tuple[int, int], high: float, high_at: tuple[int, int]) -> None:
        bucket = position * buckets // count
        if low == low and (bucket not in lows or low < lows[bucket][0]):
            lows[bucket] = (low, *low_at)
        if high == high and (bucket not in highs or high > highs[bucket][0]):
            highs[bucket] = (high, *high_at)

    position = 0
    for chunk_no, which in taken:
        chunk = chunks[chunk_no]
        row = chunk.row
        if isinstance(which, int) and width >= CHUNK_POINTS:
            if row[8] is not None:
                lo_point: Point = (chunk_no * CHUNK_POINTS + row[8], row[9], row[10], row[11])
                hi_point: Point = (chunk_no * CHUNK_POINTS + row[12], row[13], row[14], row[15])
                known[lo_point[0]], known[hi_point[0]] = lo_point, hi_point
                consider(position, row[10], (chunk_no, row[8]), row[14], (chunk_no, row[12]))
            position += which
        elif isinstance(which, int):
            extremes: array[int] = array("H")
            extremes.frombytes(row[22])
            values = chunk.values
            for j in range(0, len(extremes), 2):
                lo, hi = extremes[j], extremes[j + 1]
                if lo != _chunks.NO_POINT:
                    consider(
                        position + (j // 2) * _chunks.BLOCK_POINTS,
                        values[lo],
                        (chunk_no, lo),
                        values[hi],
                        (chunk_no, hi),
                    )
            position += which
        else:
            values = chunk.values
            for at in which:
                consider(position, values[at], (chunk_no, at), values[at], (chunk_no, at))
                position += 1
    first_no, first_which = taken[0]
    last_no, last_which = taken[-1]
    wanted = {
        (first_no, 0 if isinstance(first_which, int) else first_which[0]),
        (last_no, last_which - 1 if isinstance(last_which, int) else last_which[-1]),
        *((c, a) for _, c, a in lows.values()),
        *((c, a) for _, c, a in highs.values()),
    }
    kept = [known.get(c * CHUNK_POINTS + a) or chunks[c].point(c, a) for c, a in wanted]
    kept.sort(key=lambda p: p[0])
    return kept
