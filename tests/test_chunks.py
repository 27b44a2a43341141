"""A chunk's summary and block extremes, found in one pass, agree with the plain definitions."""

from __future__ import annotations

import math
import random
from array import array

from runhistory.api import _chunks


def _same(a: tuple[object, ...] | None, b: tuple[object, ...] | None) -> bool:
    if a is None or b is None:
        return a is b
    return all(x == y or (x != x and y != y) for x, y in zip(a, b, strict=True))  # NaN equals NaN here


def test_summaries_and_blocks_match_the_definitions_with_ties_signed_zeros_and_infinities() -> None:
    rng = random.Random(7)
    for trial in range(600):
        n = rng.choice([1, 2, 127, 128, 129, 1000, 1024, rng.randint(1, 1024)])
        pool = [0.0, -0.0, 1.0, -3.0, math.inf, -math.inf, rng.random()]
        values: list[float] = (
            [rng.choice(pool) for _ in range(n)] if trial % 2 else [float(rng.randint(-3, 3)) for _ in range(n)]
        )
        if trial % 5 == 0:
            values[rng.randrange(n)] = math.nan
        steps = list(range(10, 10 + n))
        times = [1.7e9 + i / 8 for i in range(n)]
        chunk = _chunks.encode("number", steps, values, times)
        want = _chunks.summarize(steps, values, times)
        assert chunk.summary is not None
        assert _same(chunk.summary.low, want.low) and _same(chunk.summary.high, want.high)
        assert _same(chunk.summary.first, want.first) and _same(chunk.summary.last, want.last)
        assert chunk.blocks == _chunks.block_extremes(values, has_nan=want.nan)
        assert chunk.values_blob == array("d", values).tobytes()
        assert _chunks.encode("number", range(10, 10 + n), values, times).stride == 1


def test_integers_are_packed_exactly_and_past_64_bits_as_doubles() -> None:
    exact = [0, 1, -(2**63), 2**63 - 1]
    chunk = _chunks.encode("number", [0, 1, 2, 3], exact, [1.0, 2.0, 3.0, 4.0])
    assert chunk.vtype == "q" and _chunks.decode_values(chunk.vtype, chunk.values_blob) == exact
    wide = _chunks.encode("number", [0, 1], [2**64, 1], [1.0, 2.0])
    assert wide.vtype == "d" and _chunks.decode_values(wide.vtype, wide.values_blob) == [float(2**64), 1.0]


def test_steps_joined_from_a_stored_chunk_stay_a_range_only_when_they_carry_on() -> None:
    assert _chunks.join_steps(range(0, 5), range(5, 9)) == range(0, 9)
    assert _chunks.join_steps(range(0, 5), range(7, 9)) == [0, 1, 2, 3, 4, 7, 8]
    assert _chunks.join_steps([0, 3], range(4, 6)) == [0, 3, 4, 5]
