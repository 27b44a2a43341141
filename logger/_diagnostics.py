"""The logger's diagnostics, through ``logging.getLogger("runhistory")``.

A program that set up logging gets them through its own handlers. One that
did not still sees them, one line each on stderr as ``runhistory: …``: a
spooled run or a refused value must never go unsaid. Every message may quote
a server's words or a path, so it is cleaned by ``safe_line`` first.
"""

from __future__ import annotations

import logging
import sys

from runhistory.api._safe_text import safe_line

#: Longest diagnostic line, in characters.
MAX_MESSAGE_CHARS = 2000

log = logging.getLogger("runhistory")


class _StderrUnlessConfigured(logging.Handler):
    """Writes ``runhistory: …`` to the current ``sys.stderr`` while the program has no logging set up."""

    def emit(self, record: logging.LogRecord) -> None:
        if logging.getLogger().handlers:
            return  # the program set up logging: the record reaches its handlers
        try:
            sys.stderr.write(f"runhistory: {record.getMessage()}\n")
            sys.stderr.flush()
        except Exception:  # stderr closed at exit: nothing left to tell
            pass


if not any(isinstance(h, _StderrUnlessConfigured) for h in log.handlers):
    log.addHandler(_StderrUnlessConfigured(logging.WARNING))


def say(message: str, level: int = logging.WARNING) -> None:
    """One diagnostic line (cleaned of escape sequences and control characters)."""
    log.log(level, "%s", safe_line(message, MAX_MESSAGE_CHARS))
