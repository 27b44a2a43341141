"""Text for one table cell: safe to put on a terminal and no wider than the cell."""

from __future__ import annotations

from runhistory.api._safe_text import safe_line


def fit(text: str, chars: int) -> str:
    """``text`` as one safe line (see ``safe_line``) of at most ``chars`` characters, cut with "…"."""
    text = safe_line(text, chars + 1)
    return text if len(text) <= chars else text[: chars - 1] + "…"
