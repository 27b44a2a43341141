"""One metric of several runs, overlaid on the same axes, each run in its own colour."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import RenderResult
from textual.message import Message

from runhistory.api import Series

from .metric_chart import ChartBox, nice_ticks, tick_label

#: One colour per compared run, in marking order: distinct on dark and light themes.
RUN_COLORS: tuple[tuple[int, int, int], ...] = (
    (97, 175, 239),
    (229, 192, 123),
    (224, 108, 117),
    (152, 195, 121),
    (198, 120, 221),
    (86, 182, 194),
    (209, 154, 102),
    (171, 178, 191),
)
_WARN = "#e0b040"


def run_color(index: int) -> str:
    """The colour of the ``index``-th compared run, as ``#rrggbb``."""
    r, g, b = RUN_COLORS[index % len(RUN_COLORS)]
    return f"#{r:02x}{g:02x}{b:02x}"


@dataclass(frozen=True)
class Line:
    """One run's curve.

    Attributes:
        label: What the legend calls the run.
        color: Index into ``RUN_COLORS``.
        series: Its points, or ``None`` when the run has no such metric.
        start: The run's start (epoch seconds), for the time axis.
    """

    label: str
    color: int
    series: Series | None
    start: float


def _finite(xs: list[float], values: Sequence[object], log: bool) -> tuple[list[float], list[float]]:
    keep_x: list[float] = []
    keep_y: list[float] = []
    for x, v in zip(xs, values):
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and (v > 0 or not log):
            keep_x.append(x)
            keep_y.append(float(v))
    return keep_x, keep_y


class CompareChart(ChartBox):
    """A metric's series from each compared run, over a shared x axis (steps, or time since start)."""

    @dataclass
    class Resized(Message):
        """The chart changed size: the series may be worth reading at another resolution."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, CompareChart.Resized)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.metric: str | None = None
        self.lines: list[Line] = []
        self.by_time = False
        self.log_scale = False

    @property
    def max_points(self) -> int:
        """Points worth reading per run: two per cell across (braille dots)."""
        return max(2, 2 * max(10, self.size.width))

    def on_resize(self) -> None:
        self.post_message(self.Resized())

    def show(self, metric: str | None, lines: list[Line]) -> None:
        """Draw ``lines`` of ``metric``."""
        self.metric = metric
        self.lines = lines
        self._titles()
        self.refresh()

    def set_axes(self, *, by_time: bool, log_scale: bool) -> None:
        """Steps or time since each run's start across; a linear or log y axis."""
        self.by_time = by_time
        self.log_scale = log_scale
        self._titles()
        self.refresh()

    def _titles(self) -> None:
        name = self.metric or "no metric"
        # Text, not markup: a metric's name may hold brackets.
        self.border_title = Text(f"{name} (log)" if self.log_scale else name)
        drawn = sum(1 for line in self.lines if line.series is not None and line.series.values)
        across = "time since start" if self.by_time else "step"
        self.border_subtitle = f"{drawn} of {len(self.lines)} runs · x: {across}"

    def render(self) -> RenderResult:
        if self.metric is None:
            return Text("no number metric to compare", style="dim")
        if not self.lines:
            return Text("loading…", style="dim")
        self.new_figure()
        plt = self.plt
        low, high = math.inf, -math.inf
        drawn = 0
        for line in self.lines:
            series = line.series
            if series is None or series.kind != "number" or not series.values:
                continue
            xs = [t - line.start for t in series.times] if self.by_time else [float(s) for s in series.steps]
            xs, ys = _finite(xs, series.values, self.log_scale)
            if not xs:
                continue
            low, high = min(low, min(xs)), max(high, max(xs))
            color = RUN_COLORS[line.color % len(RUN_COLORS)]
            if len(xs) == 1:
                plt.scatter(xs, ys, marker="●", color=color)
            else:
                plt.plot(xs, ys, marker="braille", color=color)
            drawn += 1
        if not drawn:
            why = "no positive values for a log scale" if self.log_scale else "no finite values to draw"
            return Text(why, style=_WARN)
        count = max(2, self.size.width // 10)
        if self.by_time:
            ticks = time_ticks(low, high, count)
            plt.xticks(ticks, [time_label(t) for t in ticks])
        else:
            ticks = [t for t in nice_ticks(low, high, count) if t == int(t)]
            if ticks:
                plt.xticks(ticks, [tick_label(t) for t in ticks])
        if self.log_scale:
            plt.yscale("log")
        return super().render()


#: Spacings of the time axis's ticks, in seconds: round numbers of seconds, minutes, hours and days.
_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 86400)


def time_ticks(low: float, high: float, count: int) -> list[float]:
    """About ``count`` ticks from ``low`` to ``high`` seconds, a round time apart (10s, 5m, 1h, …)."""
    if count < 2 or not high > low:
        return [low]
    raw = (high - low) / (count - 1)
    step = next((s for s in _TIME_STEPS if s >= raw), None)
    if step is None:
        step = 86400 * math.ceil(raw / 86400)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) // step) + 1)]


def time_label(seconds: float) -> str:
    """Seconds since the start as ``45s``, ``12m``, ``1h30m``, ``2d``."""
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
