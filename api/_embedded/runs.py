"""Runs in the embedded store: the SQL every store shares (``runhistory.api._sql.runs``),
and how a page of a large store is planned (see ``query``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._sql.part import Connection
from .._sql.runs import QUALIFIED, Page, Runs
from . import query as planning
from .query import SqliteCompiler, estimate

if TYPE_CHECKING:
    from .._query import Query, SortKey
    from .._sql.query import Compiler


class EmbeddedRuns(Runs):
    """The runs' part of ``EmbeddedStore``."""

    compiler = SqliteCompiler

    def _select_runs(self, conn: Connection, now: float, page: Page) -> list[Any]:
        """Rare terms drive the query as sets; when every term is dense, runs are read in the
        order of the first sort key's index and probed (see ``query``)."""
        from .._sql.query import terms_of

        query, keys, count, cursor = page.query, page.keys, page.count, page.cursor
        counts = [estimate(conn, SqliteCompiler(now, self.lost_after), term) for term in terms_of(query)]
        # Terms whose count cannot be told (text searches, `or`, `not`) are not taken for dense.
        dense = all(count is not None and count >= planning.DENSE for count in counts)
        compiler = SqliteCompiler(now, self.lost_after, probe=dense)
        if dense and keys and keys[0].field.kind != "attr":
            return self._by_sort_index(conn, compiler, query, keys, count, cursor)
        return self._rows(conn, compiler, query, keys, count, cursor)

    def _by_sort_index(
        self,
        conn: Connection,
        compiler: Compiler,
        query: Query | None,
        keys: tuple[SortKey, ...],
        count: int,
        cursor: str | None,
    ) -> list[Any]:
        """Runs read in the order of the first key's index, each probed against the query, so a
        page is done once it is full: first the runs whose value is a number (in the index of
        numbers), then those whose value is text (in the index of texts), then the runs without
        the key (they come last)."""
        from .._query import Compare
        from .._sql.query import Compiled, after, order_by, terms_of

        first = keys[0]
        table, column = ("latest_values", "name") if first.field.kind == "metric" else ("run_params", "key")
        start = 0  # the phase the cursor is in: 0 numbers, 1 texts, 2 neither
        if cursor is not None:
            found = conn.execute(
                f"SELECT num, text FROM {table} WHERE run_id = ? AND {column} = ?", (cursor, first.field.name)
            ).fetchone()
            start = 2 if found is None else 0 if found[0] is not None else 1 if found[1] is not None else 2
        # A comparison of the same field with a number bounds the index range read, and
        # leaves out the runs whose value is text or missing (they cannot match it).
        bounds = [
            (t.op, t.value)
            for t in terms_of(query)
            if isinstance(t, Compare)
            and t.field == first.field
            and t.op in ("=", "<", "<=", ">", ">=")
            and isinstance(t.value, (int, float))
            and not isinstance(t.value, bool)
        ]
        rows: list[Any] = []
        for phase, value in enumerate(("num", "text")):
            if phase < start or len(rows) >= count or (bounds and value == "text"):
                continue
            compiled = Compiled()
            compiled.joins.append("JOIN runs ON runs.id = d.run_id")
            compiled.where.append(f"d.{column} = ? AND d.{value} IS NOT NULL")
            compiled.where_args.append(first.field.name)
            if value == "num":
                for op, bound in bounds:
                    compiled.where.append(f"d.num {op} ?")
                    compiled.where_args.append(bound)
            if query is not None:
                sql, args = compiler.where(query)
                compiled.where.append(sql)
                compiled.where_args += args
            compiled.keys.append((f"d.{value}", first.descending))
            compiled.key_args.append([])
            compiler.sort(keys[1:], compiled, first_alias=1)
            if cursor is not None and phase == start:
                exprs = ", ".join(expr for expr, _ in compiled.keys)
                row = conn.execute(
                    f"SELECT {exprs} FROM {table} d {' '.join(compiled.joins)} WHERE d.{column} = ? AND d.run_id = ?",
                    (*[a for more in compiled.key_args for a in more], *compiled.join_args, first.field.name, cursor),
                ).fetchone()
                sql, args = after(compiled, list(row))
                compiled.where.append(sql)
                compiled.where_args += args
                # the same bound again, as a range the index can start from
                compiled.where.append(f"d.{value} {'<=' if first.descending else '>='} ?")
                compiled.where_args.append(row[0])
            order, order_args = order_by(compiled)
            sql = (
                f"SELECT {QUALIFIED} FROM {table} d {' '.join(compiled.joins)} "
                f"WHERE {' AND '.join(compiled.where)} ORDER BY {order} LIMIT ?"
            )
            rows += conn.execute(
                sql, (*compiled.join_args, *compiled.where_args, *order_args, count - len(rows))
            ).fetchall()
        if len(rows) < count and not bounds:
            without = (
                f"NOT EXISTS (SELECT 1 FROM {table} x WHERE x.run_id = runs.id AND x.{column} = ? "
                "AND (x.num IS NOT NULL OR x.text IS NOT NULL))",
                [first.field.name],
            )
            rows += self._rows(conn, compiler, query, keys, count - len(rows), cursor if start == 2 else None, without)
        return rows
