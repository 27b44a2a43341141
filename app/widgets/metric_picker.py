"""The list of a run's drawable metrics, grouped by prefix; ticked ones get a chart."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.strip import Strip
from textual.widgets import OptionList, SelectionList
from textual.widgets.selection_list import Selection

from runhistory.api import MetricInfo
from runhistory.api._safe_text import safe_line

from ..metric_names import distinct_labels, grouped, matches

#: Cells a name has in the list (the picker's width less the tick box and the kind mark).
_NAME_WIDTH = 22
#: Options that head a group are not metrics: their values start with this (never a metric name's first character).
_GROUP = "\x00group:"


class MetricPicker(SelectionList[str]):
    """Number series and chart metrics of a run, grouped by their prefix (``train/``, ``val/``) in natural order.

    Space (or a click) ticks one; Enter shows only it. ``filter`` narrows the list.
    """

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
        self._all: list[str] = []  # every drawable metric
        self._kinds: dict[str, str] = {}
        self._names: list[str] = []  # the ones listed (the filter's matches)
        self._option_values: list[str] = []  # each option's value, headers included
        self.pattern = ""

    @property
    def names(self) -> list[str]:
        """The metrics listed, in order."""
        return list(self._names)

    @property
    def all_names(self) -> list[str]:
        """Every drawable metric, listed or filtered out."""
        return list(self._all)

    def set_metrics(self, infos: list[MetricInfo], order: list[str], chosen: list[str]) -> None:
        """List the names of ``order`` that match the filter, ticking ``chosen``; keeps the highlight."""
        kinds: dict[str, str] = {m.name: m.kind for m in infos}
        if order == self._all and kinds == self._kinds and set(chosen) == set(self.selected):
            return
        self._all = list(order)
        self._kinds = kinds
        self._fill(chosen)

    def set_filter(self, pattern: str) -> None:
        """List only the metrics ``pattern`` matches (a substring, or a glob with ``*``/``?``/``[``)."""
        if pattern == self.pattern:
            return
        self.pattern = pattern
        self._fill(list(self.selected))

    def _fill(self, chosen: list[str]) -> None:
        highlighted = self.highlighted_metric
        shown = [name for name in self._all if matches(name, self.pattern)]
        groups = grouped(shown)
        labels = distinct_labels([name[len(group) :] or name for group, names in groups for name in names], _NAME_WIDTH)
        options: list[Selection[str]] = []
        values: list[str] = []
        names: list[str] = []
        for group, members in groups:
            if group and len(groups) > 1:
                header = Text(safe_line(group, 60), style="bold dim", no_wrap=True, overflow="ellipsis")
                header.append(f" {len(members)}", style="dim")
                options.append(Selection(header, _GROUP + group, False, disabled=True))
                values.append(_GROUP + group)
            for name in members:
                label = labels[name[len(group) :] or name] if group and len(groups) > 1 else name
                options.append(Selection(self._prompt(label, self._kinds.get(name, "number")), name, name in chosen))
                values.append(name)
                names.append(name)
        self._names = names
        self._option_values = values
        self.clear_options()
        self.add_options(options)
        if names:
            target = highlighted if highlighted in names else names[0]
            self.highlighted = values.index(target)

    def render_line(self, y: int) -> Strip:
        # A group's heading is no metric to tick: drawn without the tick box, flush left.
        index = self.scroll_offset.y + y
        if 0 <= index < len(self._option_values) and self._option_values[index].startswith(_GROUP):
            return OptionList.render_line(self, y)
        return super().render_line(y)

    @staticmethod
    def _prompt(name: str, kind: str) -> Text:
        text = Text(safe_line(name, 400), no_wrap=True, overflow="ellipsis")
        if kind == "chart":
            text.append(" ▤", style="dim")
        return text

    @property
    def highlighted_metric(self) -> str | None:
        """The metric under the highlight."""
        if self.highlighted is None or not 0 <= self.highlighted < len(self._option_values):
            return None
        value = self._option_values[self.highlighted]
        return None if value.startswith(_GROUP) else value

    def highlight(self, metric: str) -> None:
        """Move the highlight to ``metric`` (listed: not filtered out)."""
        self.highlighted = self._option_values.index(metric)

    def action_only(self) -> None:
        metric = self.highlighted_metric
        if metric is not None:
            self.post_message(self.OnlyThis(metric))
