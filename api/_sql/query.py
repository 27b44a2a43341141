"""Queries and sorts (parsed by ``runhistory.api._query``) compiled to SQL.

A query becomes a ``WHERE`` clause over ``runs``: params, tags and metrics'
latest values are looked up through their own indexed tables
(``run_params``, ``run_tags``, ``latest_values``) as ``runs.id IN (…)``
sets, which the database drives from their indexes. Every term yields a definite
true or false (never NULL), so ``not`` means what it says.

What a database says its own way (a glob, a case-insensitive substring, a search
of the runs' words) is a method each store's compiler gives (``Compiler.glob``,
``Compiler.contains``, ``Compiler.words``); the rest is SQL both understand.

A sort becomes ``ORDER BY`` over run columns and ``LEFT JOIN``-ed params or
latest values; runs without a key come last whichever the direction, then
the newest first. Pages follow one another by keyset: the cursor is the last
run of the page, whose keys say where the next page starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._errors import InvalidInput
from .._models import RUN_STATUSES
from .._query import (
    And,
    Compare,
    Field,
    HasTag,
    Not,
    Or,
    Query,
    SortKey,
    Text,
    glob_or_substring,
)

#: Run attributes as SQL over ``runs`` (``?`` placeholders are filled by ``_attr_args``).
_COLUMNS = {
    "id": "runs.id",
    "name": "runs.name",
    "experiment": "runs.experiment",
    "started_at": "runs.started_at",
    "ended_at": "runs.ended_at",
    "host": "runs.host",
    "user": 'runs."user"',  # a reserved word in PostgreSQL
    "git_commit": "runs.git_commit",
    "note": "runs.note",
}
_STATUS = "(CASE WHEN runs.status = 'running' AND runs.heartbeat_at < ? THEN 'lost' ELSE runs.status END)"
_DURATION = "(COALESCE(runs.ended_at, ?) - runs.started_at)"


def _status_holds(status: str, pattern: str, is_glob: bool) -> bool:
    if is_glob:
        import fnmatch

        return fnmatch.fnmatchcase(status, pattern.lower())
    return pattern.lower() in status


def like_pattern(text: str) -> str:
    """A ``LIKE`` pattern (escaped with ``\\``) matching what holds ``text``."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass
class Compiled:
    """SQL pieces for ``SELECT … FROM runs {joins} WHERE {where} ORDER BY {order}``."""

    where: list[str] = field(default_factory=list)
    where_args: list[Any] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)
    join_args: list[Any] = field(default_factory=list)
    keys: list[tuple[str, bool]] = field(default_factory=list)  # (expression, descending)
    key_args: list[list[Any]] = field(default_factory=list)  # each key expression's arguments


class Compiler:
    """Compiles for one moment: ``now`` decides which running runs read as ``lost``.

    A store's compiler says a glob, a substring and a search of the runs' words in its
    database's own SQL (the methods that raise ``NotImplementedError`` here).

    Args:
        now: The current time, epoch seconds.
        lost_after: Seconds without a heartbeat after which a running run is ``lost``.
        probe: Test membership of params, tags and metrics run by run (see ``_member``).
    """

    def __init__(self, now: float, lost_after: float, *, probe: bool = False) -> None:
        self.now = now
        self.cutoff = now - lost_after
        self.probe = probe

    def _member(self, table: str, condition: str) -> str:
        """``runs.id`` has a row in ``table`` meeting ``condition``: as a set SQLite builds once
        (``IN``, best when the set is small), or probed run by run (``EXISTS``, best when runs are
        read in an index's order and the first page fills early)."""
        if self.probe:
            return f"(EXISTS (SELECT 1 FROM {table} m WHERE m.run_id = runs.id AND {condition}))"
        return f"(runs.id IN (SELECT run_id FROM {table} WHERE {condition}))"

    # -- what each database says its own way ----------------------------------------

    def glob(self, column: str, pattern: str) -> tuple[str, list[Any]]:
        """``column`` matches the glob ``pattern`` (``*``, ``?``, ``[…]``), ignoring case."""
        raise NotImplementedError

    def contains(self, column: str, text: str) -> tuple[str, list[Any]]:
        """``column`` holds ``text``, ignoring case."""
        raise NotImplementedError

    def words(self, text: str) -> tuple[str, list[Any]]:
        """The runs whose words (``RUN_TEXT``: id, name, experiment, note, command, tags) hold ``text``."""
        raise NotImplementedError

    # -- attributes ---------------------------------------------------------------

    def attr(self, name: str) -> tuple[str, list[Any]]:
        """A run attribute's expression and its arguments."""
        if name == "status":
            return _STATUS, [self.cutoff]
        if name == "duration":
            return _DURATION, [self.now]
        return _COLUMNS[name], []

    # -- where --------------------------------------------------------------------

    def where(self, query: Query) -> tuple[str, list[Any]]:
        """``query`` as a condition that is always 0 or 1."""
        if isinstance(query, And) or isinstance(query, Or):
            parts = [self.where(term) for term in query.terms]
            joiner = " AND " if isinstance(query, And) else " OR "
            return "(" + joiner.join(p[0] for p in parts) + ")", [a for p in parts for a in p[1]]
        if isinstance(query, Not):
            sql, args = self.where(query.term)
            return f"(NOT {sql})", args
        if isinstance(query, HasTag):
            return self._member("run_tags", "tag = ?"), [query.tag]
        if isinstance(query, Text):
            return self._text_search(query.text)
        return self._compare(query)

    def _text_search(self, text: str) -> tuple[str, list[Any]]:
        """A word's runs: its id, name, experiment, note, command or tags contain it (through
        ``words``; a glob reads the columns), or the status holds it."""
        is_glob, pattern = glob_or_substring(text)
        args: list[Any] = []
        tests = []
        if is_glob:
            columns = [_COLUMNS["id"], _COLUMNS["name"], _COLUMNS["experiment"], _COLUMNS["note"], "runs.command"]
            for column in columns:
                sql, more = self.glob(column, pattern)
                tests.append(sql)
                args += more
            sql, more = self.glob("tag", pattern)
            tests.append(f"runs.id IN (SELECT run_id FROM run_tags WHERE {sql})")
            args += more
        else:
            sql, more = self.words(pattern)
            tests.append(sql)
            args += more
        if any(_status_holds(status, pattern, is_glob) for status in RUN_STATUSES):
            sql, more = self._match(_STATUS, "~", text)
            tests.append(sql)
            args += [self.cutoff, *more]
        if len(tests) == 1 and not is_glob:
            # The words alone (``runs.id IN (…)``) are never NULL. Bare, PostgreSQL joins them
            # (the words' index read first: 4 ms for 100,000 runs); inside COALESCE it tests every run (40 ms).
            return tests[0], args
        return "COALESCE(" + " OR ".join(tests) + ", FALSE)", args

    def _match(self, column: str, op: str, value: Any) -> tuple[str, list[Any]]:
        """``column op value`` for one value (``~``: substring or glob, case-insensitively)."""
        if op == "~":
            is_glob, pattern = glob_or_substring(str(value))
            return self.glob(column, pattern) if is_glob else self.contains(column, pattern)
        if value is None:
            return f"{column} {'IS' if op == '=' else 'IS NOT'} NULL", []
        return f"{column} {op} ?", [int(value) if isinstance(value, bool) else value]

    def _compare(self, term: Compare) -> tuple[str, list[Any]]:
        field_, op, value = term.field, term.op, term.value
        if field_.kind == "attr":
            column, args = self.attr(field_.name)
            if field_.name == "status" and op in ("=", "!=") and value in ("running", "lost"):
                # the index on (status, …) serves these
                test = "runs.heartbeat_at >= ?" if value == "running" else "runs.heartbeat_at < ?"
                sql = f"(runs.status = 'running' AND {test})"
                return (sql if op == "=" else f"(NOT {sql})"), [self.cutoff]
            if field_.name == "status" and op in ("=", "!="):
                return f"COALESCE(runs.status {op} ?, FALSE)", [value]
            sql, more = self._match(column, op, value)
            return f"COALESCE({sql}, FALSE)", args + more
        if field_.kind == "param":
            if op == "~":
                test, args = self._match("text", op, value)
                kinds = "kind IN ('text', 'list')"
            elif value is None:
                test, args = ("kind = 'null'" if op == "=" else "kind != 'null'"), []
                kinds = "TRUE"
            elif isinstance(value, bool):
                test, args = self._match("num", op, value)
                kinds = "kind = 'bool'"
            elif isinstance(value, (int, float)):
                test, args = self._match("num", op, value)
                kinds = "kind = 'number'"
            else:
                test, args = self._match("text", op, value)
                kinds = "kind = 'text'"
            return self._member("run_params", f"key = ? AND {kinds} AND {test}"), [field_.name, *args]
        # a metric's latest value
        if value is None:
            test = "num IS NULL AND text IS NULL" if op == "=" else "(num IS NOT NULL OR text IS NOT NULL)"
            args = []
        elif op == "~" or isinstance(value, str):
            test, args = self._match("text", op, value)
        else:
            test, args = self._match("num", op, value)
        return self._member("latest_values", f"name = ? AND {test}"), [field_.name, *args]

    # -- sort ---------------------------------------------------------------------

    def sort(self, keys: tuple[SortKey, ...], compiled: Compiled, first_alias: int = 0) -> None:
        """Add ``keys`` (then newest first, then by id) to ``compiled``."""
        for n, key in enumerate(keys, start=first_alias):
            self._sort_key(n, key.field, key.descending, compiled)
        compiled.keys += [("runs.started_at", True), ("runs.id", True)]
        compiled.key_args += [[], []]

    def _sort_key(self, n: int, field_: Field, descending: bool, compiled: Compiled) -> None:
        if field_.kind == "attr":
            expr, args = self.attr(field_.name)
            compiled.keys.append((expr, descending))
            compiled.key_args.append(args)
            return
        alias = f"s{n}"
        if field_.kind == "param":
            compiled.joins.append(f"LEFT JOIN run_params {alias} ON {alias}.run_id = runs.id AND {alias}.key = ?")
        else:
            compiled.joins.append(f"LEFT JOIN latest_values {alias} ON {alias}.run_id = runs.id AND {alias}.name = ?")
        compiled.join_args.append(field_.name)
        # numbers (and booleans) first, then text, each in the key's direction
        compiled.keys += [(f"{alias}.num", descending), (f"{alias}.text", descending)]
        compiled.key_args += [[], []]


def order_by(compiled: Compiled) -> tuple[str, list[Any]]:
    """``ORDER BY`` for the keys: runs without a key last, whichever the direction."""
    parts = []
    args: list[Any] = []
    for (expr, descending), more in zip(compiled.keys, compiled.key_args, strict=True):
        if expr in ("runs.id", "runs.started_at", "d.num", "d.text"):  # never NULL
            parts.append(f"{expr} {'DESC' if descending else 'ASC'}")
            args += more
        else:
            parts.append(f"({expr}) IS NULL, {expr} {'DESC' if descending else 'ASC'}")
            args += more + more
    return ", ".join(parts), args


def after(compiled: Compiled, values: list[Any]) -> tuple[str, list[Any]]:
    """The keyset condition for rows after the row whose keys are ``values``."""
    ors: list[str] = []
    ors_args: list[Any] = []
    equal: list[str] = []
    equal_args: list[Any] = []
    for (expr, descending), more, value in zip(compiled.keys, compiled.key_args, values, strict=True):
        if value is None:  # nothing is beyond NULL (it sorts last): only equal ones go on
            equal.append(f"{expr} IS NULL")
            equal_args += more
            continue
        op = "<" if descending else ">"
        beyond = f"({expr} {op} ? OR {expr} IS NULL)"
        ors.append("(" + " AND ".join([*equal, beyond]) + ")")
        ors_args += equal_args + more + [value] + more
        equal.append(f"{expr} = ?")
        equal_args += more + [value]
    if not ors:
        return "FALSE", []
    return "(" + " OR ".join(ors) + ")", ors_args


def malformed_cursor(cursor: object) -> InvalidInput:
    return InvalidInput(f"malformed cursor {cursor!r}: expected a full run id")


def terms_of(query: Query | None) -> list[Query]:
    """The terms a query needs all of (the parts of a top-level ``and``)."""
    if query is None:
        return []
    return list(query.terms) if isinstance(query, And) else [query]


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
        set_form = type(compiler)(compiler.now, compiler.now - compiler.cutoff)
        inner, args = set_form._compare(term)
        sql = inner[len("(runs.id IN (") : -2].replace("SELECT run_id", "SELECT 1", 1)
    elif isinstance(term, Compare) and term.field.name in ("experiment", "status") and term.op == "=":
        inner, args = compiler._compare(term)
        sql = f"SELECT 1 FROM runs WHERE {inner}"
    if sql is None:
        return None
    return int(conn.execute(f"SELECT count(*) FROM ({sql} LIMIT {DENSE}) AS found", args).fetchone()[0])
