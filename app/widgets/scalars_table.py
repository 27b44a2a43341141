"""Every metric of a run with its latest value."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from runhistory.api import MetricInfo

from ..human import ago, value_text
from .cells import fit

_COLUMNS = (
    ("metric", "metric"),
    ("kind", "kind"),
    ("points", "points"),
    ("step", "last step"),
    ("logged", "logged"),
    ("value", "last value"),
)
#: Widest last value shown (a chart's list is cut): the table should fit a terminal.
_VALUE_WIDTH = 72


class ScalarsTable(DataTable[Text]):
    """One row per metric: kind, point count, last step, last value, when it was logged."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._shown: dict[str, tuple[str, ...]] = {}

    def on_mount(self) -> None:
        for key, label in _COLUMNS:
            right = key in ("points", "step")
            self.add_column(Text(label, justify="right" if right else "left"), key=key)

    def show(self, metrics: list[MetricInfo], now: float) -> None:
        """Show ``metrics`` (sorted by name) as of clock time ``now``."""
        names = [m.name for m in metrics]
        if names != list(self._shown):
            self.clear()
            self._shown = {}
        for m in metrics:
            value = fit(value_text(m.last_value, _VALUE_WIDTH), _VALUE_WIDTH)
            cells = (m.name, m.kind, f"{m.count:,}", str(m.last_step), ago(m.last_time, now), value)
            before = self._shown.get(m.name)
            if before == cells:
                continue
            texts = [
                Text(cells[0], style="bold"),
                Text(cells[1], style="dim"),
                Text(cells[2], justify="right"),
                Text(cells[3], justify="right"),
                Text(cells[4], style="dim"),
                Text(cells[5]),
            ]
            if before is None:
                self.add_row(*texts, key=m.name)
            else:
                for (key, _), text in zip(_COLUMNS, texts):
                    self.update_cell(m.name, key, text, update_width=True)
            self._shown[m.name] = cells
