"""Queries compiled to SQLite (see ``runhistory.api._sql.query`` for what every SQL store
shares), and how a page of a large store is planned.

SQLite's planner does not know how many runs a term matches, so the store asks
(``estimate``): a rare term is read as a set that drives the query; when every term is
*dense*, runs are read in the order of the sort's index and each is probed, and the
first page fills after a few hundred (see ``EmbeddedRuns._by_sort_index``).
"""

from __future__ import annotations

from typing import Any

from .._query import Compare, HasTag, Query
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


#: A term matching at least this many runs is *dense*: when every term of a query is, runs are
#: read in the sort's index order and each is probed, and the first page fills after a few
#: hundred; a rarer term is read as a set first and drives the query.
DENSE = 2000


def estimate(conn: Any, compiler: Compiler, term: Query) -> int | None:
    """How many runs ``term`` matches, counted up to ``DENSE`` through its index; ``None``
    when that cannot be told cheaply (text searches, ``or``, ``not``, most attributes)."""
    sql: str | None = None
    args: list[Any] = []
    if isinstance(term, HasTag):
        sql, args = "SELECT 1 FROM run_tags WHERE tag = ?", [term.tag]
    elif isinstance(term, Compare) and term.field.kind != "attr" and term.op != "~":
        set_form = SqliteCompiler(compiler.now, compiler.now - compiler.cutoff)
        inner, args = set_form._compare(term)
        sql = inner[len("(runs.id IN (") : -2].replace("SELECT run_id", "SELECT 1", 1)
    elif isinstance(term, Compare) and term.field.name in ("experiment", "status") and term.op == "=":
        inner, args = compiler._compare(term)
        sql = f"SELECT 1 FROM runs WHERE {inner}"
    if sql is None:
        return None
    return int(conn.execute(f"SELECT count(*) FROM ({sql} LIMIT {DENSE})", args).fetchone()[0])
