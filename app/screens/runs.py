"""The runs screen: every run, newest first, live.

Runs are read a page at a time (``list_runs(limit=…, cursor=…)``) as the
table scrolls near its end, so a store of 100,000 runs paints its first page
as fast as one of ten. Metrics (the key columns and the sparkline) are read
only for the runs in view. Every ``live_interval`` seconds the newest page and
the runs shown as running are read again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Header, Input, Label, Static

from runhistory.api import MetricInfo, Run, RunNotFound, Store
from runhistory.api._limits import MAX_PAGE_SIZE
from runhistory.api._query import Field
from runhistory.api._safe_text import safe_line

from ..human import ago, duration, param_text
from ..key_metrics import RowMetrics, finite_values, is_loss_like, key_metric_names, main_series_name
from ..messages import RowMetricsLoaded, RunDescribed, RunsPageLoaded, RunsRefreshed
from ..preferences import MAX_PARAM_COLUMNS
from ..run_filter import RunFilter
from ..runs_model import MAX_COMPARE, RunsModel
from ..widgets.cells import fit
from ..widgets.key_footer import KeyFooter
from ..widgets.run_status import SPIN_RATE, spinner_frame, status_text
from ..widgets.runs_table import RunColumn, RunsTable
from ..widgets.sparkline import sparkline
from .describe import DescribesRuns, ParamColumnsModal
from .help import FILTER_HELP
from .store_screen import StoreScreen

#: Runs on the first page: more than a usual terminal shows with the margin at which the next
#: page is read (RunsTable.NEAR).
FIRST_PAGE = 60
#: Runs per later page.
NEXT_PAGE = 200
#: Points read for a sparkline (it keeps each bucket's low and high).
SPARK_POINTS = 48
#: Running runs re-read per live tick, at most.
LIVE_RUNS = 100

#: Fixed columns: (key, label, width, right-aligned).
_FIXED = {
    "mark": ("", 1, False),
    "id": ("run", 8, False),
    "status": ("status", 11, False),
    "started": ("started", 8, True),
    "duration": ("duration", 8, True),
}
#: Width of a key metric's column: ``%.4g`` of any number fits.
_METRIC_WIDTH = 10
_SORTABLE = ["started", "experiment", "status", "duration", "id"]
_NO_PARAM = object()


def _descending_first(key: str) -> bool:
    """Newest, longest and best first: losses ascending, scores descending."""
    if key.startswith("metric:"):
        return not is_loss_like(key[len("metric:") :])
    return key in ("started", "duration")


def read_row_metrics(store: Store, run_id: str) -> RowMetrics:
    """A run's latest metric values and its main series, for one row of the table."""
    infos = store.list_metrics(run_id)
    name = main_series_name(infos)
    spark: list[float] = []
    if name is not None:
        spark = finite_values(store.read_series(run_id, name, max_points=SPARK_POINTS).values)
    return RowMetrics({m.name: m for m in infos}, name, spark)


def _number_text(info: MetricInfo | None) -> Text:
    if info is None:
        return Text("–", style="dim", justify="right")
    value = info.last_value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return Text(fit(str(value), _METRIC_WIDTH), justify="right")
    if isinstance(value, float) and not math.isfinite(value):
        return Text(repr(value), style="bold #ff6b6b", justify="right")
    return Text(f"{value:.4g}", justify="right")


class RunsScreen(DescribesRuns, StoreScreen):
    """The table of runs, its filter and its sort."""

    LIVE_GROUPS = frozenset({"runs-live"})
    HELP_TITLE = "runs"

    BINDINGS: ClassVar[list[Binding]] = [  # type: ignore[assignment]
        Binding("slash", "filter", "Filter", tooltip="Filter runs by id, experiment, status or metric"),
        Binding("s", "sort", "Sort", tooltip="Sort by the next column"),
        Binding("S", "reverse_sort", "Reverse", show=False, tooltip="Reverse the sort order"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("space", "mark", "Mark", tooltip="Mark or unmark the run under the cursor for compare"),
        Binding("c", "compare", "Compare", tooltip="Compare the marked runs: a metric overlaid, scalars side by side"),
        Binding("a", "assets", "Assets", tooltip="Named, versioned assets and the runs they came from"),
        Binding("u", "unmark_all", "Unmark all", show=False, tooltip="Unmark every marked run"),
        Binding("ctrl+r", "reload", "Reload", show=False, tooltip="Read every run again"),
        Binding("P", "param_columns", "Params", tooltip="Pick params to show as columns"),
        *DescribesRuns.DESCRIBE_BINDINGS,
    ]

    def __init__(self, store: Store, clock: Callable[[], float], live_interval: float | None) -> None:
        super().__init__()
        self.store = store
        self.clock = clock
        self.live_interval = live_interval
        self.filter = RunFilter()
        self.sort_key = "started"
        self.sort_descending = True
        #: The runs read, in store order, and the marked ones (the model has no Textual in it).
        self.model = RunsModel()
        self.row_metrics: dict[str, RowMetrics] = {}
        self.filter_error: str | None = None
        self.param_columns: list[str] = []
        self._asking_metrics: set[str] = set()
        self.key_metrics: list[str] = []
        self._cell_cache: dict[str, tuple[tuple[object, ...], list[RunColumn], list[Text]]] = {}
        self._columns_now: list[RunColumn] = []

    # -- layout ---------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Horizontal(id="filter-bar"):
            yield Label("/")
            yield Input(
                placeholder="words, params.lr >= 1e-3, metrics.val/acc > 0.9, tag:best · Enter keeps it, Escape clears it",
                id="filter",
                compact=True,
            )
        yield RunsTable(id="runs")
        yield Static(id="runs-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.param_columns = self.history.preferences.param_columns(self.store.location)
        self.watch(self.app, "store_trouble", lambda _: self._redraw(), init=False)
        self.query_one("#filter-bar").display = False
        self.query_one(RunsTable).focus()
        self._load_first_page()
        if self.live_interval:
            self.set_interval(self.live_interval, self._live_tick)
            self.set_interval(1 / SPIN_RATE, self._spin)

    def on_screen_resume(self) -> None:
        self._redraw()

    def on_resize(self) -> None:
        self._redraw()

    # -- loading ----------------------------------------------------------------

    def _load_first_page(self) -> None:
        self.load_runs(self.model.restart(), None, self.filter, want=FIRST_PAGE)

    def _load_more(self) -> None:
        cursor = self.model.next_page()
        if cursor is not None:
            self.load_runs(self.model.generation, cursor, self.filter, want=NEXT_PAGE)

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs-page")
    def load_runs(self, generation: int, after: str | None, query: RunFilter, want: int) -> None:
        """Read the page after ``after`` of the runs the store finds for the filter, in the screen's sort."""
        page = self.store.list_runs(
            where=query.where, sort=self.store_sort(), limit=min(want, MAX_PAGE_SIZE), cursor=after
        )
        self.post_message(RunsPageLoaded(generation, page.runs, page.next_cursor, {}, after))

    def on_runs_page_loaded(self, message: RunsPageLoaded) -> None:
        if not self.model.page_read(message.generation, message.after, message.runs, message.next_cursor):
            return
        self._redraw()

    @on(RunsTable.NearEnd)
    def _near_end(self) -> None:
        self._load_more()

    # -- metrics of the rows in view ----------------------------------------------

    @on(RunsTable.InView)
    def _in_view(self, message: RunsTable.InView) -> None:
        wanted = [i for i in message.run_ids if i not in self.row_metrics and i not in self._asking_metrics]
        if wanted:
            self._asking_metrics.update(wanted)
            self.load_row_metrics(wanted)

    @work(thread=True, exclusive=False, exit_on_error=False, group="runs-metrics")
    def load_row_metrics(self, run_ids: list[str]) -> None:
        """Latest values and sparkline data of ``run_ids``."""
        found: dict[str, RowMetrics] = {}
        try:
            for run_id in run_ids:
                found[run_id] = read_row_metrics(self.store, run_id)
        except RunNotFound:
            pass  # deleted meanwhile: the next live tick drops it
        finally:
            self.post_message(RowMetricsLoaded(found, run_ids))

    def on_row_metrics_loaded(self, message: RowMetricsLoaded) -> None:
        self._asking_metrics.difference_update(message.asked)
        self.row_metrics.update(message.metrics)
        self._redraw()

    # -- live -------------------------------------------------------------------

    def _live_tick(self) -> None:
        if self.model.reading or not self.in_view:
            return
        table = self.query_one(RunsTable)
        in_view = set(table.run_ids[int(table.scroll_y) : int(table.scroll_y) + table.size.height])
        watch = [r.id for r in self.model.runs if r.status == "running" or (r.status == "lost" and r.id in in_view)]
        running_in_view = [i for i in watch if i in in_view]
        self.refresh_runs(self.model.generation, self.filter, watch[:LIVE_RUNS], running_in_view)

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs-live")
    def refresh_runs(self, generation: int, query: RunFilter, watch: list[str], metrics_of: list[str]) -> None:
        """The newest page, the watched runs and the metrics of running runs in view, read again."""
        # Only the store's own order (newest first) can take new runs on top; a sorted
        # view follows the runs it shows and takes new ones on a reload.
        newest = self.store.list_runs(where=query.where, limit=FIRST_PAGE).runs if self.store_sort() is None else []
        changed: list[Run] = []
        gone: list[str] = []
        for run_id in watch:
            try:
                changed.append(self.store.get_run(run_id))
            except RunNotFound:
                gone.append(run_id)
        metrics: dict[str, RowMetrics] = {}
        for run_id in metrics_of:
            if run_id not in gone:
                try:
                    metrics[run_id] = read_row_metrics(self.store, run_id)
                except RunNotFound:
                    gone.append(run_id)
        self.post_message(RunsRefreshed(generation, newest, changed, metrics, gone))

    def on_runs_refreshed(self, message: RunsRefreshed) -> None:
        merged = self.model.live(message.generation, message.newest, message.changed, message.gone)
        if merged is None:
            return
        if merged:
            self._load_first_page()  # more new runs than a page: start again from the top
            return
        self.row_metrics.update(message.metrics)
        self._redraw()

    def _spin(self) -> None:
        """Turn the spinners of the running runs in view."""
        if not self.in_view:
            return
        table = self.query_one(RunsTable)
        now = self.clock()
        top = int(table.scroll_y)
        for run_id in table.run_ids[top : top + table.size.height]:
            run = self.model.get(run_id)
            if run is not None and run.status == "running":
                table.set_cell(run_id, "status", status_text("running", now))

    def store_failed(self, group: str, error: BaseException) -> bool:
        if group == "runs-page":
            self.model.read_failed()
        if group == "runs-metrics":
            self._asking_metrics.clear()
        return False

    # -- what the table shows ----------------------------------------------------

    def _columns(self, width: int, shown: list[Run]) -> list[RunColumn]:
        """Columns that fit ``width`` cells: more key metrics and a wider sparkline when there is room."""
        pad = 2  # DataTable's cell padding, one each side
        fixed = sum(w + pad for _, w, _ in _FIXED.values())
        room = max(0, width - 1 - fixed)  # 1: the vertical scrollbar
        widest = max((len(r.experiment) + (len(r.name) + 1 if r.name else 0) for r in shown[:200]), default=10)
        metric_width = _METRIC_WIDTH + pad
        experiment = min(max(widest, 10), 12) + pad
        if room - experiment < metric_width + 6 + pad:
            experiment = 10 + pad  # a narrow terminal: two cells of the names go to the trend
        room -= experiment
        params = self.param_columns[: max(0, room // (_METRIC_WIDTH + pad))]
        room -= len(params) * (_METRIC_WIDTH + pad)
        wanted = key_metric_names((m.latest.values() for m in self.row_metrics.values()), limit=4)
        # The first key metric before the sparkline, the others after it.
        n_metrics = min(len(wanted), 1, room // metric_width)
        room -= n_metrics * metric_width
        spark = 0
        for shortest in (8, 6):
            if room >= shortest + pad:
                spark = shortest + pad
                room -= spark
                break
        more = min(len(wanted) - n_metrics, max(0, room // metric_width))
        n_metrics += more
        room -= more * metric_width
        # Whatever is left widens the experiment column (names), then the sparkline.
        grow = max(0, min(room, min(widest, 30) + pad - experiment))
        experiment += grow
        room -= grow
        if spark:
            spark += min(room, 14)
        self.key_metrics = wanted[:n_metrics]
        always = [RunColumn(key, *spec) for key, spec in _FIXED.items()]
        columns = [*always[:2], RunColumn("experiment", "experiment", experiment - pad), *always[2:]]
        leaves = [n.rsplit("/", 1)[-1] for n in self.key_metrics]
        for name, leaf in zip(self.key_metrics, leaves):
            label = name if len(name) <= _METRIC_WIDTH or leaves.count(leaf) > 1 else leaf
            columns.append(RunColumn(f"metric:{name}", fit(label, _METRIC_WIDTH), _METRIC_WIDTH, right=True))
        if spark:
            columns.append(RunColumn("spark", "trend", spark - pad))
        for key in params:
            values = [r.params[key] for r in shown[:200] if key in r.params and r.params[key] is not None]
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            label = key.rsplit(".", 1)[-1] if len(key) > _METRIC_WIDTH else key
            columns.append(RunColumn(f"param:{key}", fit(label, _METRIC_WIDTH), _METRIC_WIDTH, right=numeric))
        return self._mark_sort(columns)

    def _mark_sort(self, columns: list[RunColumn]) -> list[RunColumn]:
        """The sorted column's header is underlined, with an arrow when it fits (the status line says it too)."""
        arrow = "↓" if self.sort_descending else "↑"
        marked = []
        for column in columns:
            if column.key == self.sort_key:
                label = column.label + (" " + arrow if len(column.label) + 2 <= column.width else "")
                column = RunColumn(column.key, label, column.width, column.right, sorted=True)
            marked.append(column)
        return marked

    def _row_cells(self, run: Run, columns: list[RunColumn], now: float) -> list[Text]:
        """A row's cells, built again only when what they show changed (thousands of rows, every second)."""
        started = ago(run.started_at, now).removesuffix(" ago")
        took = duration(run, now)
        spin = spinner_frame(now) if run.status == "running" else ""
        key = (run, self.row_metrics.get(run.id), started, took, spin, run.id in self.model.marked)
        cached = self._cell_cache.get(run.id)
        if cached is not None and cached[0] == key and cached[1] is columns:
            return cached[2]
        cells = self._cells(run, columns, now, started, took)
        self._cell_cache[run.id] = (key, columns, cells)
        return cells

    def _cells(self, run: Run, columns: list[RunColumn], now: float, started: str, took: str) -> list[Text]:
        metrics = self.row_metrics.get(run.id)
        cells: list[Text] = []
        for column in columns:
            key = column.key
            if key == "mark":
                cells.append(Text("●", style="bold #e5c07b") if run.id in self.model.marked else Text(" "))
            elif key == "id":
                cells.append(Text(safe_line(run.short_id), style="bold" if run.status == "running" else ""))
            elif key == "experiment":
                text = Text(safe_line(run.experiment), no_wrap=True, overflow="ellipsis")
                if run.name:
                    text.append(" " + safe_line(run.name), style="dim")
                cells.append(text)
            elif key == "status":
                cells.append(status_text(run.status, now))
            elif key == "started":
                cells.append(Text(started, justify="right", style="dim"))
            elif key == "duration":
                cells.append(Text(took, justify="right"))
            elif key.startswith("metric:"):
                cells.append(_number_text(metrics.latest.get(key[7:]) if metrics else None))
            elif key == "spark":
                cells.append(sparkline(metrics.spark, column.width) if metrics else Text(""))
            elif key.startswith("param:"):
                name = key[len("param:") :]
                value = run.params.get(name, _NO_PARAM)
                shown = "–" if value is _NO_PARAM else param_text(value)
                cells.append(
                    Text(fit(safe_line(shown), column.width), justify="right" if column.right else "left", no_wrap=True)
                )
        return cells

    def shown_runs(self) -> list[Run]:
        """The runs the table shows, in its order: the store's answer, page by page."""
        return self.model.runs

    def store_sort(self) -> str | None:
        """The screen's sort as the store takes it (``None``: newest first)."""
        key, descending = self.sort_key, self.sort_descending
        way = "desc" if descending else "asc"
        if key == "started":
            return None if descending else "started_at asc"
        if key == "experiment":
            return f"experiment {way}, name {way}"
        if key.startswith("metric:"):
            return f"{Field('metric', key[len('metric:') :])} {way}"
        if key.startswith("param:"):
            return f"{Field('param', key[len('param:') :])} {way}"
        return f"{key} {way}"

    def _redraw(self) -> None:
        if not self.is_mounted:
            return
        if self.model.reading and not self.model.runs and self.query_one(RunsTable).row_count:
            self._render_status(self.model.runs)  # a new answer is on its way: keep the rows until it comes
            return
        table = self.query_one(RunsTable)
        now = self.clock()
        shown = self.shown_runs()
        columns = self._columns(table.size.width or self.size.width, shown)
        if columns == self._columns_now:
            columns = self._columns_now
        self._columns_now = columns
        table.show(columns, [(r.id, self._row_cells(r, columns, now)) for r in shown])
        self._render_status(shown)

    def _render_status(self, shown_runs: list[Run]) -> None:
        text = Text()
        loaded = len(self.model.runs)
        more = not self.model.exhausted
        if self.filter.active:
            text.append(f"{loaded:,}{'+' if more else ''} {'match' if loaded == 1 else 'matches'}", style="bold")
        else:
            text.append(f"{loaded:,}{'+' if more else ''} {'run' if loaded == 1 else 'runs'}", style="bold")
        running = sum(1 for r in shown_runs if r.status == "running")
        if running:
            text.append(f" · {running} running", style="bold #4fc1ff")
        marked = len(self.model.marked)
        if marked:
            text.append(f" · {marked} marked", style="bold #e5c07b")
            text.append(" (c compares)" if marked > 1 else " (mark another to compare)", style="dim")
        if self.model.reading:
            text.append(" · reading…", style="dim")
        if self.sort_key != "started" or not self.sort_descending:
            label = self.sort_key.removeprefix("metric:").replace("param:", "params.", 1)
            text.append(f" · sorted by {label} {'↓' if self.sort_descending else '↑'}", style="dim")
        if self.filter.active:
            text.append(" · filter: ", style="dim")
            text.append(self.filter.text, style="#e5c07b")
        if self.filter_error:
            text.append(f" · {self.filter_error}", style="#ff6b6b")
        trouble = self.history.store_trouble
        if trouble:
            text.append(f" · {trouble}", style="bold #ff6b6b")
        elif self.live_interval:
            text.append(" · live", style="dim #6cc070")
        self.query_one("#runs-status", Static).update(text)

    # -- actions --------------------------------------------------------------------

    @on(DataTable.RowSelected, "#runs")
    def _open(self, event: DataTable.RowSelected) -> None:
        run_id = str(event.row_key.value)
        run = self.model.get(run_id)
        if run is not None:
            self.history.open_run(run)

    def action_filter(self) -> None:
        self.query_one("#filter-bar").display = True
        self.query_one("#filter", Input).focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.apply_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        box = self.query_one("#filter", Input)
        self.query_one("#filter-bar").display = bool(box.value)
        self.query_one(RunsTable).focus()

    def apply_filter(self, text: str) -> None:
        """Show only the runs the store finds for ``text`` (see ``RunFilter``)."""
        query = RunFilter.parse(text)
        self.filter_error = query.error
        if query.error is None and query.where != self.filter.where:
            self.filter = query
            self._load_first_page()
        elif query.error is None:
            self.filter = query
        self._redraw()

    def action_clear_filter(self) -> None:
        self.query_one("#filter", Input).value = ""
        self.query_one("#filter-bar").display = False
        self.apply_filter("")
        self.query_one(RunsTable).focus()

    def on_key(self, event: Any) -> None:
        box = self.query_one("#filter", Input)
        if event.key == "escape" and box.has_focus:
            event.stop()
            self.action_clear_filter()

    def _sort_keys(self) -> list[str]:
        return (
            _SORTABLE[:4]
            + [f"metric:{n}" for n in self.key_metrics]
            + [f"param:{k}" for k in self.param_columns]
            + _SORTABLE[4:]
        )

    def sort_by(self, key: str) -> None:
        """Sort by column ``key``; the same key again flips the order."""
        if key == "spark":
            key = f"metric:{self.key_metrics[0]}" if self.key_metrics else "started"
        if key == self.sort_key:
            self.sort_descending = not self.sort_descending
        else:
            self.sort_key = key
            self.sort_descending = _descending_first(key)
        self._resort()

    def _resort(self) -> None:
        """The store reads the runs again in the new order; the table keeps showing the old
        order until the new one arrives, so the cursor can stay on its run."""
        self._load_first_page()
        self._render_status(self.model.runs)

    @on(RunsTable.SortRequested)
    def _header_clicked(self, message: RunsTable.SortRequested) -> None:
        self.sort_by(message.column)

    def action_sort(self) -> None:
        keys = self._sort_keys()
        index = keys.index(self.sort_key) if self.sort_key in keys else -1
        self.sort_by(keys[(index + 1) % len(keys)])

    def action_reverse_sort(self) -> None:
        self.sort_descending = not self.sort_descending
        self._resort()

    def action_mark(self) -> None:
        """Mark the run under the cursor for compare (or unmark it), then move down a row."""
        table = self.query_one(RunsTable)
        run_id = table.cursor_run_id
        if run_id is None:
            return
        if self.model.toggle_mark(run_id) is None:
            if self.model.get(run_id) is not None:
                self.notify(
                    f"At most {MAX_COMPARE} runs compare at once; unmark one first (u unmarks all).",
                    title="Too many runs",
                    severity="warning",
                )
            return
        self._redraw()
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

    def action_unmark_all(self) -> None:
        self.model.unmark_all()
        self._redraw()

    def action_compare(self) -> None:
        """Compare the marked runs (at least two)."""
        if len(self.model.marked) < 2:
            self.notify("Mark two runs or more with space, then press c.", title="Nothing to compare")
            return
        runs = [self.model.get(i) or run for i, run in self.model.marked.items()]
        self.history.open_compare(runs)

    def action_assets(self) -> None:
        self.history.open_assets()

    def action_param_columns(self) -> None:
        """Pick params to show as columns (remembered for this store)."""
        keys = sorted({k for r in self.model.runs for k in r.params} | set(self.param_columns), key=str.lower)

        def chosen(picked: list[str] | None) -> None:
            if picked is None:
                return
            self.param_columns = picked
            self.history.preferences.set_param_columns(self.store.location, picked)
            if self.sort_key.startswith("param:") and self.sort_key[len("param:") :] not in picked:
                self.sort_key, self.sort_descending = "started", True
                self._resort()
            self._redraw()

        self.app.push_screen(ParamColumnsModal(keys, self.param_columns, MAX_PARAM_COLUMNS), chosen)

    # -- describing runs (t, n, R, D) ------------------------------------------------

    def described_run(self) -> Run | None:
        run_id = self.query_one(RunsTable).cursor_run_id
        return None if run_id is None else self.model.get(run_id)

    def on_run_described(self, message: RunDescribed) -> None:
        self.notify(message.said, markup=False)
        if message.deleted:
            self.forget_run(message.run_id)
        else:
            self.reread_run(self.model.generation, message.run_id)

    def forget_run(self, run_id: str) -> None:
        """A run deleted elsewhere (or here): it leaves the table and the marks."""
        self.model.marked.pop(run_id, None)
        self.model.live(self.model.generation, [], [], [run_id])
        self._redraw()

    @work(thread=True, exclusive=False, exit_on_error=False, group="runs-describe")
    def reread_run(self, generation: int, run_id: str) -> None:
        try:
            run = self.store.get_run(run_id)
        except RunNotFound:
            self.post_message(RunsRefreshed(generation, [], [], {}, [run_id]))
            return
        self.post_message(RunsRefreshed(generation, [], [run], {}, []))

    def action_reload(self) -> None:
        self.row_metrics.clear()
        self._load_first_page()

    HELP_TEXT = FILTER_HELP + (
        "\n\nCompare: space marks the run under the cursor (● in the first column) and moves down; "
        f"mark two to {MAX_COMPARE} runs and press c to see a metric of each overlaid and their latest "
        "values side by side. u unmarks them all.\n\n"
        "Assets: a opens the named, versioned assets promoted from runs, with the run each came from.\n\n"
        "Describe the run under the cursor: t adds (+tag) and removes (-tag) tags, n writes its note, "
        "R renames it, D deletes it (asks first; promoted asset versions stay)."
    )
