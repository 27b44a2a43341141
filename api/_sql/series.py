"""Metric series in a SQL store: a ``metrics`` row per series (with its latest value) and
its points in chunks (see ``_chunks``), appended a transaction at a time.

An append holds its series' ``metrics`` row until it commits, so appends to one series
from several connections queue (none reads a tail chunk another is rewriting); the
series of a batch are taken in the order of their names, so that two batches never wait
for each other. A batch's idempotency key is written in the same transaction as its
points: a retried batch is stored once, whichever connection or server replica gets it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from .. import _chunks
from .. import _rules as rules
from .._errors import MetricKindMismatch, MetricNotFound
from .._limits import BATCH_KEY_TTL, CHUNK_POINTS
from .._models import MetricInfo, Series, SeriesBatch, Value
from .part import Connection, StorePart, upsert

_INSERT_CHUNK = upsert("chunks", _chunks.CHUNK_COLUMNS, ("metric_id", "chunk_no"))
_SET_LATEST = upsert("latest_values", ("name", "run_id", "num", "text"), ("name", "run_id"))
_SERIES = "SELECT id, kind, count, last_step FROM metrics WHERE run_id = ? AND name = ?"
_SUMMARIES = f"SELECT {', '.join(_chunks.SUMMARY_COLUMNS)} FROM chunks WHERE metric_id = ? ORDER BY chunk_no"
_POINTS = f"SELECT {', '.join(_chunks.POINT_COLUMNS)} FROM chunks WHERE metric_id = ? ORDER BY chunk_no"
_STEPS = "SELECT chunk_no, n, step0, stride, steps FROM chunks WHERE metric_id = ? ORDER BY chunk_no"
_RANGE = (
    f"SELECT {', '.join(rules.RANGE_COLUMNS)} FROM chunks"
    " WHERE metric_id = ? AND chunk_no >= ? AND chunk_no <= ? ORDER BY chunk_no"
)


def latest_columns(kind: str, value: object) -> tuple[float | None, str | None]:
    """A metric's latest value as ``latest_values`` keeps it: a number in ``num``, text in ``text``."""
    if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return (None if value != value else float(value)), None  # NaN is no number to compare
    if kind == "string" and isinstance(value, str):
        return None, value
    return None, None


class SeriesPart(StorePart):
    """The metrics' part of a SQL store."""

    def append_metrics(self, run_id: str, batch: Mapping[str, SeriesBatch], *, key: str | None = None) -> bool:
        """See ``Store.append_metrics``."""
        for name, points in batch.items():
            rules.check_batch(name, points)
        now = self.clock()
        with self.db.write() as conn:
            if key is not None:
                # A key another transaction is writing makes this one wait for it: stored once.
                added = conn.execute(
                    "INSERT INTO batch_keys (key, created_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, now)
                )
                if added.rowcount == 0:
                    return False
                if int(now) % 97 == 0:  # now and then, forget keys past their time
                    conn.execute("DELETE FROM batch_keys WHERE created_at < ?", (now - BATCH_KEY_TTL,))
            self._require_run(conn, run_id, "keep")
            for name in sorted(batch):
                self._append_series(conn, run_id, name, batch[name])
        return True

    def _append_series(self, conn: Connection, run_id: str, name: str, points: SeriesBatch) -> None:
        lock = self.db.locking("change")
        row = conn.execute(_SERIES + lock, (run_id, name)).fetchone()
        if row is None:
            # Another connection may be making it too: one insert wins, both then hold the row in turn.
            conn.execute(
                "INSERT INTO metrics (run_id, name, kind, count) VALUES (?, ?, ?, 0) ON CONFLICT (run_id, name) DO NOTHING",
                (run_id, name, points.kind),
            )
            row = conn.execute(_SERIES + lock, (run_id, name)).fetchone()
        metric_id, kind, count, last_step = row
        if kind != points.kind:
            raise MetricKindMismatch(f"metric {name!r} holds {kind} values; got {points.kind} values")
        steps = rules.fill_steps(points.steps, last_step)
        values = points.values
        times = points.times
        chunk_no, held = divmod(count, CHUNK_POINTS)
        if held:  # the last chunk has room: rewrite it with the new points appended
            tail = conn.execute(
                "SELECT n, step0, stride, steps, times, vtype, vals FROM chunks WHERE metric_id = ? AND chunk_no = ?",
                (metric_id, chunk_no),
            ).fetchone()
            steps = _chunks.join_steps(_chunks.decode_step_range(tail[0], tail[1], tail[2], tail[3]), steps)
            times = _chunks.decode_times(tail[4]) + list(times)
            values = _chunks.decode_values(tail[5], tail[6]) + list(values)
        for start in range(0, len(steps), CHUNK_POINTS):
            end = start + CHUNK_POINTS
            chunk = _chunks.encode(points.kind, steps[start:end], values[start:end], times[start:end])
            conn.execute(_INSERT_CHUNK, _chunks.chunk_row(metric_id, chunk_no, chunk))
            chunk_no += 1
        conn.execute(
            "UPDATE metrics SET count = ?, last_step = ?, last_value = ?, last_time = ? WHERE id = ?",
            (count + len(points.values), steps[-1], json.dumps(values[-1]), times[-1], metric_id),
        )
        if points.kind != "chart":
            num, text = latest_columns(points.kind, values[-1])
            conn.execute(_SET_LATEST, (name, run_id, num, text))

    def list_metrics(self, run_id: str) -> list[MetricInfo]:
        """See ``Store.list_metrics``."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT name, kind, count, last_step, last_value, last_time FROM metrics WHERE run_id = ? ORDER BY name",
                (run_id,),
            ).fetchall()
        return [MetricInfo(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]

    def read_series(
        self,
        run_id: str,
        name: str,
        *,
        max_points: int | None = None,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> Series:
        """See ``Store.read_series``."""
        rules.check_max_points(max_points)
        rules.check_step_range(start_step, end_step)
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT id, kind, count FROM metrics WHERE run_id = ? AND name = ?", (run_id, name)
            ).fetchone()
            if row is None:
                raise MetricNotFound(f"run {run_id[:8]} has no metric {name!r}")
            metric_id, kind, count = row
            if start_step is not None or end_step is not None:
                taken = rules.steps_in_range(conn.execute(_STEPS, (metric_id,)), start_step, end_step)
                if not taken:
                    return Series(name, kind, 0, [], [], [])
                rows = conn.execute(_RANGE, (metric_id, taken[0][0], taken[-1][0]))
                kept = rules.read_range(taken, rows, kind, max_points)
                in_range = rules.taken_count(taken)
                return Series(
                    name,
                    kind,
                    in_range,
                    [p[1] for p in kept],
                    [p[2] for p in kept],
                    [p[3] for p in kept],
                    downsampled=len(kept) < in_range,
                )
            if max_points is None or count <= max_points:
                steps, values, times = _read_all(conn, metric_id)
                return Series(name, kind, count, steps, values, times)
            width = rules.bucket_width(count, max_points)
            points: list[rules.Point]
            if kind == "number" and width >= CHUNK_POINTS:
                summaries = conn.execute(_SUMMARIES, (metric_id,)).fetchall()
                points = rules.downsample_summaries(summaries, count, max_points)
            elif kind == "number" and width >= _chunks.BLOCK_POINTS and max_points >= 4:
                points = rules.downsample_blocks(conn.execute(_POINTS, (metric_id,)), count, max_points)
            else:
                steps, values, times = _read_all(conn, metric_id)
                if kind == "number":
                    points = rules.downsample_points(steps, values, times, max_points)  # type: ignore[arg-type]
                else:
                    points = [(i, steps[i], values[i], times[i]) for i in rules.even_picks(count, max_points)]
        return Series(
            name, kind, count, [p[1] for p in points], [p[2] for p in points], [p[3] for p in points], downsampled=True
        )


def _read_all(conn: Connection, metric_id: int) -> tuple[list[int], list[Value], list[float]]:
    steps: list[int] = []
    values: list[Value] = []
    times: list[float] = []
    for _, n, step0, stride, steps_blob, times_blob, vtype, vals, _ in conn.execute(_POINTS, (metric_id,)):
        steps += _chunks.decode_steps(n, step0, stride, steps_blob)
        times += _chunks.decode_times(times_blob)
        values += _chunks.decode_values(vtype, vals)
    return steps, values, times
