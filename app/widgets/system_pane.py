"""The machine a run runs on, beside its charts: the logger's ``sys/`` metrics, latest value and trend.

The logger samples them on a thread of its own (``sys/cpu``, ``sys/memory``,
``sys/rss``, ``sys/disk_io``, ``sys/net``, and per GPU ``sys/gpu<N>/util``,
``…/memory``, ``…/temperature``, ``…/power``). The pane shows each as its
newest value in its unit over a sparkline of its recent points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from runhistory.api import Series
from runhistory.api._safe_text import safe_line

from ..human import size
from ..metric_names import natural_key
from .sparkline import sparkline

#: The prefix of system metrics.
SYSTEM_PREFIX = "sys/"
#: Cells the pane takes beside the charts (its width in the CSS below).
SYSTEM_PANE_WIDTH = 32
#: Points of each system series read for its sparkline: about one a cell.
SYSTEM_POINTS = 60

#: What each system metric is called in the pane, and how its value reads.
_LABELS = {
    "cpu": "CPU",
    "memory": "memory",
    "rss": "process memory",
    "disk_io": "disk I/O",
    "net": "network",
    "util": "use",
    "temperature": "temperature",
    "power": "power",
}


def is_system_metric(name: str) -> bool:
    """Whether ``name`` is one the logger's system sampler writes."""
    return name.startswith(SYSTEM_PREFIX)


def system_value(name: str, value: object) -> str:
    """A system metric's value in its unit: ``37%``, ``1.2 GiB``, ``3.4 MiB/s``, ``71°C``, ``180 W``."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return safe_line(str(value), 20)
    leaf = name.rsplit("/", 1)[-1]
    if leaf in ("cpu", "memory", "util"):
        return f"{value:.0f}%"
    if leaf == "rss":
        return size(int(value))
    if leaf in ("disk_io", "net"):
        return f"{size(int(value))}/s"
    if leaf == "temperature":
        return f"{value:.0f}°C"
    if leaf == "power":
        return f"{value:.0f} W"
    return f"{value:.4g}"


def system_label(name: str) -> str:
    """``sys/gpu0/util`` → ``GPU 0 use``; ``sys/disk_io`` → ``disk I/O``."""
    parts = name[len(SYSTEM_PREFIX) :].split("/")
    leaf = _LABELS.get(parts[-1], parts[-1])
    if len(parts) == 2 and parts[0].startswith("gpu") and parts[0][3:].isdigit():
        return f"GPU {parts[0][3:]} {leaf}"
    return safe_line("/".join([*parts[:-1], leaf]), 60)


def system_body(series: Mapping[str, Series], width: int) -> list[Text]:
    """Each system series: its label and newest value, then a sparkline ``width`` cells wide."""
    lines: list[Text] = [Text("system", style="bold")]
    for name in sorted(series, key=natural_key):
        points = series[name]
        if not points.values:
            continue
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append(system_label(name), style="dim")
        head.append(" ")
        head.append(system_value(name, points.values[-1]), style="bold")
        lines.append(head)
        finite = [float(v) for v in points.values if isinstance(v, (int, float)) and math.isfinite(v)]
        lines.append(sparkline(finite, width))
    if len(lines) == 1:
        lines.append(Text("no sys/ metrics yet", style="dim"))
    return lines


class SystemPane(VerticalScroll):
    """The run's system metrics, read again with the run while it runs."""

    DEFAULT_CSS = f"""
    SystemPane {{ width: {SYSTEM_PANE_WIDTH}; height: 1fr; border-left: solid $panel-lighten-2; padding: 0 1; }}
    SystemPane > Static {{ width: 1fr; height: auto; }}
    """

    series: dict[str, Series] = {}
    plain = ""
    """What the pane shows, as plain text."""

    def compose(self) -> ComposeResult:
        yield Static(id="system-body")

    def show(self, series: Mapping[str, Series]) -> None:
        """Draw ``series`` (the run's ``sys/`` metrics, read at ``SYSTEM_POINTS``)."""
        self.series = dict(series)
        lines = system_body(series, max(8, SYSTEM_PANE_WIDTH - 4))
        self.plain = "\n".join(line.plain for line in lines)
        self.query_one("#system-body", Static).update(Group(*lines))
