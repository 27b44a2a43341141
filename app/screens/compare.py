"""The compare screen: one metric of the marked runs overlaid, and their latest values side by side.

The runs and their metric lists are read on a worker; then the chosen
metric's series of every run, each downsampled to the chart's width. The x
axis is the step (so runs line up step for step) or the time since each
run's start. While a compared run runs, both are read again every
``live_interval`` seconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal
from textual.message import Message
from textual.widgets import DataTable, Header, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from runhistory.api import Environment, MetricInfo, MetricNotFound, Run, RunNotFound, Series, Store
from runhistory.api._safe_text import safe_line

from ..human import value_text
from ..key_metrics import key_metric_names, rank_metric_names
from ..widgets.chart_grid import GRID_LAYOUTS
from ..widgets.compare_chart import X_AXES, CompareChart, Line, XAxis, run_color
from ..widgets.key_footer import KeyFooter
from ..widgets.scalars_diff import Row, ScalarsDiff, compare_rows
from .chart import ChartRun, ChartScreen
from .smoothing import SmoothsCharts
from .store_screen import StoreScreen

#: Run statuses that may still change.
_LIVE_STATUSES = ("running",)


@dataclass
class CompareRunsRead(Message):
    """The compared runs read again, with their metrics.

    Attributes:
        asked: Which read this answers (reads are numbered as they are asked for).
        runs: Each run as now stored, in marking order (``None``: deleted).
        metrics: Each run's metrics (empty for a deleted run).
        environments: What each run ran with (``None`` for a deleted run).
    """

    asked: int
    runs: list[Run | None]
    metrics: list[list[MetricInfo]]
    environments: list[Environment | None]


@dataclass
class CompareSeriesRead(Message):
    """The grid's metrics' series of every compared run (``None`` where a run lacks one).

    Attributes:
        series: By metric, one per run, in marking order.
        max_points: The resolution they were read at.
    """

    series: dict[str, list[Series | None]]
    max_points: int


def _run_label(run: Run) -> str:
    return safe_line(f"{run.short_id} {run.name or run.experiment}", 60)


class CompareScreen(SmoothsCharts, StoreScreen):
    """Two to eight runs: a metric's curves over one another, and a table of their latest values."""

    LIVE_GROUPS = frozenset({"compare-live"})
    HELP_TITLE = "compare"
    HELP_TEXT = (
        "Compare: the list on the left holds every number metric of the compared runs (n/N: how many "
        "of them log it); the highlighted one and those after it are drawn, as many as the grid holds, "
        "each chart overlaying every run in the run's colour, as the legend above says. x cycles the x "
        "axis: the step (runs line up step for step), the time since each run started, the wall clock; "
        "l switches the y axes to a log scale; S smooths ([ and ] change the weight); g cycles the grid "
        "(as many as fit, 1×1, 2×2, 3×3). z (or Enter on a chart) opens the highlighted metric full "
        "size: zoom, pan and inspect every run's exact points.\n\n"
        "The table holds each run's latest value of every metric. Rows whose values differ are "
        "highlighted, with the best value (lowest loss or error, highest score otherwise) in green; f "
        "shows only the rows that differ. Enter on a row draws that metric."
    )

    BINDINGS: ClassVar[list[Binding]] = [  # type: ignore[assignment]
        Binding("escape", "back", "Back", tooltip="Back to the runs"),
        Binding("x", "toggle_x", "x axis", tooltip="Draw over steps, time since each run started, or the clock"),
        Binding("l", "toggle_log_scale", "Log scale", tooltip="Switch the charts' y axis between linear and log"),
        *SmoothsCharts.SMOOTHING_BINDINGS,
        Binding("g", "grid", "Grid", show=False, tooltip="Cycle the grid: as many as fit, 1×1, 2×2, 3×3"),
        Binding("z", "full_size", "Zoom", tooltip="Open the highlighted metric full size: zoom, pan, inspect"),
        Binding("f", "only_differences", "Only differences", tooltip="Show only the rows whose values differ"),
        Binding("ctrl+r", "reload", "Reload", show=False, tooltip="Read the runs again"),
    ]

    DEFAULT_CSS = """
    CompareScreen #compare-legend { height: auto; max-height: 4; padding: 0 1; }
    CompareScreen #compare-top { height: 3fr; min-height: 8; }
    CompareScreen #compare-metrics {
        width: 24; height: 1fr; border: none; border-right: solid $panel-lighten-2; padding: 0;
    }
    CompareScreen #compare-grid { width: 1fr; height: 1fr; layout: grid; grid-gutter: 0 1; }
    CompareScreen #compare-scalars { height: 2fr; min-height: 5; }
    """

    def __init__(
        self, store: Store, runs: list[Run], clock: Callable[[], float], live_interval: float | None = None
    ) -> None:
        super().__init__()
        self.store = store
        self.runs: list[Run | None] = list(runs)
        self.clock = clock
        self.live_interval = live_interval
        self.metrics: list[list[MetricInfo]] = [[] for _ in runs]
        self.environments: list[Environment | None] = [None for _ in runs]
        self.metric: str | None = None
        self.series: list[Series | None] = []  # the highlighted metric's
        self.grid_series: dict[str, list[Series | None]] = {}
        self.x_axis: XAxis = "step"
        self.log_scale = False
        self.layout_size = 0  # 0: as many charts as fit; n: n×n
        self._names: list[str] = []
        self._read_shape: tuple[tuple[str, ...], int, tuple[int, ...]] | None = None
        self._asked = 0  # reads of the runs asked for
        self._shown = 0  # the newest read shown: an older one that answers late is dropped
        self.sub_title = f"compare {len(runs)} runs"

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield Static(id="compare-legend")
        with Horizontal(id="compare-top"):
            yield OptionList(id="compare-metrics")
            yield Container(id="compare-grid")
        yield ScalarsDiff(id="compare-scalars")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#compare-metrics", OptionList).focus()
        self._show_legend()
        self._ask_runs(live=False)
        if self.live_interval:
            self.set_interval(self.live_interval, self._live_tick)

    # -- reading ------------------------------------------------------------------

    def _ask_runs(self, *, live: bool) -> None:
        self._asked += 1
        if live:
            self.refresh_runs(self._asked)
        else:
            self.load_runs(self._asked)

    def _read_runs(self, asked: int) -> None:
        runs: list[Run | None] = []
        metrics: list[list[MetricInfo]] = []
        environments: list[Environment | None] = []
        for run in self.runs:
            if run is None:
                runs.append(None)
                metrics.append([])
                environments.append(None)
                continue
            try:
                runs.append(self.store.get_run(run.id))
                metrics.append(self.store.list_metrics(run.id))
                environments.append(self.store.get_environment(run.id))
            except RunNotFound:
                runs.append(None)
                metrics.append([])
                environments.append(None)
        self.post_message(CompareRunsRead(asked, runs, metrics, environments))

    @work(thread=True, exclusive=True, exit_on_error=False, group="compare-load")
    def load_runs(self, asked: int) -> None:
        """The runs and their metric lists."""
        self._read_runs(asked)

    @work(thread=True, exclusive=True, exit_on_error=False, group="compare-live")
    def refresh_runs(self, asked: int) -> None:
        """The runs and their metric lists, read again while one runs."""
        self._read_runs(asked)

    @work(thread=True, exclusive=True, exit_on_error=False, group="compare-series")
    def load_series(self, metrics: list[str], max_points: int) -> None:
        """Each of ``metrics``' series of every run that logs it, downsampled to ``max_points``."""
        worker = get_current_worker()
        found: dict[str, list[Series | None]] = {}
        for metric in metrics:
            found[metric] = []
            for run, infos in zip(self.runs, self.metrics):
                if worker.is_cancelled:
                    return
                has = run is not None and any(m.name == metric and m.kind == "number" for m in infos)
                if run is None or not has:
                    found[metric].append(None)
                    continue
                try:
                    found[metric].append(self.store.read_series(run.id, metric, max_points=max_points))
                except (RunNotFound, MetricNotFound):
                    found[metric].append(None)
        self.post_message(CompareSeriesRead(found, max_points))

    def _live_tick(self) -> None:
        if self.in_view and any(r is not None and r.status in _LIVE_STATUSES for r in self.runs):
            self._ask_runs(live=True)

    # -- showing --------------------------------------------------------------------

    def on_compare_runs_read(self, message: CompareRunsRead) -> None:
        if message.asked < self._shown:
            return
        self._shown = message.asked
        self.runs = message.runs
        self.metrics = message.metrics
        self.environments = message.environments
        counts: Counter[str] = Counter()
        for infos in self.metrics:
            counts.update({m.name for m in infos if m.kind == "number"})
        names = rank_metric_names(counts)
        if self.metric is None or self.metric not in counts:
            first = key_metric_names(self.metrics, limit=1)
            self.metric = first[0] if first else None
        self._show_metric_list(names, counts)
        self._show_legend()
        self._show_scalars()
        self._request_series()

    def _show_metric_list(self, names: list[str], counts: Counter[str]) -> None:
        box = self.query_one("#compare-metrics", OptionList)
        present = sum(1 for r in self.runs if r is not None)
        if names != self._names:
            self._names = names
            box.clear_options()
            options = []
            for name in names:
                prompt = Text(safe_line(name, 200), no_wrap=True, overflow="ellipsis")
                if counts[name] < present:
                    prompt.append(f" {counts[name]}/{present}", style="dim")
                options.append(Option(prompt, id=name))
            box.add_options(options)
        if self.metric in names:
            box.highlighted = names.index(self.metric)

    def _show_legend(self) -> None:
        text = Text()
        latest = self._latest_of(self.metric)
        for index, run in enumerate(self.runs):
            if index:
                text.append("   ")
            text.append("━━ ", style=f"bold {run_color(index)}")
            if run is None:
                text.append("deleted run", style="dim strike")
                continue
            text.append(_run_label(run), style="bold")
            value = latest[index]
            if self.metric is not None:
                if value is None:
                    text.append(" (no such metric)", style="dim")
                else:
                    text.append(f" {safe_line(value_text(value, 12), 40)}", style="dim")
        self.query_one("#compare-legend", Static).update(text)

    def _latest_of(self, metric: str | None) -> list[object]:
        """Each run's latest value of the number metric ``metric`` (``None`` where it has none)."""
        found: list[object] = []
        for infos in self.metrics:
            info = next((m for m in infos if m.name == metric and m.kind == "number"), None)
            found.append(info.last_value if info is not None else None)
        return found

    def _show_scalars(self) -> None:
        labels = []
        for index, run in enumerate(self.runs):
            label = Text("━ ", style=f"bold {run_color(index)}")
            label.append(run.short_id if run is not None else "deleted")
            labels.append(label)
        kept = [i for i, run in enumerate(self.runs) if run is not None]
        rows = compare_rows(
            [run for run in self.runs if run is not None],
            [self.metrics[i] for i in kept],
            [self.environments[i] if i < len(self.environments) else None for i in kept],
        )
        if len(kept) < len(self.runs):
            # A deleted run keeps its column (and colour), empty.
            rows = [_spread(row, kept, len(self.runs)) for row in rows]
        self.query_one(ScalarsDiff).show(labels, rows)

    def grid_size(self) -> tuple[int, int]:
        """Columns and rows of charts the grid shows."""
        if self.layout_size:
            return self.layout_size, self.layout_size
        box = self.query_one("#compare-grid", Container).size
        return max(1, min(3, (box.width or 80) // 40)), max(1, min(2, (box.height or 12) // 10))

    def grid_metrics(self) -> list[str]:
        """The metrics the grid draws: the highlighted one, then those after it in the list."""
        if self.metric is None or self.metric not in self._names:
            return [self.metric] if self.metric is not None else []
        columns, rows = self.grid_size()
        start = self._names.index(self.metric)
        return self._names[start : start + columns * rows]

    @property
    def charts(self) -> list[CompareChart]:
        """The grid's charts, in order."""
        return list(self.query_one("#compare-grid", Container).query(CompareChart))

    def _request_series(self) -> None:
        """Lay the grid out for its metrics, and read their series again if they, a run's point
        count, or the charts' width changed."""
        self.run_worker(self._sync_grid, group="compare-grid", exclusive=True)  # type: ignore[arg-type]

    async def _sync_grid(self) -> None:
        grid = self.query_one("#compare-grid", Container)
        metrics = self.grid_metrics()
        columns, rows = self.grid_size()
        old = {c.metric: c for c in self.charts}
        for metric, chart in old.items():
            if metric not in metrics:
                await chart.remove()
        for metric in metrics:
            if metric not in old:
                chart = CompareChart(metric=metric, label=safe_line(metric, 200))
                chart.set_axes(x_axis=self.x_axis, log_scale=self.log_scale, smoothing=self.smoothing)
                await grid.mount(chart)
        for index, metric in enumerate(metrics):
            shown = next(c for c in self.charts if c.metric == metric)
            if grid.children[index] is not shown:
                grid.move_child(shown, before=index)
        grid.styles.grid_size_columns = max(1, min(columns, len(metrics) or 1))
        grid.styles.grid_size_rows = max(1, -(-len(metrics) // columns) if not self.layout_size else rows)
        if not metrics:
            self.series = []
            return
        charts = self.charts
        width = min((c.max_points for c in charts if c.size.width), default=charts[0].max_points if charts else 200)
        counts = tuple(
            next((m.count for m in infos if m.name == metric), 0) for metric in metrics for infos in self.metrics
        )
        shape = (tuple(metrics), width, counts)
        if shape == self._read_shape:
            self._draw()
            return
        self._read_shape = shape
        self.load_series(metrics, width)

    def on_compare_series_read(self, message: CompareSeriesRead) -> None:
        self.grid_series.update(message.series)
        if self.metric in message.series:
            self.series = message.series[self.metric]
        self._draw()

    def _draw(self) -> None:
        for chart in self.charts:
            series = self.grid_series.get(chart.metric or "", [])
            lines = []
            for index, run in enumerate(self.runs):
                if run is None:
                    continue
                lines.append(
                    Line(
                        _run_label(run),
                        index,
                        series[index] if index < len(series) else None,
                        run.started_at.timestamp(),
                    )
                )
            chart.set_axes(x_axis=self.x_axis, log_scale=self.log_scale, smoothing=self.smoothing)
            chart.show(chart.metric, lines if series else [])

    # -- actions ----------------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#compare-metrics")
    def _metric_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_index != event.option_list.highlighted:
            return  # the list was filled again since: the highlight has moved on
        self.choose(event.option.id)

    @on(DataTable.RowSelected, "#compare-scalars")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        metric = self.query_one(ScalarsDiff).cursor_metric
        if metric in self._names:
            self.choose(metric)
            self.query_one("#compare-metrics", OptionList).highlighted = self._names.index(metric)
        else:
            self.notify("Only number metrics are drawn; this row is a run field, text or a list.", timeout=3)

    def choose(self, metric: str | None) -> None:
        """Draw ``metric`` (and those after it, as many as the grid holds) for every run."""
        if metric is None or metric == self.metric:
            return
        self.metric = metric
        self.series = self.grid_series.get(metric, [])
        self._show_legend()
        self._request_series()

    @on(CompareChart.Resized)
    def _chart_resized(self) -> None:
        self._request_series()

    def on_resize(self) -> None:
        self._request_series()

    @on(CompareChart.Open)
    def _open_chart(self, message: CompareChart.Open) -> None:
        self._open_full_size(message.metric)

    def action_full_size(self) -> None:
        focused = self.focused
        metric = focused.metric if isinstance(focused, CompareChart) else self.metric
        if metric is not None:
            self._open_full_size(metric)

    def _open_full_size(self, metric: str) -> None:
        runs = [ChartRun(run, index, _run_label(run)) for index, run in enumerate(self.runs) if run is not None]
        self.app.push_screen(ChartScreen(self.store, metric, runs, smoothing=self.smoothing, log_scale=self.log_scale))

    @property
    def by_time(self) -> bool:
        """Whether the x axis is a time (since each run's start, or the clock)."""
        return self.x_axis != "step"

    def action_toggle_x(self) -> None:
        self.x_axis = X_AXES[(X_AXES.index(self.x_axis) + 1) % len(X_AXES)]
        self._draw()

    def show_smoothing(self) -> None:
        self._draw()

    def action_grid(self) -> None:
        self.layout_size = GRID_LAYOUTS[(GRID_LAYOUTS.index(self.layout_size) + 1) % len(GRID_LAYOUTS)]
        size = self.layout_size
        self.notify(f"{size}×{size} charts" if size else "as many charts as fit", timeout=1.5)
        self._request_series()

    def action_toggle_log_scale(self) -> None:
        self.log_scale = not self.log_scale
        self._draw()

    def action_only_differences(self) -> None:
        table = self.query_one(ScalarsDiff)
        table.only_differences = not table.only_differences
        self._show_scalars()
        self.notify("Only the rows that differ." if table.only_differences else "Every row.", timeout=2)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reload(self) -> None:
        self._read_shape = None
        self._ask_runs(live=False)


def _spread(row: Row, kept: list[int], columns: int) -> Row:
    """``row`` of the runs still there (columns ``kept``) over all ``columns``: ``None`` for a deleted run."""
    values: list[object] = [None] * columns
    for column, value in zip(kept, row.values):
        values[column] = value
    return replace(row, values=tuple(values), best=frozenset(kept[i] for i in row.best))
