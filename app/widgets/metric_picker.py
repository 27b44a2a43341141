"""The list of a run's drawable metrics; ticked ones get a chart."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import SelectionList
from textual.widgets.selection_list import Selection

from runhistory.api import MetricInfo


class MetricPicker(SelectionList[str]):
    """Number series and chart metrics of a run. Space (or a click) ticks one; Enter shows only it."""

    BINDINGS = [
        Binding("space", "select", "Add/remove chart", show=False),
        Binding("enter", "only", "Chart only this", show=False),
    ]

    @dataclass
    class OnlyThis(Message):
        """Enter on a metric: chart it alone."""

        metric: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._names: list[str] = []

    @property
    def names(self) -> list[str]:
        """The metrics listed, in order."""
        return list(self._names)

    def set_metrics(self, infos: list[MetricInfo], order: list[str], chosen: list[str]) -> None:
        """List ``order`` (names of ``infos``), ticking ``chosen``; keeps the highlight."""
        if order == self._names and set(chosen) == set(self.selected):
            return
        kinds = {m.name: m.kind for m in infos}
        highlighted = self.highlighted_metric
        self._names = list(order)
        self.clear_options()
        self.add_options(
            [Selection(self._prompt(name, kinds.get(name, "number")), name, name in chosen, id=None) for name in order]
        )
        if order:
            self.highlighted = order.index(highlighted) if highlighted in order else 0

    @staticmethod
    def _prompt(name: str, kind: str) -> Text:
        text = Text(name, no_wrap=True, overflow="ellipsis")
        if kind == "chart":
            text.append(" ▤", style="dim")
        return text

    @property
    def highlighted_metric(self) -> str | None:
        """The metric under the highlight."""
        if self.highlighted is None or not 0 <= self.highlighted < len(self._names):
            return None
        return self._names[self.highlighted]

    def action_only(self) -> None:
        metric = self.highlighted_metric
        if metric is not None:
            self.post_message(self.OnlyThis(metric))
