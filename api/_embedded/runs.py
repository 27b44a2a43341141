"""Runs in the embedded store: one row each, a column per field of ``Run`` (see ``_rows``)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from typing import Any

from .. import _rules as rules
from .._errors import AmbiguousRunId, InvalidInput, RunNotFound
from .._limits import MAX_RUN_NAME_LENGTH
from .._models import NewRun, Run, RunPage, RunStatus, utc
from .._rows import RUN_FIELDS, run_from_row, run_to_row
from .._validate import check_experiment, check_name, check_run_id
from .part import StorePart

_COLUMNS = ", ".join(RUN_FIELDS)
_SELECT = f"SELECT {_COLUMNS} FROM runs"
_INSERT = f"INSERT INTO runs ({_COLUMNS}) VALUES ({', '.join(':' + f for f in RUN_FIELDS)})"


class Runs(StorePart):
    """The runs' part of ``EmbeddedStore``."""

    def _run(self, row: Sequence[Any], now: float) -> Run:
        named = dict(zip(RUN_FIELDS, row))
        return run_from_row(named, rules.reported_status(named["status"], named["heartbeat_at"], named["started_at"],
                                                         now, self.lost_after))  # fmt: skip

    def create_run(self, spec: NewRun) -> Run:
        """See ``Store.create_run``."""
        experiment = check_experiment(spec.experiment)
        if spec.name is not None:
            check_name(spec.name, "run name", MAX_RUN_NAME_LENGTH)
        run_id = uuid.uuid4().hex if spec.run_id is None else check_run_id(spec.run_id)
        now = self.clock()
        run = Run(
            id=run_id, experiment=experiment, name=spec.name, status="running", started_at=utc(now),  # type: ignore[arg-type]
            ended_at=None, heartbeat_at=utc(now), command=list(spec.command), cwd=spec.cwd, host=spec.host,
            user=spec.user, python=spec.python, pid=spec.pid, git_commit=None, git_dirty=None, error=None,
            exit_code=None, skipped_files=[],
        )  # fmt: skip
        try:
            with self.db.write() as conn:
                conn.execute(_INSERT, run_to_row(run))
        except sqlite3.IntegrityError:
            raise InvalidInput(f"a run with id {run_id} exists already") from None
        return run

    def get_run(self, run_id: str) -> Run:
        """See ``Store.get_run``."""
        if not isinstance(run_id, str) or not run_id or any(c not in "0123456789abcdef" for c in run_id):
            raise RunNotFound(f"no run {run_id!r}: run ids are lowercase hex digits")
        rows = self.db.conn().execute(
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
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        """See ``Store.list_runs``."""
        rules.check_page_size(limit)
        now = self.clock()
        where: list[str] = []
        args: list[Any] = []
        if experiment is not None:
            where.append("experiment = ?")
            args.append(experiment)
        if status is not None:
            rules.check_status(status)
            if status in ("running", "lost"):
                where.append("status = 'running'")
                where.append("heartbeat_at >= ?" if status == "running" else "heartbeat_at < ?")
                args.append(now - self.lost_after)
            else:
                where.append("status = ?")
                args.append(status)
        if cursor is not None:
            # The cursor is the last run id of the previous page.
            try:
                check_run_id(cursor)
            except InvalidInput:
                raise InvalidInput(f"malformed cursor {cursor!r}: expected a full run id") from None
            where.append("(started_at, id) < ((SELECT started_at FROM runs WHERE id = ?), ?)")
            args.extend((cursor, cursor))
        sql = _SELECT
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, id DESC LIMIT ?"
        rows = self.db.conn().execute(sql, (*args, limit + 1)).fetchall()
        runs = [self._run(r, now) for r in rows[:limit]]
        next_cursor = rows[limit - 1][0] if len(rows) > limit else None
        return RunPage(runs, next_cursor)

    def update_run(
        self,
        run_id: str,
        *,
        git_commit: str | None = None,
        git_dirty: bool | None = None,
        skipped_files: list[str] | None = None,
    ) -> None:
        """See ``Store.update_run``."""
        import json

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
            self._require_run(conn, run_id)
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
    ) -> Run:
        """See ``Store.finish_run``."""
        rules.check_final_status(status)
        error = rules.kept_error(error)
        now = self.clock()
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            conn.execute(
                "UPDATE runs SET status = ?, ended_at = ?, heartbeat_at = ?, error = ?, exit_code = ? WHERE id = ?",
                (status, now, now, error, exit_code, run_id),
            )
            row = conn.execute(f"{_SELECT} WHERE id = ?", (run_id,)).fetchone()
        return self._run(row, now)
