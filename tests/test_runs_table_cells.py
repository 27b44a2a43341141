"""The runs table's shortcut for drawing a one-line cell gives exactly what DataTable's
way through Rich gives, for every justification, overflow, style and width it meets."""

from __future__ import annotations

import itertools

from rich.console import Console
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.renderables.styled import Styled

from runhistory.app.widgets.runs_table import _plain_line

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


def test_the_click_style_added_last_gives_the_same_styles() -> None:
    base = Style(color="white", bgcolor="black")
    meta = Style.from_meta({"row": 3, "column": 2})
    cursor = Style(bgcolor="blue", bold=True)
    for segment_style in [Style.null(), Style(dim=True), Style(color="red", bold=False), Style(underline=True)]:
        assert (base + meta + cursor) + segment_style == (base + cursor + segment_style) + meta
