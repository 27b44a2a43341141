"""The charts of the chosen metrics, as many side by side as the terminal has room for."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widgets import Static

from ..metric_names import distinct_labels
from .metric_chart import MetricChart

#: A chart narrower than this (cells) cannot show its axis labels and a curve.
MIN_CHART_WIDTH = 40
#: Nor one lower than this (lines, with its box).
MIN_CHART_HEIGHT = 10
#: What ``g`` cycles through: as many as fit, then fixed grids of 1×1, 2×2 and 3×3 charts a screen.
GRID_LAYOUTS: tuple[int, ...] = (0, 1, 2, 3)


def _chart_id(metric: str) -> str:
    return "chart-" + metric.encode().hex()


class ChartGrid(VerticalScroll):
    """A grid of ``MetricChart``; columns and row heights follow the widget's size."""

    DEFAULT_CSS = """
    ChartGrid { layout: grid; grid-gutter: 0 1; }
    ChartGrid > .empty { color: $text-muted; padding: 1 2; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._metrics: list[str] = []
        self.log_scale = False
        self.smoothing: float | None = None
        self.layout_size = 0  # 0: as many columns as fit; n: n×n charts a screen

    @property
    def metrics(self) -> list[str]:
        """The metrics drawn, in order."""
        return list(self._metrics)

    @property
    def charts(self) -> list[MetricChart]:
        """The chart widgets, in order."""
        return list(self.query(MetricChart))

    def chart(self, metric: str) -> MetricChart | None:
        """The chart of ``metric``, if it is shown."""
        found = self.query(f"#{_chart_id(metric)}")
        return found.first(MetricChart) if found else None

    def columns_that_fit(self, width: int | None = None) -> int:
        """How many charts fit side by side in ``width`` cells (default: the grid's width)."""
        return max(1, min(4, (width or self.size.width or 80) // MIN_CHART_WIDTH))

    def rows_that_fit(self, height: int | None = None) -> int:
        """How many rows of charts fit in ``height`` lines (default: the grid's height) without scrolling."""
        return max(1, (height or self.size.height or 20) // MIN_CHART_HEIGHT)

    async def show_metrics(self, metrics: list[str]) -> list[MetricChart]:
        """Draw charts of ``metrics`` (in this order); returns the charts that are new."""
        if metrics == self._metrics:
            return []
        old = {c.metric: c for c in self.charts}
        added: list[MetricChart] = []
        await self.query(".empty").remove()
        for metric, chart in old.items():
            if metric not in metrics:
                await chart.remove()
        for metric in metrics:
            if metric not in old:
                new = MetricChart(metric, id=_chart_id(metric))
                new.log_scale = self.log_scale
                new.smoothing = self.smoothing
                added.append(new)
                await self.mount(new)
        # Put them in the asked order.
        for index, metric in enumerate(metrics):
            shown = self.chart(metric)
            if shown is not None and index < len(self.children) and self.children[index] is not shown:
                self.move_child(shown, before=index)
        self._metrics = list(metrics)
        if not metrics:
            await self.mount(
                Static("Pick a metric on the left (Space adds a chart, Enter shows just that one).", classes="empty")
            )
        self._lay_out()
        return added

    def set_smoothing(self, weight: float | None) -> None:
        """Smooth every number chart with this EMA weight (``None``: raw)."""
        self.smoothing = weight
        for chart in self.charts:
            chart.smoothing = weight

    def cycle_layout(self) -> int:
        """The next of ``GRID_LAYOUTS``; returns it (0: as many as fit)."""
        self.layout_size = GRID_LAYOUTS[(GRID_LAYOUTS.index(self.layout_size) + 1) % len(GRID_LAYOUTS)]
        self._lay_out()
        return self.layout_size

    def set_log_scale(self, on: bool) -> None:
        """Switch every chart's y axis between linear and log."""
        self.log_scale = on
        for chart in self.charts:
            chart.log_scale = on

    def on_resize(self) -> None:
        self._lay_out()

    def _lay_out(self) -> None:
        count = max(1, len(self._metrics))
        if self.layout_size:
            columns = self.layout_size
            rows = self.layout_size
        else:
            columns = min(self.columns_that_fit(), count)
            rows = -(-count // columns)
        height = max(MIN_CHART_HEIGHT if not self.layout_size else 6, (self.size.height or 20) // rows)
        self.styles.grid_size_columns = columns
        self.styles.grid_rows = str(height)
        # Titles shortened to the charts' width, never two the same.
        width = max(8, (self.size.width or 80) // columns - 6)
        labels = distinct_labels(self._metrics, width)
        for chart in self.charts:
            chart.set_label(labels.get(chart.metric, chart.metric))
