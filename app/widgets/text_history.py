"""The history of a run's string metrics: what was logged, at which step, when."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from runhistory.api import Series

from ..human import clock_text, value_text
from .cells import fit


class TextHistory(DataTable[Text]):
    """One row per logged string, grouped by metric, oldest first."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._shown: list[tuple[str, int, int]] = []

    def on_mount(self) -> None:
        self.add_column("metric", key="metric")
        self.add_column(Text("step", justify="right"), key="step")
        self.add_column("logged at", key="time")
        self.add_column("value", key="value")

    def show(self, series: dict[str, Series]) -> None:
        """Show every point of ``series`` (string metrics, by name)."""
        shape = [(name, s.count, len(s)) for name, s in sorted(series.items())]
        if shape == self._shown:
            return
        self._shown = shape
        self.clear()
        for name, s in sorted(series.items()):
            for step, value, moment in zip(s.steps, s.values, s.times):
                when = clock_text(moment)
                self.add_row(
                    Text(name, style="bold"),
                    Text(str(step), justify="right"),
                    Text(when, style="dim"),
                    Text(fit(value_text(value, 200), 200)),
                )
            if s.downsampled:
                self.add_row(
                    Text(name, style="bold"),
                    Text(""),
                    Text(""),
                    Text(f"… {len(s):,} of {s.count:,} values shown, evenly spaced", style="dim italic"),
                )
