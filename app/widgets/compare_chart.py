"""One metric of several runs, overlaid on the same axes, each run in its own colour."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.text import Text
from textual import events
from textual.app import RenderResult
from textual.message import Message

from runhistory.api import Series

from ..curves import clock_label, time_label, time_ticks
from .metric_chart import ChartBox, Color, Curve, chart_title, integer_ticks, spread_of

#: One colour per compared run, in marking order: distinct on dark and light themes.
RUN_COLORS: tuple[Color, ...] = (
    (97, 175, 239),
    (229, 192, 123),
    (224, 108, 117),
    (152, 195, 121),
    (198, 120, 221),
    (86, 182, 194),
    (209, 154, 102),
    (171, 178, 191),
)

#: What the x axis of a compare chart measures: the step, the time since each run's start, or the clock.
XAxis = Literal["step", "relative", "wall"]
#: The order ``x`` cycles through them.
X_AXES: tuple[XAxis, ...] = ("step", "relative", "wall")
X_AXIS_NAMES: dict[XAxis, str] = {"step": "step", "relative": "time since start", "wall": "wall time"}


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
        spreads: How many stored points each point stands for (default: the series' count
            over its length, for all).
        lead_in: Points at the start that only warm the smoothing up (not drawn).
    """

    label: str
    color: int
    series: Series | None
    start: float
    spreads: Sequence[float] | None = None
    lead_in: int = 0


def line_xs(line: Line, x_axis: XAxis) -> list[float]:
    """Where each point of ``line`` goes across."""
    series = line.series
    if series is None:
        return []
    if x_axis == "relative":
        return [t - line.start for t in series.times]
    if x_axis == "wall":
        return list(series.times)
    return [float(s) for s in series.steps]


class CompareChart(ChartBox):
    """A metric's series from each compared run, over a shared x axis (steps, time since start, or the clock)."""

    can_focus = True

    @dataclass
    class Resized(Message):
        """The chart changed size: the series may be worth reading at another resolution."""

        chart: CompareChart

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, CompareChart.Resized) and message.chart is self.chart

    @dataclass
    class Open(Message):
        """Enter or a double click on the chart: show it full size, to zoom and inspect."""

        metric: str

    def __init__(self, *, id: str | None = None, metric: str | None = None, label: str | None = None) -> None:
        super().__init__(id=id)
        self.metric: str | None = metric
        self.label = label
        self.lines: list[Line] = []
        self.x_axis: XAxis = "step"
        self.log_scale = False
        self.smoothing: float | None = None
        self.x_range: tuple[float, float] | None = None
        self.cursor: float | None = None
        self.highlights: list[tuple[float, float, int]] = []  # (x, y, colour index) marked ◆: the cursor's points
        self._titles()

    @property
    def by_time(self) -> bool:
        """Whether x is a time (since each run's start, or the clock) rather than the step."""
        return self.x_axis != "step"

    @property
    def max_points(self) -> int:
        """Points worth reading per run: two per cell across (braille dots)."""
        return max(2, 2 * max(10, self.size.width))

    def on_resize(self) -> None:
        self.post_message(self.Resized(self))

    def on_key(self, event: events.Key) -> None:
        if event.key == "enter" and self.metric is not None:
            event.stop()
            self.post_message(self.Open(self.metric))

    def on_click(self, event: events.Click) -> None:
        if event.chain == 2 and self.metric is not None:
            self.post_message(self.Open(self.metric))

    def show(self, metric: str | None, lines: list[Line]) -> None:
        """Draw ``lines`` of ``metric``."""
        self.metric = metric
        self.lines = lines
        self._titles()
        self.refresh()

    def set_axes(
        self,
        *,
        x_axis: XAxis | None = None,
        by_time: bool | None = None,
        log_scale: bool | None = None,
        smoothing: float | None | Literal[False] = False,
    ) -> None:
        """Steps, time since each run's start, or the clock across; a linear or log y axis; smoothing."""
        if by_time is not None:
            self.x_axis = "relative" if by_time else "step"
        if x_axis is not None:
            self.x_axis = x_axis
        if log_scale is not None:
            self.log_scale = log_scale
        if smoothing is not False:
            self.smoothing = smoothing
        self._titles()
        self.refresh()

    def _titles(self) -> None:
        name = self.label or self.metric or "no metric"
        extra = f"steps {self.x_range[0]:,.0f}–{self.x_range[1]:,.0f}" if self.x_range else ""
        # Text, not markup: a metric's name may hold brackets.
        self.border_title = Text(chart_title(name, log_scale=self.log_scale, smoothing=self.smoothing, extra=extra))
        drawn = sum(1 for line in self.lines if line.series is not None and line.series.values)
        self.border_subtitle = f"{drawn} of {len(self.lines)} runs · x: {X_AXIS_NAMES[self.x_axis]}"

    def render(self) -> RenderResult:
        if self.metric is None:
            return Text("no number metric to compare", style="dim")
        if not self.lines:
            return Text("loading…", style="dim")
        self.new_figure()
        curves = [
            Curve(
                line_xs(line, self.x_axis),
                line.series.values,
                RUN_COLORS[line.color % len(RUN_COLORS)],
                line.spreads if line.spreads is not None else spread_of(line.series),
                line.lead_in,
            )
            for line in self.lines
            if line.series is not None and line.series.kind == "number" and line.series.values
        ]
        if not curves:
            return Text("none of these runs has points of this metric", style="dim")
        note = self.draw_curves(
            curves,
            smoothing=self.smoothing,
            log_scale=self.log_scale,
            x_range=self.x_range,
            cursor=self.cursor,
            x_ticks=self._x_ticks,
        )
        if note is not None:
            return note
        for x, y, color in self.highlights:
            if math.isfinite(y) and (y > 0 or not self.log_scale):
                self.plt.scatter([x], [y], marker="◆", color=RUN_COLORS[color % len(RUN_COLORS)])
        return super().render()

    def _x_ticks(self, low: float, high: float, count: int) -> tuple[list[float], list[str]]:
        if self.x_axis == "step":
            return integer_ticks(low, high, count)
        if self.x_axis == "relative":
            ticks = time_ticks(low, high, count)
            return ticks, [time_label(t) for t in ticks]
        # The clock: ticks a round time apart, counted from midnight UTC (any whole-second grid works).
        ticks = time_ticks(low, high, count)
        return ticks, [clock_label(t, high - low) for t in ticks]
