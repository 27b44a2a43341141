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
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Header, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from runhistory.api import Environment, MetricInfo, Run, RunNotFound, Series, Store
from runhistory.api._safe_text import safe_line

from ..human import value_text
from ..key_metrics import key_metric_names, rank_metric_names
from ..widgets.compare_chart import CompareChart, Line, run_color
from ..widgets.key_footer import KeyFooter
from ..widgets.scalars_diff import Row, ScalarsDiff, compare_rows
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
    """One metric's series of every compared run (``None`` where a run lacks it).

    Attributes:
        metric: The metric.
        series: One per run, in marking order.
        max_points: The resolution they were read at.
    """

    metric: str
    series: list[Series | None]
    max_points: int


def _run_label(run: Run) -> str:
    return safe_line(f"{run.short_id} {run.name or run.experiment}", 60)


class CompareScreen(StoreScreen):
    """Two to eight runs: a metric's curves over one another, and a table of their latest values."""

    LIVE_GROUPS = frozenset({"compare-live"})
    HELP_TITLE = "compare"
    HELP_TEXT = (
        "Compare: the list on the left holds every number metric of the compared runs (n/N: how many "
        "of them log it); the highlighted one is drawn for each run in the run's colour, as the legend "
        "above the chart says. x switches the x axis between the step (runs line up step for step) and "
        "the time since each run started; l switches the y axis to a log scale.\n\n"
        "The table holds each run's latest value of every metric. Rows whose values differ are "
        "highlighted, with the best value (lowest loss or error, highest score otherwise) in green; f "
        "shows only the rows that differ. Enter on a row draws that metric."
    )

    BINDINGS: ClassVar[list[Binding]] = [  # type: ignore[assignment]
        Binding("escape", "back", "Back", tooltip="Back to the runs"),
        Binding("x", "toggle_x", "Step/time", tooltip="Draw over steps or over time since each run started"),
        Binding("l", "toggle_log_scale", "Log scale", tooltip="Switch the chart's y axis between linear and log"),
        Binding("f", "only_differences", "Only differences", tooltip="Show only the rows whose values differ"),
        Binding("ctrl+r", "reload", "Reload", show=False, tooltip="Read the runs again"),
    ]

    DEFAULT_CSS = """
    CompareScreen #compare-legend { height: auto; max-height: 4; padding: 0 1; }
    CompareScreen #compare-top { height: 3fr; min-height: 8; }
    CompareScreen #compare-metrics {
        width: 24; height: 1fr; border: none; border-right: solid $panel-lighten-2; padding: 0;
    }
    CompareScreen #compare-chart { width: 1fr; height: 1fr; }
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
        self.series: list[Series | None] = []
        self.by_time = False
        self.log_scale = False
        self._names: list[str] = []
        self._read_shape: tuple[str, int, tuple[int, ...]] | None = None
        self._asked = 0  # reads of the runs asked for
        self._shown = 0  # the newest read shown: an older one that answers late is dropped
        self.sub_title = f"compare {len(runs)} runs"

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield Static(id="compare-legend")
        with Horizontal(id="compare-top"):
            yield OptionList(id="compare-metrics")
            yield CompareChart(id="compare-chart")
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
    def load_series(self, metric: str, max_points: int) -> None:
        """``metric``'s series of every run that logs it, downsampled to ``max_points``."""
        worker = get_current_worker()
        found: list[Series | None] = []
        for run, infos in zip(self.runs, self.metrics):
            if worker.is_cancelled:
                return
            has = run is not None and any(m.name == metric and m.kind == "number" for m in infos)
            if run is None or not has:
                found.append(None)
                continue
            try:
                found.append(self.store.read_series(run.id, metric, max_points=max_points))
            except RunNotFound:
                found.append(None)
        self.post_message(CompareSeriesRead(metric, found, max_points))

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

    def _request_series(self) -> None:
        """Read the chosen metric's series again if it, a run's point count, or the chart's width changed."""
        chart = self.query_one(CompareChart)
        if self.metric is None:
            self.series = []
            chart.show(None, [])
            return
        counts = tuple(next((m.count for m in infos if m.name == self.metric), 0) for infos in self.metrics)
        shape = (self.metric, chart.max_points, counts)
        if shape == self._read_shape:
            return
        self._read_shape = shape
        self.load_series(self.metric, chart.max_points)

    def on_compare_series_read(self, message: CompareSeriesRead) -> None:
        if message.metric != self.metric:
            return
        self.series = message.series
        self._draw()

    def _draw(self) -> None:
        lines = []
        for index, (run, series) in enumerate(zip(self.runs, self.series)):
            if run is None:
                continue
            lines.append(Line(_run_label(run), index, series, run.started_at.timestamp()))
        chart = self.query_one(CompareChart)
        chart.set_axes(by_time=self.by_time, log_scale=self.log_scale)
        chart.show(self.metric, lines)

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
        """Draw ``metric`` for every run."""
        if metric is None or metric == self.metric:
            return
        self.metric = metric
        self.series = []
        self._show_legend()
        self.query_one(CompareChart).show(metric, [])
        self._request_series()

    @on(CompareChart.Resized)
    def _chart_resized(self) -> None:
        self._request_series()

    def action_toggle_x(self) -> None:
        self.by_time = not self.by_time
        self._draw()

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
