"""The data model shared by every store, the logger, the CLI and the app."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal

#: A run's state. ``lost`` is never stored: it is how a ``running`` run whose
#: heartbeat went stale is reported.
RunStatus = Literal["running", "completed", "failed", "killed", "lost"]
RUN_STATUSES: tuple[RunStatus, ...] = ("running", "completed", "failed", "killed", "lost")
#: The statuses a run can be finished with.
FINAL_STATUSES: tuple[RunStatus, ...] = ("completed", "failed", "killed")

#: What a metric's values are: numbers (a series), strings, or charts (lists of numbers).
MetricKind = Literal["number", "string", "chart"]
METRIC_KINDS: tuple[MetricKind, ...] = ("number", "string", "chart")

#: One stored value: a number, a string, or a chart's list of numbers.
Value = int | float | str | list[float]

#: One item of a list param.
ParamScalar = str | int | float | bool | None
#: A param's value: a scalar, or a short list of scalars.
ParamValue = str | int | float | bool | None | list[ParamScalar]


def utc(timestamp: float | None) -> datetime | None:
    """An aware UTC datetime from epoch seconds (``None`` stays ``None``)."""
    return None if timestamp is None else datetime.fromtimestamp(timestamp, tz=timezone.utc)


@dataclass(frozen=True, slots=True)
class NewRun:
    """What a process knows about itself when it starts a run.

    Attributes:
        experiment: Experiment the run belongs to.
        name: Optional human name of the run.
        command: The command line, as a list of arguments.
        cwd: Working directory.
        host: Host name.
        user: User name.
        python: Python version string.
        pid: Process id of the run's owner.
        run_id: Use this id instead of a new one (32 lowercase hex digits).
        started_at: When the run started, in epoch seconds (default: now); given by
            ``runhistory import``, which brings runs from other trackers with their times.
    """

    experiment: str = "default"
    name: str | None = None
    command: list[str] = field(default_factory=list)
    cwd: str = ""
    host: str = ""
    user: str = ""
    python: str = ""
    pid: int | None = None
    run_id: str | None = None
    started_at: float | None = None


@dataclass(frozen=True, slots=True)
class Run:
    """One run as stored.

    Attributes:
        id: 32 lowercase hex digits; any unique prefix names it.
        experiment: Experiment name.
        name: Optional human name.
        status: ``running``, ``completed``, ``failed``, ``killed`` or ``lost``.
        started_at: When the run started (UTC).
        ended_at: When it finished, if it has.
        heartbeat_at: The owner's last sign of life.
        command: Command line.
        cwd: Working directory.
        host: Host name.
        user: User name.
        python: Python version.
        pid: Owner's process id.
        git_commit: Commit of the working tree, if it was a git checkout.
        git_dirty: Whether that tree had uncommitted changes.
        error: Why it failed or was killed.
        exit_code: The exit code, when a wrapper (``runhistory run``) saw it.
        skipped_files: Files of ``outputs/`` that were not uploaded, with why.
        params: The run's configuration, flattened (``optimizer.lr``), typed.
        tags: Short labels, sorted.
        note: Free text about the run.
    """

    id: str
    experiment: str
    name: str | None
    status: RunStatus
    started_at: datetime
    ended_at: datetime | None
    heartbeat_at: datetime | None
    command: list[str]
    cwd: str
    host: str
    user: str
    python: str
    pid: int | None
    git_commit: str | None
    git_dirty: bool | None
    error: str | None
    exit_code: int | None
    skipped_files: list[str]
    params: dict[str, ParamValue] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    note: str | None = None

    @property
    def short_id(self) -> str:
        """The first 8 hex digits of the id."""
        return self.id[:8]


@dataclass(frozen=True, slots=True)
class RunPage:
    """One page of runs, newest first.

    Attributes:
        runs: The runs on this page.
        next_cursor: Pass to ``list_runs(cursor=…)`` for the next page; ``None`` on the last.
    """

    runs: list[Run]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class SeriesBatch:
    """Points of one metric to append, in logging order.

    Attributes:
        kind: The values' kind.
        values: The values.
        steps: One step per value; ``None`` takes the series' last step + 1 (or 0).
        times: Epoch seconds when each value was logged.
    """

    kind: MetricKind
    values: Sequence[Value]
    steps: Sequence[int | None]
    times: Sequence[float]


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """A metric of a run and its latest value.

    Attributes:
        name: Metric name.
        kind: ``number``, ``string`` or ``chart``.
        count: How many points it holds.
        last_step: Step of the newest point.
        last_value: The newest value.
        last_time: When the newest point was logged (epoch seconds).
    """

    name: str
    kind: MetricKind
    count: int
    last_step: int
    last_value: Value
    last_time: float


@dataclass(frozen=True, slots=True)
class Series:
    """A metric's points as columns, in logging order.

    Attributes:
        name: Metric name.
        kind: ``number``, ``string`` or ``chart``.
        count: Points in the whole series (before any downsampling).
        steps: Step of each returned point.
        values: Value of each returned point.
        times: Epoch seconds of each returned point.
        downsampled: True when fewer points than ``count`` were returned.
    """

    name: str
    kind: MetricKind
    count: int
    steps: list[int]
    values: list[Value]
    times: list[float]
    downsampled: bool = False

    def __len__(self) -> int:
        return len(self.steps)


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    """A file stored with a run.

    Attributes:
        path: Relative POSIX path inside the run.
        size: Bytes.
        sha256: Hex digest of the content.
        created_at: When it was stored (epoch seconds).
    """

    path: str
    size: int
    sha256: str
    created_at: float


@dataclass(frozen=True, slots=True)
class AssetFile:
    """One file of an asset version.

    Attributes:
        path: The artifact path it was promoted from.
        size: Bytes.
        sha256: Hex digest of the content.
    """

    path: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class AssetVersion:
    """An immutable version of a named asset, with its lineage.

    Attributes:
        name: Asset name.
        version: 1, 2, 3 … in promotion order.
        run_id: The run it was promoted from.
        prefix: The artifact prefix that was promoted.
        created_at: When (epoch seconds).
        files: Its files.
    """

    name: str
    version: int
    run_id: str
    prefix: str
    created_at: float
    files: list[AssetFile]

    @property
    def size(self) -> int:
        """Total bytes of its files."""
        return sum(f.size for f in self.files)


@dataclass(frozen=True, slots=True)
class AssetSummary:
    """An asset name with its newest version.

    Attributes:
        name: Asset name.
        latest_version: Highest version number.
        versions: How many versions exist.
        updated_at: When the newest version was made (epoch seconds).
    """

    name: str
    latest_version: int
    versions: int
    updated_at: float


@dataclass(frozen=True, slots=True)
class Environment:
    """What a run ran with, beyond its command: kept so that two runs can be compared on it.

    Attributes:
        packages: Installed distributions, name → version.
        git_diff: ``git diff HEAD`` of a dirty working tree (``None`` when clean or not a checkout).
        git_diff_truncated: The diff was longer than ``MAX_GIT_DIFF_BYTES`` and was cut there.
    """

    packages: dict[str, str] = field(default_factory=dict)
    git_diff: str | None = None
    git_diff_truncated: bool = False


@dataclass(frozen=True, slots=True)
class DeletedRun:
    """What deleting a run removed.

    Attributes:
        run_id: The run.
        artifacts: Its files that went.
        blobs_freed: Stored contents no other run or asset refers to any more, removed.
        bytes_freed: Their size.
        kept_asset_versions: Asset versions promoted from the run (``name:version``); they stay.
    """

    run_id: str
    artifacts: int
    blobs_freed: int
    bytes_freed: int
    kept_asset_versions: list[str]
