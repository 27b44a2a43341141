"""One metric drawn with plotext: a number series over steps, or a chart's lists."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.app import RenderResult
from textual.message import Message
from textual.reactive import reactive
from textual_plotext import PlotextPlot

from runhistory.api import Series
from runhistory.api._safe_text import safe_line

from ..curves import bounds, ema, marks, nice_ticks, segments, tick_label, value_label
from ..human import value_text

#: An RGB colour as plotext takes it.
Color = tuple[int, int, int]

#: Line colours: the newest chart value bright, older ones fading.
_SERIES_COLOR: Color = (97, 175, 239)
_OLDER_COLORS: tuple[Color, ...] = ((198, 120, 221), (152, 195, 121))
#: Notes in place of a chart.
WARN = "#e0b040"
#: The inspect cursor's line.
CURSOR_COLOR: Color = (230, 230, 230)


@dataclass(frozen=True)
class Curve:
    """One line of a chart.

    Attributes:
        xs: Where each point is across.
        values: The points' values (NaN and ±inf included: they break the line).
        color: Its colour.
        spread: How many stored points each drawn point stands for (for smoothing): one
            number for all, or one per point.
        first: The index of the first point drawn raw (those before only warm the smoothing up:
            a zoomed chart's lead-in, left of its view).
    """

    xs: Sequence[float]
    values: Sequence[object]
    color: Color
    spread: float | Sequence[float] = 1.0
    first: int = 0


class ChartBox(PlotextPlot):
    """A plotext plot in a titled, rounded box: the metric's name on top, a summary below."""

    DEFAULT_CSS = """
    ChartBox {
        border: round $panel-lighten-2;
        border-title-color: $text;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        padding: 0 1 0 0;
        min-height: 6;
    }
    ChartBox:focus { border: round $accent; }
    """

    def new_figure(self) -> None:
        """Start drawing again: no frame or grid, an x axis below and a y axis on the left."""
        plt = self.plt
        plt.clear_figure()
        plt.frame(False)
        plt.grid(False, False)
        plt.xaxes(True, False)
        plt.yaxes(True, False)

    def draw_curves(
        self,
        curves: Sequence[Curve],
        *,
        smoothing: float | None = None,
        log_scale: bool = False,
        x_range: tuple[float, float] | None = None,
        cursor: float | None = None,
        x_ticks: Callable[[float, float, int], tuple[list[float], list[str]]] | None = None,
    ) -> Text | None:
        """Draw ``curves`` as lines broken where a value is not drawable, with a mark there.

        With ``smoothing`` (an EMA weight), each curve is drawn smoothed over its raw points
        drawn faint. The y axis spans the drawable values (of ``x_range`` when given), with
        ticks at round values. Returns a note instead when there is nothing to draw.
        """
        plt = self.plt
        visible = [_within(c, x_range) for c in curves]
        found = bounds([values for _, values in visible], positive=log_scale)
        if found is None:
            why = "no positive values for a log scale" if log_scale else "no finite values to draw"
            return Text(why, style=WARN)
        low, high = found
        for curve in curves:
            xs, values = curve.xs[curve.first :], curve.values[curve.first :]
            if smoothing:
                smoothed = ema(curve.values, smoothing, curve.spread)[curve.first :]
                self._segments(xs, values, faint(curve.color), log_scale)
                self._segments(xs, smoothed, curve.color, log_scale)
            else:
                self._segments(xs, values, curve.color, log_scale)
            for mark in marks(xs, values, positive=log_scale):
                plt.scatter([mark.x], [high if mark.top else low], marker=mark.symbol, color=curve.color)
        rows = max(3, (self.size.height or 12) // 2)  # a round tick every two or three lines
        if log_scale:
            plt.yscale("log")
            powers = [10.0**k for k in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)]
            ticks = [t for t in powers if low <= t <= high] or [low, high]
        else:
            ticks = nice_ticks(low, high, rows)
            if len(ticks) < 2:  # the round numbers fell outside: one notch finer
                ticks = nice_ticks(low, high, rows * 2 + 1)
        if log_scale:
            plt.ylim(math.log10(low), math.log10(high))  # plotext takes a log axis's limits as exponents
        else:
            plt.ylim(low, high)
        plt.yticks(ticks, [value_label(t) for t in ticks])
        xs = [x for xs, _ in visible for x in xs]
        if x_range is not None:
            plt.xlim(*x_range)
            x_low, x_high = x_range
        else:
            x_low, x_high = (min(xs), max(xs)) if xs else (0.0, 1.0)
        if x_ticks is not None:
            where, labels = x_ticks(x_low, x_high, max(2, (self.size.width or 40) // 10))
            if where:
                plt.xticks(where, labels)
        if cursor is not None:
            plt.vline(cursor, color=CURSOR_COLOR)
        return None

    def _segments(self, xs: Sequence[float], values: Sequence[object], color: Color, log_scale: bool) -> None:
        for seg_x, seg_y in segments(xs, values, positive=log_scale):
            if len(seg_x) == 1:  # a point on its own: a marker, not an invisible one-dot line
                self.plt.scatter(seg_x, seg_y, marker="●", color=color)
            else:
                self.plt.plot(seg_x, seg_y, marker="braille", color=color)


def integer_ticks(low: float, high: float, count: int) -> tuple[list[float], list[str]]:
    """Steps and indexes are whole numbers: round ones, labelled short (``12k``)."""
    ticks = [t for t in nice_ticks(low, high, count) if t == int(t)]
    return ticks, [tick_label(t) for t in ticks]


def faint(color: Color) -> Color:
    """``color`` pushed most of the way to a dark background: the raw points behind a smoothed curve."""
    return (int(color[0] * 0.4 + 24), int(color[1] * 0.4 + 24), int(color[2] * 0.4 + 24))


def _within(curve: Curve, x_range: tuple[float, float] | None) -> tuple[list[float], list[object]]:
    """The points of ``curve`` in ``x_range``, and where its line crosses the range's edges."""
    if x_range is None:
        return list(curve.xs[curve.first :]), list(curve.values[curve.first :])
    low, high = x_range
    points = list(zip(curve.xs, curve.values))[curve.first :]
    kept = [(x, v) for x, v in points if low <= x <= high]
    for (x0, v0), (x1, v1) in zip(points, points[1:]):
        for edge in (low, high):
            crosses = x0 < edge < x1 or x1 < edge < x0
            if crosses and isinstance(v0, (int, float)) and isinstance(v1, (int, float)):
                kept.append((edge, v0 + (v1 - v0) * (edge - x0) / (x1 - x0)))
    return [x for x, _ in kept], [v for _, v in kept]


class MetricChart(ChartBox):
    """A metric's chart in a titled box.

    Number series are drawn over their steps as lines (smoothed on request);
    chart metrics (lists of numbers) as their newest list, with earlier ones
    behind it for comparison. Enter opens it full size (``Open``).
    """

    DEFAULT_CSS = """
    MetricChart { min-height: 8; }
    """

    can_focus = True

    @dataclass
    class Resized(Message):
        """The chart changed size: its series may be worth reading at another resolution."""

        chart: MetricChart

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, MetricChart.Resized) and message.chart is self.chart

    @dataclass
    class Open(Message):
        """Enter or a double click on the chart: show it full size, to zoom and inspect."""

        metric: str

    log_scale: reactive[bool] = reactive(False)
    """Draw the y axis on a log scale (values ≤ 0 are left out, marked ▽)."""

    smoothing: reactive[float | None] = reactive(None)
    """The EMA weight number series are smoothed with (``None``: drawn raw)."""

    def __init__(self, metric: str, *, id: str | None = None, label: str | None = None) -> None:
        super().__init__(id=id)
        self.metric = metric
        self.label = label or metric
        self.series: Series | None = None
        self._title()

    @property
    def max_points(self) -> int:
        """Points worth reading for this chart: two per cell across (braille dots)."""
        return max(2, 2 * max(10, self.size.width))

    def show_series(self, series: Series) -> None:
        """Draw ``series`` (read with ``max_points``)."""
        self.series = series
        self.border_subtitle = self._summary(series)
        self._title()
        self.refresh()

    def set_label(self, label: str) -> None:
        """What the title calls the metric (a shortened name, told apart from its neighbours')."""
        self.label = label
        self._title()

    def on_resize(self) -> None:
        self.post_message(self.Resized(self))

    def on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            self.post_message(self.Open(self.metric))

    def on_click(self, event: events.Click) -> None:
        if event.chain == 2:
            self.post_message(self.Open(self.metric))

    def watch_log_scale(self) -> None:
        self._title()
        if self.series is not None:
            self.border_subtitle = self._summary(self.series)
        self.refresh()

    def watch_smoothing(self) -> None:
        self._title()
        self.refresh()

    def _title(self) -> None:
        # Text, not markup: a metric's name may hold brackets.
        smoothed = self.smoothing if self.series is None or self.series.kind == "number" else None
        self.border_title = Text(chart_title(safe_line(self.label, 400), log_scale=self.log_scale, smoothing=smoothed))

    def _summary(self, series: Series) -> str:
        parts = []
        if series.values:
            last = series.values[-1]
            if series.kind != "number":
                parts.append(f"step {series.steps[-1]}")
            elif isinstance(last, float) and math.isfinite(last):
                parts.append(f"last {last:.4g}")
            else:
                parts.append(f"last {value_text(last, 14)}")
        count = f"{series.count:,} pt{'s' if series.count != 1 else ''}"
        if series.downsampled:
            count += f" ({len(series):,} drawn)"
        parts.append(count)
        if series.kind == "number":
            left_out = sum(
                1
                for v in series.values
                if not (isinstance(v, (int, float)) and math.isfinite(v) and (v > 0 or not self.log_scale))
            )
            if left_out:
                parts.append(f"{left_out} not drawn ({'≤ 0, ' if self.log_scale else ''}NaN, inf)")
        return " · ".join(parts)

    def render(self) -> RenderResult:
        series = self.series
        if series is None:
            return Text("loading…", style="dim")
        if not series.values:
            return Text("no points yet", style="dim")
        self.new_figure()
        if series.kind == "number":
            curve = Curve([float(s) for s in series.steps], series.values, _SERIES_COLOR, spread_of(series))
            note = self.draw_curves([curve], smoothing=self.smoothing, log_scale=self.log_scale, x_ticks=integer_ticks)
        else:
            note = self._draw_charts(series)
        if note is not None:
            return note
        return super().render()

    def _draw_charts(self, series: Series) -> Text | None:
        # The newest value in front, the first (and one between) behind it to show the change.
        picks = sorted({0, len(series) // 2, len(series) - 1}) if len(series) > 2 else list(range(len(series)))
        colors = list(_OLDER_COLORS[: len(picks) - 1]) + [_SERIES_COLOR]
        drawn = False
        for index, color in zip(picks, colors):
            value = series.values[index]
            if not isinstance(value, list):
                continue
            points = [(i, float(v)) for i, v in enumerate(value) if math.isfinite(v) and (v > 0 or not self.log_scale)]
            if not points:
                continue
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            where, labels = integer_ticks(0, len(value) - 1, max(2, self.size.width // 10))
            if where:
                self.plt.xticks(where, labels)
            label = f"step {series.steps[index]}" if len(picks) > 1 else None
            self.plt.plot(xs, ys, marker="braille", color=color, label=label)
            drawn = True
        if not drawn:
            return Text("nothing to draw", style=WARN)
        if self.log_scale:
            self.plt.yscale("log")
        else:
            values = [v for i in picks for v in (series.values[i] or []) if isinstance(v, (int, float))]  # type: ignore[union-attr]
            finite = [float(v) for v in values if math.isfinite(v)]
            if finite and max(finite) > min(finite):
                ticks = nice_ticks(min(finite), max(finite), max(3, (self.size.height or 12) // 2))
                self.plt.yticks(ticks, [value_label(t) for t in ticks])
        return None


def spread_of(series: Series) -> float:
    """How many stored points each point of ``series`` stands for."""
    return series.count / len(series) if len(series) else 1.0


def chart_title(label: str, *, log_scale: bool = False, smoothing: float | None = None, extra: str = "") -> str:
    """A chart's title: the metric, then how it is drawn (``loss · EMA 0.6 · log``)."""
    parts = [label]
    if smoothing:
        parts.append(f"EMA {smoothing:g}")
    if log_scale:
        parts.append("log")
    if extra:
        parts.append(extra)
    return " · ".join(parts)
