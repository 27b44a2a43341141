"""One metric full size, of one run or of every compared run: zoom, pan, inspect, raw points.

Every zoom or pan asks the store again for the points of the steps in view,
downsampled to the chart's width (``read_series`` with a step range): a spike
that shares a bucket with a taller one at full range shows once zoomed in.
The inspect cursor names, for each run, the stored point nearest to it, read
exactly from the store around the cursor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Header, Static
from textual.worker import get_current_worker

from runhistory.api import MetricNotFound, Run, Series, Store
from runhistory.api._safe_text import safe_line

from ..curves import DEFAULT_SMOOTHING, nearest
from ..human import clock_text, value_text
from ..widgets.compare_chart import CompareChart, Line, run_color
from ..widgets.key_footer import KeyFooter
from .smoothing import SmoothsCharts
from .store_screen import StoreScreen

#: ``r`` lists a range's stored points when each run has at most this many in it (more would
#: not be read by anyone; zoom in first).
RAW_POINTS_MAX = 2_000
#: A zoom never narrows the x axis below this many steps.
MIN_ZOOM_STEPS = 4
#: ``←``/``→`` pan by this share of the range in view.
PAN_SHARE = 0.25
#: The inspect cursor looks this many cells' worth of steps either side of it for the nearest
#: stored point, then eight times as far, twice more, before taking the nearest one drawn.
_NEAREST_CELLS = 1


@dataclass(frozen=True)
class ChartRun:
    """A run drawn on the full-size chart: the run, its colour index, what the legend calls it."""

    run: Run
    color: int
    label: str


@dataclass
class RangeRead(Message):
    """The series of every run over the range in view (``None`` where a run lacks the metric)."""

    asked: int
    series: list[Series | None]
    x_range: tuple[int, int] | None
    leads: list[tuple[int, float]]


@dataclass
class NearestRead(Message):
    """The stored point nearest the cursor, per run: ``(step, value, time)`` or ``None``."""

    cursor: float
    points: list[tuple[int, object, float] | None]


@dataclass
class RawRead(Message):
    """Every stored point of the range in view, per run, or how many there are when too many."""

    x_range: tuple[int, int] | None
    series: list[Series | None]
    too_many: int


def zoom(extent: tuple[float, float], view: tuple[float, float], around: float, factor: float) -> tuple[float, float]:
    """``view`` made ``factor`` times as wide, ``around`` staying where it is on screen, kept in ``extent``."""
    low, high = view
    width = max(MIN_ZOOM_STEPS, (high - low) * factor)
    full = extent[1] - extent[0]
    if width >= full:
        return extent
    share = (around - low) / (high - low) if high > low else 0.5
    new_low = around - share * width
    return clamp(extent, (new_low, new_low + width))


def clamp(extent: tuple[float, float], view: tuple[float, float]) -> tuple[float, float]:
    """``view`` moved (not resized) to lie inside ``extent``."""
    width = view[1] - view[0]
    low = min(max(view[0], extent[0]), extent[1] - width)
    return low, low + width


class ChartScreen(SmoothsCharts, StoreScreen):
    """A metric full size. ``+``/``-`` zoom, ``←``/``→`` pan, ``0`` resets, ``i`` inspects, ``r`` lists raw points.

    Args:
        store: Where the series are read from.
        metric: The metric drawn.
        runs: The runs drawn, each in its colour.
        smoothing: The EMA weight to start with (``None``: raw).
        log_scale: Start with a log y axis.
    """

    HELP_TITLE = "chart"
    HELP_TEXT = (
        "One metric full size. + and - zoom in and out around the cursor (the middle when not "
        "inspecting); ← and → pan; 0 shows every step again. Each zoom or pan reads the steps in "
        "view again from the store at the chart's width, so detail hidden at full range (a spike "
        "beside a taller one) shows once zoomed in.\n\n"
        "i shows a cursor: ← and → move it, and below the chart each run's stored point nearest to "
        "it is named exactly (step, value, time). r lists the stored points of the steps in view "
        f"when each run has at most {RAW_POINTS_MAX:,} there.\n\n"
        "S smooths (TensorBoard's debiased exponential moving average, the raw points faint behind); "
        "[ and ] change its weight. l switches the y axis to a log scale. Escape goes back."
    )

    BINDINGS: ClassVar[list[Binding]] = [  # type: ignore[assignment]
        Binding("escape", "back", "Back", tooltip="Back to the charts"),
        Binding("plus,equals_sign", "zoom(0.5)", "Zoom in", key_display="+"),
        Binding("minus", "zoom(2)", "Zoom out", key_display="-"),
        Binding("left", "move(-1)", "Pan", key_display="←→", tooltip="Pan (move the cursor when inspecting)"),
        Binding("right", "move(1)", "Pan", show=False),
        Binding("0", "reset", "All steps"),
        Binding("i", "inspect", "Inspect", tooltip="A cursor naming the nearest stored point of each run"),
        Binding("r", "raw", "Raw points", tooltip="List the stored points of the steps in view"),
        *SmoothsCharts.SMOOTHING_BINDINGS,
        Binding("l", "toggle_log_scale", "Log scale", show=False),
    ]

    DEFAULT_CSS = """
    ChartScreen #chart-legend { height: auto; max-height: 3; padding: 0 1; }
    ChartScreen #chart-full { height: 1fr; }
    ChartScreen #chart-inspect { height: auto; max-height: 9; padding: 0 1; display: none; }
    ChartScreen #chart-raw { height: 1fr; display: none; }
    """

    def __init__(
        self,
        store: Store,
        metric: str,
        runs: list[ChartRun],
        *,
        smoothing: float | None = None,
        log_scale: bool = False,
    ) -> None:
        super().__init__()
        self.store = store
        self.metric = metric
        self.runs = runs
        self.smoothing = smoothing
        self.weight = smoothing or DEFAULT_SMOOTHING
        self.log_scale = log_scale
        self.extent: tuple[float, float] | None = None  # every step, from the first read
        self.view: tuple[float, float] | None = None  # the steps in view (None: all)
        self.cursor: float | None = None
        self.series: list[Series | None] = []
        self.leads: list[tuple[int, float]] = []
        self.nearest_points: list[tuple[int, object, float] | None] = []
        self.raw_shown = False
        self._asked = 0
        self._read_width = 0
        self.sub_title = safe_line(f"{metric} · {len(runs)} run{'s' if len(runs) != 1 else ''}", 120)

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield Static(id="chart-legend")
        yield CompareChart(id="chart-full", metric=self.metric, label=safe_line(self.metric, 200))
        yield Static(id="chart-inspect")
        yield DataTable(id="chart-raw", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    @property
    def chart(self) -> CompareChart:
        """The chart."""
        return self.query_one("#chart-full", CompareChart)

    def on_mount(self) -> None:
        self.chart.set_axes(x_axis="step", log_scale=self.log_scale, smoothing=self.smoothing)
        self.chart.focus()
        self._show_legend()

    # -- reading ------------------------------------------------------------------

    def _ask(self) -> None:
        self._asked += 1
        self._read_width = self.chart.max_points
        view = None if self.view is None else (math.floor(self.view[0]), math.ceil(self.view[1]))
        self.read_range(self._asked, view, self._read_width)

    @work(thread=True, exclusive=True, exit_on_error=False, group="chart-range")
    def read_range(self, asked: int, view: tuple[int, int] | None, max_points: int) -> None:
        """Each run's points of the steps in ``view`` (all when ``None``), downsampled to ``max_points``."""
        worker = get_current_worker()
        found: list[Series | None] = []
        leads: list[tuple[int, float]] = []
        for chart_run in self.runs:
            if worker.is_cancelled:
                return
            try:
                run_id = chart_run.run.id
                if view is None:
                    found.append(self.store.read_series(run_id, self.metric, max_points=max_points))
                    leads.append((0, 1.0))
                    continue
                inside = self.store.read_series(
                    run_id, self.metric, max_points=max_points, start_step=view[0], end_step=view[1]
                )
                # The steps before the view, read at the same width: they warm the smoothing up
                # (its average runs on from the start, as on the whole chart) and their last point
                # carries the line on to the view's left edge. The first point after the view
                # carries it to the right edge (a read of two keeps the first and last).
                before = self.store.read_series(run_id, self.metric, max_points=max_points, end_step=view[0] - 1)
                after = self.store.read_series(run_id, self.metric, max_points=2, start_step=view[1] + 1)
                found.append(with_neighbours(inside, before, after))
                leads.append((len(before), before.count / len(before) if len(before) else 1.0))
            except MetricNotFound:
                found.append(None)
                leads.append((0, 1.0))
        self.post_message(RangeRead(asked, found, view, leads))

    @work(thread=True, exclusive=True, exit_on_error=False, group="chart-nearest")
    def read_nearest(self, cursor: float, cell: float, drawn: list[Series | None]) -> None:
        """The stored point nearest ``cursor`` of each run: looked for within a cell, then further."""
        worker = get_current_worker()
        points: list[tuple[int, object, float] | None] = []
        for chart_run, shown in zip(self.runs, drawn):
            if worker.is_cancelled:
                return
            point: tuple[int, object, float] | None = None
            reach = max(1.0, cell * _NEAREST_CELLS)
            for _ in range(3):
                try:
                    near = self.store.read_series(
                        chart_run.run.id,
                        self.metric,
                        start_step=math.floor(cursor - reach),
                        end_step=math.ceil(cursor + reach),
                    )
                except MetricNotFound:
                    break
                at = nearest(near.steps, cursor)
                if at is not None:
                    point = (near.steps[at], near.values[at], near.times[at])
                    break
                reach *= 8
            if point is None and shown is not None:
                at = nearest(shown.steps, cursor)
                if at is not None:
                    point = (shown.steps[at], shown.values[at], shown.times[at])
            points.append(point)
        self.post_message(NearestRead(cursor, points))

    @work(thread=True, exclusive=True, exit_on_error=False, group="chart-raw")
    def read_raw(self, view: tuple[int, int] | None) -> None:
        """Every stored point of the steps in view, when each run has at most ``RAW_POINTS_MAX`` there."""
        start, end = (None, None) if view is None else view
        counted: list[Series | None] = []
        for chart_run in self.runs:
            try:
                counted.append(
                    self.store.read_series(chart_run.run.id, self.metric, max_points=2, start_step=start, end_step=end)
                )
            except MetricNotFound:
                counted.append(None)
        most = max((s.count for s in counted if s is not None), default=0)
        if most > RAW_POINTS_MAX:
            self.post_message(RawRead(view, [], most))
            return
        found: list[Series | None] = []
        for chart_run, small in zip(self.runs, counted):
            if small is None:
                found.append(None)
                continue
            found.append(self.store.read_series(chart_run.run.id, self.metric, start_step=start, end_step=end))
        self.post_message(RawRead(view, found, 0))

    # -- showing --------------------------------------------------------------------

    def on_range_read(self, message: RangeRead) -> None:
        if message.asked != self._asked:
            return
        self.series = message.series
        self.leads = message.leads
        if message.x_range is None:
            steps = [step for series in message.series if series is not None for step in series.steps]
            self.extent = (float(min(steps)), float(max(steps))) if steps else None
        self._draw()
        if self.cursor is not None:
            self._ask_nearest()
        if self.raw_shown:
            self.read_raw(self._int_view())

    def on_nearest_read(self, message: NearestRead) -> None:
        if message.cursor != self.cursor:
            return
        self.nearest_points = message.points
        self.chart.highlights = [
            (float(point[0]), float(point[1]), chart_run.color)
            for chart_run, point in zip(self.runs, message.points)
            if point is not None and isinstance(point[1], (int, float)) and not isinstance(point[1], bool)
        ]
        self.chart.refresh()
        self._show_inspect()

    def on_raw_read(self, message: RawRead) -> None:
        if not self.raw_shown or message.x_range != self._int_view():
            return
        table = self.query_one("#chart-raw", DataTable)
        table.clear(columns=True)
        if message.too_many:
            table.add_column("")
            table.add_row(
                Text(
                    f"{message.too_many:,} points in view in a run: zoom in (+) to at most "
                    f"{RAW_POINTS_MAX:,} to list them.",
                    style="dim",
                )
            )
            return
        table.add_columns("run", "step", "value", "time")
        for chart_run, series in zip(self.runs, message.series):
            if series is None:
                continue
            swatch = Text("━ ", style=f"bold {run_color(chart_run.color)}")
            for step, value, at in zip(series.steps, series.values, series.times):
                table.add_row(
                    swatch + Text(chart_run.label, no_wrap=True),
                    f"{step:,}",
                    safe_line(value_text(value, 24), 40),
                    clock_text(at, millis=True),
                )

    def _draw(self) -> None:
        leads = self.leads if len(self.leads) == len(self.series) else [(0, 1.0)] * len(self.series)
        lines = [
            zoomed_line(chart_run, series, *lead) for chart_run, series, lead in zip(self.runs, self.series, leads)
        ]
        chart = self.chart
        chart.x_range = self.view
        chart.cursor = self.cursor
        chart.set_axes(x_axis="step", log_scale=self.log_scale, smoothing=self.smoothing)
        chart.show(self.metric, lines)
        self._show_legend()

    def _show_legend(self) -> None:
        text = Text()
        for index, (chart_run, series) in enumerate(zip(self.runs, self.series or [None] * len(self.runs))):
            if index:
                text.append("   ")
            text.append("━━ ", style=f"bold {run_color(chart_run.color)}")
            text.append(chart_run.label, style="bold")
            if series is not None:
                drawn = f"{len(series):,} of {series.count:,} pts" if series.downsampled else f"{series.count:,} pts"
                text.append(f" {drawn}", style="dim")
            elif self.series:
                text.append(" (no such metric)", style="dim")
        shown = "every step" if self.view is None else f"steps {self.view[0]:,.0f}–{self.view[1]:,.0f}"
        text.append(f"\n{shown}", style="dim")
        if self.view is not None and self.extent is not None:
            text.append(f" of {self.extent[0]:,.0f}–{self.extent[1]:,.0f}", style="dim")
        self.query_one("#chart-legend", Static).update(text)

    def _show_inspect(self) -> None:
        panel = self.query_one("#chart-inspect", Static)
        if self.cursor is None:
            panel.display = False
            return
        panel.display = True
        text = Text(f"cursor at step {self.cursor:,.0f} · nearest stored point of each run:", style="dim")
        for chart_run, point in zip(self.runs, self.nearest_points):
            text.append("\n━━ ", style=f"bold {run_color(chart_run.color)}")
            text.append(chart_run.label, style="bold")
            if point is None:
                text.append("  no points", style="dim")
                continue
            step, value, at = point
            text.append(f"  step {step:,}  value ")
            text.append(safe_line(value_text(value, 24), 40), style="bold")
            since = at - chart_run.run.started_at.timestamp()
            text.append(f"  {clock_text(at, millis=True)} (+{since:,.3f}s)", style="dim")
        panel.update(text)

    # -- actions ----------------------------------------------------------------------

    def _int_view(self) -> tuple[int, int] | None:
        return None if self.view is None else (math.floor(self.view[0]), math.ceil(self.view[1]))

    def _set_view(self, view: tuple[float, float] | None) -> None:
        if self.extent is not None and view is not None and view == self.extent:
            view = None
        if view == self.view:
            return
        self.view = view
        self._ask()

    def action_zoom(self, factor: float) -> None:
        if self.extent is None:
            return
        view = self.view or self.extent
        around = self.cursor if self.cursor is not None else (view[0] + view[1]) / 2
        self._set_view(zoom(self.extent, view, around, factor))

    def action_move(self, direction: int) -> None:
        if self.extent is None:
            return
        view = self.view or self.extent
        width = view[1] - view[0]
        if self.cursor is not None:
            cell = width / max(10, self.chart.size.width)
            self.cursor = min(self.extent[1], max(self.extent[0], self.cursor + direction * max(1.0, cell)))
            if not view[0] <= self.cursor <= view[1]:
                self._set_view(
                    clamp(
                        self.extent, (view[0] + direction * width * PAN_SHARE, view[1] + direction * width * PAN_SHARE)
                    )
                )
            self._draw()
            self._ask_nearest()
            return
        if self.view is None:
            return
        self._set_view(
            clamp(self.extent, (view[0] + direction * width * PAN_SHARE, view[1] + direction * width * PAN_SHARE))
        )

    def action_reset(self) -> None:
        self._set_view(None)

    def action_inspect(self) -> None:
        if self.cursor is not None:
            self.cursor = None
            self.chart.highlights = []
            self._show_inspect()
            self._draw()
            return
        view = self.view or self.extent
        if view is None:
            return
        self.cursor = float(round((view[0] + view[1]) / 2))
        self.nearest_points = []
        self._draw()
        self._ask_nearest()

    def _ask_nearest(self) -> None:
        if self.cursor is None:
            return
        view = self.view or self.extent or (0.0, 1.0)
        cell = (view[1] - view[0]) / max(10, self.chart.size.width)
        self.read_nearest(self.cursor, cell, list(self.series))

    def action_raw(self) -> None:
        self.raw_shown = not self.raw_shown
        table = self.query_one("#chart-raw", DataTable)
        table.display = self.raw_shown
        if self.raw_shown:
            table.clear(columns=True)
            self.read_raw(self._int_view())

    def show_smoothing(self) -> None:
        self._draw()

    def action_toggle_log_scale(self) -> None:
        self.log_scale = not self.log_scale
        self._draw()

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(CompareChart.Resized)
    def _resized(self) -> None:
        if self.chart.max_points != self._read_width:
            self._ask()


def with_neighbours(inside: Series, before: Series, after: Series) -> Series:
    """``inside`` with the points of ``before`` (all of them: they warm the smoothing up) and the
    first of ``after`` around it; its count still that of the points inside."""
    steps = [*before.steps, *inside.steps, *after.steps[:1]]
    values = [*before.values, *inside.values, *after.values[:1]]
    times = [*before.times, *inside.times, *after.times[:1]]
    return Series(inside.name, inside.kind, inside.count, steps, values, times, inside.downsampled)


def zoomed_line(chart_run: ChartRun, series: Series | None, lead_in: int, lead_spread: float) -> Line:
    """A run's line on the full-size chart: the lead-in (``lead_in`` points, each standing for
    ``lead_spread``) warms the smoothing up and carries the line to the left edge."""
    if series is None:
        return Line(chart_run.label, chart_run.color, None, chart_run.run.started_at.timestamp())
    inside = len(series) - lead_in
    spread_inside = series.count / max(1, inside) if series.downsampled else 1.0
    spreads = [lead_spread] * lead_in + [spread_inside] * inside
    # The last lead-in point is drawn: the line runs from it to the view's left edge.
    return Line(
        chart_run.label,
        chart_run.color,
        series,
        chart_run.run.started_at.timestamp(),
        spreads=spreads,
        lead_in=max(0, lead_in - 1),
    )
