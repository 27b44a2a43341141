"""The runs table's own drawing of a one-line cell and of a run's row gives exactly what
DataTable's way through Rich gives, for every justification, overflow, style and width it
meets, on the cursor's row, a hovered row and scrolled sideways."""

from __future__ import annotations

import itertools

import pytest
from rich.console import Console
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.renderables.styled import Styled
from textual.strip import Strip
from textual.widgets import DataTable

from runhistory.app.widgets.runs_table import RunColumn, RunsTable, _plain_line

TEXTS = ["", "a", "abc   ", "  lead", "0.9123", "a1b2c3d4", "名前のテスト", "x" * 30, "–", "3m 20s"]


def test_a_plain_cell_is_drawn_as_datatable_draws_it() -> None:
    console = Console(width=140, color_system="truecolor", force_terminal=True)
    row_style = Style(bgcolor="blue") + Style.from_meta({"row": 3, "column": 2})
    for plain, justify, overflow, style, width in itertools.product(
        TEXTS, [None, "left", "right"], [None, "ellipsis", "crop"], ["", "dim", "bold #e5c07b"], [1, 4, 8, 12]
    ):
        cell = Text(plain, justify=justify, overflow=overflow, style=style, no_wrap=True)  # type: ignore[arg-type]
        line = _plain_line(cell, width)
        assert line is not None
        pad = Segment(" ", Style.null())
        mine = list(Segment.apply_style([pad, *line, pad], row_style, None))
        options = console.options.update_dimensions(width + 2, 1).update(no_wrap=True)
        theirs = console.render_lines(
            Styled(Padding(cell, (0, 1)), pre_style=row_style, post_style=Style.null()), options
        )
        assert theirs == [mine], (cell, width)


def test_cells_with_spans_are_left_to_rich() -> None:
    cell = Text("mnist")
    cell.append(" sweep", style="dim")
    assert _plain_line(cell, 10) is None


class _Table(App[None]):
    CSS = "RunsTable { width: 40; height: 12; }"

    def compose(self) -> ComposeResult:
        yield RunsTable()


def _cells(line: Strip) -> list[tuple[str, Style | None]]:
    """A drawn line cell by cell, each with its style less the click target (where the
    runs table draws a run's row, a click finds its row from the mouse's place)."""
    cells: list[tuple[str, Style | None]] = []
    for text, style, _ in line:
        plain = style.clear_meta_and_links() if style is not None else None
        cells.extend((char, plain) for char in text)
    return cells


@pytest.mark.anyio
async def test_a_row_is_drawn_as_datatable_draws_it() -> None:
    """Every line of the table, for the cursor's row, a hovered row and plain rows, scrolled
    sideways or not, is what DataTable's own drawing gives, character by character."""
    app = _Table()
    async with app.run_test(size=(80, 16)) as pilot:
        table = app.query_one(RunsTable)
        mixed = Text("mnist")
        mixed.append(" sweep", style="dim")
        columns = [
            RunColumn("id", "Run", 10),
            RunColumn("experiment", "Experiment", 14),
            RunColumn("status", "Status", 9),
            RunColumn("metric:loss", "loss", 8, right=True, sorted=True),
            RunColumn("param:name", "名前", 12),
        ]
        rows = [
            (
                f"run{n}",
                [
                    Text(f"run{n}", no_wrap=True, overflow="ellipsis"),
                    mixed if n % 3 == 0 else Text("x" * (n + 8), no_wrap=True, overflow="ellipsis"),
                    Text("running" if n % 2 else "failed", style="bold #e5c07b" if n % 2 else "red", no_wrap=True),
                    Text(f"{n / 7:.4f}", justify="right", no_wrap=True),
                    Text("名前のテスト" * (n % 2 + 1), no_wrap=True, overflow="crop", style="dim"),
                ],
            )
            for n in range(20)
        ]
        table.show(columns, rows)
        await pilot.pause()
        table.move_cursor(row=2)
        await pilot.hover(RunsTable, offset=(3, 5))  # the fifth run (the header is line 0)
        await pilot.pause()
        assert table.hover_row == 4 and table._show_hover_cursor
        for scroll_x in (0, 7):
            table.scroll_to(x=scroll_x, animate=False, immediate=True)
            await pilot.pause()
            table._pass = table._read_pass()
            assert table._pass is not None and table._pass.scroll_x == scroll_x
            try:
                for y in range(table.size.height):
                    assert _cells(table.render_line(y)) == _cells(DataTable.render_line(table, y)), (scroll_x, y)
            finally:
                table._pass = None
