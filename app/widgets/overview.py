"""The run's overview beside its charts: tags, note, params and what it ran with.

Every string in it came from the store, so each is shown literally and
cleaned (``literal``), never read as markup.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from runhistory.api import Environment, Run

from ..human import literal, literal_block, param_text

#: Packages named in the overview (the rest are counted); compare lists every difference.
_PACKAGES_SHOWN = 12
#: Lines of a git diff shown in the overview.
_DIFF_LINES = 12
#: Widest param value shown.
_VALUE_WIDTH = 40


def overview(run: Run, environment: Environment | None) -> Group:
    """The overview's content."""
    parts: list[object] = []
    if run.tags:
        parts.append(Text("tags", style="bold"))
        parts.append(literal("  " + "  ".join(run.tags), style="#e5c07b"))
    if run.note:
        parts.append(Text("note", style="bold"))
        parts.append(literal_block(run.note.rstrip()))
    parts.append(Text(f"params ({len(run.params)})", style="bold"))
    if run.params:
        table = Table(box=None, show_header=False, pad_edge=False, expand=True)
        table.add_column(style="dim", no_wrap=True, ratio=1)
        table.add_column(ratio=1, overflow="fold")
        for key, value in run.params.items():
            text = param_text(value)
            table.add_row(literal(key), literal(text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 1] + "…"))
        parts.append(table)
    else:
        parts.append(Text("  none: get_logger(params=config) records them", style="dim"))
    if environment is not None:
        parts.append(Text(f"packages ({len(environment.packages)})", style="bold"))
        shown = list(environment.packages.items())[:_PACKAGES_SHOWN]
        for name, version in shown:
            parts.append(literal(f"  {name} {version}", style="dim"))
        if len(environment.packages) > len(shown):
            parts.append(Text(f"  … {len(environment.packages) - len(shown)} more", style="dim"))
        if environment.git_diff:
            lines = environment.git_diff.splitlines()
            cut = " (cut at the size limit)" if environment.git_diff_truncated else ""
            parts.append(Text(f"git diff ({len(lines)} lines{cut})", style="bold"))
            for line in lines[:_DIFF_LINES]:
                style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
                parts.append(literal(line, style=style))
    return Group(*parts)  # type: ignore[arg-type]


class OverviewPane(VerticalScroll):
    """The overview, scrollable."""

    DEFAULT_CSS = """
    OverviewPane { width: 38; height: 1fr; border-left: solid $panel-lighten-2; padding: 0 1; }
    OverviewPane > Static { width: 1fr; height: auto; }
    """

    content: Group | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="overview-body")

    def show(self, run: Run, environment: Environment | None) -> None:
        key = (run.params, run.tags, run.note, environment)
        if getattr(self, "_shown", None) == key:
            return
        self._shown = key
        self.content = overview(run, environment)
        self.query_one("#overview-body", Static).update(self.content)
