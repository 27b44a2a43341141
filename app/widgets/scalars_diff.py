"""The compared runs' latest values side by side, one row per metric, differences highlighted."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import DataTable

from runhistory.api import Environment, MetricInfo, Run

from ..human import value_text
from ..key_metrics import better, rank_metric_names
from .cells import fit

#: Widest value shown in a cell (a chart's list or a long string is cut).
CELL_WIDTH = 14
#: Widest metric name shown.
NAME_WIDTH = 28

_SAME = "dim"
_DIFFERENT = "bold #e5c07b"
_BEST = "bold #6cc070"


@dataclass(frozen=True)
class Row:
    """One metric across the runs.

    Attributes:
        key: ``metric:NAME``, ``param:KEY``, ``package:NAME``, or ``run:FIELD`` for a field of the run.
        name: What the row is headed with.
        values: Each run's latest value, ``None`` where the run lacks it.
        differs: Not every run holds the same value (1 and 1.0 are the same).
        best: Columns of the best value (every run that ties for it) when numbers differ and
            the name says which way is better (lowest loss or error, highest score); empty for
            bookkeeping (lr, epoch).
    """

    key: str
    name: str
    values: tuple[object, ...]
    differs: bool
    best: frozenset[int]


def _number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def compare_rows(
    runs: list[Run], metrics: list[list[MetricInfo]], environments: list[Environment | None] | None = None
) -> list[Row]:
    """Rows for ``runs``: what differs in how they ran first (params, tags, git commit and diff,
    packages, command), then the experiment and status, then every metric."""
    envs: list[Environment | None] = list(environments) if environments is not None else [None] * len(runs)
    described = _described_rows(runs, envs)
    rows = [
        *[r for r in described if r.differs],
        _row("run:experiment", "experiment", tuple(r.experiment for r in runs), best=False),
        _row("run:status", "status", tuple(r.status for r in runs), best=False),
        *[r for r in described if not r.differs],
    ]
    latest = [{m.name: m.last_value for m in infos} for infos in metrics]
    numbers = rank_metric_names({m.name: 1 for infos in metrics for m in infos if m.kind == "number"})
    # A name that is a number in one run and a string in another is listed once, with the numbers.
    others = sorted({m.name for infos in metrics for m in infos if m.kind != "number"} - set(numbers))
    for name in numbers + others:
        rows.append(_row(f"metric:{name}", name, tuple(values.get(name) for values in latest), best=True))
    return rows


def _described_rows(runs: list[Run], environments: list[Environment | None]) -> list[Row]:
    """Params, tags, git commit and diff, packages (each whose version differs) and the command."""
    rows = []
    keys = sorted({k for r in runs for k in r.params}, key=str.lower)
    for key in keys:
        rows.append(_row(f"param:{key}", key, tuple(_param(r.params, key) for r in runs), best=False))
    rows.append(_row("run:tags", "tags", tuple(" ".join(r.tags) or None for r in runs), best=False))
    rows.append(
        _row(
            "run:git",
            "git commit",
            tuple(
                None if r.git_commit is None else r.git_commit[:12] + (" dirty" if r.git_dirty else "") for r in runs
            ),
            best=False,
        )
    )
    diffs = tuple(None if e is None or not e.git_diff else _diff_summary(e.git_diff) for e in environments)
    rows.append(_row("run:git_diff", "git diff", diffs, best=False))
    known = [e.packages for e in environments if e is not None and e.packages]
    if len(known) > 1:
        names = sorted({n for packages in known for n in packages}, key=str.lower)
        for name in names:
            versions = tuple(None if e is None else e.packages.get(name) for e in environments)
            if len(set(versions)) > 1:
                rows.append(_row(f"package:{name}", f"pkg {name}", versions, best=False))
    rows.append(_row("run:command", "command", tuple(" ".join(r.command) or None for r in runs), best=False))
    return rows


def _param(params: Mapping[str, object], key: str) -> object:
    value = params.get(key, _MISSING)
    if value is _MISSING:
        return None
    return "null" if value is None else value


_MISSING = object()


def _diff_summary(diff: str) -> str:
    """A diff as a cell: its size and a short digest, so that equal diffs read equal."""
    import hashlib

    lines = diff.count("\n")
    return f"{lines} lines #{hashlib.sha256(diff.encode('utf-8', 'replace')).hexdigest()[:6]}"


def _row(key: str, name: str, values: tuple[object, ...], *, best: bool) -> Row:
    differs = len({_same_as(v) for v in values}) > 1
    winners: frozenset[int] = frozenset()
    known = [(n, i) for i, v in enumerate(values) if (n := _number(v)) is not None]
    direction = better(name) if best else None
    if direction is not None and differs and len({n for n, _ in known}) > 1:
        top = (min if direction == "min" else max)(n for n, _ in known)
        winners = frozenset(i for n, i in known if n == top)
    return Row(key, name, values, differs, winners)


def _same_as(value: object) -> object:
    """What a value is compared by: finite numbers by their value (1 == 1.0), the rest by their text."""
    number = _number(value)
    return number if number is not None else repr(value)


def _cell(value: object) -> str:
    return "–" if value is None else fit(value_text(value, CELL_WIDTH), CELL_WIDTH)


class ScalarsDiff(DataTable[Text]):
    """Metrics down, runs across. Rows whose values differ are highlighted, the best value in green."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.rows_shown: list[Row] = []
        self.only_differences = False
        self._header: tuple[str, ...] = ()

    def show(self, labels: list[Text], rows: list[Row]) -> None:
        """Columns headed by ``labels`` (one per run), ``rows`` under them (only differing ones if asked)."""
        header = tuple(label.markup for label in labels)
        keep = self.cursor_row
        self.clear(columns=header != self._header)
        if header != self._header:
            self._header = header
            self.add_column(Text("metric"), key="metric", width=NAME_WIDTH)
            for index, label in enumerate(labels):
                self.add_column(label, key=f"run{index}", width=CELL_WIDTH)
        self.rows_shown = [r for r in rows if r.differs or not self.only_differences]
        for row in self.rows_shown:
            name = fit(row.name, NAME_WIDTH)
            field = not row.key.startswith("metric:")
            cells = [
                Text(name, style=("italic " if field else "") + (_DIFFERENT if row.differs else _SAME), no_wrap=True)
            ]
            for index, value in enumerate(row.values):
                style = _BEST if index in row.best else ("" if row.differs else _SAME)
                numeric = _number(value) is not None or (isinstance(value, float) and not math.isfinite(value))
                cells.append(Text(_cell(value), style=style, justify="right" if numeric else "left", no_wrap=True))
            self.add_row(*cells, key=row.key)
        if self.rows_shown:
            self.move_cursor(row=min(keep, len(self.rows_shown) - 1), scroll=False)

    @property
    def cursor_metric(self) -> str | None:
        """The metric under the cursor (``None`` on a run field)."""
        if not self.rows_shown or not 0 <= self.cursor_row < len(self.rows_shown):
            return None
        row = self.rows_shown[self.cursor_row]
        return row.name if row.key.startswith("metric:") else None
