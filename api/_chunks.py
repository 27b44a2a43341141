"""How a series' points are packed into chunks.

A chunk holds up to ``CHUNK_POINTS`` consecutive points of one series as
three columns:

- steps: when they go up by a fixed stride (the usual case) only the first
  step and the stride are kept; otherwise int64s, byte-shuffled and deflated;
- times: float64 epoch seconds, byte-shuffled and deflated (neighbouring
  timestamps share their high bytes, so they shrink to about a byte each);
- values: numbers as raw int64 when every value of the chunk is an integer
  (exact to 64 bits), else float64 (exact for integers up to 2**53, as the
  doubles other trackers store); strings and charts as deflated JSON.

A number chunk also carries a summary (first, last, minimum and maximum point)
so that a downsampled read of a long series never unpacks its chunks.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from ._limits import MAX_INT as _MAX_INT
from ._models import MetricKind, Value

_WIDTH = 8  # bytes per packed int64 / float64


def _shuffle(raw: bytes) -> bytes:
    return b"".join(raw[i::_WIDTH] for i in range(_WIDTH))


def _unshuffle(packed: bytes) -> bytes:
    n = len(packed) // _WIDTH
    out = bytearray(len(packed))
    for i in range(_WIDTH):
        out[i::_WIDTH] = packed[i * n : (i + 1) * n]
    return bytes(out)


def _deflate(raw: bytes) -> bytes:
    # A 4 KiB window and small hash tables: chunks are small, and setting up
    # zlib's default 32 KiB window costs more than compressing a chunk.
    packer = zlib.compressobj(1, zlib.DEFLATED, 12, 2)
    return packer.compress(raw) + packer.flush()


def _raw(typecode: str, items: Sequence[Any]) -> bytes:
    """``items`` as packed int64s (``q``) or float64s (``d``) in this machine's byte order, as
    ``array(typecode, items).tobytes()`` gives them (struct converts each number a few times faster).

    Raises:
        TypeError: an item is not a number (or, for ``q``, not an integer).
        OverflowError: an integer does not fit in 64 bits.
    """
    try:
        return struct.pack(f"={len(items)}{typecode}", *items)
    except struct.error as error:
        if "range" in str(error):
            raise OverflowError(str(error)) from None
        raise TypeError(str(error)) from None


def _pack(typecode: str, items: Sequence[Any]) -> bytes:
    return _deflate(_shuffle(_raw(typecode, items)))


def _unpack(typecode: str, blob: bytes) -> array[Any]:
    out = array(typecode)
    out.frombytes(_unshuffle(zlib.decompress(blob)))
    return out


@dataclass(slots=True)
class Summary:
    """First, last, minimum and maximum point of a number chunk, as (index, step, value, time).

    ``low``/``high`` are ``None`` when every value is NaN.
    """

    first: tuple[int, int, float, float]
    last: tuple[int, int, float, float]
    low: tuple[int, int, float, float] | None
    high: tuple[int, int, float, float] | None
    nan: bool = False


@dataclass(slots=True)
class Chunk:
    """One chunk of points ready to store (see the module docstring)."""

    n: int
    step0: int
    stride: int | None
    steps_blob: bytes | None
    times_blob: bytes
    vtype: str
    values_blob: bytes
    summary: Summary | None
    blocks: bytes | None = None


def _stride(steps: Sequence[int]) -> int | None:
    """The fixed difference between neighbouring steps, or ``None`` when there is none."""
    n = len(steps)
    if n == 1:
        return 1
    if isinstance(steps, range):
        return steps.step if abs(steps.step) <= _MAX_INT else None
    start = steps[0]
    stride = steps[1] - start
    if stride == 0:
        return 0 if steps.count(start) == n else None
    if abs(stride) > _MAX_INT:  # would not fit its INTEGER column: keep the steps themselves
        return None
    return stride if steps == list(range(start, start + stride * n, stride)) else None


def extremes(values: Sequence[float], has_nan: bool = True) -> tuple[int, int] | None:
    """Where the minimum and the maximum are; NaNs are never either (``None`` when all are NaN).

    ``has_nan=False`` says the values hold no NaN, which skips looking for one.
    """
    total = sum(values) if has_nan else 0.0
    if total == total:  # no NaN (the common case, decided in C)
        return values.index(min(values)), values.index(max(values))
    finite = [i for i, v in enumerate(values) if v == v]
    if not finite:
        return None
    return min(finite, key=values.__getitem__), max(finite, key=values.__getitem__)


def summarize(steps: Sequence[int], values: Sequence[float], times: Sequence[float]) -> Summary:
    """First, last, minimum and maximum points; NaNs are never a minimum or maximum."""
    total = sum(values)
    nan = total != total
    return _summary(steps, values, times, extremes(values, has_nan=nan), nan)


def _summary(
    steps: Sequence[int], values: Sequence[float], times: Sequence[float], found: tuple[int, int] | None, nan: bool
) -> Summary:
    """The summary of points whose minimum and maximum are at ``found`` (``None``: all NaN)."""
    first = (0, steps[0], values[0], times[0])
    last_i = len(values) - 1
    last = (last_i, steps[last_i], values[last_i], times[last_i])
    if found is None:
        return Summary(first, last, None, None, nan=True)
    lo_i, hi_i = found
    return Summary(
        first,
        last,
        (lo_i, steps[lo_i], values[lo_i], times[lo_i]),
        (hi_i, steps[hi_i], values[hi_i], times[hi_i]),
        nan=nan,
    )


#: Points per block: a number chunk records where each block's minimum and
#: maximum are, so that downsampling to buckets narrower than a chunk still
#: reads no more than the values.
BLOCK_POINTS = 128
NO_POINT = 0xFFFF  # a block of NaNs has no minimum or maximum


def block_extremes(values: Sequence[float], has_nan: bool = True) -> bytes:
    """For each block of the chunk: the index of its minimum, then of its maximum (uint16s)."""
    out = array("H")
    for start in range(0, len(values), BLOCK_POINTS):
        found = extremes(values[start : start + BLOCK_POINTS], has_nan)
        out.extend((NO_POINT, NO_POINT) if found is None else (start + found[0], start + found[1]))
    return out.tobytes()


def _blocks_and_extremes(values: Sequence[float]) -> tuple[bytes, int, int]:
    """``block_extremes`` of values without NaN, and where the chunk's minimum and maximum are
    (the first of equal ones, as ``extremes`` finds them), from the blocks' in the same pass."""
    out = array("H")
    lo_i = hi_i = -1
    for start in range(0, len(values), BLOCK_POINTS):
        block = values[start : start + BLOCK_POINTS]
        low, high = min(block), max(block)
        i, j = start + block.index(low), start + block.index(high)
        out.append(i)
        out.append(j)
        if lo_i < 0 or low < values[lo_i]:  # strictly: an earlier block keeps an equal minimum
            lo_i = i
        if hi_i < 0 or high > values[hi_i]:
            hi_i = j
    return out.tobytes(), lo_i, hi_i


def encode(kind: MetricKind, steps: Sequence[int], values: Sequence[Value], times: Sequence[float]) -> Chunk:
    """Pack points (at most ``CHUNK_POINTS`` of them) into a chunk."""
    stride = _stride(steps)
    steps_blob = None if stride is not None else _pack("q", steps)
    times_blob = _pack("d", times)
    summary = None
    blocks = None
    if kind == "number":
        numbers = cast("Sequence[float]", values)
        try:
            values_blob = _raw("q", numbers)
            vtype = "q"
        except (TypeError, OverflowError):
            values_blob = _raw("d", numbers)
            vtype = "d"
        total = sum(numbers)
        if total == total:  # no NaN (the usual case, decided in C)
            blocks, lo_i, hi_i = _blocks_and_extremes(numbers)
            summary = _summary(steps, numbers, times, (lo_i, hi_i), nan=False)
        else:
            summary = _summary(steps, numbers, times, extremes(numbers), nan=True)
            blocks = block_extremes(numbers)
    else:
        vtype = "json"
        values_blob = _deflate(json.dumps(values, separators=(",", ":")).encode())
    return Chunk(len(steps), steps[0], stride, steps_blob, times_blob, vtype, values_blob, summary, blocks)


def decode_step_range(n: int, step0: int, stride: int | None, steps_blob: bytes | None) -> Sequence[int]:
    """The steps of a stored chunk, as a ``range`` when they go up by a fixed stride."""
    if steps_blob is None and stride:
        return range(step0, step0 + stride * n, stride)
    return decode_steps(n, step0, stride, steps_blob)


def join_steps(head: Sequence[int], tail: Sequence[int]) -> Sequence[int]:
    """``head`` then ``tail``: one ``range`` when both are and the second carries on the first."""
    if (
        isinstance(head, range)
        and isinstance(tail, range)
        and head.step == tail.step
        and head.start + head.step * len(head) == tail.start
    ):
        return range(head.start, tail.stop, head.step)
    return [*head, *tail]


def decode_steps(n: int, step0: int, stride: int | None, steps_blob: bytes | None) -> list[int]:
    """The steps of a stored chunk."""
    if steps_blob is None:
        if not stride:
            return [step0] * n
        return list(range(step0, step0 + stride * n, stride))
    return _unpack("q", steps_blob).tolist()


def decode_times(times_blob: bytes) -> list[float]:
    """The times of a stored chunk."""
    return _unpack("d", times_blob).tolist()


def decode_times_array(times_blob: bytes) -> array[float]:
    """The times of a stored chunk, as an array (cheaper when only a few are read)."""
    return _unpack("d", times_blob)


def decode_values(vtype: str, values_blob: bytes) -> list[Value]:
    """The values of a stored chunk."""
    if vtype == "json":
        decoded: list[Value] = json.loads(zlib.decompress(values_blob))
        return decoded
    out: array[Any] = array(vtype)
    out.frombytes(values_blob)
    return cast("list[Value]", out.tolist())


def nan_if_none(value: float | None) -> float:
    """SQLite stores NaN as NULL; this turns it back."""
    return math.nan if value is None else value


#: A chunk's columns, as every store keeps them (summaries before the blobs: a downsampled
#: read selects only the summaries, so a store can keep them apart from the bytes).
CHUNK_COLUMNS = (
    "metric_id",
    "chunk_no",
    "n",
    "f_step",
    "f_value",
    "f_time",
    "l_step",
    "l_value",
    "l_time",
    "lo_i",
    "lo_step",
    "lo_value",
    "lo_time",
    "hi_i",
    "hi_step",
    "hi_value",
    "hi_time",
    "step0",
    "stride",
    "vtype",
    "blocks",
    "steps",
    "times",
    "vals",
)

#: What a downsampled read selects from each chunk, for ``_rules.downsample_summaries``.
SUMMARY_COLUMNS = CHUNK_COLUMNS[CHUNK_COLUMNS.index("chunk_no") : CHUNK_COLUMNS.index("hi_time") + 1]

#: What a read of whole chunks selects, for ``decode_*`` and ``_rules.downsample_blocks``.
POINT_COLUMNS = ("chunk_no", "n", "step0", "stride", "steps", "times", "vtype", "vals", "blocks")


def chunk_row(metric_id: int, chunk_no: int, chunk: Chunk) -> tuple[Any, ...]:
    """A chunk's values in ``CHUNK_COLUMNS`` order."""
    s = chunk.summary
    summary: tuple[Any, ...] = (None,) * 14
    if s is not None:
        low = s.low or (None, None, None, None)
        high = s.high or (None, None, None, None)
        summary = (*s.first[1:], *s.last[1:], *low, *high)
    return (
        metric_id,
        chunk_no,
        chunk.n,
        *summary,
        chunk.step0,
        chunk.stride,
        chunk.vtype,
        chunk.blocks,
        chunk.steps_blob,
        chunk.times_blob,
        chunk.values_blob,
    )
