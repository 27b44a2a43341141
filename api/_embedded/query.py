"""Queries compiled to SQLite (see ``runhistory.api._sql.query`` for what every SQL store
shares, and how a page of a large store is planned)."""

from __future__ import annotations

from typing import Any

from .._sql.query import Compiler, like_pattern


class SqliteCompiler(Compiler):
    """A query compiled to SQLite: ``GLOB`` for globs, ``LIKE`` (which ignores the case of ASCII
    letters) for substrings, and the trigram index ``run_text`` for the runs' words."""

    def glob(self, column: str, pattern: str) -> tuple[str, list[Any]]:
        """See ``Compiler.glob``."""
        return f"lower({column}) GLOB lower(?)", [pattern]

    def contains(self, column: str, text: str) -> tuple[str, list[Any]]:
        """See ``Compiler.contains``."""
        return f"{column} LIKE ? ESCAPE '\\'", [like_pattern(text)]

    def words(self, text: str) -> tuple[str, list[Any]]:
        """See ``Compiler.words``."""
        # LIKE finds candidates in the index (its % and _ may match more); instr keeps exact ones.
        return (
            "runs.id IN (SELECT run_id FROM run_text WHERE body LIKE ? AND instr(lower(body), ?) > 0)",
            [f"%{text}%", text.lower()],
        )
