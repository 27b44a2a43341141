"""The runs table: one row per run, keyed by run id, that keeps its cursor on the same run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey


@dataclass(frozen=True)
class RunColumn:
    """A column of the runs table.

    Attributes:
        key: ``id``, ``experiment``, ``status``, ``started``, ``duration``,
            ``spark`` or ``metric:NAME``.
        label: Header text.
        width: Cells wide.
        right: Right-aligned (numbers, times).
        sorted: The table is sorted by this column.
    """

    key: str
    label: str
    width: int
    right: bool = False
    sorted: bool = False


class RunsTable(DataTable[Text]):
    """Runs, one per row. Rows are replaced as a whole list; the cursor stays on its run."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Open run", tooltip="Open the run under the cursor"),
        Binding("home", "scroll_top", "First run", show=False),
        Binding("end", "scroll_bottom", "Last loaded run", show=False),
    ]

    @dataclass
    class NearEnd(Message):
        """The cursor or the view came near the last row: time to load more."""

        table: RunsTable

    @dataclass
    class InView(Message):
        """The runs in view changed (scrolled, resized, reloaded)."""

        run_ids: list[str]

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, RunsTable.InView)

    @dataclass
    class SortRequested(Message):
        """A column header was clicked."""

        column: str

    #: Rows from the end at which ``NearEnd`` is posted.
    NEAR = 30

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, cursor_foreground_priority="renderable")
        self._columns: list[RunColumn] = []
        self._order: list[str] = []
        self._cells: dict[str, list[Text]] = {}

    @property
    def run_ids(self) -> list[str]:
        """The runs shown, top to bottom."""
        return list(self._order)

    @property
    def cursor_run_id(self) -> str | None:
        """The run under the cursor."""
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self._order[self.cursor_row]

    def cells_of(self, run_id: str) -> list[str]:
        """The plain text of a run's cells, left to right (for tests and the filter)."""
        return [cell.plain for cell in self._cells.get(run_id, [])]

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """The table's size after rows were added. Every column here has a fixed width and every
        row one line, so nothing needs measuring; DataTable would measure each new cell (a page
        of runs costs it a full render's time) only to learn widths it does not use."""
        rows = list(new_rows)
        if any(c.auto_width for c in self.columns.values()) or any(
            self.rows[k].auto_height for k in rows if k in self.rows
        ):
            super()._update_dimensions(rows)
            return
        width = sum(c.get_render_width(self) for c in self.columns.values()) + self._row_label_column_width
        self.virtual_size = Size(width, self._total_row_height + (self.header_height if self.show_header else 0))

    def show(self, columns: list[RunColumn], rows: list[tuple[str, list[Text]]]) -> None:
        """Show ``rows`` (run id, cells) under ``columns``; only what changed is redrawn."""
        if columns != self._columns:
            self._columns = list(columns)
            keep = self.cursor_run_id
            self.clear(columns=True)
            for column in columns:
                label = Text(
                    column.label,
                    justify="right" if column.right else "left",
                    no_wrap=True,
                    style="underline" if column.sorted else "",
                )
                self.add_column(label, width=column.width, key=column.key)
            self._order = []
            self._cells = {}
            self._rebuild(rows, keep, 0)
            return
        order = [run_id for run_id, _ in rows]
        if order != self._order:
            keep = self.cursor_run_id
            offset = self.cursor_row - int(self.scroll_y)
            self._rebuild(rows, keep, offset)
            return
        for run_id, cells in rows:
            old = self._cells.get(run_id, [])
            if cells is old:
                continue
            for index, (column, cell) in enumerate(zip(self._columns, cells)):
                before = old[index] if index < len(old) else None
                if (
                    before is None
                    or cell.plain != before.plain
                    or cell.spans != before.spans
                    or cell.style != before.style
                ):
                    self.update_cell(run_id, column.key, cell)
            self._cells[run_id] = cells

    def set_cell(self, run_id: str, column: str, cell: Text) -> None:
        """Replace one cell (the spinner of a running run) without touching the rest."""
        cells = self._cells.get(run_id)
        keys = [c.key for c in self._columns]
        if cells is None or column not in keys:
            return
        index = keys.index(column)
        if cells[index].plain != cell.plain:
            cells[index] = cell
            self.update_cell(run_id, column, cell)

    def _rebuild(self, rows: list[tuple[str, list[Text]]], keep: str | None, offset: int) -> None:
        old_row = self.cursor_row
        self.clear()
        for run_id, cells in rows:
            self.add_row(*cells, key=run_id)
        self._order = [run_id for run_id, _ in rows]
        self._cells = dict(rows)
        if not rows:
            return
        index = self._order.index(keep) if keep in self._cells else min(max(old_row, 0), len(rows) - 1)
        self.move_cursor(row=index, scroll=False)
        top = max(0, index - max(0, offset))
        self.call_after_refresh(self._restore_scroll, top)

    def _restore_scroll(self, top: int) -> None:
        self.scroll_to(y=top, animate=False, immediate=True)
        self._scroll_cursor_into_view()
        self._report_view()

    def _report_view(self) -> None:
        if not self._order:
            return
        top = int(self.scroll_y)
        bottom = top + max(1, self.scrollable_content_region.height)
        self.post_message(self.InView(self._order[top:bottom]))
        if bottom >= len(self._order) - self.NEAR or self.cursor_row >= len(self._order) - self.NEAR:
            self.post_message(self.NearEnd(self))

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if int(old) != int(new):
            self._report_view()

    def on_resize(self) -> None:
        self.call_after_refresh(self._report_view)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.cursor_row >= len(self._order) - self.NEAR:
            self.post_message(self.NearEnd(self))

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.post_message(self.SortRequested(str(event.column_key.value)))
