"""Fixtures shared by the tests.

``store`` runs a test once per backend (``BACKENDS``): the contract every
``Store`` keeps. A new backend passes the contract by adding a fixture named
``<backend>_store`` and its name to ``BACKENDS``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from runhistory.api import EmbeddedStore, Store
from runhistory.api._embedded.blobs import LocalBlobs

from ._postgres import TEMPLATE_DATABASE, Cluster
from ._server import Server

if TYPE_CHECKING:
    from ._s3 import SeaweedFS

ROOT = Path(__file__).resolve().parent.parent

# pytest rewrites each test module (for its assertion messages) and keeps the result as bytecode
# in tests/__pycache__; where PYTHONDONTWRITEBYTECODE is set it would rewrite and compile them
# all again in every worker of every run, about 2 s a process. This process (not the ones the
# tests start) writes bytecode again from here on.
sys.dont_write_bytecode = False


def _quick_idle() -> None:
    """Textual's Pilot waits after each key until the process's CPU time stops moving, in
    20 ms naps (and up to 1 s while worker threads run). The app's tests wait for what
    they look at (``settle``, ``wait_for``), so the naps are made 2 ms.

    Each key also waits for the animations it started (a tab's underline sliding, a
    scroll) at 60 frames a second, every frame drawn. The tests look at where things
    end, so the apps they start jump there (``TEXTUAL_ANIMATIONS=none``, read as an app
    starts; this process only: the terminal tests start the app with animations).
    """
    import textual._wait
    import textual.constants

    textual._wait.SLEEP_GRANULARITY = 0.002
    textual._wait.SLEEP_IDLE = 0.0002
    textual.constants.TEXTUAL_ANIMATIONS = "none"


def _temporary_folders_in_memory(config: pytest.Config) -> None:
    """The tests' temporary folders (``tmp_path``) on /dev/shm, in memory.

    The tests make hundreds of stores, and a store commits with fsync: on a disk
    each commit waits milliseconds, a quarter of the quick run's time. Nothing a
    test proves depends on the disk (a killed process dies the same on tmpfs).
    Left alone where ``--basetemp`` or TMPDIR says where, and where /dev/shm is
    missing or small. The workers get their folders under the controller's.
    """
    if config.option.basetemp or os.environ.get("TMPDIR") or os.environ.get("PYTEST_DEBUG_TEMPROOT"):
        return
    shm = Path("/dev/shm")
    try:
        free = shutil.disk_usage(shm).free
    except OSError:
        return
    if free >= 4 << 30 and os.access(shm, os.W_OK | os.X_OK):
        tempfile.tempdir = str(shm)


#: Real trainings with Lightning, Transformers and Keras: collected only with ``--integrations``,
#: where the ``integrations`` extra is installed (the README's test command does not install it).
INTEGRATIONS = ROOT / "tests" / "integrations"
RUN_INTEGRATIONS = (
    "pip install torch==2.13.0 && pip install -e '.[test,integrations]', then pytest --integrations tests/integrations"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--integrations",
        action="store_true",
        help=f"also collect tests/integrations (real Lightning, Transformers and Keras trainings): {RUN_INTEGRATIONS}",
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """``tests/integrations`` only with ``--integrations``."""
    if collection_path == INTEGRATIONS and not config.getoption("--integrations"):
        return True
    return None


def pytest_report_header(config: pytest.Config) -> str:
    if config.getoption("--integrations"):
        return "integrations: collecting tests/integrations (real Lightning, Transformers and Keras trainings)"
    return f"integrations: tests/integrations not collected; to run them: {RUN_INTEGRATIONS}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Said at the end too (``-q`` leaves the header out): the integration tests were not run."""
    if not config.getoption("--integrations") and not hasattr(config, "workerinput"):
        terminalreporter.write_line(
            f"tests/integrations not collected (framework trainings); to run them: {RUN_INTEGRATIONS}"
        )


def pytest_configure(config: pytest.Config) -> None:
    """Quick Pilot naps (``_quick_idle``), temporary folders in memory, and the project compiled
    once: the tests start many Python processes, and where PYTHONDONTWRITEBYTECODE is set each
    would compile every module again."""
    _quick_idle()
    if not hasattr(config, "workerinput"):  # the controller, not each xdist worker
        _temporary_folders_in_memory(config)
        import compileall

        for folder in ("api", "app", "logger"):
            compileall.compile_dir(ROOT / folder, quiet=1)


def pytest_collection_finish() -> None:
    """The collector of reference cycles set for a test process that imports a lot.

    Textual, FastAPI and the rest leave a test process with millions of objects
    that live until it ends, and the app's tests make garbage quickly: with
    Python's default thresholds the collector kept scanning the old objects and
    took about a fifth of the app tests' time. What exists once the tests are
    collected is set aside for good (``gc.freeze()``), and the collector runs
    less often. Only the test processes: the ones the tests start keep Python's
    defaults.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


@pytest.hookimpl(tryfirst=True)  # before ``-m`` picks by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The slow tests first, each group in the order written.

    The workers take tests from the front of one queue as they finish others: the
    long ones started first run alongside the many short ones, instead of one
    worker finishing a long one while the other has nothing left to do.
    """
    missing = _missing_import_extra()
    for item in items:
        if _SERVICES.intersection(getattr(item, "fixturenames", ())) or _params(item).get("store") in TEAM:
            item.add_marker(pytest.mark.slow)
        if missing and item.get_closest_marker("importers") is not None:
            item.add_marker(pytest.mark.skip(reason=f"needs {missing}: pip install -e '.[import-test]' (.ci/run does)"))
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def _missing_import_extra() -> str:
    """The libraries of the import-test extra that are not installed (the ``importers`` tests need them)."""
    import importlib.util

    return ", ".join(name for name in ("mlflow", "wandb") if importlib.util.find_spec(name) is None)


#: Fixtures that start real services (a PostgreSQL cluster, an S3 server): the tests that use
#: them, and those of the backends on them (``TEAM``), are ``slow`` by the marker's meaning
#: and stay out of the quick run (``-m "not slow"``); the README's command runs them all.
_SERVICES = {"postgres_cluster", "seaweedfs"}
TEAM = ("postgres", "team_http")


def _params(item: pytest.Item) -> dict[str, object]:
    callspec = getattr(item, "callspec", None)
    return dict(callspec.params) if callspec is not None else {}


#: The backends the contract tests run on; each is the fixture ``<name>_store``.
BACKENDS = ["embedded", "http", "postgres", "team_http"]


@pytest.fixture
def embedded_store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    """An embedded store in a fresh folder."""
    store = EmbeddedStore(tmp_path / "store")
    yield store
    store.close()


@pytest.fixture
def http_store(tmp_path: Path) -> Iterator[Store]:
    """An HTTP store answered by a server app over an embedded store, in this process."""
    from ._inprocess import in_process  # imports the server's framework: only where it is used

    backing = EmbeddedStore(tmp_path / "server-store")
    with in_process(backing) as store:
        yield store
    backing.close()


def folder_blobs(home: Path) -> LocalBlobs:
    """Blobs in ``home/blobs``, staged in ``home/tmp`` (the folders made)."""
    blobs = LocalBlobs(home / "blobs", home / "tmp")
    for folder in (blobs.folder, blobs.tmp):
        folder.mkdir(parents=True, exist_ok=True)
    return blobs


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster for this worker, with a template database migrated once
    (``TEMPLATE_DATABASE``): each test's database is a copy of it (see ``_postgres``)."""
    from runhistory.api._postgres import PostgresStore

    cluster = Cluster()
    try:
        cluster.start()
        cluster.execute(f"CREATE DATABASE {TEMPLATE_DATABASE}")
        PostgresStore(cluster.dsn(TEMPLATE_DATABASE), blobs=folder_blobs(cluster.folder)).close()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def postgres_dsn(postgres_cluster: Cluster) -> Iterator[str]:
    """A fresh, migrated database of the test's own; dropped after the test."""
    name = postgres_cluster.new_database(TEMPLATE_DATABASE)
    yield postgres_cluster.dsn(name)
    postgres_cluster.drop_later(name)


@pytest.fixture
def postgres_store(postgres_dsn: str, seaweedfs: SeaweedFS, tmp_path: Path) -> Iterator[Store]:
    """The team backend: a PostgreSQL store on a fresh database, its blobs in an S3 bucket
    (a prefix of the test's own on the worker's SeaweedFS)."""
    from runhistory.api._postgres import PostgresStore

    store = PostgresStore(postgres_dsn, blobs=seaweedfs.blobs(), staging=tmp_path / "staging")
    yield store
    store.close()


@dataclass
class Team:
    """The team backend of a test: a database of its own and a prefix of the bucket, as a store and
    as what a command or a server is given (``args``, and ``env`` for the bucket's credentials)."""

    dsn: str
    blobs: str
    env: dict[str, str]
    store: Store

    @property
    def args(self) -> tuple[str, ...]:
        return ("--db", self.dsn, "--blobs", self.blobs)


@pytest.fixture
def team(postgres_dsn: str, seaweedfs: SeaweedFS, tmp_path: Path) -> Iterator[Team]:
    """``Team`` over a fresh database and a prefix of the worker's SeaweedFS."""
    from runhistory.api._postgres import PostgresStore

    blobs = seaweedfs.blobs()
    store = PostgresStore(postgres_dsn, blobs=blobs, staging=tmp_path / "staging")
    yield Team(postgres_dsn, f"s3://{blobs.bucket}/{blobs.prefix}", seaweedfs.environ(), store)
    store.close()


@pytest.fixture
def team_http_store(postgres_store: Store) -> Iterator[Store]:
    """An HTTP store answered by a server app over the team backend (``postgres_store``), in this process;
    every file, however small, moves straight to and from the bucket (direct transfer)."""
    from ._inprocess import in_process

    with in_process(postgres_store, direct_min_size=0) as store:
        yield store


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> Store:
    """Each backend in turn (see ``BACKENDS``)."""
    found: Store = request.getfixturevalue(f"{request.param}_store")
    return found


#: The bearer token of ``token_server``.
TOKEN = "s3cret-token"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real ``runhistory serve`` on 127.0.0.1, shared by the tests of a worker that do
    not stop, restart or measure it (those start their own, see ``fresh_server``)."""
    srv = Server(tmp_path_factory.mktemp("server")).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Like ``server``, with the bearer token ``TOKEN``."""
    srv = Server(tmp_path_factory.mktemp("token-server"), token=TOKEN).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """A real S3 service (SeaweedFS) on 127.0.0.1, one per worker; each test takes a key
    prefix of its own (``SeaweedFS.new_prefix``). A test that stops it starts its own."""
    from ._s3 import SeaweedFS  # boto3 and the binary: only where they are used

    service = SeaweedFS(tmp_path_factory.mktemp("seaweedfs")).start()
    yield service
    service.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Server]:
    """A server of the test's own, for a test that stops, restarts or measures it."""
    srv = Server(tmp_path / "server").start()
    yield srv
    srv.stop()


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``@pytest.mark.anyio``) run on asyncio, as Textual does."""
    return "asyncio"


@pytest.fixture
def utc() -> Iterator[None]:
    """Times of day shown in UTC (snapshots are the same in every time zone)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()
