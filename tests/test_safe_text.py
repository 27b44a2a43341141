"""Text from a run's files reaches the terminal with nothing that could change its state."""

from __future__ import annotations

import re

from runhistory.api._safe_text import (
    CUT_MARK,
    MAX_CHARS,
    MAX_LINE_CHARS,
    MAX_LINES,
    safe_line,
    safe_text,
    strip_escapes,
)

#: Anything a terminal would act on: C0 (but newline), DEL and C1 controls.
TERMINAL_CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def test_escape_sequences_are_removed() -> None:
    assert strip_escapes("\x1b]0;owned\x07title") == "title"  # OSC title, BEL-terminated
    assert strip_escapes("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\") == "link"  # OSC hyperlink, ST-terminated
    assert strip_escapes("\x1b[2J\x1b[Hcleared") == "cleared"  # clear-screen, cursor home
    assert strip_escapes("\x1b[31mred\x1b[0m") == "red"
    assert strip_escapes("\x1b[?1049hmodes\x1b[?25l") == "modes"
    assert strip_escapes("\x1bcreset") == "reset"  # RIS
    assert strip_escapes("\x1b(0charset") == "charset"
    assert strip_escapes("\x9b31m8-bit\x9d0;t\x9c") == "8-bit"  # C1 CSI and OSC
    assert strip_escapes("\x1bPq#0;2;0;0;0\x1b\\sixel") == "sixel"  # DCS
    assert strip_escapes("dangling \x1b]0;never ends") == "dangling "


def test_control_characters_are_removed_newlines_and_tabs_kept() -> None:
    assert strip_escapes("a\x00b\x07c\x08d\x7fe\x85f") == "abcdef"
    assert strip_escapes("one\ttwo\nthree") == "one\ttwo\nthree"
    assert strip_escapes("10%\r50%\r100%\nnext") == "100%\nnext"
    assert strip_escapes("right\u202eto-left") == "rightto-left"


def test_invalid_utf8_is_replaced() -> None:
    text, cut = safe_text(b"ok \xff\xfe\xc3 done")
    assert text == "ok \ufffd\ufffd\ufffd done" and not cut


def test_a_huge_line_is_cut() -> None:
    line = "x" * 10_000_000
    text, cut = safe_text(line.encode())
    assert cut and len(text) == MAX_LINE_CHARS and text.endswith(CUT_MARK)
    assert len(safe_line("\x1b[31m" * 1000 + "y" * 5000, 50)) == 50


def test_lines_and_total_are_capped() -> None:
    text, cut = safe_text("line\n" * 10, max_lines=3)
    assert text == "line\nline\nline" and cut
    text, cut = safe_text(("abcdefghij\n" * 100).encode(), max_chars=55)
    assert cut and len(text) <= 55
    assert safe_text(b"a\nb\n") == ("a\nb", False)
    assert safe_text(b"") == ("", False)


def test_nothing_a_terminal_acts_on_survives() -> None:
    hostile = bytes(range(256)).decode("latin-1") * 4 + "\x1b]0;owned\x07\x1b[2J\x1b[31m\x1b"
    text, _ = safe_text(hostile)
    assert not TERMINAL_CONTROLS.search(text.replace("\t", ""))
    assert "\x1b" not in text


def test_the_default_limits_at_the_edge_and_one_past() -> None:
    assert safe_text(b"x" * MAX_LINE_CHARS) == ("x" * MAX_LINE_CHARS, False)
    text, cut = safe_text(b"x" * (MAX_LINE_CHARS + 1))
    assert cut and len(text) == MAX_LINE_CHARS and text.endswith(CUT_MARK)
    assert safe_text(b"y\n" * MAX_LINES) == ("\n".join(["y"] * MAX_LINES), False)
    text, cut = safe_text(b"y\n" * (MAX_LINES + 1))
    assert cut and text.count("\n") == MAX_LINES - 1
    # MAX_CHARS: lines short enough and few enough that only the total counts.
    per_line = MAX_CHARS // MAX_LINES  # 100 characters, newline included
    exact = ("z" * (per_line - 1) + "\n") * MAX_LINES
    text, cut = safe_text(exact.encode())
    assert not cut and len(text) == MAX_CHARS - 1  # the last newline is not kept
    text, cut = safe_text(("z" * per_line + "\n") * MAX_LINES)
    assert cut and len(text) <= MAX_CHARS
