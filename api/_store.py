"""The ``Store`` protocol: everything the logger, CLI, app and server need.

A store keeps runs, their metric series, their artifact files and the assets
promoted from them. The embedded SQLite store implements it; an HTTP client
and other backends implement the same methods, so callers never know which
one they hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from ._blobs import DirectDownload, DirectUpload
from ._models import (
    ArtifactInfo,
    AssetSummary,
    AssetVersion,
    DeletedRun,
    Environment,
    MetricInfo,
    NewRun,
    ParamValue,
    Run,
    RunPage,
    RunStatus,
    Series,
    SeriesBatch,
)


@runtime_checkable
class Store(Protocol):
    """Where run history lives.

    Besides the calls on runs, metrics, artifacts and assets, a store says
    what its callers need to know about it: where it is (``location``),
    whether it is on this machine's disk (``is_local``), how large a batch of
    points it takes best (``batch_points``) and where a logger may stage
    files (``staging_dir()``). Callers never guess these from the store's
    type or attributes.
    """

    # -- what callers need to know ----------------------------------------

    @property
    def location(self) -> str:
        """Where the history lives, in a few words: a folder or a URL.

        Shown to people, and recorded with a spool so that ``runhistory sync``
        delivers it to the store it was meant for.
        """
        ...

    @property
    def is_local(self) -> bool:
        """Whether writes go to this machine's disk, so that the store is never "away".

        A logger on a local store keeps no spool, does not wait for the store
        at exit, and does not look for other runs' spools to deliver.
        """
        ...

    @property
    def batch_points(self) -> int:
        """The most points a logger should send in one ``append_metrics`` call."""
        ...

    def staging_dir(self) -> Path:
        """A folder of this process's own where a logger may copy files given to
        ``upload_file()`` until they are stored.

        On the store's own file system when the store is local (storing a staged
        file is then a rename or a kernel copy); a folder of this machine's
        otherwise. Created when asked for; what a process that died left in it
        is swept away later.
        """
        ...

    # -- runs -------------------------------------------------------------

    def create_run(self, spec: NewRun) -> Run:
        """Start a run in status ``running``.

        Args:
            spec: What the starting process knows about itself.

        Returns:
            The stored run.

        Raises:
            InvalidInput: a name is empty, too long or holds control characters,
                ``spec.run_id`` is malformed or already taken, or ``spec.started_at``
                is not a finite number.
        """
        ...

    def get_run(self, run_id: str) -> Run:
        """One run by its full id or any unique prefix of it.

        Raises:
            RunNotFound: no run matches.
            AmbiguousRunId: the prefix matches several runs.
        """
        ...

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
        """Runs, newest first unless sorted; the store answers the query itself.

        Args:
            experiment: Only runs of this experiment.
            status: Only runs in this status (``lost`` included).
            where: A query in the language of ``runhistory.api._query``
                (``params.lr >= 1e-3 and tag:baseline``).
            sort: Keys to order by (``metrics.val/accuracy desc, params.seed``);
                runs without a key come last; ties newest first.
            limit: Most runs on the page (1 … ``MAX_PAGE_SIZE``).
            cursor: ``next_cursor`` of the previous page (of the same query and sort).

        Raises:
            QueryError: the query or sort cannot be parsed (the message points at the token).
        """
        ...

    def set_params(self, run_id: str, params: Mapping[str, ParamValue], *, overwrite: bool = False) -> None:
        """Record the run's configuration (flat keys, typed values; see ``_params``).

        Params are set, not appended: a key set again to the same value is a
        no-op; to another value it is refused unless ``overwrite``.

        Raises:
            ParamConflict: a key holds another value already (nothing is stored).
            InvalidInput: a key or value breaks a limit.
        """
        ...

    def update_tags(self, run_id: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> list[str]:
        """Add and remove tags (adding one there already, or removing one absent, is fine).

        Returns:
            The run's tags afterwards, sorted.
        """
        ...

    def set_note(self, run_id: str, note: str | None) -> None:
        """Replace the run's note (``None`` or ``""`` clears it)."""
        ...

    def rename_run(self, run_id: str, name: str | None) -> None:
        """Give the run another name (``None`` clears it)."""
        ...

    def delete_run(self, run_id: str) -> DeletedRun:
        """Remove a run: its metrics, files and metadata. Stored contents no other run
        or asset refers to are freed; asset versions promoted from it stay (assets are
        immutable) and are named in the answer.

        Raises:
            RunStillRunning: the run is running and its owner is alive (a ``lost`` run can go).
        """
        ...

    def set_environment(self, run_id: str, environment: Environment) -> None:
        """Record what the run ran with (packages, the git diff); replaces an earlier record."""
        ...

    def get_environment(self, run_id: str) -> Environment:
        """What the run ran with (empty when nothing was recorded)."""
        ...

    def update_run(
        self,
        run_id: str,
        *,
        git_commit: str | None = None,
        git_dirty: bool | None = None,
        skipped_files: list[str] | None = None,
    ) -> None:
        """Add what was learnt after the start; ``None`` leaves a field as it is."""
        ...

    def heartbeat(self, run_id: str) -> None:
        """Record that the run's owner is alive."""
        ...

    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        *,
        error: str | None = None,
        exit_code: int | None = None,
        ended_at: float | None = None,
    ) -> Run:
        """End a run as ``completed``, ``failed`` or ``killed``.

        Args:
            run_id: Full run id.
            status: How it ended.
            error: Why it failed or was killed.
            exit_code: The exit code, when a wrapper saw it.
            ended_at: When it ended, in epoch seconds (default: now); given by
                ``runhistory import`` for a run another tracker recorded.

        Raises:
            InvalidInput: ``status`` is not a final status, or ``ended_at`` is not a finite number.
        """
        ...

    # -- metrics ----------------------------------------------------------

    def append_metrics(self, run_id: str, batch: Mapping[str, SeriesBatch], *, key: str | None = None) -> bool:
        """Append points to the run's series, all in one transaction.

        Args:
            run_id: Full run id.
            batch: Points per metric name, in logging order.
            key: Idempotency key; a batch whose key was already stored is not
                stored again.

        Returns:
            False when ``key`` had been seen and nothing was written.

        Raises:
            MetricKindMismatch: a series exists with another kind; nothing is written.
            InvalidInput: a name or value breaks a limit; nothing is written.
        """
        ...

    def list_metrics(self, run_id: str) -> list[MetricInfo]:
        """The run's metrics, by name, each with its newest value."""
        ...

    def read_series(
        self,
        run_id: str,
        name: str,
        *,
        max_points: int | None = None,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> Series:
        """One metric's points in logging order.

        Args:
            run_id: Full run id.
            name: Metric name.
            max_points: Return at most this many points (at least 2). Numbers
                keep the shape: the minimum and maximum of each bucket, and
                the first and last point always. Strings and charts keep
                evenly spaced points. The result is the same on every call.
            start_step: Only points whose step is at least this (a zoomed
                chart's left edge); the buckets of ``max_points`` are then
                counted over the points in the range, so a narrower range
                shows more of its detail. ``Series.count`` counts the points
                in the range.
            end_step: Only points whose step is at most this.

        Raises:
            MetricNotFound: the run has no such metric.
            InvalidInput: ``max_points`` below 2, or a step range that is not whole
                numbers from a start to an end not before it.
        """
        ...

    # -- artifacts --------------------------------------------------------

    def put_artifact(
        self,
        run_id: str,
        path: str,
        data: bytes | BinaryIO,
        *,
        max_size: int | None = None,
        sha256: str | None = None,
    ) -> ArtifactInfo:
        """Store a file with the run, streaming it; a path stored again is replaced.

        Args:
            run_id: Full run id.
            path: Relative POSIX path.
            data: The bytes, or a binary stream read to its end in pieces.
            max_size: Refuse files larger than this (default ``MAX_ARTIFACT_SIZE``).
            sha256: The hash the caller knows the bytes have (64 lowercase hex digits),
                checked: a store may then send them to their final place as they are
                read (a server passes them on to its bucket while they arrive).

        Raises:
            InvalidPath: the path is absolute, climbs with ``..``, or holds control characters.
            ArtifactTooLarge: the data is larger than ``max_size``; nothing is kept.
            IntegrityError: ``sha256`` is given and the bytes hash otherwise; nothing is kept.
            InvalidInput: ``sha256`` is not a sha256.
        """
        ...

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactInfo]:
        """The run's files at or under ``prefix`` (a path or a folder), by path."""
        ...

    def open_artifact(self, run_id: str, path: str) -> BinaryIO:
        """A binary stream of one artifact's bytes; the caller closes it.

        Raises:
            ArtifactNotFound: the run has no file at that path.
        """
        ...

    # -- assets -----------------------------------------------------------

    def promote(self, run_id: str, prefix: str, name: str) -> AssetVersion:
        """Make the next version of asset ``name`` from the run's files at or under ``prefix``.

        Raises:
            ArtifactNotFound: no artifact matches; nothing is created.
            InvalidInput: the asset name is not acceptable.
        """
        ...

    def list_assets(self) -> list[AssetSummary]:
        """Every asset name with its newest version, by name."""
        ...

    def list_asset_versions(self, name: str) -> list[AssetVersion]:
        """Every version of one asset, oldest first.

        Raises:
            AssetNotFound: no asset of that name.
        """
        ...

    def get_asset(self, name: str, version: int | None = None) -> AssetVersion:
        """One version of an asset (the newest when ``version`` is ``None``).

        Raises:
            AssetNotFound: no such asset or version.
        """
        ...

    def open_asset_file(self, name: str, version: int, path: str) -> BinaryIO:
        """A binary stream of one file of an asset version; the caller closes it."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


@runtime_checkable
class DirectTransfer(Protocol):
    """A store whose clients may move file bytes to and from its blob store themselves, by
    presigned URL, so that the bytes need not pass through the process holding the store.

    ``runhistory serve`` offers it to ``HttpStore`` clients when its store has it and
    ``offers_direct_transfer`` is true (``PostgresStore`` with its blobs in an S3 bucket; never
    the embedded store, nor blobs in a folder). An upload is begun (checked, and handed a URL),
    its bytes sent by the client, then finished: the store verifies them and only then
    records the artifact, as ``put_artifact`` would. An upload never finished leaves nothing
    visible; what it sent is swept later.
    """

    @property
    def offers_direct_transfer(self) -> bool:
        """Whether the calls below work here (false: they raise ``DirectTransferNotOffered``)."""
        ...

    def begin_direct_upload(
        self, run_id: str, path: str, sha256: str, size: int, *, max_size: int | None = None
    ) -> DirectUpload:
        """Where a client sends the ``size`` bytes (hashing to ``sha256``) of the run's file ``path``.

        Raises:
            InvalidPath: the path is not acceptable.
            RunNotFound: no such run.
            ArtifactTooLarge: ``size`` is larger than ``max_size`` (default ``MAX_ARTIFACT_SIZE``).
            InvalidInput: ``sha256`` is not a sha256.
            DirectTransferNotOffered: see ``offers_direct_transfer``.
        """
        ...

    def finish_direct_upload(
        self, run_id: str, path: str, upload: str, sha256: str, *, max_size: int | None = None
    ) -> ArtifactInfo:
        """Store what the client sent for ``upload`` as the run's file ``path``, once its bytes
        are verified to hash to ``sha256`` (the file there is replaced).

        Raises:
            InvalidInput: nothing was sent for ``upload``, or what was sent does not match
                ``sha256`` (it is dropped; nothing is stored).
            ArtifactTooLarge: more than ``max_size`` bytes were sent (they are dropped).
            RunNotFound: no such run.
            DirectTransferNotOffered: see ``offers_direct_transfer``.
        """
        ...

    def artifact_download(self, run_id: str, path: str) -> DirectDownload:
        """Where a client fetches the run's file ``path`` itself.

        Raises:
            ArtifactNotFound: the run has no file at that path.
            DirectTransferNotOffered: see ``offers_direct_transfer``.
        """
        ...

    def asset_file_download(self, name: str, version: int, path: str) -> DirectDownload:
        """Where a client fetches one file of an asset version itself.

        Raises:
            AssetNotFound: no such asset, version or file.
            DirectTransferNotOffered: see ``offers_direct_transfer``.
        """
        ...
