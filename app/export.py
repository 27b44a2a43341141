"""``runhistory export``: a run's metric history as one long table, CSV or Parquet.

One row a point, columns ``run_id, metric, step, time, value``, metrics in
name order and each metric's points in logging order, at full resolution:
each series is read once from the store and written before the next is read,
so no more than one series is ever held in memory.

- ``time`` is when the point was logged, in UTC to the microsecond: ISO 8601
  text in CSV (``2026-11-27T07:16:18.751234+00:00``), a
  ``timestamp[us, tz=UTC]`` column in Parquet. Both are rounded from the
  stored epoch seconds the same way (``micros``).
- CSV ``value``: numbers as Python writes them (``repr``: they read back to the
  same float; ``nan``, ``inf``, ``-inf`` kept), integers as integers; strings
  as they are; a chart as a JSON list, non-finite numbers in it as the strings
  ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (strict JSON, as ``--json`` writes them).
- Parquet has one type a column, so a point's value is in one of two columns:
  ``value`` (float64: numbers, exact for integers up to 2**53; null for the
  others) or ``text`` (a string, or a chart's JSON; null for numbers).

CSV into a pipe or a file is data and is written exactly. On a terminal the
metric names and string values, which a training script wrote, go through
``safe_line`` like every string the CLI shows.

Parquet needs pyarrow (``pip install 'runhistory[export]'``), imported here
only when Parquet is asked for.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import islice, repeat
from pathlib import Path
from typing import IO, Any

from runhistory.api import MetricNotFound, RunhistoryError, Series, Store
from runhistory.api._safe_text import safe_line
from runhistory.api._wire import encode_numbers

#: The formats ``--format`` takes; the first is the default.
FORMATS = ("csv", "parquet")
#: The table's columns (Parquet adds ``text``, see the module's docstring).
COLUMNS = ("run_id", "metric", "step", "time", "value")

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: CSV rows of numbers formatted before they are written out together; strings (up to 64 Ki
#: characters) and charts (up to 100,000 numbers) go in blocks small enough to stay a few MiB.
_CSV_BLOCK = {"number": 1 << 14, "string": 64, "chart": 8}
#: Parquet rows a row group at most: a long series is written in parts readers can skip between.
_ROW_GROUP = 1 << 20


class MissingExtra(RunhistoryError):
    """An optional dependency a command needs is not installed."""


class OutputExists(RunhistoryError):
    """The file to write is there already and ``--force`` was not given."""


@dataclass(frozen=True, slots=True)
class Exported:
    """What an export wrote.

    Attributes:
        metrics: Metrics exported.
        points: Rows written (points of all of them).
    """

    metrics: int
    points: int


def chosen_metrics(store: Store, run_id: str, wanted: Sequence[str]) -> list[str]:
    """The names of the metrics to export: every one of the run's, or ``wanted`` (each once, in
    the order given), all checked to exist before anything is written.

    Raises:
        MetricNotFound: the run has no metric of a wanted name.
    """
    known = [m.name for m in store.list_metrics(run_id)]
    if not wanted:
        return known
    have = set(known)
    names = list(dict.fromkeys(wanted))
    missing = [name for name in names if name not in have]
    if missing:
        listed = ", ".join(f'"{name}"' for name in missing)
        raise MetricNotFound(f"run {run_id[:8]} has no metric {listed}")
    return names


def series_of(store: Store, run_id: str, names: Sequence[str]) -> Iterator[Series]:
    """Each named series at full resolution, read when the previous one has been written."""
    for name in names:
        yield store.read_series(run_id, name)


def micros(timestamp: float) -> int:
    """Epoch seconds as whole microseconds, the precision exported, rounded as ``datetime`` does.

    The fraction is split off exactly first: at today's epoch seconds, ``timestamp * 1e6``
    is already rounded to a quarter microsecond, which can tip the last digit.
    """
    fraction, whole = math.modf(timestamp)
    return int(whole) * 1_000_000 + round(fraction * 1_000_000)


def iso_times(timestamps: Iterable[float]) -> Iterator[str]:
    """Epoch seconds as ISO 8601 in UTC, to the microsecond (``micros``).

    The date and time of day are made once a second: a series' points come many a
    second, and formatting a datetime a point was half the time of a CSV export.
    """
    second: int | None = None
    head = ""
    for timestamp in timestamps:
        whole, fraction = divmod(micros(timestamp), 1_000_000)
        if whole != second:
            second = whole
            head = (_EPOCH + timedelta(seconds=whole)).isoformat()[:-6]  # without "+00:00"
        yield f"{head}.{fraction:06d}+00:00"


def chart_json(values: Any) -> str:
    """A chart's numbers as strict JSON (non-finite numbers as ``"NaN"``, ``"Infinity"``, ``"-Infinity"``)."""
    return json.dumps(encode_numbers(values), separators=(",", ":"), allow_nan=False)


def write_csv(series: Iterator[Series], run_id: str, out: IO[str], *, terminal: bool = False) -> Exported:
    """The long table as CSV (a header, then a row a point) into ``out``.

    Args:
        series: The series to write, in order.
        run_id: The run's full id.
        out: A text stream opened with ``newline=""`` (or one that does not translate newlines).
        terminal: ``out`` is a terminal: names and string values are cleaned by ``safe_line``.
    """
    # Rows are formatted into a buffer and written a block at a time: a write a row costs a
    # system call each where stdout is unbuffered (PYTHONUNBUFFERED, common in containers).
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    clean: Callable[[Any], str] = safe_line if terminal else str
    metrics = points = 0
    for one in series:
        if one.kind == "number":
            values: Any = one.values  # the csv module writes a float as repr() does: exact, nan, inf, -inf
        elif one.kind == "chart":
            values = map(chart_json, one.values)
        else:
            values = map(clean, one.values)
        rows = zip(repeat(run_id), repeat(clean(one.name)), one.steps, iso_times(one.times), values)
        while block := list(islice(rows, _CSV_BLOCK[one.kind])):
            writer.writerows(block)
            out.write(buffer.getvalue())
            buffer.seek(0)
            buffer.truncate()
        metrics += 1
        points += len(one)
    out.write(buffer.getvalue())
    out.flush()
    return Exported(metrics, points)


def _pyarrow() -> tuple[Any, Any]:
    """``pyarrow`` and ``pyarrow.parquet``, or a clear error saying how to install them."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as error:
        raise MissingExtra(
            f"--format parquet needs pyarrow, which cannot be imported ({error}): pip install 'runhistory[export]'"
        ) from None
    return pyarrow, pyarrow.parquet


def check_parquet() -> None:
    """Raise ``MissingExtra`` now, before anything is written, when Parquet cannot be written."""
    _pyarrow()


def parquet_schema() -> Any:
    """The Parquet table's columns and types."""
    pa, _ = _pyarrow()
    return pa.schema(
        [
            ("run_id", pa.string()),
            ("metric", pa.string()),
            ("step", pa.int64()),
            ("time", pa.timestamp("us", tz="UTC")),
            ("value", pa.float64()),
            ("text", pa.string()),
        ]
    )


def write_parquet(series: Iterator[Series], run_id: str, out: IO[bytes]) -> Exported:
    """The long table as Parquet into a binary stream (a file, or a pipe: written front to back)."""
    pa, pq = _pyarrow()
    schema = parquet_schema()
    metrics = points = 0
    with pq.ParquetWriter(out, schema) as writer:
        for one in series:
            n = len(one)
            if one.kind == "number":
                value = pa.array(one.values, pa.float64())
                text = pa.nulls(n, pa.string())
            else:
                value = pa.nulls(n, pa.float64())
                text = pa.array(one.values if one.kind == "string" else list(map(chart_json, one.values)), pa.string())
            table = pa.Table.from_arrays(
                [
                    pa.repeat(pa.scalar(run_id, pa.string()), n),
                    pa.repeat(pa.scalar(one.name, pa.string()), n),
                    pa.array(one.steps, pa.int64()),
                    pa.array(list(map(micros, one.times)), pa.int64()).cast(pa.timestamp("us", tz="UTC")),
                    value,
                    text,
                ],
                schema=schema,
            )
            writer.write_table(table, row_group_size=_ROW_GROUP)
            metrics += 1
            points += n
    return Exported(metrics, points)


@contextmanager
def atomic_file(dest: Path, *, force: bool) -> Iterator[IO[bytes]]:
    """A binary file that becomes ``dest`` only once everything was written to it.

    It is written beside ``dest`` under a temporary name, synced, then renamed to
    ``dest``: a reader never sees half a file, and a failed export leaves nothing.
    Without ``force`` an existing ``dest`` is never replaced, even one that appeared
    while the export ran.

    Raises:
        OutputExists: ``dest`` exists and ``force`` is false.
    """
    if dest.is_dir():
        raise OutputExists(f"{dest} is a folder: give the file to write")
    if not force and os.path.lexists(dest):
        raise OutputExists(f"{dest} exists already: --force replaces it")
    if not dest.parent.is_dir():
        raise RunhistoryError(f"cannot write {dest}: there is no folder {dest.parent}")
    fd, temporary = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        if force:
            os.replace(temporary, dest)
        else:
            _rename_no_replace(temporary, dest)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def _rename_no_replace(source: str, dest: Path) -> None:
    """Rename ``source`` to ``dest`` unless ``dest`` exists (a hard link fails then, atomically)."""
    try:
        os.link(source, dest)
    except FileExistsError:
        raise OutputExists(f"{dest} appeared while exporting: --force replaces it") from None
    except OSError:  # a file system without hard links: checked, then renamed
        if os.path.lexists(dest):
            raise OutputExists(f"{dest} appeared while exporting: --force replaces it") from None
        os.replace(source, dest)
        return
    os.unlink(source)
