"""A run's status as a coloured word; a running run gets a spinner."""

from __future__ import annotations

from rich.text import Text

from runhistory.api._safe_text import safe_line

from ..human import STATUS_STYLE

STATUS_ICON = {"completed": "✔", "failed": "✘", "killed": "■", "lost": "?"}
SPINNER = "⣾⣽⣻⢿⡿⣟⣯⣷"
#: Spinner frames per second.
SPIN_RATE = 4


def spinner_frame(now: float) -> str:
    """The spinner's frame at clock time ``now`` (a fixed clock keeps it still)."""
    return SPINNER[int(now * SPIN_RATE) % len(SPINNER)]


def status_text(status: str, now: float) -> Text:
    """``⣾ running``, ``✔ completed``, ``✘ failed`` …, coloured."""
    icon = spinner_frame(now) if status == "running" else STATUS_ICON.get(status, "·")
    return Text(f"{icon} {safe_line(status)}", style=STATUS_STYLE.get(status, ""), no_wrap=True)
