"""What the store workers send back to the screens.

Workers read the store on threads and post one of these; the screen applies
it on the UI thread. Live updates set ``can_replace`` so that a burst of them
collapses into one repaint when the UI falls behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message

from runhistory.api import ArtifactInfo, AssetSummary, AssetVersion, MetricInfo, Run, Series

from .key_metrics import RowMetrics
from .previews import Preview


@dataclass
class RunsPageLoaded(Message):
    """A page of runs, in store order (newest first).

    Attributes:
        generation: The runs screen's query generation the page belongs to;
            pages of an older query are dropped.
        runs: The runs.
        next_cursor: Where the next page starts; ``None`` at the end.
        metrics: Metrics read while scanning for a filter, by run id.
        after: The cursor the first page was read after (``None``: from the top).
    """

    generation: int
    runs: list[Run]
    next_cursor: str | None
    metrics: dict[str, list[MetricInfo]] = field(default_factory=dict)
    after: str | None = None


@dataclass
class RunsRefreshed(Message):
    """Live refresh of the runs list.

    Attributes:
        generation: As in ``RunsPageLoaded``.
        newest: The first page as it is now (new runs appear here).
        changed: Runs read again because they were running.
        metrics: Fresh metrics of shown runs that are running, by run id.
        gone: Runs that no longer exist.
    """

    generation: int
    newest: list[Run]
    changed: list[Run]
    metrics: dict[str, RowMetrics] = field(default_factory=dict)
    gone: list[str] = field(default_factory=list)

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunsRefreshed) and message.generation == self.generation


@dataclass
class RowMetricsLoaded(Message):
    """Latest values and sparkline data of some runs in the table.

    Attributes:
        metrics: By run id.
        asked: Every run id that was asked for (some may be missing from ``metrics``).
    """

    metrics: dict[str, RowMetrics]
    asked: list[str] = field(default_factory=list)


@dataclass
class RunLoaded(Message):
    """A run and its metrics' latest values, read again.

    Attributes:
        run: The run.
        metrics: Every metric with its newest value.
        system: Its ``sys/`` series, read for the system pane (empty when not wanted).
    """

    run: Run
    metrics: list[MetricInfo]
    system: dict[str, Series] = field(default_factory=dict)

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunLoaded) and message.run.id == self.run.id


@dataclass
class SeriesLoaded(Message):
    """Points of one or more metrics for the charts.

    Attributes:
        run_id: The run.
        series: The series, by metric name.
        max_points: The downsampling width each was read with, by metric name.
    """

    run_id: str
    series: dict[str, Series]
    max_points: dict[str, int]


@dataclass
class TextHistoryLoaded(Message):
    """The history of the run's string metrics, by name."""

    run_id: str
    series: dict[str, Series]


@dataclass
class ConsoleRead(Message):
    """New console output of a run.

    Attributes:
        run_id: The run.
        data: The bytes read.
        sha256: The console artifact's hash when it was read.
        size: Bytes of the artifact shown once ``data`` is appended.
        restart: ``data`` replaces what is shown instead of following it.
        missing: The run has no console log (yet).
    """

    run_id: str
    data: bytes
    sha256: str
    size: int
    restart: bool
    missing: bool = False


@dataclass
class ArtifactsListed(Message):
    """The run's artifacts, by path.

    Attributes:
        run_id: The run.
        artifacts: Every file the run holds.
    """

    run_id: str
    artifacts: list[ArtifactInfo]

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ArtifactsListed) and message.run_id == self.run_id


@dataclass
class ArtifactPreviewed(Message):
    """One artifact's preview, made from its head.

    Attributes:
        run_id: The run.
        path: The artifact's path.
        preview: What the preview pane shows.
    """

    run_id: str
    path: str
    preview: Preview


@dataclass
class AssetsListed(Message):
    """Every asset name with its newest version, by name."""

    assets: list[AssetSummary]


@dataclass
class AssetVersionsLoaded(Message):
    """The versions of one asset, oldest first.

    Attributes:
        name: The asset.
        versions: Its versions with their files and lineage.
    """

    name: str
    versions: list[AssetVersion]


@dataclass
class LineageRunRead(Message):
    """The run an asset version was promoted from, for its lineage.

    Attributes:
        run_id: The run asked for.
        run: The run; ``None`` when it is no longer in the store.
    """

    run_id: str
    run: Run | None


@dataclass
class SourceRunRead(Message):
    """The run an asset version came from, read to be opened.

    Attributes:
        run_id: The run asked for.
        run: The run; ``None`` when it is no longer in the store.
        select: The file path or folder prefix to highlight on its artifacts tab.
    """

    run_id: str
    run: Run | None
    select: str


@dataclass
class RunDescribed(Message):
    """A run's tags, note or name changed, or it was deleted (from a worker).

    Attributes:
        run_id: The run.
        deleted: Whether it is gone.
        said: What happened, in words, for a notification.
    """

    run_id: str
    deleted: bool
    said: str
