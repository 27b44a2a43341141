"""The arithmetic of drawing curves, apart from any widget: gaps, smoothing, ticks, nearest points.

A chart draws what a store read gave it: points in logging order, possibly
downsampled (``Series.count`` says how many points they stand for). NaN and
±inf are never drawn as values: they break the line, and a mark at the
bottom (NaN, -inf) or the top (+inf) of the plot says where they are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: Smoothing weights ``[`` and ``]`` step through (TensorBoard's slider goes from 0 to 0.999).
SMOOTHING_WEIGHTS = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99, 0.995, 0.999)
#: The weight smoothing starts at (TensorBoard's default).
DEFAULT_SMOOTHING = 0.6


def finite_number(value: object, *, positive: bool = False) -> bool:
    """Whether ``value`` is a number that can be drawn (above zero too, on a log scale)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > 0 or not positive)
    )


def segments(
    xs: Sequence[float], values: Sequence[object], *, positive: bool = False
) -> list[tuple[list[float], list[float]]]:
    """The runs of drawable points between the ones that are not (NaN, ±inf; ≤ 0 on a log scale)."""
    found: list[tuple[list[float], list[float]]] = []
    run_x: list[float] = []
    run_y: list[float] = []
    for x, v in zip(xs, values):
        if finite_number(v, positive=positive):
            run_x.append(x)
            run_y.append(float(v))  # type: ignore[arg-type]
        elif run_x:
            found.append((run_x, run_y))
            run_x, run_y = [], []
    if run_x:
        found.append((run_x, run_y))
    return found


@dataclass(frozen=True)
class Mark:
    """A point that is not drawn as a value: where it is, and what it was."""

    x: float
    top: bool
    symbol: str


def marks(xs: Sequence[float], values: Sequence[object], *, positive: bool = False) -> list[Mark]:
    """Where NaN (×, at the bottom), -inf (▼, bottom), +inf (▲, top) and, on a log scale, values ≤ 0 (▽) are."""
    found = []
    for x, v in zip(xs, values):
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        if v != v:
            found.append(Mark(x, False, "×"))
        elif v == math.inf:
            found.append(Mark(x, True, "▲"))
        elif v == -math.inf:
            found.append(Mark(x, False, "▼"))
        elif positive and v <= 0:
            found.append(Mark(x, False, "▽"))
    return found


def ema(values: Sequence[object], weight: float, spread: float | Sequence[float] = 1.0) -> list[object]:
    """TensorBoard's debiased exponential moving average; NaN and ±inf pass through unsmoothed.

    Args:
        values: The points, in order.
        weight: How much of the average each new point keeps (0: none, raw; 0.999: almost all).
        spread: How many stored points each given point stands for (a downsampled read of
            1M points at 1,000 stands for 1,000 each), one number for all or one per point:
            the weight is raised to it, so the curve is about as smooth at any width or zoom.
    """
    if weight <= 0:
        return list(values)
    spreads = [spread] * len(values) if isinstance(spread, (int, float)) else list(spread)
    last = 0.0
    kept = 1.0  # how much of the average is still the zero it started from (1 - the debias)
    out: list[object] = []
    for v, each in zip(values, spreads):
        if not finite_number(v):
            out.append(v)
            continue
        w = weight ** max(1.0, each)
        last = last * w + (1 - w) * float(v)  # type: ignore[arg-type]
        kept *= w
        out.append(last / (1 - kept) if kept < 1 else float(v))  # type: ignore[arg-type]
    return out


def nice_ticks(low: float, high: float, count: int) -> list[float]:
    """About ``count`` round numbers (1, 2 or 5 times a power of ten apart) from ``low`` to ``high``."""
    if count < 2 or not high > low:
        return [low]
    raw = (high - low) / (count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    index = 0
    while (tick := first + index * step) <= high + step * 1e-9:
        # Rounded to the step's own precision: 0.1 + 0.2 reads as 0.3, not 0.30000000000000004.
        digits = max(0, -math.floor(math.log10(step)) + 1)
        ticks.append(round(tick, digits))
        index += 1
    return ticks


def tick_label(value: float) -> str:
    """A step on the x axis: ``1500``, ``12k``, ``1.2M``."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


def value_label(value: float) -> str:
    """A y tick: short (``0.25``, ``1.2e-05``, ``3e+06``), and ``0`` for a zero that rounding left as ``-0``."""
    return "0" if value == 0 else f"{value:.4g}"


def bounds(values: Sequence[Sequence[object]], *, positive: bool = False) -> tuple[float, float] | None:
    """The lowest and highest drawable value of all ``values``, a little apart when they are equal."""
    low, high = math.inf, -math.inf
    for vs in values:
        finite = [float(v) for v in vs if finite_number(v, positive=positive)]  # type: ignore[arg-type]
        if finite:
            low, high = min(low, min(finite)), max(high, max(finite))
    if low > high:
        return None
    if low == high:
        pad = abs(low) * 0.1 or 0.5
        low, high = (low / 2, low * 2) if positive else (low - pad, high + pad)
    return low, high


def nearest(steps: Sequence[int], x: float) -> int | None:
    """The index of the point whose step is nearest ``x`` (the first logged of equals)."""
    best: int | None = None
    best_gap = math.inf
    for index, step in enumerate(steps):
        gap = abs(step - x)
        if gap < best_gap:
            best, best_gap = index, gap
    return best


#: Spacings of a time axis's ticks, in seconds: fractions of a second, then round numbers of
#: seconds, minutes, hours and days.
_TIME_STEPS = (
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
)


def time_ticks(low: float, high: float, count: int) -> list[float]:
    """About ``count`` ticks from ``low`` to ``high`` seconds, a round time apart (0.1s, 10s, 5m, 1h, …)."""
    if count < 2 or not high > low:
        return [low]
    raw = (high - low) / (count - 1)
    step = next((s for s in _TIME_STEPS if s >= raw), None)
    if step is None:
        step = 86400 * math.ceil(raw / 86400)
    first = math.ceil(low / step) * step
    return [round(first + i * step, 3) for i in range(int((high - first) / step + 1e-9) + 1)]


def time_label(seconds: float) -> str:
    """Seconds since the start as ``0.25s``, ``45s``, ``12m``, ``1h30m``, ``2d``."""
    if abs(seconds) < 10 and seconds != round(seconds):
        return f"{seconds:.3g}s"
    seconds = round(seconds)
    if abs(seconds) < 60:
        return f"{seconds}s"
    if abs(seconds) < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes}m{rest:02d}s" if rest else f"{minutes}m"
    if abs(seconds) < 86400:
        hours, rest = divmod(seconds, 3600)
        return f"{hours}h{rest // 60:02d}m" if rest >= 60 else f"{hours}h"
    days, rest = divmod(seconds, 86400)
    return f"{days}d{rest // 3600}h" if rest >= 3600 else f"{days}d"


def clock_label(epoch: float, span: float) -> str:
    """A wall-clock tick: ``14:05`` (``14:05:30`` when the axis spans minutes, ``05.250`` below seconds)."""
    from .human import clock_text

    if span < 5:
        return clock_text(epoch, millis=True, fmt="%S")
    if span < 600:
        return clock_text(epoch, fmt="%H:%M:%S")
    if span < 3 * 86400:
        return clock_text(epoch, fmt="%H:%M")
    return clock_text(epoch, fmt="%m-%d %H:%M")
