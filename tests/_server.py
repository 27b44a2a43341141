"""A real ``runhistory serve`` on an ephemeral 127.0.0.1 port, for the tests."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from ._processes import clean_env


def unused_port() -> int:
    """A 127.0.0.1 port nothing listens on (the system's pick), for a server that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class Server:
    """``runhistory serve`` in a subprocess; ``url`` once it answers.

    ``settings`` are keyword arguments of ``serve()`` (timeouts, intervals) that the CLI does not take.
    With ``--db`` among ``args`` it serves that database instead of the embedded store in
    ``home``; ``env`` adds variables (the AWS ones of a bucket).
    """

    def __init__(
        self,
        home: Path,
        *args: str,
        port: int = 0,
        token: str | None = None,
        settings: dict[str, float] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.home = home
        self.args = args
        self.token = token
        self.port = port
        self.settings = settings
        self.env = env or {}
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> Server:
        command = [
            sys.executable,
            "-m",
            "runhistory.app.cli",
            "serve",
            *([] if "--db" in self.args else ["--home", str(self.home)]),
            "--port",
            str(self.port),
            *self.args,
        ]
        if self.token:
            command += ["--token", self.token]
        if self.settings is not None:
            # Timeouts and intervals short enough to cross in a test: serve() itself, as the CLI calls it.
            command = [
                sys.executable,
                "-c",
                (
                    "from runhistory.api import EmbeddedStore\nfrom runhistory.api._server import serve\n"
                    f"serve(EmbeddedStore({str(self.home)!r}), port={self.port}, token={self.token!r}, **{self.settings!r})\n"
                ),
            ]
        self.process = subprocess.Popen(
            command, env=clean_env(self.home, **self.env), stderr=subprocess.PIPE, text=True
        )
        assert self.process.stderr is not None
        line = self.process.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert found, (
            f"server did not start: {line}{self.process.stderr.read() if self.process.poll() is not None else ''}"
        )
        self.port = int(found.group(1))
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("server did not answer /health")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()


def start_replicas(started: ExitStack, folder: Path, count: int, *args: str, env: dict[str, str]) -> list[Server]:
    """``count`` servers of the same ``args`` (a team's database and bucket) in ``folder``, each
    stopped when ``started`` closes, even when a later one fails to start."""
    replicas: list[Server] = []
    for n in range(count):
        replicas.append(Server(folder / f"replica{n}", *args, env=env))
        started.callback(replicas[-1].stop)
        replicas[-1].start()
    return replicas
