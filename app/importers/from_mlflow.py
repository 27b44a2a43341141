"""``runhistory import mlflow URI``: an MLflow tracking store or server, through MLflow's own client.

What is read (see the README, "Import from other trackers"): every active experiment (or
those named) and its active runs, each with its params, tags, every point of every metric
(step, value and the millisecond timestamp MLflow keeps), its artifacts and, for MLflow 3,
the files of the models logged from it; then every registered model version whose run
was imported, promoted here as a version of an asset of the same name.

The URI is looked at before MLflow is: a folder must be an MLflow file store, a
``sqlite:///`` file must exist and hold MLflow's tables (MLflow would create a new
database or folder where none is, and upgrade an old one: neither is done to a store
being imported from), and a server must answer MLflow's API.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import unquote, urlparse

from runhistory.api import RunStatus, Store
from runhistory.api._limits import MAX_ASSET_NAME_LENGTH

from .runs import (
    ImportSummary,
    ProgressLine,
    RunWriter,
    SourceError,
    SourceFile,
    SourceRun,
    SourceSeries,
    typed_param,
)

if TYPE_CHECKING:
    from mlflow.entities import Run as MlflowRun

TRACKER = "mlflow"

#: MLflow's run statuses and the status each is given here (a run still running there,
#: or scheduled, is left running here: the next import adds what it logs meanwhile).
STATUSES: dict[str, RunStatus] = {
    "FINISHED": "completed",
    "FAILED": "failed",
    "KILLED": "killed",
    "RUNNING": "running",
    "SCHEDULED": "running",
}

#: MLflow's system tags kept as params here (the rest of ``mlflow.*`` is MLflow's own
#: bookkeeping: logged-model histories, autologging markers, dataset contexts…).
SYSTEM_TAG_PARAMS = {
    "mlflow.source.type": "mlflow.source_type",
    "mlflow.source.git.branch": "git.branch",
    "mlflow.source.git.repoURL": "git.repo_url",
    "mlflow.project.entryPoint": "mlflow.entry_point",
}

#: Tables an MLflow tracking database holds (looked for before MLflow opens it).
_TABLES = {"experiments", "runs", "metrics", "params", "tags"}

#: Experiments, runs, models asked for in one page.
_PAGE = 1000


def _sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` URI (``None`` for an in-memory one)."""
    rest = unquote(uri[len("sqlite://") :].split("?", 1)[0])  # "/relative.db" or "//absolute.db"
    path = rest[1:]
    if path in ("", ":memory:"):
        return None
    return Path(path)


def check_uri(uri: str) -> str:
    """The tracking URI MLflow is given, once it is known to be an MLflow store or server.

    A folder or ``file://`` URI: an MLflow file store (experiment folders with ``meta.yaml``).
    A file: an MLflow SQLite database (as ``sqlite:///``). ``http(s)://``: a server that
    answers MLflow's API. Other database URIs (``postgresql://``, ``mysql://``) are MLflow's to open.

    Raises:
        SourceError: it is none of these, saying what was found.
    """
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https"):
        _check_server(uri)
        return uri
    if parsed.scheme == "sqlite":
        path = _sqlite_path(uri)
        if path is None:
            raise SourceError(f"{uri} is an empty in-memory database: give the MLflow database's file")
        _check_database(path, uri)
        return uri
    if parsed.scheme in ("", "file") or (len(parsed.scheme) == 1 and os.name == "nt"):
        path = Path(unquote(parsed.path) if parsed.scheme == "file" else uri).expanduser()
        if not path.exists():
            raise SourceError(f"no MLflow store at {uri}: {path} does not exist")
        if path.is_file():
            _check_database(path, uri)
            return f"sqlite:///{path.resolve()}"
        if not ((path / ".trash").is_dir() or any(path.glob("*/meta.yaml"))):
            raise SourceError(
                f"{path} is not an MLflow file store: it holds no experiment folders (<id>/meta.yaml); "
                "give the folder MLflow wrote (often mlruns), a sqlite:/// database or a server's http:// URL"
            )
        # MLflow 3 opens a file store only when asked to: reading one to move its runs out is what it is kept for.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        return str(path.resolve())
    return uri


def _check_database(path: Path, uri: str) -> None:
    if not path.is_file():
        raise SourceError(f"no MLflow database at {uri}: {path} does not exist")
    try:
        with open(path, "rb") as f:
            header = f.read(16)
    except OSError as error:
        raise SourceError(f"cannot read {path}: {error.strerror}") from None
    if header != b"SQLite format 3\0":
        raise SourceError(f"{path} is not an MLflow store: neither a folder nor an SQLite database")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.Error as error:
        raise SourceError(f"cannot read the database {path}: {error}") from None
    if not _TABLES <= tables:
        raise SourceError(
            f"{path} is an SQLite database but not MLflow's: it lacks the tables {', '.join(sorted(_TABLES - tables))}"
        )


def _check_server(uri: str) -> None:
    import httpx

    url = uri.rstrip("/") + "/api/2.0/mlflow/experiments/search"
    headers = {}
    if os.environ.get("MLFLOW_TRACKING_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}"
    auth = None
    if os.environ.get("MLFLOW_TRACKING_USERNAME"):
        auth = (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ.get("MLFLOW_TRACKING_PASSWORD", ""))
    try:
        answer = httpx.get(url, params={"max_results": 1}, headers=headers, auth=auth, timeout=10.0)
    except httpx.HTTPError as error:
        raise SourceError(f"cannot reach the MLflow server at {uri}: {error}") from None
    if answer.status_code in (401, 403):
        raise SourceError(
            f"the MLflow server at {uri} refused the request ({answer.status_code}): set MLFLOW_TRACKING_TOKEN "
            "or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
        )
    try:
        mlflow_like = answer.status_code == 200 and isinstance(answer.json(), dict)
    except ValueError:
        mlflow_like = False
    if not mlflow_like:
        raise SourceError(f"{uri} does not answer as an MLflow tracking server ({url}: HTTP {answer.status_code})")


def asset_name(model: str) -> str:
    """A registered model's name as an asset name: letters, digits, ``.``, ``_``, ``-``, the rest as ``-``."""
    name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "-" for c in model)
    name = name.lstrip("._-")[:MAX_ASSET_NAME_LENGTH]
    return name or "model"


def _local_folder(uri: str) -> Path | None:
    """The folder an artifact URI names on this machine (``None``: elsewhere, or not there)."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
    elif parsed.scheme == "":
        path = Path(uri)
    else:
        return None
    return path if path.is_dir() else None


def _local_files(folder: Path, prefix: str) -> Iterator[SourceFile]:
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = Path(root, name)
            rel = path.relative_to(folder).as_posix()
            yield SourceFile(
                f"{prefix}/{rel}" if prefix else rel,
                path.stat().st_size,
                lambda path=path: open(path, "rb"),  # type: ignore[misc]
            )


@contextlib.contextmanager
def _fetched(repository: Any, path: str) -> Iterator[BinaryIO]:
    """A remote artifact fetched by MLflow into a temporary folder, open; the folder goes after."""
    folder = tempfile.mkdtemp(prefix="runhistory-import-")
    try:
        local = repository.download_artifacts(path, dst_path=folder)
        with open(local, "rb") as stream:
            yield stream
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _files_at(uri: str, prefix: str) -> Iterator[SourceFile]:
    """Every file under an artifact URI, as files of a run under ``prefix``."""
    folder = _local_folder(uri)
    if folder is not None:
        yield from _local_files(folder, prefix)
        return
    if urlparse(uri).scheme in ("", "file"):
        return  # a local location never written to: no files
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    repository = get_artifact_repository(uri)
    pending = [""]
    while pending:
        for info in sorted(repository.list_artifacts(pending.pop() or None), key=lambda i: i.path, reverse=True):
            if info.is_dir:
                pending.append(info.path)
                continue
            yield SourceFile(
                f"{prefix}/{info.path}" if prefix else info.path,
                info.file_size,
                lambda path=info.path: _fetched(repository, path),  # type: ignore[misc]
            )


def _pages(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
    token = None
    while True:
        page = call(*args, page_token=token, **kwargs)
        yield from page
        token = page.token
        if not token:
            return


#: Rows of MLflow's ``metrics`` table fetched at once.
_ROWS_AT_ONCE = 10_000
#: The columns of MLflow's ``metrics`` table that ``_SqliteHistory`` reads.
_METRIC_COLUMNS = {"key", "value", "timestamp", "step", "is_nan", "run_uuid"}


class _SqliteHistory:
    """A run's metric points read straight from an MLflow SQLite database: what MLflow's own
    ``get_metric_history`` answers there for each key (its query: the run's points of the key
    ordered by timestamp, step and value; NaN where ``is_nan``), without the object it builds
    for each point, which holds it to about 15,000 points a second on this project's machine.

    A run's points are read in one query ordered by key, then as MLflow orders them, and
    handed out key by key (``RunPoints``): a query per key would have SQLite walk every
    run's points of that key (its primary key starts with the key) for each run.

    The database is opened read-only; when its ``metrics`` table lacks a column this reads
    (another MLflow's schema), ``open`` returns ``None`` and MLflow's client is used.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @classmethod
    def open(cls, uri: str) -> _SqliteHistory | None:
        path = _sqlite_path(uri) if uri.startswith("sqlite:") else None
        if path is None:
            return None
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(metrics)")}
        if not _METRIC_COLUMNS <= columns:
            conn.close()
            return None
        return cls(conn)

    def run(self, run_id: str) -> _RunPoints:
        # SQLite keeps no NaN (it reads back as NULL, here None); its division of an integer
        # below 2**53 by 1000.0 is the correctly rounded one Python's makes.
        return _RunPoints(
            self.conn.execute(
                "SELECT key, step, CASE WHEN is_nan THEN NULL ELSE value END, timestamp / 1000.0 FROM metrics "
                "WHERE run_uuid = ? ORDER BY key, timestamp, step, value",
                (run_id,),
            )
        )


class _RunPoints:
    """One run's points, ordered by key, handed out a key at a time, keys in ascending order
    (SQLite orders text by its UTF-8 bytes, which is Python's order of the characters)."""

    def __init__(self, rows: sqlite3.Cursor) -> None:
        self._rows = rows
        self._pending: list[tuple[str, int, float | None, float]] = []
        self._at = 0

    def points(self, key: str) -> Iterator[tuple[int, float, float]]:
        from bisect import bisect_left, bisect_right

        nan = float("nan")
        while True:
            if self._at >= len(self._pending):
                self._pending, self._at = self._rows.fetchmany(_ROWS_AT_ONCE), 0
                if not self._pending:
                    return
            pending = self._pending
            start = bisect_left(pending, key, lo=self._at, key=lambda row: row[0])  # keys no series asked for
            end = bisect_right(pending, key, lo=start, key=lambda row: row[0])
            self._at = end
            if start < end:
                chunk = [(s, v, t) for _, s, v, t in pending[start:end]]
                if any(type(v) is not float for _, v, _ in chunk):
                    chunk = [(int(s), nan if v is None else float(v), t) for s, v, t in chunk]
                yield from chunk  # type: ignore[misc]
            if end < len(pending):
                return  # the next key begins


class _Reader:
    """What is read of one MLflow store, through its client."""

    def __init__(self, uri: str) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self._sqlite = _SqliteHistory.open(uri)
        # Artifacts of a server's runs (mlflow-artifacts:/) are fetched through the tracking URI.
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def experiments(self, names: list[str]) -> list[Any]:
        from mlflow.entities import ViewType

        found = list(_pages(self.client.search_experiments, view_type=ViewType.ACTIVE_ONLY, max_results=_PAGE))
        if not names:
            return sorted(found, key=lambda e: (e.creation_time or 0, e.experiment_id))
        by_name = {e.name: e for e in found}
        missing = [n for n in names if n not in by_name]
        if missing:
            known = ", ".join(sorted(by_name)[:10]) or "none"
            raise SourceError(f"no experiment {', '.join(map(repr, missing))} in {self.uri} (it holds: {known})")
        return [by_name[n] for n in dict.fromkeys(names)]

    def runs(self, experiment: Any) -> list[MlflowRun]:
        from mlflow.entities import ViewType

        runs = _pages(
            self.client.search_runs,
            [experiment.experiment_id],
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=_PAGE,
            order_by=["attributes.start_time ASC"],
        )
        return sorted(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id))

    def logged_models(self, experiment_ids: list[str]) -> dict[str, list[Any]]:
        """MLflow 3's logged models, by the run they were logged from."""
        if not experiment_ids or not hasattr(self.client, "search_logged_models"):
            return {}
        by_run: dict[str, list[Any]] = {}
        for start in range(0, len(experiment_ids), 100):
            for model in _pages(
                self.client.search_logged_models, experiment_ids[start : start + 100], max_results=_PAGE
            ):
                if model.source_run_id:
                    by_run.setdefault(model.source_run_id, []).append(model)
        return by_run

    def history(self, run_id: str, key: str) -> Iterator[tuple[int, float, float]]:
        for m in self.client.get_metric_history(run_id, key):
            yield int(m.step), float(m.value), m.timestamp / 1000

    def source_run(self, experiment: Any, run: MlflowRun, models: list[Any]) -> SourceRun:
        info, data = run.info, run.data
        tags = dict(data.tags)
        params: dict[str, Any] = {k: typed_param(v) for k, v in data.params.items()}
        params["mlflow.run_id"] = info.run_id
        labels: list[str] = []
        for key, value in sorted(tags.items()):
            if key.startswith("mlflow."):
                if key in SYSTEM_TAG_PARAMS:
                    params.setdefault(SYSTEM_TAG_PARAMS[key], value)
                elif key == "mlflow.parentRunId":
                    from .runs import derived_run_id

                    params.setdefault("mlflow.parent_run", derived_run_id(TRACKER, value))
                continue
            label = key if value in ("", "true", "True") else f"{key}={value}"
            if len(label) <= 128 and not any(c.isspace() for c in label) and label[0] not in "+-":
                labels.append(label)
            else:
                params.setdefault(f"tags.{key}", value)
        name = info.run_name or tags.get("mlflow.runName")
        source_name = tags.get("mlflow.source.name")
        status = STATUSES.get(info.status, "running")
        run_id = info.run_id
        keys = sorted(data.metrics)

        def series() -> Iterator[SourceSeries]:
            if self._sqlite is not None:
                points = self._sqlite.run(run_id)
                for key in keys:  # in ascending order, as _RunPoints hands them out
                    yield SourceSeries(key, "number", lambda key=key: points.points(key))  # type: ignore[misc]
                return
            for key in keys:
                yield SourceSeries(key, "number", lambda key=key: self.history(run_id, key))  # type: ignore[misc]

        def files() -> Iterator[SourceFile]:
            yield from _files_at(info.artifact_uri, "")
            for model in sorted(models, key=lambda m: m.model_id):
                yield from _files_at(model.artifact_location, f"models/{model.model_id}")

        return SourceRun(
            tracker=TRACKER,
            key=run_id,
            label=f"{experiment.name}/{name or run_id[:8]}",
            experiment=experiment.name,
            name=name,
            status=status,
            started_at=info.start_time / 1000 if info.start_time else None,
            ended_at=info.end_time / 1000 if info.end_time else None,
            params=params,
            tags=labels,
            note=tags.get("mlflow.note.content"),
            user=tags.get("mlflow.user") or info.user_id or "",
            command=[source_name] if source_name else [],
            git_commit=tags.get("mlflow.source.git.commit"),
            series=series,
            files=files,
        )

    def model_versions(self) -> Iterator[Any]:
        """Every registered model's versions, model by model, oldest version first."""
        for model in sorted(_pages(self.client.search_registered_models, max_results=_PAGE), key=lambda m: m.name):
            quoted = model.name.replace("\\", "\\\\").replace("'", "\\'")
            versions = _pages(self.client.search_model_versions, f"name = '{quoted}'", max_results=_PAGE)
            yield from sorted(versions, key=lambda v: int(v.version))


def import_mlflow(
    store: Store,
    tracking_uri: str,
    *,
    source: str | None = None,
    experiments: list[str] | None = None,
    progress: ProgressLine | None = None,
) -> ImportSummary:
    """Import an MLflow store or server into ``store`` (see the module docstring).

    Args:
        store: Where the runs go.
        tracking_uri: The store or server, as ``check_uri`` returns it.
        source: How it was named (the summary says it; default ``tracking_uri``).
        experiments: Only these experiments (default: every active one).
        progress: Called with a line of progress now and then.

    Raises:
        SourceError: MLflow is not installed, or failed to read the store (the import can
            be run again: it goes on where it stopped).
    """
    started = time.monotonic()
    uri = source or tracking_uri
    if progress is not None:
        from runhistory.api._safe_text import safe_line

        progress(safe_line(f"opening {uri} with MLflow's client", 200))
    try:
        with warnings.catch_warnings():
            # MLflow's own notices (a deprecated backend, a pydantic detail) are not the user's concern here.
            warnings.simplefilter("ignore")
            import mlflow  # noqa: F401
    except ImportError:
        raise SourceError(
            "reading MLflow needs MLflow's client: pip install mlflow (or 'runhistory[import]')"
        ) from None
    from mlflow.exceptions import MlflowException

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    summary = ImportSummary(source=uri)
    writer = RunWriter(store, summary, progress)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = _Reader(tracking_uri)
            chosen = reader.experiments(experiments or [])
            runs = [(e, r) for e in chosen for r in reader.runs(e)]
            models = reader.logged_models([e.experiment_id for e in chosen])
            summary.runs_found = len(runs)
            sources = [reader.source_run(e, r, models.get(r.info.run_id, [])) for e, r in runs]
            here = writer.write_all(sources)
            _promote_versions(reader, writer, {r.info.run_id: r for _, r in runs}, here)
    except MlflowException as error:
        raise SourceError(f"MLflow could not read {uri}: {error.message}") from None
    summary.seconds = time.monotonic() - started
    return summary


def _model_id(version: Any) -> str | None:
    """The logged model an MLflow 3 model version was registered from (``models:/m-…``)."""
    found = getattr(version, "model_id", None)
    source = version.source or ""
    if not found and source.startswith("models:/") and "/" not in source[len("models:/") :]:
        found = source[len("models:/") :]
    return found or None


def _promote_versions(reader: _Reader, writer: RunWriter, runs: dict[str, MlflowRun], here: dict[str, str]) -> None:
    """Each registered model version whose run is here: its files in that run, then promoted."""
    seen: dict[tuple[str, str, str], int] = {}
    for version in reader.model_versions():
        what = f"model version {version.name}:{version.version}"
        run = runs.get(version.run_id or "")
        if run is None or version.run_id not in here:
            writer.summary.leave_out(f"{what}: its run {version.run_id or '(none)'} is not among the runs imported")
            continue
        run_id = here[version.run_id]
        name = asset_name(version.name)
        location = reader.client.get_model_version_download_uri(version.name, version.version)
        root = run.info.artifact_uri.rstrip("/")
        if location.rstrip("/") == root:
            prefix = ""
        elif location.startswith(root + "/"):
            prefix = location[len(root) + 1 :].strip("/")
        elif _model_id(version):
            prefix = f"models/{_model_id(version)}"
        else:
            prefix = f"registered_models/{name}/{version.version}"
        writer.write_files(run_id, what, _files_at(location, prefix), count_skipped=False)
        nth = seen[(name, run_id, prefix)] = seen.get((name, run_id, prefix), 0) + 1
        writer.promote(run_id, prefix, name, nth, what)
