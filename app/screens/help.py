"""The ``?`` modal: the keys of the screen underneath, and how to filter."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

FILTER_HELP = (
    "Filter: after / type a query, answered by the store: params.lr >= 1e-3 and metrics.val/accuracy > 0.9, "
    'tag:baseline and not status = failed, name ~ "sweep-*" (and, or, not, parentheses; = != < <= > >= ~). '
    "Plain words search the run id, name, experiment, status, tags, note and command; a status word "
    "(failed, running, …) and exp:NAME match exactly. Enter keeps the filter, Escape clears it.\n\n"
    "Sort: s moves the sort to the next column, S reverses it; so does a click on a column header. "
    "The store sorts every run, not only those read."
)


def _key_name(key: str) -> str:
    names = {"question_mark": "?", "slash": "/", "escape": "esc", "enter": "enter", "ctrl+p": "^p"}
    return names.get(key, key)


class HelpModal(ModalScreen[None]):
    """The bindings active on ``screen``, with what each does."""

    DEFAULT_CSS = """
    HelpModal { align: center middle; }
    HelpModal > VerticalScroll {
        width: 84; max-width: 95%; height: auto; max-height: 90%;
        border: thick $accent; background: $surface; padding: 0 2;
    }
    HelpModal #help-title { text-style: bold; margin: 1 0; }
    HelpModal .help-text { color: $text-muted; margin-top: 1; }
    """

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
    ]

    def __init__(self, screen: Screen[Any], title: str, extra: str = "") -> None:
        super().__init__()
        self.under = screen
        self.help_title = title
        self.extra = extra
        self.rows: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2, 0, 0))
        table.add_column(style="bold #e5c07b", no_wrap=True)
        table.add_column()
        seen: set[tuple[str, str]] = set()
        for key, active in self.under.active_bindings.items():
            binding = active.binding
            # The app's own keys; Textual's generic ones (cursor moves, focus) are summed up below.
            if binding not in getattr(type(active.node), "BINDINGS", ()) or not binding.description:
                continue
            if (binding.action, binding.description) in seen:
                continue
            seen.add((binding.action, binding.description))
            self.rows.append((binding.key_display or _key_name(key), binding.description))
        self.rows += [
            ("↑ ↓ PgUp PgDn", "Move the cursor"),
            ("Tab", "Next part of the screen"),
            ("^p", "Command palette: every action by name"),
            ("mouse", "Click to highlight, click again to open; click a header to sort; scroll"),
        ]
        for row in self.rows:
            table.add_row(*row)
        with VerticalScroll():
            yield Static(Text(self.help_title), id="help-title")
            yield Static(table)
            if self.extra:
                yield Static(self.extra, classes="help-text", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
