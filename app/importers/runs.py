"""Runs from another tracker written into a store: each once, exactly, and resumably.

An importer (``from_mlflow``, ``from_tensorboard``) describes every run it finds as a
``SourceRun``: its metadata, its series (each point's step, value and time, in an order
that is the same every time the source is read) and its files. ``RunWriter`` writes it,
through the ``Store`` protocol, so that any store takes an import (``--home``, ``--url``):

- **Known again.** A run's id here is derived from the tracker's name and the run's own
  identity there (``derived_run_id``): importing it again finds it, from any path or URL
  to the same source, and a second importer racing the first cannot create it twice.
- **Whole or resumed.** A run is created ``running`` and finished with the source's status
  and end time only after its last point and file are stored. A run found here already
  finished is skipped without reading the source. A run found here unfinished (an import
  was killed) is completed: each series' points already stored are counted and that many
  are skipped from the source, files already stored with the same size are skipped.
  A batch of points is one transaction carrying an idempotency key derived from what it
  holds, so that a batch retried over HTTP is stored once.
- **What the store refuses** (a name past a limit, a path no store can hold) is left out
  and said in ``ImportSummary.left_out``; what the source cannot give (an unreadable file,
  a server that stops answering) stops the import with a ``SourceError``: run it again
  to go on.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, BinaryIO

from runhistory.api import (
    FINAL_STATUSES,
    InvalidInput,
    InvalidPath,
    MetricInfo,
    MetricKind,
    NewRun,
    ParamConflict,
    ParamValue,
    Run,
    RunhistoryError,
    RunNotFound,
    RunStatus,
    SeriesBatch,
    Store,
    Value,
)
from runhistory.api._limits import (
    MAX_EXPERIMENT_NAME_LENGTH,
    MAX_NOTE_LENGTH,
    MAX_PARAM_TEXT_LENGTH,
    MAX_PARAMS,
    MAX_RUN_NAME_LENGTH,
    MAX_STRING_LENGTH,
    MAX_TAGS,
    REMOTE_BATCH_POINTS,
)
from runhistory.api._params import check_tag
from runhistory.api._safe_text import CUT_MARK, safe_line
from runhistory.api._validate import check_artifact_path, check_metric_name, has_control_characters

#: Most points held before they are written as one batch (and one transaction): the
#: store's own batch size when smaller.
IMPORT_BATCH_POINTS = REMOTE_BATCH_POINTS
#: Most lines of ``left_out`` kept; the rest are counted in one more line.
MAX_LEFT_OUT = 200

#: One point: (step, value, time in epoch seconds).
Point = tuple[int, Value, float]


class SourceError(RunhistoryError):
    """The source cannot be read: missing, not what the command expects, unreachable or damaged."""


def derived_run_id(tracker: str, key: str) -> str:
    """The id here of the run ``key`` of ``tracker``: the same on every import."""
    return hashlib.sha256(f"runhistory import\0{tracker}\0{key}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SourceSeries:
    """One metric of a source run.

    Attributes:
        name: The metric's name here.
        kind: ``number`` or ``string``.
        points: Reads its points, in the source's order (the same on every read).
    """

    name: str
    kind: MetricKind
    points: Callable[[], Iterable[Point]]


@dataclass(frozen=True)
class SourceFile:
    """One file of a source run.

    Attributes:
        path: Its artifact path here.
        size: Its size in bytes, when the source says it without reading it.
        open: Opens it for reading (a local file as it is; a remote one fetched into a
            temporary file first, so that it is never held in memory).
    """

    path: str
    size: int | None
    open: Callable[[], AbstractContextManager[BinaryIO]]


def _nothing() -> Iterable[Any]:
    return ()


@dataclass
class SourceRun:
    """A run of another tracker, as it will be stored here.

    Attributes:
        tracker: ``mlflow``, ``tensorboard``…
        key: The run's identity in the tracker (an MLflow run id, a TensorBoard folder's first event file).
        label: How the run is named in progress lines and messages (from the source: cleaned when shown).
        experiment: Its experiment here.
        name: Its name.
        status: ``completed``, ``failed``, ``killed``, or ``running`` (left running here).
        started_at: When it started (epoch seconds; ``None``: when it is imported).
        ended_at: When it ended (``None``: when it is imported).
        params, tags, note, user, host, command, git_commit: Its metadata here.
        series: Reads its series.
        files: Lists its files.
        prepare: Reads from the source what the rest needs, once it is known that the run
            is to be written (not for a run here already whole).
    """

    tracker: str
    key: str
    label: str
    experiment: str
    name: str | None = None
    status: RunStatus = "completed"
    started_at: float | None = None
    ended_at: float | None = None
    params: dict[str, ParamValue] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    note: str | None = None
    user: str = ""
    host: str = ""
    command: list[str] = field(default_factory=list)
    git_commit: str | None = None
    series: Callable[[], Iterable[SourceSeries]] = _nothing
    files: Callable[[], Iterable[SourceFile]] = _nothing
    prepare: Callable[[SourceRun], None] | None = None

    @property
    def run_id(self) -> str:
        """Its id here."""
        return derived_run_id(self.tracker, self.key)


@dataclass
class ImportSummary:
    """What an import did.

    Attributes:
        source: What was imported from (a path or URL).
        runs_found: Runs the source holds (that were asked for).
        runs_imported: Runs created here now, whole.
        runs_resumed: Runs an earlier import had begun, completed now.
        runs_skipped: Runs here already whole, not read again.
        runs_running: Of the runs imported or resumed, those still running in the source
            (left running here; the next import adds what they log meanwhile).
        points_imported: Metric points stored now.
        points_skipped: Points that were here already.
        artifacts_imported: Files stored now.
        artifacts_skipped: Files that were here already.
        assets_imported: Asset versions made now.
        assets_skipped: Asset versions that were here already.
        left_out: What the store could not take, with why.
        seconds: How long it took.
    """

    source: str
    runs_found: int = 0
    runs_imported: int = 0
    runs_resumed: int = 0
    runs_skipped: int = 0
    runs_running: int = 0
    points_imported: int = 0
    points_skipped: int = 0
    artifacts_imported: int = 0
    artifacts_skipped: int = 0
    assets_imported: int = 0
    assets_skipped: int = 0
    left_out: list[str] = field(default_factory=list)
    seconds: float = 0.0
    _more_left_out: int = 0

    def leave_out(self, what: str) -> None:
        """Record something the store could not take."""
        if len(self.left_out) < MAX_LEFT_OUT:
            self.left_out.append(what)
        else:
            self._more_left_out += 1

    def doc(self) -> dict[str, Any]:
        """The ``--json`` summary."""
        left_out = list(self.left_out)
        if self._more_left_out:
            left_out.append(f"and {self._more_left_out} more")
        return {
            "source": self.source,
            "runs": {
                "found": self.runs_found,
                "imported": self.runs_imported,
                "resumed": self.runs_resumed,
                "skipped": self.runs_skipped,
                "running": self.runs_running,
            },
            "points": {"imported": self.points_imported, "skipped": self.points_skipped},
            "artifacts": {"imported": self.artifacts_imported, "skipped": self.artifacts_skipped},
            "assets": {"imported": self.assets_imported, "skipped": self.assets_skipped},
            "left_out": left_out,
            "seconds": round(self.seconds, 3),
        }


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked as cut."""
    return text if len(text) <= limit else text[: limit - len(CUT_MARK)] + CUT_MARK


def printable(text: str, limit: int) -> str:
    """A name from the source as a name here: control characters dropped, cut to ``limit``."""
    return cut("".join(c for c in text if not has_control_characters(c)), limit)


def typed_param(text: str) -> ParamValue:
    """A param the source kept as text (MLflow keeps every param so) with its type back: an
    integer, a finite number, ``True``/``False`` or ``None`` when the text is exactly how
    Python writes one, so that runs can be filtered and sorted by it; any other text as it is."""
    if text in ("True", "true"):
        return True
    if text in ("False", "false"):
        return False
    if text == "None":
        return None
    if text and (text[0].isdigit() or text[0] in "-.") and text.strip() == text:
        try:
            number = int(text)
        except ValueError:
            pass
        else:
            # "007" and "1_000" are text that happens to parse: kept as written.
            return number if str(number) == text and abs(number) <= 2**63 - 1 else text
        try:
            real = float(text)
        except ValueError:
            return text
        if real == real and abs(real) != float("inf") and "_" not in text:
            return real
    return text


ProgressLine = Callable[[str], None]


class RunWriter:
    """Writes source runs into ``store`` (see the module docstring).

    Args:
        store: Where the runs go.
        summary: Counts what is done.
        progress: Called with a line of progress now and then.
    """

    def __init__(self, store: Store, summary: ImportSummary, progress: ProgressLine | None = None) -> None:
        self.store = store
        self.summary = summary
        self.progress = progress
        self.batch_points = max(1, min(IMPORT_BATCH_POINTS, store.batch_points))
        self._done = 0
        self._label = ""
        self._last_shown = 0.0

    # -- progress ---------------------------------------------------------------------

    def _show(self, force: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if not force and now - self._last_shown < 0.1:
            return
        self._last_shown = now
        done, total = self._done, max(self.summary.runs_found, 1)
        width = 20
        filled = min(width, done * width // total)
        self.progress(
            f"[{'#' * filled}{'.' * (width - filled)}] {done}/{self.summary.runs_found} runs, "
            f"{self.summary.points_imported:,} points, {self.summary.artifacts_imported} files  {self._label}"
        )  # the run's label is cleaned (safe_line) when it is set

    # -- runs -------------------------------------------------------------------------

    def write_all(self, runs: Iterable[SourceRun]) -> dict[str, str]:
        """Write every run; returns the source keys of those now here, with their ids."""
        here: dict[str, str] = {}
        for source in runs:
            self._label = safe_line(source.label, 60)
            self._show(force=True)
            if self.write(source):
                here[source.key] = source.run_id
            self._done += 1
            self._show(force=True)
        return here

    def write(self, source: SourceRun) -> bool:
        """Write one run (see the module docstring); False when it could not be created here."""
        run_id = source.run_id
        summary = self.summary
        existing = self._find(run_id)
        if existing is not None and existing.status in FINAL_STATUSES:
            summary.runs_skipped += 1
            summary.points_skipped += sum(m.count for m in self.store.list_metrics(run_id))
            summary.artifacts_skipped += len(self.store.list_artifacts(run_id))
            return True
        if source.prepare is not None:
            source.prepare(source)
        if existing is None:
            existing = self._create(source)
            if existing is None:
                return False
            summary.runs_imported += 1
        else:
            summary.runs_resumed += 1
        self._describe(source, existing)
        self._write_series(source, {m.name: m for m in self.store.list_metrics(run_id)})
        self.write_files(source.run_id, source.label, source.files())
        if source.status in FINAL_STATUSES:
            self.store.finish_run(run_id, source.status, ended_at=source.ended_at)
        else:
            summary.runs_running += 1
        return True

    def _find(self, run_id: str) -> Run | None:
        try:
            return self.store.get_run(run_id)
        except RunNotFound:
            return None

    def _create(self, source: SourceRun) -> Run | None:
        spec = NewRun(
            experiment=printable(source.experiment, MAX_EXPERIMENT_NAME_LENGTH) or "default",
            name=(printable(source.name, MAX_RUN_NAME_LENGTH) or None) if source.name else None,
            command=list(source.command),
            user=source.user,
            host=source.host,
            run_id=source.run_id,
            started_at=source.started_at,
        )
        try:
            return self.store.create_run(spec)
        except InvalidInput as error:
            found = self._find(source.run_id)  # another import created it meanwhile
            if found is not None:
                return found
            self.summary.leave_out(f"run {source.label}: {error}")
            return None

    def _describe(self, source: SourceRun, run: Run) -> None:
        """Params, tags, note and commit: each set when not there yet, never over what is here."""
        store, label = self.store, source.label
        params = {k: (cut(v, MAX_PARAM_TEXT_LENGTH) if isinstance(v, str) else v) for k, v in source.params.items()}
        new = {k: v for k, v in params.items() if k not in run.params}
        for key in sorted(new)[MAX_PARAMS - len(run.params) :] if len(run.params) + len(new) > MAX_PARAMS else []:
            self.summary.leave_out(f"run {label}: param {key}: a run holds at most {MAX_PARAMS} params")
            del new[key]
        if new:
            try:
                store.set_params(run.id, new)
            except (InvalidInput, ParamConflict):
                for key, value in new.items():  # one at a time, to say which
                    try:
                        store.set_params(run.id, {key: value})
                    except (InvalidInput, ParamConflict) as error:
                        self.summary.leave_out(f"run {label}: param {key}: {error}")
        tags: list[str] = []
        for tag in dict.fromkeys(source.tags):
            if tag in run.tags:
                continue
            try:
                tags.append(check_tag(tag))
            except InvalidInput as error:
                self.summary.leave_out(f"run {label}: {error}")
        room = MAX_TAGS - len(run.tags)
        for tag in tags[max(room, 0) :]:
            self.summary.leave_out(f"run {label}: tag {tag}: a run holds at most {MAX_TAGS} tags")
        if tags[: max(room, 0)]:
            store.update_tags(run.id, add=tags[: max(room, 0)])
        if source.note and not run.note:
            store.set_note(run.id, cut(source.note, MAX_NOTE_LENGTH))
        if source.git_commit and not run.git_commit:
            store.update_run(run.id, git_commit=source.git_commit)

    # -- points -----------------------------------------------------------------------

    def _write_series(self, source: SourceRun, stored: dict[str, MetricInfo]) -> None:
        batch = _Batch(source.run_id)
        summary = self.summary
        for series in source.series():
            try:
                check_metric_name(series.name)
            except InvalidInput as error:
                summary.leave_out(f"run {source.label}: {error}")
                continue
            here = stored.get(series.name)
            if here is not None and here.kind != series.kind:
                summary.leave_out(
                    f"run {source.label}: metric {series.name} holds {here.kind}s here, {series.kind}s in the source"
                )
                continue
            skip = here.count if here is not None else 0
            batch.start(series, skip)
            points = iter(series.points())
            skipped = sum(1 for _ in islice(points, skip))
            summary.points_skipped += skipped
            if skipped < skip:
                summary.leave_out(
                    f"run {source.label}: metric {series.name} holds {skip} points here, {skipped} in the source: "
                    "left as it is"
                )
                continue
            while chunk := list(islice(points, self.batch_points - batch.points)):
                if series.kind == "string":
                    chunk = [(s, cut(v, MAX_STRING_LENGTH) if isinstance(v, str) else v, t) for s, v, t in chunk]
                batch.extend(series.name, chunk)
                if batch.points >= self.batch_points:
                    self._flush(batch)
        self._flush(batch)

    def _flush(self, batch: _Batch) -> None:
        if not batch.points:
            return
        stored = batch.take()
        self.store.append_metrics(batch.run_id, stored.series, key=stored.key)
        self.summary.points_imported += stored.points
        self._show()

    # -- files ------------------------------------------------------------------------

    def write_files(self, run_id: str, label: str, files: Iterable[SourceFile], *, count_skipped: bool = True) -> None:
        """Store each file the run does not hold yet (the same path and size: held); those held
        are counted as skipped unless ``count_skipped`` is false (the files of a model version,
        which its run's import counted already)."""
        from runhistory.api import ArtifactTooLarge

        present = {a.path: a.size for a in self.store.list_artifacts(run_id)}
        for f in files:
            try:
                check_artifact_path(f.path)
            except InvalidPath as error:
                self.summary.leave_out(f"run {label}: {error}")
                continue
            if f.path in present and (f.size is None or present[f.path] == f.size):
                self.summary.artifacts_skipped += count_skipped
                continue
            try:
                with f.open() as stream:
                    self.store.put_artifact(run_id, f.path, stream)
            except ArtifactTooLarge as error:
                self.summary.leave_out(f"run {label}: file {f.path}: {error}")
                continue
            present[f.path] = -1
            self.summary.artifacts_imported += 1
            self._show()

    # -- assets -----------------------------------------------------------------------

    def promote(self, run_id: str, prefix: str, name: str, nth: int, what: str) -> None:
        """Make a version of asset ``name`` from the run's files under ``prefix``, unless
        ``nth`` versions of it from that run and prefix are here already (the source may
        register one run's files several times)."""
        from runhistory.api import AssetNotFound, check_asset_name

        try:
            check_asset_name(name)
            made = self.store.list_asset_versions(name)
        except AssetNotFound:
            made = []
        except InvalidInput as error:
            self.summary.leave_out(f"{what}: {error}")
            return
        if sum(v.run_id == run_id and v.prefix == prefix for v in made) >= nth:
            self.summary.assets_skipped += 1
            return
        self.store.promote(run_id, prefix, name)
        self.summary.assets_imported += 1


@dataclass
class _Stored:
    series: dict[str, SeriesBatch]
    key: str
    points: int


class _Batch:
    """Points gathered for one ``append_metrics`` call, and where each series' part starts."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.points = 0
        self._kinds: dict[str, MetricKind] = {}
        self._next: dict[str, int] = {}  # each series' points stored or gathered
        self._parts: dict[str, tuple[int, list[int], list[Value], list[float]]] = {}

    def start(self, series: SourceSeries, stored: int) -> None:
        self._kinds[series.name] = series.kind
        self._next[series.name] = stored

    def extend(self, name: str, points: list[Point]) -> None:
        """Add points of one series (in order)."""
        part = self._parts.get(name)
        if part is None:
            part = self._parts[name] = (self._next[name], [], [], [])
        steps, values, times = zip(*points)
        part[1].extend(steps)
        part[2].extend(values)
        part[3].extend(times)
        self._next[name] += len(points)
        self.points += len(points)

    def take(self) -> _Stored:
        """The batch, keyed by the run and where each of its series' parts starts and ends."""
        key = hashlib.sha256(self.run_id.encode())
        series: dict[str, SeriesBatch] = {}
        for name, (start, steps, values, times) in self._parts.items():
            key.update(f"\0{name}\0{start}\0{len(steps)}".encode())
            series[name] = SeriesBatch(self._kinds[name], values, list[int | None](steps), times)
        stored = _Stored(series, "import-" + key.hexdigest(), self.points)
        self._parts = {}
        self.points = 0
        return stored
