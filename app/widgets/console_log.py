"""A run's captured console (``logs/console.txt``), following the end while it grows.

Following is a state of the widget, not a scroll made once: text often
arrives while the Console tab is hidden, when the widget has no size (and no
scrollbar) and a scroll to the end does nothing. So the widget remembers
that it follows, and scrolls to the end again whenever it gets its size.
Scrolling up leaves the end; scrolling back down to it follows again.
"""

from __future__ import annotations

import textwrap

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from runhistory.api._safe_text import safe_line


def clean_line(line: str) -> str:
    """One line safe to show: escapes and control characters gone, tabs expanded, long lines
    cut, and a carriage return (a progress bar redrawing its line) keeping what was drawn last."""
    return safe_line(line)


class ConsoleLog(ScrollView, can_focus=True):
    """The console's newest ``MAX_LINES`` lines. The unfinished last line (a progress
    bar) is redrawn in place as it changes; the view follows the end unless scrolled up."""

    DEFAULT_CSS = """
    ConsoleLog { background: $surface; }
    ConsoleLog > .console--missing { color: $text-muted; }
    """

    MAX_LINES = 20_000

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[str] = []
        self._partial = ""  # raw text after the last newline
        self._width = 0
        self.missing = False
        #: Keeps the view at the end as text arrives (until the user scrolls up; again once back at the end).
        self.following = True

    @property
    def text(self) -> str:
        """Everything shown, as one string."""
        return "\n".join(self.lines + ([clean_line(self._partial)] if self._partial else []))

    def show_text(self, text: str, *, restart: bool) -> None:
        """Append ``text`` (or replace what is shown with it); the view keeps to the end while following."""
        follow = restart or self.missing or self.following
        if restart or self.missing:
            self.lines, self._partial, self._width = [], "", 0
        self.missing = False
        pieces = (self._partial + text.replace("\r\n", "\n")).split("\n")
        self._partial = pieces.pop()
        for raw in pieces:
            line = clean_line(raw)
            self.lines.append(line)
            self._width = max(self._width, len(line))
        if len(self.lines) > self.MAX_LINES:
            del self.lines[: len(self.lines) - self.MAX_LINES]
        self._resize(follow)

    def show_missing(self, message: str) -> None:
        """Say why there is nothing to show."""
        self.lines = textwrap.wrap(message, 72)
        self._partial, self.missing = "", True
        self._width = max((len(line) for line in self.lines), default=0)
        self._resize(False)

    def _resize(self, follow: bool) -> None:
        count = len(self.lines) + (1 if self._partial else 0)
        self.virtual_size = Size(max(self._width, len(clean_line(self._partial))), count)
        self.refresh()
        if follow:
            self.following = True
            self._to_end()

    def _to_end(self) -> None:
        # Forced: before the next layout a log that has just grown past the pane has no
        # scrollbar yet, and an unforced scroll would be refused.
        self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.size.height:  # a log that is not shown has no view for the user to move
            self.following = new_value >= self.max_scroll_y

    def on_resize(self) -> None:
        # Also when the tab is first shown: the end scrolled to while hidden is found again.
        if self.following:
            self._to_end()

    def on_show(self) -> None:
        if self.following:
            self._to_end()

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_offset.y) + y
        if index < len(self.lines):
            line = self.lines[index]
        elif index == len(self.lines) and self._partial:
            line = clean_line(self._partial)
        else:
            return Strip.blank(self.size.width, self.rich_style)
        style = self.rich_style + (Style(dim=True) if self.missing else Style())
        x = int(self.scroll_offset.x)
        return Strip([Segment(line, style)]).crop_extend(x, x + self.size.width, self.rich_style)
