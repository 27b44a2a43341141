"""One metric drawn with plotext: a number series over steps, or a chart's lists."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual.app import RenderResult
from textual.message import Message
from textual.reactive import reactive
from textual_plotext import PlotextPlot

from runhistory.api import Series

from ..human import value_text

#: Line colours: the newest chart value bright, older ones fading.
_SERIES_COLOR = (97, 175, 239)
_OLDER_COLORS = ((198, 120, 221), (152, 195, 121))
_WARN = "#e0b040"


def nice_ticks(low: float, high: float, count: int) -> list[float]:
    """About ``count`` round numbers (1, 2 or 5 times a power of ten apart) from ``low`` to ``high``."""
    if count < 2 or not high > low:
        return [low]
    raw = (high - low) / (count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    tick = first
    while tick <= high + step * 1e-9:
        ticks.append(tick)
        tick += step
    return ticks


def tick_label(value: float) -> str:
    """A step on the x axis: ``1500``, ``12k``, ``1.2M``."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


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


class MetricChart(ChartBox):
    """A metric's chart in a titled box.

    Number series are drawn over their steps; chart metrics (lists of numbers)
    as their newest list, with earlier ones behind it for comparison.
    """

    DEFAULT_CSS = """
    MetricChart { min-height: 8; }
    """

    @dataclass
    class Resized(Message):
        """The chart changed size: its series may be worth reading at another resolution."""

        chart: MetricChart

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, MetricChart.Resized) and message.chart is self.chart

    log_scale: reactive[bool] = reactive(False)
    """Draw the y axis on a log scale (values ≤ 0 are left out)."""

    def __init__(self, metric: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.metric = metric
        self.series: Series | None = None
        self.border_title = Text(metric)  # Text, not markup: a metric's name may hold brackets

    @property
    def max_points(self) -> int:
        """Points worth reading for this chart: two per cell across (braille dots)."""
        return max(2, 2 * max(10, self.size.width))

    def show_series(self, series: Series) -> None:
        """Draw ``series`` (read with ``max_points``)."""
        self.series = series
        self.border_subtitle = self._summary(series)
        self.refresh()

    def on_resize(self) -> None:
        self.post_message(self.Resized(self))

    def watch_log_scale(self) -> None:
        self.border_title = Text(f"{self.metric} (log)" if self.log_scale else self.metric)
        if self.series is not None:
            self.border_subtitle = self._summary(self.series)
        self.refresh()

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
        plt = self.plt
        note = self._draw_numbers(series) if series.kind == "number" else self._draw_charts(series)
        if note is not None:
            return note
        if self.log_scale:
            plt.yscale("log")
        return super().render()

    def _draw_numbers(self, series: Series) -> Text | None:
        points = [
            (s, float(v))
            for s, v in zip(series.steps, series.values)
            if isinstance(v, (int, float)) and math.isfinite(v) and (v > 0 or not self.log_scale)
        ]
        if not points:
            why = "no positive values for a log scale" if self.log_scale else "no finite values to draw"
            return Text(why, style=_WARN)
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        self._integer_xticks(min(xs), max(xs))
        if len(points) == 1:
            self.plt.scatter(xs, ys, marker="●", color=_SERIES_COLOR)
        else:
            self.plt.plot(xs, ys, marker="braille", color=_SERIES_COLOR)
        return None

    def _integer_xticks(self, low: float, high: float) -> None:
        """Steps and indexes are whole numbers: label the x axis with round ones."""
        ticks = [t for t in nice_ticks(low, high, max(2, self.size.width // 10)) if t == int(t)]
        if ticks:
            self.plt.xticks(ticks, [tick_label(t) for t in ticks])

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
            self._integer_xticks(0, len(value) - 1)
            label = f"step {series.steps[index]}" if len(picks) > 1 else None
            self.plt.plot(xs, ys, marker="braille", color=color, label=label)
            drawn = True
        if not drawn:
            return Text("nothing to draw", style=_WARN)
        return None
