"""The run screen: one run's metadata, scalars, charts, text metrics, console, artifacts and images.

While the run is running, it is read again every ``live_interval`` seconds:
the header, the scalars, the charts whose series grew (each read downsampled
to its chart's width) and the end of the console log.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import BinaryIO, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Header, Input, TabbedContent, TabPane, Tree
from textual.worker import get_current_worker

from runhistory.api import ArtifactInfo, ArtifactNotFound, Environment, MetricInfo, Run, RunNotFound, Series, Store
from runhistory.api._safe_text import safe_line

from ..key_metrics import chart_metric_names
from ..messages import (
    ArtifactPreviewed,
    ArtifactsListed,
    ConsoleRead,
    RunDescribed,
    RunLoaded,
    SeriesLoaded,
    TextHistoryLoaded,
)
from ..metric_names import grouped
from ..previews import HEAD_BYTES, IMAGE_BYTES, folder_preview, make_preview, preview_bytes
from ..run_command import CONSOLE_PATH
from ..widgets.artifact_preview import ArtifactPreview
from ..widgets.artifact_tree import ArtifactTree
from ..widgets.chart_grid import ChartGrid
from ..widgets.console_log import ConsoleLog
from ..widgets.key_footer import KeyFooter
from ..widgets.media_view import MediaView
from ..widgets.metric_chart import MetricChart
from ..widgets.metric_picker import MetricPicker
from ..widgets.overview import OverviewPane
from ..widgets.run_header import RunHeader
from ..widgets.scalars_table import ScalarsTable
from ..widgets.system_pane import SYSTEM_PANE_WIDTH, SYSTEM_POINTS, SystemPane, is_system_metric
from ..widgets.text_history import TextHistory
from .chart import ChartRun, ChartScreen
from .describe import DescribesRuns
from .download import DownloadModal, run_files_download
from .error import ErrorModal
from .promote import PromoteModal
from .smoothing import SmoothsCharts
from .store_screen import StoreScreen

#: Bytes of a console read when it is first shown (its end).
CONSOLE_TAIL = 256 * 1024
#: String metric values shown per metric, at most.
TEXT_POINTS = 500
#: Cells the metric list takes beside the charts (app.tcss: #metric-picker).
_PICKER_WIDTH = 29
#: Cells the overview takes beside the charts (OverviewPane's width).
_OVERVIEW_WIDTH = 38
#: Lines above and below the charts: header, run header, tabs, footer.
_CHROME_HEIGHT = 11
#: The overview shows beside the charts from this width on (``o`` shows or hides it at any width).
OVERVIEW_FROM_WIDTH = 130
#: A running run's system metrics show beside its charts from this width on (``y`` shows or hides them).
SYSTEM_FROM_WIDTH = 110
#: Statuses in which a run may still change.
_LIVE_STATUSES = ("running", "lost")


def _skip(stream: BinaryIO, count: int) -> None:
    """Move ``count`` bytes into ``stream``: a seek when it can, reading otherwise."""
    try:
        if stream.seekable():
            stream.seek(count)
            return
    except (AttributeError, OSError):
        pass
    while count > 0:
        piece = stream.read(min(count, 1 << 20))
        if not piece:
            return
        count -= len(piece)


def _read_head(stream: BinaryIO, count: int) -> bytes:
    """Up to ``count`` bytes from the start of ``stream`` (a read may return fewer than asked)."""
    pieces: list[bytes] = []
    left = count
    while left > 0:
        piece = stream.read(left)
        if not piece:
            break
        pieces.append(piece)
        left -= len(piece)
    return b"".join(pieces)


class RunScreen(DescribesRuns, SmoothsCharts, StoreScreen):
    """One run. Tabs: charts, scalars, text metrics, console, artifacts, media.

    Args:
        store: Where the run is read from.
        run: The run as last read.
        clock: The current time (epoch seconds).
        live_interval: Seconds between live refreshes; ``None`` turns them off.
        tab: The tab shown first (``charts`` when not given).
        select: On the artifacts tab, the file path or folder prefix highlighted once the files are listed.
    """

    LIVE_GROUPS = frozenset({"run-live"})

    HELP_TEXT = (
        "Charts: the list on the left holds the run's number series and its chart metrics (lists of "
        "numbers, marked ▤), grouped by prefix (train/, val/, sys/) in natural order (layer2 before "
        "layer10). Space or a click adds or removes a chart, Enter charts only the highlighted "
        "metric, a charts them all. / filters the list (a substring, or a glob such as val/*); Enter in "
        "the filter charts every match. Each chart is read downsampled to its width; its footer says how "
        "many points the metric holds. Lines break where a value is NaN (marked × at the bottom) or "
        "infinite (▲ at the top, ▼ at the bottom).\n\n"
        "S smooths the charts (TensorBoard's debiased exponential moving average, raw points faint "
        "behind); [ and ] change the weight, shown in each chart's title. g cycles the grid: as many "
        "as fit, 1×1, 2×2, 3×3. z (or Enter on a chart, or a double click) opens the highlighted "
        "metric's chart full size: zoom, pan, inspect exact points.\n\n"
        "Tabs 1-6: charts, scalars (the latest value of every metric), text (string metrics with their "
        f"history), console ({CONSOLE_PATH}), artifacts (the run's files), media (logged images). While the "
        "run runs, all of it is read again every second.\n\n"
        "Artifacts: the tree holds the run's folders and files with their sizes; the highlighted file is "
        f"previewed beside it from its first {HEAD_BYTES // 1024} KiB: text highlighted by its extension, JSON "
        "pretty-printed, CSV and TSV as a table, binary files described. Images (PNG, JPEG, GIF, BMP, "
        f"WebP) are read whole, up to {IMAGE_BYTES // 2**20} MiB, and drawn in coloured half blocks under their "
        "description. Escape sequences and control characters in a file are removed before it is shown.\n\n"
        f"System: beside the charts of a running run (from {SYSTEM_FROM_WIDTH} columns on; y shows or hides "
        "it), the machine's metrics the logger samples (sys/cpu, sys/memory, sys/rss, sys/disk_io, sys/net, "
        "per GPU sys/gpuN/util, memory, temperature, power): the newest value and a sparkline of each.\n\n"
        f"Overview: beside the charts (from {OVERVIEW_FROM_WIDTH} columns on; o shows or hides it), the run's "
        "tags, note, params, installed packages and the diff of a dirty git tree. t adds (+tag) and removes "
        "(-tag) tags, n writes the note, R renames the run, D deletes it (asks first).\n\n"
        "Media: the images a training script logged with logger.log_image(name, image, step=…), by name on "
        "the left (↑ ↓). ← and → go to the previous and next logged step, Home and End to the first and last, "
        "PageUp and PageDown ten steps; the slider shows where the step is among them. Another name keeps the "
        "step (its nearest); at the last step, new steps are shown as the run logs them."
    )

    BINDINGS: ClassVar[list[Binding]] = [  # type: ignore[assignment]
        Binding("escape", "back", "Back", tooltip="Back to the runs"),
        Binding("l", "toggle_log_scale", "Log scale", tooltip="Switch the charts' y axis between linear and log"),
        Binding("1", "tab('charts')", "Charts", show=False),
        Binding("2", "tab('scalars')", "Scalars", show=False),
        Binding("3", "tab('text')", "Text", show=False),
        Binding("4", "tab('console')", "Console", show=False),
        Binding("5", "tab('artifacts')", "Artifacts", show=False),
        Binding("6", "tab('media')", "Media", show=False),
        Binding("a", "all_charts", "All charts", show=False, tooltip="Chart every metric"),
        Binding("slash", "filter_metrics", "Filter", tooltip="Filter the metric names (substring or glob)"),
        *SmoothsCharts.SMOOTHING_BINDINGS,
        Binding("g", "grid", "Grid", show=False, tooltip="Cycle the charts' grid: as many as fit, 1×1, 2×2, 3×3"),
        Binding("z", "full_size", "Zoom", tooltip="Open the highlighted metric's chart full size: zoom, pan, inspect"),
        Binding("d", "download", "Download", tooltip="Save the highlighted file or folder below a folder you name"),
        Binding("p", "promote", "Promote", tooltip="Make the highlighted file or folder the next version of an asset"),
        Binding("ctrl+r", "reload", "Reload", show=False, tooltip="Read the run again"),
        Binding("y", "toggle_system", "System", show=False, tooltip="Show or hide the run's system metrics"),
        Binding(
            "o", "toggle_overview", "Overview", show=False, tooltip="Show or hide params, tags, note and environment"
        ),
        *DescribesRuns.DESCRIBE_BINDINGS,
    ]

    def __init__(
        self,
        store: Store,
        run: Run,
        clock: Callable[[], float],
        live_interval: float | None,
        *,
        tab: str | None = None,
        select: str | None = None,
    ) -> None:
        super().__init__()
        self.first_tab = tab if tab in self._TAB_FOCUS else "charts"
        self._select = select
        self.store = store
        self.run_data = run
        self.clock = clock
        self.live_interval = live_interval
        self.metrics: list[MetricInfo] = []
        self.environment: Environment | None = None
        self.show_overview: bool | None = None  # None: as the width allows
        self.show_system: bool | None = None  # None: for a running run, as the width allows
        self.log_scale = False
        self._chosen: list[str] | None = None  # None until the metrics are first known
        self._ranked: list[str] = []  # the drawable metrics, most telling first
        self._system_names: list[str] = []  # the run's sys/ metrics
        self._series_shape: dict[str, tuple[int, int]] = {}  # metric -> (count, max_points) drawn
        self._reading: dict[str, tuple[int, int]] = {}  # metric -> (count, max_points) being read
        self._text_counts: dict[str, int] | None = None
        self._console_sha: str | None = None
        self._console_size = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._artifacts_known: list[tuple[str, str]] | None = None
        self.sub_title = safe_line(f"run {run.short_id} · {run.experiment}")

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield RunHeader(id="run-header")
        with TabbedContent(initial=self.first_tab):
            with TabPane("Charts", id="charts"):
                with Horizontal():
                    with Vertical(id="metric-side"):
                        yield Input(placeholder="filter: loss, val/*", id="metric-filter")
                        yield MetricPicker(id="metric-picker")
                    yield ChartGrid(id="chart-grid")
                    yield SystemPane(id="system")
                    yield OverviewPane(id="overview")
            with TabPane("Scalars", id="scalars"):
                yield ScalarsTable(id="scalars-table")
            with TabPane("Text", id="text"):
                yield TextHistory(id="text-history")
            with TabPane("Console", id="console"):
                yield ConsoleLog(id="console-log")
            with TabPane("Artifacts", id="artifacts"):
                with Horizontal():
                    yield ArtifactTree(id="artifact-tree")
                    yield ArtifactPreview(id="artifact-preview")
            with TabPane("Media", id="media"):
                yield MediaView(self.store, self.run_data.id, id="media-view")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(RunHeader).show(self.run_data, self.clock())
        self.query_one(self._TAB_FOCUS[self.first_tab]).focus()
        self.load_run()
        if self.live_interval:
            self.set_interval(self.live_interval, self._live_tick)

    # -- reading ------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="run-load")
    def load_run(self) -> None:
        """The run and its metrics, then its console and its artifacts."""
        self._read_run()
        self._read_console(self._console_sha, self._console_size)
        self._read_artifacts()

    def _live_tick(self) -> None:
        if self.run_data.status in _LIVE_STATUSES and self.in_view:
            self.refresh_run(self._console_sha, self._console_size)

    @work(thread=True, exclusive=True, exit_on_error=False, group="run-live")
    def refresh_run(self, console_sha: str | None, console_size: int) -> None:
        """The run, its metrics, the console's new end and the artifacts, read again."""
        self._read_run()
        self._read_console(console_sha, console_size)
        self._read_artifacts()

    def _read_run(self) -> None:
        run = self.store.get_run(self.run_data.id)
        metrics = self.store.list_metrics(run.id)
        system: dict[str, Series] = {}
        if self.show_system or (self.show_system is None and run.status in _LIVE_STATUSES):
            for info in metrics:
                if is_system_metric(info.name) and info.kind == "number":
                    system[info.name] = self.store.read_series(run.id, info.name, max_points=SYSTEM_POINTS)
        if self.environment is None or run.status in _LIVE_STATUSES and self.environment == Environment():
            # recorded once, soon after the start: read until it is there
            self.environment = self.store.get_environment(run.id)
        self.post_message(RunLoaded(run, metrics, system))

    def _read_console(self, known_sha: str | None, known_size: int) -> None:
        run_id = self.run_data.id
        info = next((a for a in self.store.list_artifacts(run_id, CONSOLE_PATH) if a.path == CONSOLE_PATH), None)
        if info is None:
            if known_sha != "":
                self.post_message(ConsoleRead(run_id, b"", "", 0, restart=True, missing=True))
            return
        if info.sha256 == known_sha:
            return
        grown = 0 < known_size <= info.size
        with self.store.open_artifact(run_id, CONSOLE_PATH) as stream:
            start = known_size if grown else max(0, info.size - CONSOLE_TAIL)
            _skip(stream, start)
            data = stream.read(CONSOLE_TAIL if not grown else info.size - start)
        self.post_message(ConsoleRead(run_id, data, info.sha256, start + len(data), restart=not grown))

    def _read_artifacts(self) -> None:
        self.post_message(ArtifactsListed(self.run_data.id, self.store.list_artifacts(self.run_data.id)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="artifact-preview")
    def load_preview(self, info: ArtifactInfo) -> None:
        """The head of one artifact, made into its preview; an image is read whole, up to ``IMAGE_BYTES``."""
        worker = get_current_worker()
        with self.store.open_artifact(self.run_data.id, info.path) as stream:
            data = _read_head(stream, HEAD_BYTES)
            wanted = preview_bytes(info, data)
            if wanted > len(data) == HEAD_BYTES and not worker.is_cancelled:
                data += _read_head(stream, wanted - len(data))
        if worker.is_cancelled:
            return
        preview = make_preview(info, data)  # an image is decoded here, off the UI thread
        if worker.is_cancelled:
            return
        self.post_message(ArtifactPreviewed(self.run_data.id, info.path, preview))

    @work(thread=True, exclusive=True, exit_on_error=False, group="run-series")
    def load_series(self, wanted: dict[str, int]) -> None:
        """Points of each metric in ``wanted``, read with its ``max_points``."""
        worker = get_current_worker()
        found = {}
        for name, max_points in wanted.items():
            if worker.is_cancelled:
                return
            found[name] = self.store.read_series(self.run_data.id, name, max_points=max_points)
        self.post_message(SeriesLoaded(self.run_data.id, found, wanted))

    @work(thread=True, exclusive=True, exit_on_error=False, group="run-text")
    def load_text_history(self, names: list[str]) -> None:
        """Every string metric's values (evenly spaced when there are many)."""
        found = {name: self.store.read_series(self.run_data.id, name, max_points=TEXT_POINTS) for name in names}
        self.post_message(TextHistoryLoaded(self.run_data.id, found))

    # -- showing ----------------------------------------------------------------

    async def on_run_loaded(self, message: RunLoaded) -> None:
        self.run_data = message.run
        self.metrics = message.metrics
        now = self.clock()
        # One layout and paint for the header, tables, picker and charts, not one each.
        with self.app.batch_update():
            self.query_one(RunHeader).show(message.run, now)
            self.query_one(ScalarsTable).show(message.metrics, now)
            self.query_one(OverviewPane).show(message.run, self.environment)
            self._system_names = sorted(m.name for m in message.metrics if is_system_metric(m.name))
            if message.system:
                self.query_one(SystemPane).show(message.system)
            self._place_overview()
            drawable = chart_metric_names(message.metrics)
            grid = self.query_one(ChartGrid)
            if self._chosen is None:
                # As many charts as the terminal has room for. Its size, not the grid's: the
                # grid may not be laid out yet, and the first choice should not depend on that.
                side = self._side_widths()
                width, height = self.size.width - _PICKER_WIDTH - side, self.size.height - _CHROME_HEIGHT
                fit = grid.columns_that_fit(width) * grid.rows_that_fit(height)
                # System metrics have their pane: the first charts are the run's own.
                own = [n for n in drawable if not is_system_metric(n)] or drawable
                self._chosen = own[: max(1, fit)]
            # Charted most telling first (losses, then scores); listed by group in natural order.
            self._ranked = drawable
            self._chosen = [n for n in self._chosen if n in drawable]
            listed = [name for _, names in grouped(drawable) for name in names]
            self.query_one(MetricPicker).set_metrics(message.metrics, listed, self._chosen)
            await self._show_charts()
        texts = {m.name: m.count for m in message.metrics if m.kind == "string"}
        if texts != self._text_counts:
            self._text_counts = texts
            self.load_text_history(sorted(texts))

    async def _show_charts(self) -> None:
        grid = self.query_one(ChartGrid)
        await grid.show_metrics(list(self._chosen or []))
        self.call_after_refresh(self._request_series)

    def _request_series(self) -> None:
        """Read the series of charts that grew, changed width, or were never drawn.

        A chart being read is not asked for again (each chart's first layout and
        the screen's own request would otherwise start a read each, every one
        cancelling the one before); a read asks for what is still pending too.
        """
        counts = {m.name: m.count for m in self.metrics}
        wanted: dict[str, int] = {}
        for chart in self.query_one(ChartGrid).charts:
            if not chart.size.width:
                continue  # not laid out yet: it asks once it has a size (MetricChart.Resized)
            shape = (counts.get(chart.metric, 0), chart.max_points)
            stale = chart.series is None or self._series_shape.get(chart.metric) != shape
            if stale and chart.metric in counts and self._reading.get(chart.metric) != shape:
                wanted[chart.metric] = chart.max_points
        if wanted:
            # The read is exclusive: it replaces one still running, so it takes that one's charts too.
            for name, (_, max_points) in self._reading.items():
                wanted.setdefault(name, max_points)
            self._reading = {name: (counts.get(name, 0), max_points) for name, max_points in wanted.items()}
            self.load_series(wanted)

    def on_series_loaded(self, message: SeriesLoaded) -> None:
        grid = self.query_one(ChartGrid)
        for name in message.series:
            self._reading.pop(name, None)
        for name, series in message.series.items():
            chart = grid.chart(name)
            if chart is None:
                continue
            chart.show_series(series)
            self._series_shape[name] = (series.count, message.max_points[name])
        self._request_series()  # a chart resized or grew meanwhile

    def on_text_history_loaded(self, message: TextHistoryLoaded) -> None:
        self.query_one(TextHistory).show(message.series)

    def on_console_read(self, message: ConsoleRead) -> None:
        log = self.query_one(ConsoleLog)
        self._console_sha = message.sha256
        self._console_size = message.size
        if message.missing:
            self._console_sha = ""
            log.show_missing(
                "No console log for this run. Runs started with `runhistory run -- CMD` keep "
                f"their output as the artifact {CONSOLE_PATH}."
            )
            return
        if message.restart:
            self._decoder.reset()
        log.show_text(self._decoder.decode(message.data), restart=message.restart)

    def on_artifacts_listed(self, message: ArtifactsListed) -> None:
        known = [(a.path, a.sha256) for a in message.artifacts]
        if known == self._artifacts_known:
            return
        before = dict(self._artifacts_known or [])
        self._artifacts_known = known
        tree = self.query_one(ArtifactTree)
        tree.show(message.artifacts)
        if self._select:
            # Once the new nodes have their lines (the tree's cursor then moves and previews it).
            tree.call_after_refresh(tree.select_path, self._select)
            self._select = None
        self.refresh_bindings()
        preview = self.query_one(ArtifactPreview)
        if not message.artifacts:
            preview.show_note(
                "No artifacts",
                "This run has no files. A training script stores them with "
                "logger.upload(path, data) or logger.upload_file(path, file); files in ./outputs "
                "are uploaded when the run ends.",
            )
            return
        node = tree.cursor_node
        if node is None:
            return
        if isinstance(node.data, ArtifactInfo) and before.get(node.data.path) == node.data.sha256:
            return  # the file shown has not changed
        self._preview_node(node.data)

    @on(ArtifactsListed)
    def _media_listed(self, message: ArtifactsListed) -> None:
        # The media tab's images are files of the run: the same list, read once for both tabs.
        self.query_one(MediaView).show_files(message.artifacts)

    @on(Tree.NodeHighlighted, "#artifact-tree")
    def _artifact_highlighted(self, event: Tree.NodeHighlighted[ArtifactInfo | str]) -> None:
        self._preview_node(event.node.data)

    def _preview_node(self, data: ArtifactInfo | str | None) -> None:
        preview = self.query_one(ArtifactPreview)
        if isinstance(data, ArtifactInfo):
            preview.show_note(data.path, "Reading…")
            self.load_preview(data)
        elif isinstance(data, str):
            self.workers.cancel_group(self, "artifact-preview")
            files = [a for a in self.query_one(ArtifactTree).artifacts if a.path.startswith(data)]
            preview.show(folder_preview(data, files))

    def on_artifact_previewed(self, message: ArtifactPreviewed) -> None:
        node = self.query_one(ArtifactTree).cursor_node
        if node is not None and isinstance(node.data, ArtifactInfo) and node.data.path == message.path:
            self.query_one(ArtifactPreview).show(message.preview)

    @on(MetricChart.Resized)
    def _chart_resized(self) -> None:
        self._request_series()

    # -- choosing metrics ---------------------------------------------------------

    @on(MetricPicker.SelectedChanged)
    async def _picked(self, event: MetricPicker.SelectedChanged[str]) -> None:
        picker = self.query_one(MetricPicker)
        selected = set(picker.selected)
        listed = set(picker.names)
        before = set(self._chosen or [])
        # A chart of a metric the filter hides stays until it is unticked.
        chosen = [n for n in self._ranked if n in selected or (n not in listed and n in before)]
        if chosen != self._chosen:
            self._chosen = chosen
            await self._show_charts()

    @on(MetricPicker.OnlyThis)
    async def _only(self, message: MetricPicker.OnlyThis) -> None:
        self.choose_metrics([message.metric])

    def choose_metrics(self, names: list[str]) -> None:
        """Chart exactly ``names``."""
        picker = self.query_one(MetricPicker)
        picker.deselect_all()
        for name in names:
            picker.select(name)

    def action_all_charts(self) -> None:
        self.query_one(MetricPicker).select_all()

    def action_toggle_log_scale(self) -> None:
        self.log_scale = not self.log_scale
        self.query_one(ChartGrid).set_log_scale(self.log_scale)
        self.notify("log scale" if self.log_scale else "linear scale", timeout=1.5)

    def show_smoothing(self) -> None:
        self.query_one(ChartGrid).set_smoothing(self.smoothing)

    def action_grid(self) -> None:
        size = self.query_one(ChartGrid).cycle_layout()
        self.notify(f"{size}×{size} charts a screen" if size else "as many charts as fit", timeout=1.5)
        self.call_after_refresh(self._request_series)

    def action_filter_metrics(self) -> None:
        if self.query_one(TabbedContent).active != "charts":
            self.action_tab("charts")
        box = self.query_one("#metric-filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#metric-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(MetricPicker).set_filter(event.value)

    @on(Input.Submitted, "#metric-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        picker = self.query_one(MetricPicker)
        if event.value.strip() and picker.names:
            self._chosen = []  # every match charted, and only they
            self.choose_metrics(picker.names)
        picker.focus()

    def _close_filter(self) -> bool:
        box = self.query_one("#metric-filter", Input)
        if not box.has_focus:
            return False
        box.value = ""
        box.display = False
        self.query_one(MetricPicker).set_filter("")
        self.query_one(MetricPicker).focus()
        return True

    def action_full_size(self) -> None:
        focused = self.focused
        metric = focused.metric if isinstance(focused, MetricChart) else self.query_one(MetricPicker).highlighted_metric
        if metric is not None:
            self._open_full_size(metric)

    @on(MetricChart.Open)
    def _open_chart(self, message: MetricChart.Open) -> None:
        self._open_full_size(message.metric)

    def _open_full_size(self, metric: str) -> None:
        info = next((m for m in self.metrics if m.name == metric), None)
        if info is None or info.kind != "number":
            self.notify("Only number series open full size.", timeout=2)
            return
        label = safe_line(f"{self.run_data.short_id} {self.run_data.name or self.run_data.experiment}", 60)
        self.app.push_screen(
            ChartScreen(
                self.store,
                metric,
                [ChartRun(self.run_data, 0, label)],
                smoothing=self.smoothing,
                log_scale=self.log_scale,
            )
        )

    _TAB_FOCUS: ClassVar[dict[str, str]] = {
        "charts": "#metric-picker",
        "scalars": "#scalars-table",
        "text": "#text-history",
        "console": "#console-log",
        "artifacts": "#artifact-tree",
        "media": "#media-view",  # its names list, once built (MediaView.focus)
    }

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self.query_one(self._TAB_FOCUS[tab]).focus()

    @on(TabbedContent.TabActivated)
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        # Focus follows the tab, so that the keys act on what is shown (and the
        # hidden pane's widget does not pull its tab back into view).
        pane = event.pane.id or ""
        self.refresh_bindings()  # download and promote come and go with the artifacts tab
        if pane in self._TAB_FOCUS:
            self.query_one(self._TAB_FOCUS[pane]).focus()

    # -- download and promote --------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Download and promote act on the artifact tree: only offered (and in the footer) on its tab.
        if action in ("download", "promote"):
            return self.query_one(TabbedContent).active == "artifacts" and bool(self.query_one(ArtifactTree).artifacts)
        return True

    def _artifact_selection(self) -> tuple[str | None, str]:
        """The highlighted file's path (``None`` for a folder) and the prefix it stands for."""
        node = self.query_one(ArtifactTree).cursor_node
        data = node.data if node is not None else None
        if isinstance(data, ArtifactInfo):
            return data.path, data.path
        return None, data if isinstance(data, str) else ""

    def action_download(self) -> None:
        path, prefix = self._artifact_selection()
        artifacts = self.query_one(ArtifactTree).artifacts
        files = (
            [a for a in artifacts if a.path == path]
            if path is not None
            else [a for a in artifacts if a.path.startswith(prefix)]
        )
        job = run_files_download(self.store, self.run_data.id, files, path=path, prefix=prefix)
        self.app.push_screen(DownloadModal(job))

    def action_promote(self) -> None:
        _, prefix = self._artifact_selection()
        self.app.push_screen(PromoteModal(self.store, self.run_data.id, prefix))

    def action_back(self) -> None:
        if self._close_filter():
            return
        self.app.pop_screen()

    # -- overview and describing the run ----------------------------------------------

    def _wants_system(self) -> bool:
        if not self._system_names:
            return False
        if self.show_system is not None:
            return self.show_system
        return self.run_data.status in _LIVE_STATUSES and self.size.width >= SYSTEM_FROM_WIDTH

    def _wants_overview(self) -> bool:
        if self.show_overview is not None:
            return self.show_overview
        system = SYSTEM_PANE_WIDTH if self._wants_system() else 0
        return self.size.width >= OVERVIEW_FROM_WIDTH + system

    def _side_widths(self) -> int:
        """Cells the panes beside the charts take."""
        return (SYSTEM_PANE_WIDTH if self._wants_system() else 0) + (_OVERVIEW_WIDTH if self._wants_overview() else 0)

    def _place_overview(self) -> None:
        changed = False
        for pane, wanted in (
            (self.query_one(SystemPane), self._wants_system()),
            (self.query_one(OverviewPane), self._wants_overview()),
        ):
            if pane.display != wanted:
                pane.display = wanted
                changed = True
        if changed:
            self.call_after_refresh(self._request_series)  # the charts' widths changed

    def on_resize(self) -> None:
        self._place_overview()

    def action_toggle_system(self) -> None:
        if not self._system_names:
            self.notify(
                "This run has no system metrics (sys/…): the logger samples them unless RUNHISTORY_SYSTEM_METRICS=0.",
                timeout=3,
            )
            return
        self.show_system = not self.query_one(SystemPane).display
        if self.query_one(TabbedContent).active != "charts":
            self.query_one(TabbedContent).active = "charts"
        self._place_overview()
        if self.show_system:
            self.load_run()  # its series, for the pane

    def action_toggle_overview(self) -> None:
        self.show_overview = not self.query_one(OverviewPane).display
        if self.query_one(TabbedContent).active != "charts":
            self.query_one(TabbedContent).active = "charts"
        self._place_overview()

    def described_run(self) -> Run | None:
        return self.run_data

    def on_run_described(self, message: RunDescribed) -> None:
        self.notify(message.said, markup=False)
        for screen in self.app.screen_stack:
            if screen is not self and message.deleted and hasattr(screen, "forget_run"):
                screen.forget_run(message.run_id)
            elif screen is not self and hasattr(screen, "reread_run"):
                screen.reread_run(screen.model.generation, message.run_id)  # type: ignore[attr-defined]
        if message.deleted:
            self.app.pop_screen()
        else:
            self.load_run()

    def action_reload(self) -> None:
        self._series_shape.clear()
        self._reading.clear()
        self._text_counts = None
        self._console_sha, self._console_size = None, 0
        self._artifacts_known = None
        self.load_run()

    def store_failed(self, group: str, error: BaseException) -> bool:
        if group == "run-series":
            self._reading.clear()  # nothing is being read any more: the next request asks again
        if group == "artifact-preview" and isinstance(error, ArtifactNotFound):
            self.query_one(ArtifactPreview).show_note("Not found", f"The file is no longer in the run.\n\n{error}")
            self._artifacts_known = None  # list the files again on the next read
            return True
        if isinstance(error, RunNotFound):

            def back(_: None) -> None:
                if self.in_view:
                    self.app.pop_screen()

            self.app.push_screen(
                ErrorModal("Run not found", f"Run {self.run_data.id} is no longer in the store.\n\n{error}"), back
            )
            return True
        return False
