"""Runs in a SQL store: one row each, a column per field of ``Run`` (see ``_rows``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import _rules as rules
from .._errors import AmbiguousRunId, InvalidInput, ParamConflict, RunNotFound, RunStillRunning
from .._limits import MAX_PARAMS, MAX_RUN_NAME_LENGTH, MAX_TAGS
from .._models import DeletedRun, Environment, NewRun, ParamValue, Run, RunPage, RunStatus, utc
from .._params import check_environment, check_note, check_params, check_tags, param_columns, same_param
from .._rows import RUN_FIELDS, run_from_row, run_to_row
from .._validate import check_experiment, check_name, check_run_id
from .part import Connection, StorePart, upsert

if TYPE_CHECKING:
    from .._query import Query, SortKey
    from .query import Compiler

# Quoted: ``user`` is a reserved word in PostgreSQL.
_COLUMNS = ", ".join(f'"{f}"' for f in RUN_FIELDS)
_SELECT = f"SELECT {_COLUMNS} FROM runs"
#: The run's columns, named with their table (for a select that joins others).
QUALIFIED = ", ".join(f'runs."{f}"' for f in RUN_FIELDS)
_INSERT = f"INSERT INTO runs ({_COLUMNS}) VALUES ({', '.join('?' * len(RUN_FIELDS))}) ON CONFLICT (id) DO NOTHING"

#: What ``run_text`` holds of a run, as SQL over its ``runs`` row.
RUN_TEXT = (
    "id || ' ' || COALESCE(name, '') || ' ' || experiment || ' ' || COALESCE(note, '') || ' ' || command || ' ' || tags"
)


_SET_PARAM = upsert("run_params", ("run_id", "key", "kind", "num", "text"), ("run_id", "key"))
_SET_ENVIRONMENT = upsert("run_environment", ("run_id", "packages", "git_diff", "git_diff_truncated"), ("run_id",))


@dataclass(frozen=True)
class Page:
    """What a page of ``list_runs`` asks the database for.

    Attributes:
        query: The runs to keep (``None``: all).
        keys: The order (then newest first).
        count: How many rows to read: one more than the page holds, to tell whether another follows.
        cursor: The last run of the page before (``None``: the first page).
    """

    query: Query | None
    keys: tuple[SortKey, ...]
    count: int
    cursor: str | None


class Runs(StorePart):
    """The runs' part of a SQL store.

    Attributes:
        compiler: How a query is compiled for this database (see ``query.Compiler``).
    """

    compiler: type[Compiler]

    def _run(self, row: Sequence[Any], now: float) -> Run:
        named = dict(zip(RUN_FIELDS, row))
        return run_from_row(
            named,
            rules.reported_status(named["status"], named["heartbeat_at"], named["started_at"], now, self.lost_after),
        )

    def create_run(self, spec: NewRun) -> Run:
        """See ``Store.create_run``."""
        experiment = check_experiment(spec.experiment)
        if spec.name is not None:
            check_name(spec.name, "run name", MAX_RUN_NAME_LENGTH)
        run_id = uuid.uuid4().hex if spec.run_id is None else check_run_id(spec.run_id)
        now = self.clock()
        started = rules.check_time(spec.started_at, "started_at")
        run = Run(
            id=run_id,
            experiment=experiment,
            name=spec.name,
            status="running",
            started_at=utc(now if started is None else started),  # type: ignore[arg-type]
            ended_at=None,
            heartbeat_at=utc(now),
            command=list(spec.command),
            cwd=spec.cwd,
            host=spec.host,
            user=spec.user,
            python=spec.python,
            pid=spec.pid,
            git_commit=None,
            git_dirty=None,
            error=None,
            exit_code=None,
            skipped_files=[],
        )
        row = run_to_row(run)
        with self.db.write() as conn:
            if conn.execute(_INSERT, [row[f] for f in RUN_FIELDS]).rowcount == 0:
                raise InvalidInput(f"a run with id {run_id} exists already")
            _index_text(conn, run_id, new=True)
        return run

    def get_run(self, run_id: str) -> Run:
        """See ``Store.get_run``."""
        if not isinstance(run_id, str) or not run_id or any(c not in "0123456789abcdef" for c in run_id):
            raise RunNotFound(f"no run {run_id!r}: run ids are lowercase hex digits")
        with self.db.read() as conn:
            rows = conn.execute(
                f"{_SELECT} WHERE id >= ? AND id < ? ORDER BY id LIMIT 11", (run_id, run_id + "g")
            ).fetchall()
        if not rows:
            raise RunNotFound(f"no run {run_id!r}")
        if len(rows) > 1:
            exact = [r for r in rows if r[0] == run_id]
            if not exact:
                raise AmbiguousRunId(run_id, [r[0] for r in rows])
            rows = exact
        return self._run(rows[0], self.clock())

    def list_runs(
        self,
        *,
        experiment: str | None = None,
        status: RunStatus | None = None,
        where: str | None = None,
        sort: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        """See ``Store.list_runs``. How a query is run: see ``query``."""
        # The query language is imported on the first list: a logger never lists.
        from .._query import And, Compare, Field, parse_query, parse_sort
        from .query import malformed_cursor, terms_of

        rules.check_page_size(limit)
        now = self.clock()
        terms: list[Query] = []
        if experiment is not None:
            terms.append(Compare(Field("attr", "experiment"), "=", experiment))
        if status is not None:
            terms.append(Compare(Field("attr", "status"), "=", rules.check_status(status)))
        if where is not None and where.strip():
            terms += terms_of(parse_query(where))
        query: Query | None = None if not terms else terms[0] if len(terms) == 1 else And(tuple(terms))
        keys = parse_sort(sort) if sort is not None and sort.strip() else ()
        if cursor is not None:
            try:
                check_run_id(cursor)
            except InvalidInput:
                raise malformed_cursor(cursor) from None
        with self.db.read() as conn:
            rows = self._select_runs(conn, now, Page(query, keys, limit + 1, cursor))
        runs = [self._run(r, now) for r in rows[:limit]]
        next_cursor = rows[limit - 1][0] if len(rows) > limit else None
        return RunPage(runs, next_cursor)

    def _select_runs(self, conn: Connection, now: float, page: Page) -> list[Any]:
        """The rows of a page of ``list_runs``. Neither database's planner knows how many runs a
        term matches, so the store asks (``query.estimate``): rare terms drive the query as sets;
        when every term is dense, runs are read in the order of the first sort key's index and
        probed, and the page is done once it is full (``_by_sort_index``)."""
        from .query import DENSE, estimate, terms_of

        query, keys, count, cursor = page.query, page.keys, page.count, page.cursor
        counts = [estimate(conn, self.compiler(now, self.lost_after), term) for term in terms_of(query)]
        # Terms whose count cannot be told (text searches, `or`, `not`) are not taken for dense.
        dense = all(count is not None and count >= DENSE for count in counts)
        compiler = self.compiler(now, self.lost_after, probe=dense)
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
        from .query import Compiled, after, order_by, terms_of

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

    def _rows(
        self,
        conn: Connection,
        compiler: Compiler,
        query: Query | None,
        keys: tuple[SortKey, ...],
        count: int,
        cursor: str | None,
        extra: tuple[str, list[Any]] | None = None,
    ) -> list[Any]:
        """The runs matching ``query`` (and ``extra``) in the order of ``keys``, after ``cursor``."""
        from .query import Compiled, after, order_by

        compiled = Compiled()
        if query is not None:
            sql, args = compiler.where(query)
            compiled.where.append(sql)
            compiled.where_args += args
        if extra is not None:
            compiled.where.append(extra[0])
            compiled.where_args += extra[1]
        compiler.sort(keys, compiled)
        if cursor is not None:
            exprs = ", ".join(expr for expr, _ in compiled.keys)
            row = conn.execute(
                f"SELECT {exprs} FROM runs {' '.join(compiled.joins)} WHERE runs.id = ?",
                (*[a for more in compiled.key_args for a in more], *compiled.join_args, cursor),
            ).fetchone()
            if row is None:
                raise InvalidInput(f"the cursor's run {cursor[:8]} no longer exists: list again from the first page")
            sql, args = after(compiled, list(row))
            compiled.where.append(sql)
            compiled.where_args += args
        order, order_args = order_by(compiled)
        sql = f"SELECT {QUALIFIED} FROM runs {' '.join(compiled.joins)}"
        if compiled.where:
            sql += " WHERE " + " AND ".join(compiled.where)
        sql += f" ORDER BY {order} LIMIT ?"
        return conn.execute(sql, (*compiled.join_args, *compiled.where_args, *order_args, count)).fetchall()

    # -- what describes a run ------------------------------------------------------

    def set_params(self, run_id: str, params: Mapping[str, ParamValue], *, overwrite: bool = False) -> None:
        """See ``Store.set_params``."""
        checked = check_params(params)
        if not checked:
            return
        with self.db.write() as conn:
            current = self._json_column(conn, run_id, "params", lock=True)
            differ = [k for k, v in checked.items() if k in current and not same_param(current[k], v)]
            if differ and not overwrite:
                shown = ", ".join(f"{k} = {current[k]!r} (now {checked[k]!r})" for k in differ[:5])
                more = f" and {len(differ) - 5} more" if len(differ) > 5 else ""
                raise ParamConflict(
                    f"run {run_id[:8]} ran with other values: {shown}{more}; pass overwrite=True to replace them",
                    differ,
                )
            merged = {**current, **checked}
            if len(merged) > MAX_PARAMS:
                raise InvalidInput(f"run {run_id[:8]} would hold {len(merged)} params; at most {MAX_PARAMS}")
            conn.execute("UPDATE runs SET params = ? WHERE id = ?", (json.dumps(merged), run_id))
            conn.executemany(
                _SET_PARAM, [(run_id, key, *param_columns(value)) for key, value in sorted(checked.items())]
            )

    def update_tags(self, run_id: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> list[str]:
        """See ``Store.update_tags``."""
        adding = check_tags(add)
        removing = set(check_tags(remove))
        with self.db.write() as conn:
            current = self._json_column(conn, run_id, "tags", lock=True)
            tags = sorted((set(current) | set(adding)) - removing)
            if len(tags) > MAX_TAGS:
                raise InvalidInput(f"run {run_id[:8]} would hold {len(tags)} tags; at most {MAX_TAGS}")
            conn.execute("UPDATE runs SET tags = ? WHERE id = ?", (json.dumps(tags), run_id))
            _index_text(conn, run_id)
            conn.execute("DELETE FROM run_tags WHERE run_id = ?", (run_id,))
            conn.executemany("INSERT INTO run_tags (tag, run_id) VALUES (?, ?)", [(t, run_id) for t in tags])
        return tags

    def set_note(self, run_id: str, note: str | None) -> None:
        """See ``Store.set_note``."""
        note = check_note(note)
        with self.db.write() as conn:
            self._require_run(conn, run_id, "change")
            conn.execute("UPDATE runs SET note = ? WHERE id = ?", (note, run_id))
            _index_text(conn, run_id)

    def rename_run(self, run_id: str, name: str | None) -> None:
        """See ``Store.rename_run``."""
        if name == "":
            name = None
        if name is not None:
            check_name(name, "run name", MAX_RUN_NAME_LENGTH)
        with self.db.write() as conn:
            self._require_run(conn, run_id, "change")
            conn.execute("UPDATE runs SET name = ? WHERE id = ?", (name, run_id))
            _index_text(conn, run_id)

    def set_environment(self, run_id: str, environment: Environment) -> None:
        """See ``Store.set_environment``."""
        packages, diff, truncated = check_environment(environment)
        with self.db.write() as conn:
            self._require_run(conn, run_id, "keep")
            conn.execute(_SET_ENVIRONMENT, (run_id, json.dumps(packages), diff, int(truncated)))

    def get_environment(self, run_id: str) -> Environment:
        """See ``Store.get_environment``."""
        with self.db.read() as conn:
            self._require_run(conn, run_id)
            row = conn.execute(
                "SELECT packages, git_diff, git_diff_truncated FROM run_environment WHERE run_id = ?", (run_id,)
            ).fetchone()
        if row is None:
            return Environment()
        return Environment(json.loads(row[0]), row[1], bool(row[2]))

    def _json_column(self, conn: Connection, run_id: str, column: str, *, lock: bool = False) -> Any:
        """A JSON column of the run (held until the transaction ends when ``lock``, to be written back)."""
        suffix = self.db.locking("change") if lock else ""
        row = conn.execute(f"SELECT {column} FROM runs WHERE id = ?{suffix}", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(f"no run {run_id!r}")
        return json.loads(row[0])

    def delete_run(self, run_id: str) -> DeletedRun:
        """See ``Store.delete_run``."""
        with self.db.write() as conn:
            row = conn.execute(
                f"SELECT status, heartbeat_at, started_at FROM runs WHERE id = ?{self.db.locking('delete')}", (run_id,)
            ).fetchone()
            if row is None:
                raise RunNotFound(f"no run {run_id!r}")
            now = self.clock()
            if rules.reported_status(row[0], row[1], row[2], now, self.lost_after) == "running":
                raise RunStillRunning(
                    f"run {run_id[:8]} is running (its last sign of life was {now - (row[1] or row[2]):.0f} s ago); "
                    "finish it, or wait until it is lost, before deleting it"
                )
            files = conn.execute("SELECT sha256, size FROM artifacts WHERE run_id = ?", (run_id,)).fetchall()
            kept = [
                f"{n}:{v}"
                for n, v in conn.execute(
                    "SELECT name, version FROM assets WHERE run_id = ? ORDER BY name, version", (run_id,)
                )
            ]
            conn.execute("DELETE FROM chunks WHERE metric_id IN (SELECT id FROM metrics WHERE run_id = ?)", (run_id,))
            for table in (
                "metrics",
                "latest_values",
                "run_params",
                "run_tags",
                "run_environment",
                "artifacts",
                "run_text",
            ):
                conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            # Last, so that nothing can fail after a file is gone: contents nothing refers to any more.
            sizes = dict(files)
            freed = self._unused_blobs(conn, sizes)
            self._drop_blobs(conn, freed)
        self._blobs_released(freed)
        return DeletedRun(run_id, len(files), len(freed), sum(sizes[sha256] for sha256 in freed), kept)

    def update_run(
        self,
        run_id: str,
        *,
        git_commit: str | None = None,
        git_dirty: bool | None = None,
        skipped_files: list[str] | None = None,
    ) -> None:
        """See ``Store.update_run``."""
        changes: dict[str, Any] = {}
        if git_commit is not None:
            changes["git_commit"] = git_commit
        if git_dirty is not None:
            changes["git_dirty"] = int(git_dirty)
        if skipped_files is not None:
            changes["skipped_files"] = json.dumps(list(skipped_files))
        if not changes:
            return
        with self.db.write() as conn:
            self._require_run(conn, run_id, "change")
            sets = ", ".join(f"{column} = ?" for column in changes)
            conn.execute(f"UPDATE runs SET {sets} WHERE id = ?", (*changes.values(), run_id))

    def heartbeat(self, run_id: str) -> None:
        """See ``Store.heartbeat``."""
        with self.db.write() as conn:
            conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (self.clock(), run_id))

    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        *,
        error: str | None = None,
        exit_code: int | None = None,
        ended_at: float | None = None,
    ) -> Run:
        """See ``Store.finish_run``."""
        rules.check_final_status(status)
        error = rules.kept_error(error)
        now = self.clock()
        given = rules.check_time(ended_at, "ended_at")
        ended = now if given is None else given
        with self.db.write() as conn:
            self._require_run(conn, run_id, "change")
            conn.execute(
                "UPDATE runs SET status = ?, ended_at = ?, heartbeat_at = ?, error = ?, exit_code = ? WHERE id = ?",
                (status, ended, ended, error, exit_code, run_id),
            )
            row = conn.execute(f"{_SELECT} WHERE id = ?", (run_id,)).fetchone()
        return self._run(row, now)


def _index_text(conn: Connection, run_id: str, *, new: bool = False) -> None:
    """Write the run's words into ``run_text`` (again, after a change to its name, note or tags:
    finding its old row reads the index's ids, a few tens of ms at 100,000 runs)."""
    if not new:
        conn.execute("DELETE FROM run_text WHERE run_id = ?", (run_id,))
    conn.execute(f"INSERT INTO run_text (run_id, body) SELECT id, {RUN_TEXT} FROM runs WHERE id = ?", (run_id,))
