"""Text from a store, a server or a file made safe to put on a terminal.

Anything a training script wrote (a name, a string value, an artifact, its
console) and anything a server answers may hold terminal escape sequences (a
title change, a cursor move, a clear-screen, a clipboard write), bare control
characters, invalid UTF-8 or one enormous line. What leaves this module holds
none of those: printable characters, newlines and spaces only, with lines and
the whole text cut to sizes a screen can draw quickly.

``safe_line`` and ``safe_text`` are the one way the CLI, the app and the
logger clean such text before it reaches a terminal.
"""

from __future__ import annotations

import re

#: Characters of one line kept for display; the rest is cut and marked.
MAX_LINE_CHARS = 1_000
#: Lines kept for display.
MAX_LINES = 2_000
#: Characters kept for display in all.
MAX_CHARS = 200_000
#: Marks a line or text that was cut.
CUT_MARK = " …"

# Escape sequences, 7-bit (ESC-introduced) and 8-bit (C1-introduced): CSI (colours,
# cursor moves, clear-screen), OSC (title changes, hyperlinks, clipboard), DCS/SOS/PM/APC
# strings, and two-character escapes. An unterminated string runs to the end.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"  # CSI
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS, SOS, PM, APC
    r"|\x1b[ -/]*[0-~]?"  # other escapes (charset selection, keypad modes, reset)
)
# C0 controls but tab and newline, DEL, C1 controls, and the Unicode line and paragraph
# separators and bidi overrides, which can make text read other than it is.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def decode(data: bytes) -> str:
    """Bytes as text: UTF-8, with invalid bytes shown as U+FFFD."""
    return data.decode("utf-8", errors="replace")


def strip_escapes(text: str) -> str:
    """``text`` without escape sequences or control characters (tabs and newlines kept).

    A carriage return (a progress bar redrawing its line) keeps what was drawn last.
    """
    text = _ESCAPES.sub("", text.replace("\r\n", "\n"))
    if "\r" in text:
        text = "\n".join(_last_drawn(line) for line in text.split("\n"))
    return _CONTROLS.sub("", text)


def _last_drawn(line: str) -> str:
    if "\r" not in line:
        return line
    return next((part for part in reversed(line.split("\r")) if part), "")


def safe_line(line: str, max_chars: int = MAX_LINE_CHARS) -> str:
    """One line safe to show: no escapes or controls, tabs expanded, at most ``max_chars``."""
    # Clean a head of the line only, so that a huge line costs little; a longer head when
    # escapes took up most of it.
    window = 4 * max_chars
    while True:
        head = strip_escapes(line[:window])
        if len(head) >= max_chars or window >= len(line):
            break
        window *= 8
    line = head.replace("\n", " ").expandtabs(8)
    if len(line) > max_chars:
        line = line[: max_chars - len(CUT_MARK)] + CUT_MARK
    return line


def safe_text(
    data: bytes | str,
    *,
    max_line_chars: int = MAX_LINE_CHARS,
    max_lines: int = MAX_LINES,
    max_chars: int = MAX_CHARS,
) -> tuple[str, bool]:
    """Text safe to show, and whether it was cut.

    Args:
        data: Raw bytes (decoded as UTF-8, invalid bytes replaced) or text.
        max_line_chars: Characters kept per line.
        max_lines: Lines kept.
        max_chars: Characters kept in all.

    Returns:
        The text (lines joined by newlines) and True when any line, or the text, was cut.
    """
    text = decode(data) if isinstance(data, bytes) else data
    lines: list[str] = []
    total = 0
    cut = False
    start = 0
    while start <= len(text):
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        raw = text[start:end]
        start = end + 1
        if len(lines) == max_lines or total >= max_chars:
            # Only the empty end after a final newline left: nothing was cut.
            cut = not (end == len(text) and raw == "" and lines)
            break
        line = safe_line(raw, max_line_chars)
        cut = cut or line.endswith(CUT_MARK) and not raw.endswith(CUT_MARK)
        if total + len(line) > max_chars:
            line = line[: max_chars - total]
            cut = True
        lines.append(line)
        total += len(line) + 1
    if lines and lines[-1] == "" and text.endswith("\n"):
        lines.pop()
    return "\n".join(lines), cut
