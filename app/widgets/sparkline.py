"""A one-line chart of a series, drawn with block characters, for table cells."""

from __future__ import annotations

from collections.abc import Sequence

from rich.color import Color
from rich.style import Style
from rich.text import Text

BARS = "▁▂▃▄▅▆▇█"
#: Low values dim, high values bright: the eye finds the trend without reading.
_LOW = (70, 110, 160)
_HIGH = (120, 200, 255)


def _bucket_means(values: Sequence[float], width: int) -> list[float]:
    if len(values) <= width:
        return list(values)
    means = []
    for i in range(width):
        start, end = i * len(values) // width, (i + 1) * len(values) // width
        piece = values[start : max(end, start + 1)]
        means.append(sum(piece) / len(piece))
    return means


def sparkline(values: Sequence[float], width: int) -> Text:
    """``values`` (finite numbers, in order) squeezed into ``width`` cells.

    A series shorter than ``width`` keeps one cell per point; a flat series is
    drawn at mid height.
    """
    if not values or width <= 0:
        return Text("")
    points = _bucket_means(values, width)
    low, high = min(points), max(points)
    span = high - low
    text = Text(no_wrap=True, overflow="crop")
    for value in points:
        level = 0.5 if span == 0 else (value - low) / span
        index = min(len(BARS) - 1, int(level * len(BARS)))
        r, g, b = (round(a + (z - a) * level) for a, z in zip(_LOW, _HIGH))
        text.append(BARS[index], Style(color=Color.from_rgb(r, g, b)))
    return text
