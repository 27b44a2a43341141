"""A run's captured console (``logs/console.txt``), following the end while it grows."""

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

    @property
    def text(self) -> str:
        """Everything shown, as one string."""
        return "\n".join(self.lines + ([clean_line(self._partial)] if self._partial else []))

    def show_text(self, text: str, *, restart: bool) -> None:
        """Append ``text`` (or replace what is shown with it); stays at the end if it was there."""
        follow = restart or self.missing or self.is_vertical_scroll_end
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
            self.scroll_end(animate=False, immediate=True, x_axis=False)

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
