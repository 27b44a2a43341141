"""The runs table: one row per run, keyed by run id, that keeps its cursor on the same run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

_NEWLINE = Text("\n")
_NULL = Style.null()


@dataclass
class _Pass:
    """What one drawing pass of the runs table draws its rows with (read once per pass)."""

    width: int
    scroll_x: int
    scroll_y: int
    header: int
    base: Style
    widths: list[int]
    padding: int
    cursor_row: int
    hover_row: int
    #: The row's style and the style laid after the cell's, for a plain row, the cursor's
    #: row, the hovered row, and the cursor's row hovered (in that order).
    kinds: list[tuple[Style, Style | None]]
    #: A segment's style over each kind of row, by (kind, id of the segment's style),
    #: with the segment's style kept so that its id stays its own.
    styled: dict[tuple[int, int], tuple[Style | None, Style]]


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
    NEAR = 12
    #: Cells whose text (padded and cropped to the column), and cell positions whose click
    #: style, are kept across redraws.
    CELL_CACHE = 20_000

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, cursor_foreground_priority="renderable")
        self._columns: list[RunColumn] = []
        self._order: list[str] = []
        self._cells: dict[str, list[Text]] = {}
        self._cell_lines: dict[tuple[int, int], tuple[Text, list[Segment]]] = {}
        self._pass: _Pass | None = None

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

    def render_lines(self, crop: Region) -> list[Strip]:
        # What every row's drawing reads, read once for the whole pass (see ``render_line``).
        self._pass = self._read_pass()
        try:
            return super().render_lines(crop)
        finally:
            self._pass = None

    def _draws_rows(self) -> bool:
        """Whether the runs' rows are drawn here (``render_line``): always, unless the table
        is set up in a way they do not cover, and DataTable then draws them all."""
        return not (
            self.cursor_type != "row"
            or self.fixed_rows
            or self.fixed_columns
            or self.zebra_stripes
            or (self._labelled_row_exists and self.show_row_labels)
            or self._total_row_height != len(self._order)
            or len(self.ordered_columns) != len(self._columns)
        )

    def _read_pass(self) -> _Pass | None:
        """The settings a pass draws rows with (``None`` where DataTable draws them)."""
        if not self._draws_rows():
            return None
        show_cursor = self.show_cursor
        show_hover = show_cursor and self._show_hover_cursor
        css_fg = self.cursor_foreground_priority == "css"
        css_bg = self.cursor_background_priority == "css"
        base = self.rich_style
        kinds = []
        for cursor, hover in ((False, False), (True, False), (False, True), (True, True)):
            component, post = self._get_styles_to_render_cell(
                False, False, False, hover, cursor, show_cursor, show_hover, css_fg, css_bg
            )
            kinds.append((base + component, post or None))
        scroll_x, scroll_y = self.scroll_offset
        return _Pass(
            width=self.size.width,
            scroll_x=scroll_x,
            scroll_y=scroll_y,
            header=self.header_height if self.show_header else 0,
            base=base,
            widths=[column.get_render_width(self) for column in self.ordered_columns],
            padding=self.cell_padding,
            cursor_row=self.cursor_coordinate.row if show_cursor else -1,
            hover_row=self.hover_coordinate.row if show_hover else -1,
            kinds=kinds,
            styled={},
        )

    def render_line(self, y: int) -> Strip:
        """One line of the table. The header is DataTable's; a run's row is drawn here.

        DataTable draws every cell in view again after any change to the table (a new
        page, a re-sort), each through Rich's general machinery, and adds a click target
        to every segment; that took most of a filter's time on screen. A row here is its
        cells' one-line texts (kept per cell and width: the screen reuses a run's cells
        while they show the same) with the row's style laid over them, the same segments
        for much less work. Clicks and hovering find their row from where the mouse is
        (``_on_click``, ``_on_mouse_move``) instead of from a click target.
        """
        draw = self._pass
        if draw is None or y < draw.header:
            return super().render_line(y)
        row_index = y - draw.header + draw.scroll_y
        if row_index >= len(self._order):
            return Strip.blank(draw.width, draw.base)
        kind = (row_index == draw.cursor_row) + 2 * (row_index == draw.hover_row)
        style, post = draw.kinds[kind]
        styled = draw.styled
        padding = draw.padding
        pad = " " * padding
        segments: list[Segment] = []
        append = segments.append
        total = 0
        for cell, width in zip(self._cells[self._order[row_index]], draw.widths):
            total += width
            inner = width - 2 * padding
            if inner <= 0:
                append(Segment(" " * width, style))
                continue
            if padding:
                append(Segment(pad, style))
            for text, segment_style, control in self._cell_line(cell, inner):
                key = (kind, id(segment_style))
                found = styled.get(key)
                if found is None:
                    # the segment's own style over the row's, as Segment.apply_style lays them
                    combined = style if segment_style is None else style + segment_style
                    found = styled[key] = (segment_style, combined + post if post else combined)
                append(Segment(text, found[1], control))
            if padding:
                append(Segment(pad, style))
        if draw.width > total:  # the row's style carried to the table's right edge
            append(Segment(" " * (draw.width - total), style))
            total = draw.width
        strip = Strip(segments, total)
        if draw.scroll_x or total > draw.width:
            strip = strip.crop(draw.scroll_x, draw.scroll_x + draw.width)
        return strip.adjust_cell_length(draw.width, draw.base).simplify()

    def _row_at(self, event: events.MouseEvent) -> int | None:
        """The row under the mouse, or ``None`` where it is not over a run's row."""
        offset = event.get_content_offset(self)
        header = self.header_height if self.show_header else 0
        if offset is None or offset.y < header:
            return None
        row = offset.y - header + int(self.scroll_y)
        return row if row < len(self._order) else None

    async def _on_click(self, event: events.Click) -> None:
        # Textual calls DataTable's handler after this one unless the event's default is prevented.
        row = self._row_at(event)
        if row is None or "row" in event.style.meta or not self._draws_rows():
            return  # the header, or rows with click targets: DataTable's
        event.prevent_default()
        self._set_hover_cursor(True)
        if self.show_cursor:
            again = row == self.cursor_row
            self.cursor_coordinate = Coordinate(row, self.cursor_column)
            if again:
                self._post_selected_message()  # type: ignore[no-untyped-call]
            self._scroll_cursor_into_view(animate=True)
            event.stop()

    def _on_mouse_move(self, event: events.MouseMove) -> None:
        row = self._row_at(event)
        if row is None or "row" in event.style.meta or not self._draws_rows():
            return  # as in _on_click
        event.prevent_default()
        self._set_hover_cursor(True)
        if self.show_cursor:
            self.hover_coordinate = Coordinate(row, 0)

    def _cell_line(self, cell: Text, width: int) -> list[Segment]:
        """A one-line cell's segments at ``width`` cells, as Rich's Text renders them in a table cell."""
        kept = self._cell_lines.get((id(cell), width))
        if kept is not None and kept[0] is cell:
            return kept[1]
        line = _plain_line(cell, width)
        if line is None:  # spans, or a layout the shortcut does not know: Rich's own way
            console = self.app.console
            options = self.app.console_options
            lines = cell.wrap(
                console,
                width,
                justify=cell.justify or options.justify or "default",
                overflow=cell.overflow or options.overflow or "fold",
                no_wrap=True,
            )
            rendered = list(_NEWLINE.join(lines).render(console, end=""))
            split = list(Segment.split_and_crop_lines(rendered, width, pad=True, include_new_lines=False))
            # nothing rendered: the cell's padding fills the line
            line = split[0] if split else [Segment(" " * width, _NULL)]
        if len(self._cell_lines) >= self.CELL_CACHE:
            self._cell_lines.clear()
        self._cell_lines[id(cell), width] = (cell, line)  # the cell kept: its id is not reused meanwhile
        return line

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


def _plain_line(cell: Text, width: int) -> list[Segment] | None:
    """What Rich makes of a one-line ``Text`` without spans in ``width`` cells (justified,
    cropped or cut with an ellipsis, padded), without its general machinery; ``None``
    for anything else."""
    justify = cell.justify or "default"
    overflow = cell.overflow or "fold"
    if cell.spans or justify not in ("default", "left", "right") or overflow not in ("fold", "crop", "ellipsis"):
        return None
    text = cell.plain.rstrip() if justify == "right" else cell.plain
    if cell_len(text) > width:
        text = set_cell_size(text, width - 1) + "…" if overflow == "ellipsis" else set_cell_size(text, width)
    gap = width - cell_len(text)
    if justify == "right":
        text, gap = " " * gap + text, 0
    elif justify == "left":
        text, gap = text + " " * gap, 0
    style = (
        Style.combine((_NULL, Style.parse(cell.style) if isinstance(cell.style, str) else cell.style))
        if cell.style
        else None
    )
    if not text and style is not None:  # Rich renders nothing, and the cell's padding fills the line
        return [Segment(" " * width, _NULL)]
    line = [Segment(text, style)]
    if gap:
        line.append(Segment(" " * gap))
    return line
