"""The runs table: one row per run, keyed by run id, that keeps its cursor on the same run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

_NEWLINE = Text("\n")
_NULL = Style.null()


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
        self._meta_styles: dict[tuple[int, int], Style] = {}
        self._draw_state: tuple[int, int, int, bool, bool, bool] | None = None

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
        # The settings every cell's drawing reads, read once for the whole pass.
        self._draw_state = self._read_draw_state()
        try:
            return super().render_lines(crop)
        finally:
            self._draw_state = None

    def _read_draw_state(self) -> tuple[int, int, int, bool, bool, bool]:
        return (
            self.fixed_rows,
            self.fixed_columns,
            self.cell_padding,
            self.show_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        """One cell as DataTable draws it, the same segments for less work.

        DataTable renders every cell in view again after any change to the table
        (a new page, a re-sort), each through Rich's general machinery, which took
        most of a filter's time on screen. A one-line ``Text`` cell needs only its
        own line, padded and cropped to the column; that line is kept per cell and
        width (the screen reuses a run's cells while they show the same), so a
        redraw only lays the row's styles over it. Anything else goes to DataTable.
        """
        fixed_rows, fixed_columns, padding, show_cursor, css_fg, css_bg = self._draw_state or self._read_draw_state()
        if row_index < fixed_rows or column_index < max(0, fixed_columns):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cache_key = (
            row_key,
            column_key,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        lines = self._cell_render_cache.get(cache_key)
        if lines is not None:
            return lines
        row = self.rows.get(row_key)
        cells = self._get_row_renderables(row_index).cells
        cell = cells[column_index] if column_index < len(cells) else None
        if (
            row is None
            or row.height != 1
            or not isinstance(cell, Text)
            or cell.no_wrap is False
            or width <= 2 * padding
            or "\n" in cell.plain
            or "\t" in cell.plain
        ):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        inner = self._cell_line(cell, width - 2 * padding)
        component_style, post_style = self._get_styles_to_render_cell(
            False,
            False,
            False,
            hover,
            cursor,
            show_cursor,
            self._show_hover_cursor,
            css_fg,
            css_bg,
        )
        meta = self._meta_styles.get((row_index, column_index))
        if meta is None:  # where a click lands; kept, as making one serialises its meta
            if len(self._meta_styles) >= self.CELL_CACHE:
                self._meta_styles.clear()
            meta = self._meta_styles[row_index, column_index] = Style.from_meta(
                {"row": row_index, "column": column_index}
            )
        # The row's styles laid over each segment, then the click style: the same styles as
        # base + meta + component + segment (a meta style carries nothing else), but all but
        # the last addition are shared by every cell of the row, so Rich's cache has them.
        style = base_style + component_style
        post = post_style or None
        pad = Segment(" " * padding, _NULL)
        lines = [
            [
                Segment(text, meta if segment_style is None else segment_style + meta, control)
                for text, segment_style, control in Segment.apply_style([pad, *inner, pad], style, post)
            ]
        ]
        self._cell_render_cache[cache_key] = lines
        return lines

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
