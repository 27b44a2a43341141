"""Queries compiled to PostgreSQL (see ``runhistory.api._sql.query`` for what every SQL store shares).

PostgreSQL plans a query from its own statistics, so every query takes one form: rare
or common, params, tags and metrics are sets the planner joins as it sees fit.
"""

from __future__ import annotations

from typing import Any

from .._sql.query import Compiler, like_pattern


def glob_regex(pattern: str) -> str:
    """A glob (``*``, ``?``, ``[…]`` as SQLite's ``GLOB`` reads them) as an anchored POSIX regular expression."""
    out = ["^"]
    i = 0
    while i < len(pattern):
        c = pattern[i]
        close = pattern.find("]", i + 2) if c == "[" else -1  # a ] right after [ or [^ is itself
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[" and close != -1:
            inside = pattern[i + 1 : close]
            out.append("[" + inside.replace("\\", "\\\\") + "]")
            i = close
        else:
            out.append(c if c.isalnum() else "\\" + c)
        i += 1
    return "".join(out) + "$"


class PostgresCompiler(Compiler):
    """A query compiled to PostgreSQL: regular expressions for globs, ``ILIKE`` for substrings and
    the runs' words (both ignore the case of ASCII letters in the ``C`` collation, as SQLite's do; a
    trigram index of the words serves ``ILIKE``, see ``schema``). Columns that are not text (times,
    durations) are matched as their text."""

    def glob(self, column: str, pattern: str) -> tuple[str, list[Any]]:
        """See ``Compiler.glob``."""
        return f"lower(({column})::text) ~ lower(?)", [glob_regex(pattern)]

    def contains(self, column: str, text: str) -> tuple[str, list[Any]]:
        """See ``Compiler.contains``."""
        return f"({column})::text ILIKE ? ESCAPE '\\'", [like_pattern(text)]

    def words(self, text: str) -> tuple[str, list[Any]]:
        """See ``Compiler.words``."""
        return "runs.id IN (SELECT run_id FROM run_text WHERE body ILIKE ? ESCAPE '\\')", [like_pattern(text)]
