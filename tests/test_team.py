"""The team server: several server processes over one store (replicas over PostgreSQL and S3
behind nginx, or workers of one server), and processes killed or restarted under load with
nothing lost and nothing stored twice."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from runhistory.api import EmbeddedStore, Store
from runhistory.api._settings import InvalidSetting, read_serve_config

from ._balancer import Balancer
from ._postgres import Cluster
from ._processes import clean_env, start
from ._server import Server, start_replicas
from .conftest import Team

#: Each writer logs this many points, in bursts, over a few seconds.
POINTS = 20_000
BURST = 500

WRITER = f"""
    import time
    from runhistory.logger import get_logger
    lg = get_logger(experiment="team")
    print(lg.run_id, flush=True)
    for burst in range({POINTS // BURST}):
        for i in range({BURST}):
            lg.log("x", burst * {BURST} + i)
        lg.flush()
        time.sleep(0.03)
    lg.finish()
"""


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (a server's workers)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found += [int(c) for c in children]
    return found


def _wait_for_points(store: Store, runs: int, at_least: int) -> None:
    """Until each of ``runs`` runs has ``at_least`` points stored."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page = store.list_runs(experiment="team").runs
        if len(page) == runs and all((info := store.list_metrics(r.id)) and info[0].count >= at_least for r in page):
            return
        time.sleep(0.05)
    raise AssertionError(f"the writers did not reach {at_least} points each")


def _start_writers(tmp_path: Path, url: str, code: str = WRITER) -> list[subprocess.Popen[str]]:
    writers = []
    for n in range(8):
        folder = tmp_path / f"w{n}"
        folder.mkdir()
        writers.append(start(folder, tmp_path / f"client{n}", code, RUNHISTORY_URL=url))
    return writers


def _every_point_once(store: Store, writers: list[subprocess.Popen[str]]) -> None:
    """The writers end well, and each of their runs holds its points exactly once."""
    for w in writers:
        _, err = w.communicate(timeout=240)
        assert w.returncode == 0, err
    runs = store.list_runs(experiment="team").runs
    assert len(runs) == 8
    for run in runs:
        assert run.status == "completed"
        values = store.read_series(run.id, "x").values
        assert len(values) == POINTS  # no point lost, none stored twice
        assert values == list(range(POINTS))


#: A writer that also uploads a file before it finishes.
WRITER_WITH_FILE = WRITER.replace(
    "    lg.finish()\n",
    '    Path("weights.bin").write_bytes(bytes(range(256)) * 4096)\n'
    '    lg.upload_file("weights.bin", "weights.bin")\n'
    "    lg.finish()\n",
).replace("    import time\n", "    import time\n    from pathlib import Path\n")


@pytest.mark.slow
def test_eight_writers_through_two_replicas_lose_and_repeat_nothing_when_one_is_killed(
    tmp_path: Path, team: Team
) -> None:
    """Two replicas over PostgreSQL and S3 behind nginx; one is SIGKILLed mid-run."""
    with ExitStack() as started:  # whatever started is stopped, even when a later start fails
        replicas = start_replicas(started, tmp_path, 2, *team.args, env=team.env)
        balancer = Balancer(tmp_path / "nginx", [r.url.removeprefix("http://") for r in replicas])
        started.callback(balancer.stop)
        balancer.start()
        writers = _start_writers(tmp_path, balancer.url, WRITER_WITH_FILE)
        _wait_for_points(team.store, 8, POINTS // 5)
        replicas[0].kill()  # SIGKILL mid-run: the batches in flight on it are cut off
        _every_point_once(team.store, writers)
        for run in team.store.list_runs(experiment="team").runs:
            (artifact,) = [a for a in team.store.list_artifacts(run.id) if a.path == "weights.bin"]
            assert artifact.sha256 == hashlib.sha256(bytes(range(256)) * 4096).hexdigest()


@pytest.mark.slow
def test_eight_writers_through_a_server_lose_and_repeat_nothing_when_a_worker_is_killed(tmp_path: Path) -> None:
    home = tmp_path / "store"
    server = Server(home, "--workers", "2").start()
    try:
        assert server.process is not None
        writers = _start_writers(tmp_path, server.url)
        store = EmbeddedStore(home)
        _wait_for_points(store, 8, POINTS // 5)
        os.kill(_children(server.process.pid)[0], signal.SIGKILL)
        _every_point_once(store, writers)
        store.close()
    finally:
        server.stop()


@pytest.mark.slow
def test_eight_writers_lose_and_repeat_nothing_when_postgresql_restarts(
    tmp_path: Path, team: Team, postgres_cluster: Cluster
) -> None:
    server = Server(tmp_path / "replica", *team.args, env=team.env).start()
    try:
        writers = _start_writers(tmp_path, server.url)
        _wait_for_points(team.store, 8, POINTS // 5)
        postgres_cluster.stop("fast")  # every connection cut: the server answers 503 until it is back
        time.sleep(1)
        postgres_cluster.restart()
        _every_point_once(team.store, writers)
    finally:
        server.stop()


def test_workers_serve_one_port_and_stop_together(tmp_path: Path) -> None:
    server = Server(tmp_path / "store", "--workers", "3").start()
    assert server.process is not None
    workers = _children(server.process.pid)
    assert len(workers) == 3
    with httpx.Client(base_url=server.url) as client:
        assert all(client.get("/health").status_code == 200 for _ in range(6))
    server.stop()
    assert server.process.returncode == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


def _serve_refuses(tmp_path: Path, *args: str, **env: str) -> str:
    """``runhistory serve ARGS`` refusing to start: its message."""
    done = subprocess.run(
        [sys.executable, "-m", "runhistory.app.cli", "serve", "--port", "0", *args],
        env=clean_env(tmp_path / "store", **env),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    return done.stderr


def test_serve_names_what_is_wrong_with_its_settings(tmp_path: Path) -> None:
    assert "workers must be 1 to 64, not 65" in _serve_refuses(tmp_path, "--workers", "65")
    assert "--blobs (or RUNHISTORY_BLOBS) goes with --db" in _serve_refuses(tmp_path, "--blobs", "s3://bucket/p")
    said = _serve_refuses(tmp_path, RUNHISTORY_DB="mysql://me:hunter2@db/runs")
    assert "RUNHISTORY_DB='mysql://me:***@db/runs' is not a postgresql:// URL" in said and "hunter2" not in said
    config = tmp_path / "serve.toml"
    config.write_text('port = "5100"\n')
    assert f"the config file {str(config)!r} sets port to '5100': it must be a whole number" in _serve_refuses(
        tmp_path, "--config", str(config)
    )


def test_a_config_file_sets_what_the_command_line_and_environment_do_not(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text(f'[serve]\nhome = "{tmp_path / "from-config"}"\nworkers = 2\nport = 0\n')
    assert read_serve_config(config) == {"home": str(tmp_path / "from-config"), "workers": 2, "port": 0}
    # The command line's store (--home) wins over the file's; the file's workers are used.
    server = Server(tmp_path / "from-env", "--config", str(config)).start()
    assert server.process is not None
    assert len(_children(server.process.pid)) == 2
    server.stop()
    assert (tmp_path / "from-env" / "runhistory.sqlite3").exists() and not (tmp_path / "from-config").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "token = 's'\n",
            "sets 'token', which is none of: blobs, db, direct, home, host, insecure, max_file_size, port",
        ),
        ("workers = true\n", "sets workers to True: it must be a whole number"),
        ("db = 'sqlite:///x'\n", ": db='sqlite:///x' is not a postgresql:// URL"),
        ("blobs = 'gs://b'\n", ": blobs='gs://b' is neither an s3://bucket/prefix URL nor a folder"),
        ("port = \n", "is not TOML"),
    ],
)
def test_a_config_file_is_checked_key_by_key(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "serve.toml"
    config.write_text(text)
    with pytest.raises(InvalidSetting) as raised:
        read_serve_config(config)
    assert message in str(raised.value) and str(config) in str(raised.value)
    with pytest.raises(InvalidSetting, match="cannot read the config file"):
        read_serve_config(tmp_path / "missing.toml")


@pytest.mark.slow
@pytest.mark.parametrize("announced", [False, True], ids=["received-first", "passed-on"])
def test_the_bucket_gone_during_an_upload_through_the_server_is_a_clear_error_and_leaves_nothing(
    tmp_path: Path, postgres_dsn: str, announced: bool
) -> None:
    """SeaweedFS killed while a 32 MiB file streams through a replica into it (received whole
    first, or passed on in one PUT as it arrives when its sha256 and length are announced): the
    client gets a clear error; with the bucket back, no artifact and no blob is there, and the
    same upload works."""
    from runhistory.api import HttpStore, NewRun, StoreUnavailable
    from runhistory.api._s3 import PART_SIZE

    from ._s3 import BUCKET
    from ._s3 import SeaweedFS as OwnSeaweedFS
    from .test_blobs import Generated

    size = 4 * PART_SIZE
    service = OwnSeaweedFS(tmp_path / "seaweedfs").start()
    server = Server(tmp_path / "replica", "--db", postgres_dsn, "--blobs", f"s3://{BUCKET}/p", env=service.environ())
    try:
        server.start()
        client = HttpStore(server.url)
        run = client.create_run(NewRun(experiment="team"))

        def upload(source: Generated) -> str:
            """The sha256 stored; ``StoreUnavailable`` when the replica answers that it could not."""
            if not announced:
                return client.put_artifact(run.id, "weights.bin", io.BufferedReader(source)).sha256
            whole = Generated(size)
            while whole.read(1 << 20):
                pass

            def body() -> Iterator[bytes]:
                while piece := source.read(1 << 20):
                    yield piece

            headers = {"Content-Length": str(size), "x-runhistory-sha256": whole.sha256()}
            try:
                answer = httpx.put(
                    f"{server.url}/api/v1/runs/{run.id}/artifacts/weights.bin",
                    content=body(),
                    headers=headers,
                    timeout=60,
                )
            except httpx.TransportError:  # the replica answered and closed before the body was all sent
                raise StoreUnavailable(f"S3 bucket '{BUCKET}' at (the replica's answer) cannot be reached") from None
            if answer.status_code == 503:
                raise StoreUnavailable(answer.json()["message"])
            assert answer.status_code == 201, answer.text
            return str(answer.json()["sha256"])

        with pytest.raises(StoreUnavailable, match=rf"S3 bucket '{BUCKET}' at .* cannot be reached"):
            upload(Generated(size, lambda _: service.kill(), after=2 * PART_SIZE + 1))
        service.start()
        assert client.list_artifacts(run.id) == []
        assert list(service.blobs_at("p").all()) == []
        again = Generated(size)
        assert upload(again) == again.sha256()
        assert [a.size for a in client.list_artifacts(run.id)] == [size]
        client.close()
    finally:
        server.stop()
        service.stop()
