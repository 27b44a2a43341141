"""A throwaway PostgreSQL cluster for the tests: the machine's own server binaries, a data
folder in a temporary folder, 127.0.0.1 on a free port and a unix socket beside the data.

The tests run as root, and ``initdb`` refuses root: when this process is root the cluster is
made and run by the ``postgres`` user (``runuser``), in a folder handed to it. Durability is
switched off (``fsync``, ``synchronous_commit``, ``full_page_writes``): the cluster lives for
one test session and nothing in it must survive a crash of the machine.

Each test gets a database of its own, copied from a template that was migrated once
(``CREATE DATABASE … TEMPLATE``, a file copy: much faster than creating the tables again).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._server import unused_port

if TYPE_CHECKING:
    import psycopg

#: Seconds to wait for the server to accept connections after it starts.
START_TIMEOUT = 60.0
#: The database every test's database is copied from: migrated once per cluster.
TEMPLATE_DATABASE = "runhistory_template"


def binaries() -> Path | None:
    """The folder of ``initdb``, ``pg_ctl`` and ``postgres`` (``pg_config --bindir``, else the
    newest ``/usr/lib/postgresql/*/bin``); ``None`` when PostgreSQL is not installed."""
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        found = Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip())
        if (found / "initdb").exists():
            return found
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    for folder in reversed(folders):
        if Path(folder, "initdb").exists():
            return Path(folder)
    return None


class Cluster:
    """A PostgreSQL cluster in a temporary folder of its own (see the module docstring);
    ``dsn(database)`` once started. The folder is made readable by the ``postgres`` user (a
    test's ``tmp_path`` is not: its parents are private to root) and removed by ``remove()``."""

    def __init__(self) -> None:
        bindir = binaries()
        if bindir is None:
            raise RuntimeError(
                "PostgreSQL is not installed: no initdb in pg_config --bindir or /usr/lib/postgresql/*/bin"
            )
        self.bin = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="runhistory-pg-", dir=_in_memory()))
        self.data = self.folder / "data"
        self.socket_dir = self.folder / "socket"
        self.port = unused_port()
        self.databases = 0
        self._admin: psycopg.Connection[Any] | None = None
        self._finished: list[str] = []

    def _as_owner(self, *command: str) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *command]
        return list(command)

    def _hand_over(self, *paths: Path) -> None:
        if os.geteuid() == 0:
            for path in paths:
                shutil.chown(path, "postgres", "postgres")

    def start(self) -> Cluster:
        """Make the cluster and start its server."""
        self.data.mkdir()
        self.socket_dir.mkdir()
        self._hand_over(self.folder, self.data, self.socket_dir)
        self.folder.chmod(0o755)
        _run(
            self._as_owner(
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ),
        )
        self._start()
        return self

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (``immediate``: the cluster is thrown away, nothing needs flushing)."""
        subprocess.run(
            self._as_owner(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"),
            capture_output=True,
        )

    def remove(self) -> None:
        """Stop the server and remove its folder."""
        if self._admin is not None:
            self._admin.close()
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def restart(self) -> None:
        """Start the stopped server again, on the same port (``execute`` connects anew: the stop
        cut its connection)."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        self._start()

    def _start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.socket_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        _run(
            self._as_owner(
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.folder / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                str(int(START_TIMEOUT)),
                "start",
            )
        )

    def dsn(self, database: str = "postgres") -> str:
        """A connection string for ``database`` over TCP on 127.0.0.1."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        """Run one statement outside a transaction (``CREATE DATABASE`` needs that), on a
        connection kept for the cluster's life."""
        import psycopg

        if self._admin is None or self._admin.closed:
            self._admin = psycopg.connect(self.dsn(), autocommit=True)
        self._admin.execute(sql.encode())

    def drop_later(self, name: str) -> None:
        """Drop the database when the next one is made: by then the server has ended the sessions
        of the store that used it (dropping it at once waits 0.1 s for them)."""
        self._finished.append(name)

    def new_database(self, template: str | None = None) -> str:
        """A new empty database (or a copy of ``template``); its name."""
        while self._finished:
            self.execute(f"DROP DATABASE IF EXISTS {self._finished.pop()} WITH (FORCE)")
        self.databases += 1
        name = f"test_{self.databases}"
        for attempt in range(50):
            try:
                # FILE_COPY copies the template's files (two checkpoints, cheap without fsync): about
                # twice as fast for a small database as writing it all through the WAL.
                self.execute(
                    f"CREATE DATABASE {name}" + (f" TEMPLATE {template} STRATEGY FILE_COPY" if template else "")
                )
                return name
            except Exception as error:  # the template is still in use by a closing connection
                if "being accessed by other users" not in str(error) or attempt == 49:
                    raise
                time.sleep(0.02)
        return name


#: Free bytes /dev/shm needs to hold the clusters (a few tens of MiB each) with room to spare.
_SHM_FREE = 1 << 30


def _in_memory() -> str | None:
    """/dev/shm, so that the cluster's writes never wait for a disk (as the tests' own folders;
    see ``conftest``); ``None`` (the system's temporary folder) where TMPDIR says otherwise or
    /dev/shm is missing or small."""
    if os.environ.get("TMPDIR"):
        return None
    try:
        if shutil.disk_usage("/dev/shm").free >= _SHM_FREE and os.access("/dev/shm", os.W_OK | os.X_OK):
            return "/dev/shm"
    except OSError:
        pass
    return None


def _run(command: list[str]) -> None:
    """Run a command; on failure, raise with what it printed (``initdb`` says why it refused)."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
        )
