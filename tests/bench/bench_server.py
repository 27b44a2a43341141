"""Server benchmark: ``runhistory serve`` against ``mlflow server``, over loopback.

A plain script, not a pytest test::

    .venv/bin/python tests/bench/bench_server.py            # full run (a few minutes)
    .venv/bin/python tests/bench/bench_server.py --quick    # sizes / 10, a smoke run

It prints the machine, the command line and one markdown table:

    measure | runhistory | MLflow server | ratio | target | met?

(a) remote ingest, one writer: a process with ``RUNHISTORY_URL`` set logs 1M
floats with ``get_logger().log()`` then ``flush()``; (b) the same with 8 writer
processes at once, 250,000 points each, each its own run; (c) MB/s uploading a
400 MB file of random bytes with ``HttpStore.put_artifact`` (streamed); (d) MB/s
downloading it again (``HttpStore.open_artifact`` read to /dev/null, and
``download_artifacts`` to a folder); (e) the peak RSS (``VmHWM`` in
``/proc/PID/status``) of the client and the server process before and after
(c) and (d): streaming keeps memory flat whatever the file size.

Every server (``runhistory serve`` or ``mlflow server``) is a subprocess on
127.0.0.1, started for one measure on a fresh temporary folder and stopped by
its PID afterwards; every client is a subprocess of its own (``--worker NAME``),
so its imports and memory are its own. MLflow is optional (``pip install -e
'.[bench]'``); without it the MLflow column says "not installed".
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from report import count as _n
from report import machine_line, mlflow_installed, noisy_loss
from report import met as _met
from report import num as _num
from report import print_table as _print_table
from report import rate as _rate
from report import ratio as _ratio


def print_table(rows: list[list[str]]) -> None:
    _print_table(rows, "MLflow server")


# -- sizes ----------------------------------------------------------------------

FULL = {
    "a_points": 1_000_000,  # (a) points one runhistory writer logs
    "a_ml_points": 100_000,  # (a) points MLflow logs with log_batch
    "b_writers": 8,  # (b) writer processes at once
    "b_points": 250_000,  # (b) points per runhistory writer
    "b_ml_points": 25_000,  # (b) points per MLflow writer
    "c_mb": 400,  # (c), (d): artifact size, MB (10^6 bytes)
    "c_reps": 3,
}
QUICK = {
    **FULL,
    "a_points": 100_000,
    "a_ml_points": 10_000,
    "b_points": 25_000,
    "b_ml_points": 2_500,
    "c_mb": 40,
}
ML_BATCH = 1000  # metrics per MlflowClient.log_batch call (MLflow's own limit)
ARTIFACT = "model/weights.bin"  # the artifact's path in the run
START_TIMEOUT = 120  # seconds a server may take to answer its health check
WORKER_TIMEOUT = 900  # seconds a client subprocess may take
PY_SPY = shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
# --profile: where the samples of each process go, by a frame they pass through (first match wins).
SPY_BUCKETS = {
    "client": [
        ("json.dumps of the batch (writer thread)", "dumps (json/__init__.py"),
        ("HTTP request (httpx, writer thread)", "HttpStore._call ("),
        ("writer: sort, group, mark stored", "Logger._write_loop ("),
        ("Logger.log (caller thread)", "Logger.log ("),
        ("the benchmark's loop itself", "worker_rh_ingest ("),
    ],
    "server": [
        ("json.loads of the body (event loop)", "loads (json/__init__.py"),
        ("wire.batch_from_wire (event loop)", "batch_from_wire ("),
        ("EmbeddedStore.append_metrics (thread pool)", "EmbeddedStore.append_metrics ("),
        ("reading the body: uvicorn h11 + Request.body", "data_received ("),
        ("reading the body: uvicorn h11 + Request.body", "Request.body ("),
        ("sending responses", "send ("),
    ],
}

# Environment for every subprocess: MLflow telemetry off, nothing that would make
# a client join another run, and loopback never through a proxy.
_ENV_DROP = (
    "RUNHISTORY_RUN_ID",
    "RUNHISTORY_URL",
    "RUNHISTORY_TOKEN",
    "RUNHISTORY_EXPERIMENT",
    "RUNHISTORY_HOME",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_RUN_ID",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_NAME",
)
_ENV_SET = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
    "PYTHONUNBUFFERED": "1",
}


def _child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _ENV_DROP}
    env.update(_ENV_SET)
    env.update(extra)
    return env


# -- /proc: memory and process trees (no psutil) -----------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """``VmHWM`` and ``VmRSS`` of ``pid`` in kB (empty when it is gone)."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(parent pid, start time in ticks, command name) of ``pid``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[19]), name


def descendants(root: int) -> list[tuple[int, int]]:
    """(pid, start time) of every living descendant of ``root``."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                children.setdefault(st[0], []).append((int(entry), st[1]))
    found: list[tuple[int, int]] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def _role(pid: int, name: str) -> str:
    """What a server's process is for, from its command line."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return name
    line = " ".join(argv)
    for needle, role in (
        ("runhistory.app.cli", "runhistory serve"),
        ("multiprocessing.spawn", "uvicorn worker"),
        ("resource_tracker", "resource tracker"),
        ("-m uvicorn", "uvicorn supervisor"),
        ("_job_runner", "job runner"),
        ("huey_consumer", "huey consumer"),
        ("-m mlflow server", "mlflow CLI"),
    ):
        if needle in line:
            return role
    return name


#: Processes that answer HTTP requests: (e) reports the largest of these.
HANDLERS = ("runhistory serve", "uvicorn worker")


def tree_memory(root: int) -> dict[str, Any]:
    """Peak RSS (VmHWM) and RSS of ``root`` and of each of its descendants, in MB.

    ``handler_hwm_mb`` is the largest peak among the processes that answer HTTP
    requests (the one ``runhistory serve`` process; MLflow's uvicorn workers).
    """
    procs: list[dict[str, Any]] = []
    for pid in [root] + [p for p, _ in descendants(root)]:
        status = proc_status(pid)
        st = _stat(pid)
        if status and st:
            procs.append(
                {
                    "pid": pid,
                    "role": _role(pid, st[2]),
                    "hwm_mb": status.get("VmHWM", 0) / 1024,
                    "rss_mb": status.get("VmRSS", 0) / 1024,
                }
            )
    handlers = [p for p in procs if p["role"] in HANDLERS] or procs[:1]
    return {
        "procs": procs,
        "handlers": len(handlers),
        "handler_hwm_mb": max((p["hwm_mb"] for p in handlers), default=0.0),
        "max_hwm_mb": max((p["hwm_mb"] for p in procs), default=0.0),
        "sum_rss_mb": sum(p["rss_mb"] for p in procs),
    }


def my_hwm_mb() -> float:
    return proc_status(os.getpid()).get("VmHWM", 0) / 1024


def _alive(pid: int, started: int) -> bool:
    st = _stat(pid)
    return st is not None and st[1] == started  # the same process, not a reused pid


def stop_process(proc: subprocess.Popen[Any], grace: float = 30) -> None:
    """SIGTERM the process we started, SIGKILL it after ``grace`` s; then any descendant it left, by pid."""
    if proc.poll() is None:
        left = descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    else:
        left = []
    for pid, started in left:  # workers the server should have taken down with it
        deadline = time.monotonic() + 10
        while _alive(pid, started) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid, started):
            os.kill(pid, signal.SIGTERM)
            time.sleep(2)
            if _alive(pid, started):
                os.kill(pid, signal.SIGKILL)


# -- helpers used by the workers ---------------------------------------------------


def ready(info: dict[str, Any] | None = None) -> None:
    """Tell the driver this worker is set up, and wait for its go."""
    print("READY " + json.dumps(info or {}), flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("the driver did not say go")


def _null_sink() -> Any:
    return open(os.devnull, "wb")


def _mutate(path: Path, rep: int) -> None:
    """Change the file's first bytes: each upload is new content (no dedup anywhere)."""
    with open(path, "r+b") as f:
        f.write(rep.to_bytes(8, "little") + os.urandom(8))


# -- workers: each runs in its own subprocess ---------------------------------------


def worker_rh_ingest(a: dict[str, Any]) -> dict[str, Any]:
    """(a)/(b) runhistory: log N floats through RUNHISTORY_URL, then flush()."""
    n = a["points"]
    values = noisy_loss(n, seed=a.get("seed", 1))
    from runhistory.logger import get_logger

    logger = get_logger(experiment=a.get("experiment", "bench-server"))
    logger.flush()  # the run exists, the writer thread has started and settled
    run_id = logger.run_id
    hwm0 = my_hwm_mb()
    ready({"run_id": run_id})
    log = logger.log
    t0 = time.monotonic()
    for v in values:
        log("loss", v)
    t1 = time.monotonic()
    logger.flush()
    t2 = time.monotonic()
    hwm1 = my_hwm_mb()
    stored = {m.name: m.count for m in logger.store.list_metrics(run_id)}
    logger.finish()
    return {
        "points": n,
        "t0": t0,
        "t_loop": t1,
        "t_end": t2,
        "seconds": t2 - t0,
        "loop_s": t1 - t0,
        "flush_s": t2 - t1,
        "points_per_s": n / (t2 - t0),
        "stored": stored.get("loss", 0),
        "client_hwm_before_mb": hwm0,
        "client_hwm_after_mb": hwm1,
    }


def _mlflow_quiet() -> None:
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def worker_ml_ingest(a: dict[str, Any]) -> dict[str, Any]:
    """(a)/(b) MLflow: MlflowClient(tracking_uri=url).log_batch of 1000 metrics per call."""
    _mlflow_quiet()
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    n = a["points"]
    client = MlflowClient(tracking_uri=a["url"])
    run_id = client.create_run("0").info.run_id  # the default experiment
    now_ms = int(time.time() * 1000)
    metrics = [Metric("loss", v, now_ms + i // 100, i) for i, v in enumerate(noisy_loss(n, seed=a.get("seed", 1)))]
    hwm0 = my_hwm_mb()
    ready({"run_id": run_id})
    t0 = time.monotonic()
    for start in range(0, n, ML_BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + ML_BATCH], synchronous=True)
    t2 = time.monotonic()
    hwm1 = my_hwm_mb()
    client.set_terminated(run_id)
    return {
        "points": n,
        "t0": t0,
        "t_end": t2,
        "seconds": t2 - t0,
        "points_per_s": n / (t2 - t0),
        "client_hwm_before_mb": hwm0,
        "client_hwm_after_mb": hwm1,
    }


def worker_rh_upload(a: dict[str, Any]) -> dict[str, Any]:
    """(c) runhistory: HttpStore.put_artifact of an open file (streamed), reps times."""
    from runhistory.api import NewRun
    from runhistory.api._http import HttpStore

    src = Path(a["file"])
    size = src.stat().st_size
    store = HttpStore(a["url"], timeout=600)
    run_id = store.create_run(NewRun(experiment="bench-artifacts")).id
    hwm0 = my_hwm_mb()
    ready({"run_id": run_id})
    times, infos = [], []
    for rep in range(a["reps"]):
        _mutate(src, rep)
        os.sync()  # start each copy with no dirty pages of the previous one
        t0 = time.perf_counter()
        with open(src, "rb") as f:
            info = store.put_artifact(run_id, ARTIFACT, f)
        times.append(time.perf_counter() - t0)
        infos.append(info.size)
    hwm1 = my_hwm_mb()
    listed = store.list_artifacts(run_id, ARTIFACT)
    store.close()
    assert all(s == size for s in infos) and listed and listed[0].size == size, (infos, listed)
    return {"run_id": run_id, "bytes": size, "times": times, "client_hwm_before_mb": hwm0, "client_hwm_after_mb": hwm1}


def worker_rh_download(a: dict[str, Any]) -> dict[str, Any]:
    """(d) runhistory: open_artifact read to /dev/null, and download_artifacts to a folder."""
    from runhistory.api import download_artifacts
    from runhistory.api._http import HttpStore

    store = HttpStore(a["url"], timeout=600)
    run_id = a["run_id"]
    size = store.list_artifacts(run_id, ARTIFACT)[0].size
    dest = Path(a["dest"])
    hwm0 = my_hwm_mb()
    ready()
    null_s, folder_s = [], []
    for _ in range(a["reps"]):
        os.sync()
        t0 = time.perf_counter()
        got = 0
        with store.open_artifact(run_id, ARTIFACT) as stream, _null_sink() as sink:
            while piece := stream.read(1 << 20):
                got += len(piece)
                sink.write(piece)
        null_s.append(time.perf_counter() - t0)
        assert got == size, (got, size)
    hwm_null = my_hwm_mb()
    for _ in range(a["reps"]):
        shutil.rmtree(dest, ignore_errors=True)
        os.sync()
        t0 = time.perf_counter()
        saved = download_artifacts(store, run_id, dest, path=ARTIFACT)
        folder_s.append(time.perf_counter() - t0)
        assert saved[0].saved_to.stat().st_size == size
    hwm1 = my_hwm_mb()
    shutil.rmtree(dest, ignore_errors=True)
    store.close()
    return {
        "bytes": size,
        "null_times": null_s,
        "folder_times": folder_s,
        "client_hwm_before_mb": hwm0,
        "client_hwm_null_mb": hwm_null,
        "client_hwm_after_mb": hwm1,
    }


def worker_ml_upload(a: dict[str, Any]) -> dict[str, Any]:
    """(c) MLflow: mlflow.log_artifact into a run of the server (proxied: through its HTTP API)."""
    _mlflow_quiet()
    import mlflow

    src = Path(a["file"])
    size = src.stat().st_size
    mlflow.set_tracking_uri(a["url"])
    client = mlflow.MlflowClient(tracking_uri=a["url"])
    exp_id = client.create_experiment("bench-artifacts")
    times = []
    with mlflow.start_run(experiment_id=exp_id) as run:
        run_id = run.info.run_id
        artifact_uri = run.info.artifact_uri
        hwm0 = my_hwm_mb()
        ready({"run_id": run_id})
        for rep in range(a["reps"]):
            _mutate(src, rep)
            os.sync()
            t0 = time.perf_counter()
            mlflow.log_artifact(str(src), artifact_path="model")
            times.append(time.perf_counter() - t0)
    hwm1 = my_hwm_mb()
    listed = {f.path: f.file_size for f in client.list_artifacts(run_id, "model")}
    assert listed.get(f"model/{src.name}") == size, listed
    return {
        "run_id": run_id,
        "artifact_uri": artifact_uri,
        "bytes": size,
        "times": times,
        "client_hwm_before_mb": hwm0,
        "client_hwm_after_mb": hwm1,
    }


def worker_ml_download(a: dict[str, Any]) -> dict[str, Any]:
    """(d) MLflow: MlflowClient.download_artifacts of the file to a folder."""
    _mlflow_quiet()
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=a["url"])
    run_id = a["run_id"]
    name = f"model/{a['name']}"
    size = {f.path: f.file_size for f in client.list_artifacts(run_id, "model")}[name]
    dest = Path(a["dest"])
    hwm0 = my_hwm_mb()
    ready()
    times = []
    for _ in range(a["reps"]):
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        os.sync()
        t0 = time.perf_counter()
        local = client.download_artifacts(run_id, name, str(dest))
        times.append(time.perf_counter() - t0)
        assert Path(local).stat().st_size == size
    hwm1 = my_hwm_mb()
    shutil.rmtree(dest, ignore_errors=True)
    return {"bytes": size, "folder_times": times, "client_hwm_before_mb": hwm0, "client_hwm_after_mb": hwm1}


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "rh_ingest": worker_rh_ingest,
    "ml_ingest": worker_ml_ingest,
    "rh_upload": worker_rh_upload,
    "rh_download": worker_rh_download,
    "ml_upload": worker_ml_upload,
    "ml_download": worker_ml_download,
}


# -- the driver: servers ----------------------------------------------------------------


class ServerError(RuntimeError):
    pass


def _tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a log file, on one line ("" if it cannot be read)."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " / ".join(line.strip() for line in text[-lines:])


class Server:
    """A server subprocess on 127.0.0.1; ``url`` once it answers its health check."""

    kind = ""

    def __init__(self, folder: Path, **env: str) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log = folder / "server.log"
        self.proc: subprocess.Popen[Any] | None = None
        self.url = ""
        self.start_s = 0.0
        #: Variables the server process gets besides the usual ones (a bucket's, say).
        self.env = env

    def _wait_health(self, t_start: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"{self.kind} exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as answer:
                    if answer.status == 200:
                        self.start_s = time.monotonic() - t_start
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise ServerError(f"{self.kind} did not answer /health within {START_TIMEOUT} s: {self.log_tail()}")

    def log_tail(self, lines: int = 6) -> str:
        return _tail(self.log, lines)

    def start(self) -> Server:
        raise NotImplementedError

    def memory(self) -> dict[str, Any]:
        assert self.proc is not None
        return tree_memory(self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


class RunhistoryServer(Server):
    """``runhistory serve --home FOLDER/home --port 0``; the port from its first stderr line."""

    kind = "runhistory serve"

    def serve_args(self) -> list[str]:
        """What ``runhistory serve`` is given besides ``--port 0``: the store it serves."""
        return ["--home", str(self.folder / "home")]

    def start(self) -> RunhistoryServer:
        cmd = [sys.executable, "-m", "runhistory.app.cli", "serve", *self.serve_args(), "--port", "0"]
        t0 = time.monotonic()
        log = open(self.log, "w")
        self.proc = subprocess.Popen(
            cmd,
            env=_child_env(**self.env),
            cwd=self.folder,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        log.write(line)
        log.flush()
        found = re.search(r"http://127\.0\.0\.1:(\d+)", line)

        def drain(stream: Any = self.proc.stderr) -> None:  # keep the pipe from filling up
            for more in stream:
                log.write(more)
                log.flush()
            log.close()

        threading.Thread(target=drain, daemon=True).start()
        if not found:
            self.proc.wait(timeout=10)
            raise ServerError(f"runhistory serve did not start: {line.strip()} {self.log_tail()}")
        self.url = f"http://127.0.0.1:{found.group(1)}"
        self._wait_health(t0)
        return self


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MlflowServer(Server):
    """``mlflow server`` on sqlite, artifacts proxied through the server (``--serve-artifacts``).

    It leaves two things outside its folder, removed by ``stop()``: its job
    queue's folder in /dev/shm (named in its job runner's environment) and the
    sqlite init lock ``$TMPDIR/db_init_lock-<md5 of the database URL>``.
    """

    kind = "mlflow server"

    def __init__(self, folder: Path, **env: str) -> None:
        super().__init__(folder, **env)
        self.db_uri = f"sqlite:///{self.folder / 'mlflow.db'}"
        self.artifacts = str(self.folder / "artifacts")
        self.leftovers: set[str] = set()

    def _find_leftovers(self) -> None:
        if self.proc is None:
            return
        for pid, _ in descendants(self.proc.pid):
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            for item in environ:
                if item.startswith(b"_MLFLOW_HUEY_STORAGE_PATH="):
                    self.leftovers.add(item.split(b"=", 1)[1].decode())

    def stop(self) -> None:
        self._find_leftovers()
        super().stop()
        import hashlib

        lock = Path(tempfile.gettempdir()) / f"db_init_lock-{hashlib.md5(self.db_uri.encode()).hexdigest()}"
        lock.unlink(missing_ok=True)
        for folder in self.leftovers:
            if folder.startswith(("/dev/shm/", tempfile.gettempdir())):
                shutil.rmtree(folder, ignore_errors=True)

    def start(self) -> MlflowServer:
        port = _free_port()
        self.cmd = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            self.db_uri,
            "--serve-artifacts",
            "--artifacts-destination",
            self.artifacts,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        t0 = time.monotonic()
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                self.cmd,
                env=_child_env(**self.env),
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{port}"
        self._wait_health(t0)
        self._find_leftovers()
        return self


# -- the driver: clients ----------------------------------------------------------------


class Worker:
    """A ``--worker NAME`` subprocess: ``wait_ready()``, ``go()``, ``result()``."""

    def __init__(self, name: str, args: dict[str, Any], folder: Path, **env: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.result_file = folder / f"{name}-{id(self)}.json"
        self.err_file = folder / f"{name}-{id(self)}.err"
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            "--worker",
            name,
            "--args",
            json.dumps(args),
            "--result",
            str(self.result_file),
        ]
        self.err = open(self.err_file, "w")
        # A client home of its own: the logger's staging and spool folders live there.
        env.setdefault("RUNHISTORY_HOME", str(folder / "client-home"))
        self.proc = subprocess.Popen(
            cmd,
            cwd=folder,
            env=_child_env(**env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.err,
            text=True,
        )
        self.info: dict[str, Any] = {}

    def wait_ready(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("READY "):
                self.info = json.loads(line[6:])
                # Whatever it prints from now on is read and dropped: the pipe never fills up.
                threading.Thread(target=self.proc.stdout.read, daemon=True).start()
                return self.info
        self.proc.wait(timeout=60)
        raise ServerError(
            f"worker {self.name} exited with {self.proc.returncode} before it was ready: {self.err_tail()}"
        )

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self) -> dict[str, Any]:
        try:
            self.proc.wait(timeout=WORKER_TIMEOUT)
        except subprocess.TimeoutExpired:
            stop_process(self.proc, grace=5)
            raise ServerError(f"worker {self.name} timed out after {WORKER_TIMEOUT} s") from None
        finally:
            self.err.close()
        if self.proc.returncode != 0 or not self.result_file.exists():
            raise ServerError(f"worker {self.name} exit {self.proc.returncode}: {self.err_tail()}")
        result: dict[str, Any] = json.loads(self.result_file.read_text())
        return result

    def err_tail(self, lines: int = 8) -> str:
        return _tail(self.err_file, lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            stop_process(self.proc, grace=5)


def run_workers(
    specs: list[tuple[str, dict[str, Any], Path]], before: Callable[[list[Worker]], Any] | None = None, **env: str
) -> tuple[list[dict[str, Any]], Any]:
    """Start the workers, wait until all are set up, call ``before(workers)``, say go to all, collect results."""
    workers = [Worker(name, args, folder, **env) for name, args, folder in specs]
    try:
        for w in workers:
            w.wait_ready()
        snapshot = before(workers) if before is not None else None
        for w in workers:
            w.go()
        return [w.result() for w in workers], snapshot
    finally:
        for w in workers:
            w.kill()


# -- the driver: measures ------------------------------------------------------------


def _progress(name: str) -> float:
    print(f"  running {name} …", end="", file=sys.stderr, flush=True)
    return time.perf_counter()


def _done(t0: float, extra: str = "") -> None:
    print(f" {time.perf_counter() - t0:.1f} s{extra}", file=sys.stderr)


def measure_ingest(side: str, writers: int, points: int, tmp: Path, profile: Path | None = None) -> dict[str, Any]:
    """(a) with ``writers`` = 1, (b) with more: a fresh server, ``writers`` processes logging at once.

    With ``profile`` (a folder), py-spy samples the server and the first writer
    while they work, into ``profile/server.txt`` and ``profile/client.txt``.
    """
    folder = Path(tempfile.mkdtemp(prefix=f"bench-server-{side}-ingest{writers}-", dir=tmp))
    server: Server = RunhistoryServer(folder / "server") if side == "rh" else MlflowServer(folder / "server")
    spies: list[subprocess.Popen[Any]] = []
    try:
        server.start()
        mem0 = server.memory()
        specs = []
        for i in range(writers):
            args: dict[str, Any] = {"points": points, "seed": i + 1, "url": server.url}
            specs.append((f"{side}_ingest", args, folder / f"client-{i}"))
        env = {"RUNHISTORY_URL": server.url} if side == "rh" else {}

        def start_spies(workers: list[Worker]) -> None:
            if profile is None:
                return
            assert server.proc is not None and PY_SPY is not None
            for who, pid in (("server", server.proc.pid), ("client", workers[0].proc.pid)):
                spies.append(
                    subprocess.Popen(
                        [
                            PY_SPY,
                            "record",
                            "--pid",
                            str(pid),
                            "--rate",
                            "200",
                            "--format",
                            "raw",
                            "--nonblocking",
                            "--output",
                            str(profile / f"{who}.txt"),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            time.sleep(1.0)  # py-spy attaches

        results, _ = run_workers(specs, before=start_spies, **env)
        mem1 = server.memory()
        t0 = min(r["t0"] for r in results)
        t_end = max(r["t_end"] for r in results)
        total = sum(r["points"] for r in results)
        out = {
            "writers": writers,
            "points": total,
            "points_each": points,
            "wall_s": t_end - t0,
            "points_per_s": total / (t_end - t0),
            "each": results,
            "server_start_s": server.start_s,
            "server_hwm_before_mb": mem0["handler_hwm_mb"],
            "server_hwm_after_mb": mem1["handler_hwm_mb"],
            "server_handlers": mem1["handlers"],
            "server_procs": len(mem1["procs"]),
            "server_rss_sum_mb": mem1["sum_rss_mb"],
        }
        if side == "rh":
            out["stored"] = sum(r["stored"] for r in results)
        return out
    finally:
        server.stop()
        for spy in spies:  # each writes its file when its process has exited
            try:
                spy.wait(timeout=60)
            except subprocess.TimeoutExpired:
                stop_process(spy, grace=10)
        shutil.rmtree(folder, ignore_errors=True)


def _make_random_file(path: Path, mb: int) -> int:
    with open(path, "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1_000_000))
    return path.stat().st_size


def measure_artifacts(side: str, src: Path, reps: int, tmp: Path) -> dict[str, Any]:
    """(c) upload through a fresh server, then (d) download through another fresh server on the same folder.

    (e) comes with them: each server's and each client's VmHWM after setup and after the transfers.
    """
    folder = Path(tempfile.mkdtemp(prefix=f"bench-server-{side}-artifacts-", dir=tmp))
    server_cls: type[Server] = RunhistoryServer if side == "rh" else MlflowServer
    out: dict[str, Any] = {}
    server: Server | None = None
    try:
        # (c): the client has created its run (the server has answered an API call) before the baselines.
        server = up_server = server_cls(folder / "server").start()
        out["c_server_start_s"] = server.start_s
        results, mem0 = run_workers(
            [(f"{side}_upload", {"url": server.url, "file": str(src), "reps": reps}, folder / "client-c")],
            before=lambda _: up_server.memory(),
        )
        up = results[0]
        mem1 = server.memory()
        server.stop()
        out["c"] = {**up, "server_before": mem0, "server_after": mem1}

        # (d): a fresh server process on the store the upload filled.
        server = server_cls(folder / "server").start()
        if side == "rh":
            args = {"url": server.url, "run_id": up["run_id"], "reps": reps, "dest": str(folder / "download")}
        else:
            args = {
                "url": server.url,
                "run_id": up["run_id"],
                "reps": reps,
                "dest": str(folder / "download"),
                "name": src.name,
            }
        started = server
        results, mem0 = run_workers(
            [(f"{side}_download", args, folder / "client-d")], before=lambda _: started.memory()
        )
        mem1 = server.memory()
        out["d"] = {**results[0], "server_before": mem0, "server_after": mem1}
        if side == "ml":
            out["artifact_uri"] = up["artifact_uri"]
            stored = list((folder / "server" / "artifacts").rglob(src.name))
            out["ml_stored_in_destination"] = bool(stored) and stored[0].stat().st_size == up["bytes"]
        return out
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _guard(name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    t0 = _progress(name)
    try:
        result = fn()
    except Exception as error:  # reported in the table and the notes
        print(f" FAILED: {error}", file=sys.stderr)
        return {"error": f"{type(error).__name__}: {error}"}
    _done(t0)
    return result


def summarize_spy(path: Path, buckets: list[tuple[str, str]], rate: int = 200) -> dict[str, Any]:
    """Where py-spy's samples (raw collapsed stacks) went: per bucket, and the top functions by own time."""
    total = 0
    per_bucket: dict[str, int] = {}
    own: dict[str, int] = {}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        for label, needle in buckets:
            if needle in stack:
                per_bucket[label] = per_bucket.get(label, 0) + n
                break
        else:
            per_bucket["other"] = per_bucket.get("other", 0) + n
        leaf = stack.rsplit(";", 1)[-1]
        leaf = re.sub(r":\d+\)$", ")", leaf) or "(no Python frame)"
        own[leaf] = own.get(leaf, 0) + n
    top = sorted(own.items(), key=lambda kv: -kv[1])[:6]
    return {
        "samples": total,
        "cpu_s": total / rate,
        "buckets": {k: v / total for k, v in sorted(per_bucket.items(), key=lambda kv: -kv[1])} if total else {},
        "top_own": [(k, v / total) for k, v in top] if total else [],
    }


def measure_profile(points: int, tmp: Path) -> dict[str, Any]:
    """(a) again, runhistory only, with py-spy sampling the server and the client (not in the table)."""
    if PY_SPY is None:
        raise ServerError("py-spy not found (pip install py-spy into the venv)")
    folder = Path(tempfile.mkdtemp(prefix="bench-server-profile-", dir=tmp))
    try:
        run = measure_ingest("rh", 1, points, tmp, profile=folder)
        out: dict[str, Any] = {"points_per_s": run["points_per_s"], "each": run["each"]}
        for who in ("client", "server"):
            f = folder / f"{who}.txt"
            out[who] = summarize_spy(f, SPY_BUCKETS[who]) if f.exists() else {"error": "py-spy wrote nothing"}
        return out
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- formatting -----------------------------------------------------------------------


def _mb_s(nbytes: int, times: list[float]) -> float:
    return nbytes / 1e6 / statistics.median(times)


def _get(r: dict[str, Any] | None, fn: Callable[[dict[str, Any]], float]) -> float | None:
    return None if r is None else fn(r)


def _ok(r: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if r is None or "error" in r else r


def _sub(r: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    r = _ok(r)
    return None if r is None else r.get(key)


def build_rows(res: dict[str, Any], sz: dict[str, int], have_ml: bool, absent: str) -> list[list[str]]:
    rows: list[list[str]] = []

    def cell(key: str, fmt: Callable[[dict[str, Any]], str], sub: str | None = None, ml: bool = False) -> str:
        if ml and not have_ml:
            return absent
        r = res.get(key)
        if r is None:
            return "skipped"
        if "error" in r:
            return "n/a (see notes)" if ml else "error (see notes)"
        return fmt(r if sub is None else r[sub])

    # (a), (b)
    for letter, key, what in (("a", "ingest1", "1 writer"), ("b", "ingest8", f"{sz['b_writers']} writers at once")):
        if f"rh_{key}" not in res and f"ml_{key}" not in res:
            continue
        rh, ml = _ok(res.get(f"rh_{key}")), _ok(res.get(f"ml_{key}"))
        each_rh = sz["a_points"] if letter == "a" else sz["b_points"]
        each_ml = sz["a_ml_points"] if letter == "a" else sz["b_ml_points"]
        rows.append(
            [
                f"({letter}) remote ingest, {what}: `log()` × {_n(each_rh)}"
                + ("" if letter == "a" else " each")
                + " + `flush()`, points/s",
                cell(
                    f"rh_{key}",
                    lambda r: f"{_rate(r['points_per_s'])} ({_n(r['points'])} points in {r['wall_s']:.2f} s)",
                ),
                cell(
                    f"ml_{key}",
                    lambda r, letter=letter, each_ml=each_ml: (
                        f"{_rate(r['points_per_s'])} (`log_batch` ×{ML_BATCH}, {_n(r['points'])} points"
                        f"{'' if letter == 'a' else f' = {each_ml:,} each'} in {r['wall_s']:.2f} s)"
                    ),
                    ml=True,
                ),
                _ratio(_get(rh, _pps), _get(ml, _pps), True, each_ml < each_rh),
                "≥ 300,000 points/s" if letter == "a" else "—",
                _met(None if rh is None or letter != "a" else rh["points_per_s"] >= 300_000),
            ]
        )
    have_art = "rh_art" in res or "ml_art" in res
    if not have_art:
        return rows
    mb = sz["c_mb"]
    reps = sz["c_reps"]
    rc, mc = _sub(res.get("rh_art"), "c"), _sub(res.get("ml_art"), "c")
    rd, md = _sub(res.get("rh_art"), "d"), _sub(res.get("ml_art"), "d")

    def up(r: dict[str, Any]) -> float:
        return _mb_s(r["bytes"], r["times"])

    rows.append(
        [
            f"(c) artifact upload, {mb} MB of random bytes, MB/s (median of {reps})",
            cell("rh_art", lambda r: f"{_num(up(r))} MB/s (`HttpStore.put_artifact`, open file, streamed)", "c"),
            cell("ml_art", lambda r: f"{_num(up(r))} MB/s (`mlflow.log_artifact`, proxied)", "c", ml=True),
            _ratio(_get(rc, up), _get(mc, up), True),
            "≥ 200 MB/s",
            _met(None if rc is None else up(rc) >= 200),
        ]
    )

    def null(r: dict[str, Any]) -> float:
        return _mb_s(r["bytes"], r["null_times"])

    def fold(r: dict[str, Any]) -> float:
        return _mb_s(r["bytes"], r["folder_times"])

    rows.append(
        [
            f"(d) artifact download, stream to /dev/null, MB/s (median of {reps})",
            cell("rh_art", lambda r: f"{_num(null(r))} MB/s (`HttpStore.open_artifact` → /dev/null)", "d"),
            "— (no streaming read in its client API)" if have_ml else absent,
            "—",
            "≥ 200 MB/s",
            _met(None if rd is None else null(rd) >= 200),
        ]
    )
    rows.append(
        [
            f"(d) artifact download to a folder, MB/s (median of {reps})",
            cell("rh_art", lambda r: f"{_num(fold(r))} MB/s (`download_artifacts`, sha256 checked)", "d"),
            cell("ml_art", lambda r: f"{_num(fold(r))} MB/s (`MlflowClient.download_artifacts`)", "d", ml=True),
            _ratio(_get(rd, fold), _get(md, fold), True),
            "≥ 200 MB/s",
            _met(None if rd is None else fold(rd) >= 200),
        ]
    )

    # (e): peak RSS before → after, and whether it grew with the file.
    limit = 0.1 * mb  # MB: "constant memory" = growth under a tenth of the file

    def mem(r: dict[str, Any], who: str) -> tuple[float, float]:
        if who == "client":
            return r["client_hwm_before_mb"], r["client_hwm_after_mb"]
        return r["server_before"]["handler_hwm_mb"], r["server_after"]["handler_hwm_mb"]

    def mem_cell(r: dict[str, Any], who: str) -> str:
        b, a = mem(r, who)
        handlers = r["server_after"]["handlers"] if who == "server" else 1
        where = f", largest of {handlers} uvicorn workers" if handlers > 1 else ""
        return f"{_num(b)} → {_num(a)} MB (+{_num(max(a - b, 0))}{where})"

    for phase, rr, mm in (("c", rc, mc), ("d", rd, md)):
        for who in ("client", "server"):
            verb = "upload" if phase == "c" else "download"
            growth = None if rr is None else mem(rr, who)[1] - mem(rr, who)[0]

            def peak(r: dict[str, Any], w: str = who) -> float:
                return mem(r, w)[1]

            def show(r: dict[str, Any], w: str = who) -> str:
                return mem_cell(r, w)

            rows.append(
                [
                    f"(e) peak RSS (VmHWM) of the {who} during ({phase}) {verb}: before → after",
                    cell("rh_art", show, phase),
                    cell("ml_art", show, phase, ml=True),
                    _ratio(_get(rr, peak), _get(mm, peak), False),
                    f"growth ≤ 10 % of the file ({_num(limit)} MB)",
                    _met(None if growth is None else growth <= limit),
                ]
            )
    return rows


def print_notes(res: dict[str, Any], sz: dict[str, int], quick: bool, have_ml: bool, ml_version: str) -> None:
    notes = [
        "ratio: how many times runhistory beats MLflow on that measure (a higher rate or a lower peak); "
        "† = MLflow measured on a smaller workload than runhistory (see its cell).",
        "Every measure ran against a fresh server subprocess on a fresh temporary folder, over 127.0.0.1; every "
        "client is a subprocess of its own. Servers were stopped by PID (SIGTERM, SIGKILL after 30 s) and their "
        "folders removed.",
        f"`runhistory serve`: one uvicorn process ({_uvicorn_impl()}), store on local disk."
        + (
            f" `mlflow server` {ml_version}: `--backend-store-uri sqlite:///…/mlflow.db --serve-artifacts "
            "--artifacts-destination …/artifacts` (no `--default-artifact-root`, so the runs' artifact root is "
            "`mlflow-artifacts:/…` and uploads/downloads go through the server's HTTP API, not to the folder "
            "directly), its default 4 uvicorn workers."
            if have_ml
            else ""
        ),
    ]
    if quick:
        notes.append("**--quick**: sizes are 1/10 of the full run; the targets are meant for the full sizes.")
    for key in ("rh_ingest1", "rh_ingest8", "ml_ingest1", "ml_ingest8"):
        r = res.get(key)
        if r is None:
            continue
        label = f"({'a' if key.endswith('1') else 'b'}) {'runhistory' if key.startswith('rh') else 'MLflow'}"
        if "error" in r:
            notes.append(f"{label}: failed: {r['error']}")
            continue
        rates = sorted(e["points_per_s"] for e in r["each"])
        line = f"{label}: server up in {r['server_start_s']:.1f} s; "
        if key.startswith("rh"):
            loops = [e["loop_s"] for e in r["each"]]
            flushes = [e["flush_s"] for e in r["each"]]
            line += (
                f"`log()` loop {_fmt_s(loops)} + `flush()` {_fmt_s(flushes)}; "
                f"{_n(r['stored'])} of {_n(r['points'])} points stored (checked with `list_metrics`); "
            )
        if r["writers"] > 1:
            line += (
                f"per-writer points/s min {_n(rates[0])}, median {_n(statistics.median(rates))}, max {_n(rates[-1])}; "
            )
        procs = (
            f" (largest of {r['server_handlers']} uvicorn workers; RSS of all {r['server_procs']} server processes "
            f"{_n(r['server_rss_sum_mb'])} MB)"
            if r["server_procs"] > 1
            else ""
        )
        line += (
            f"server peak RSS {_num(r['server_hwm_before_mb'])} → {_num(r['server_hwm_after_mb'])} MB{procs}; "
            f"client peak RSS {_num(max(e['client_hwm_before_mb'] for e in r['each']))} MB once set up (input "
            f"values made, run created) → {_num(max(e['client_hwm_after_mb'] for e in r['each']))} MB after "
            + ("`flush()`." if key.startswith("rh") else "the last `log_batch`.")
        )
        notes.append(line)
    for side, label in (("rh", "runhistory"), ("ml", "MLflow")):
        r = res.get(f"{side}_art")
        if r is None:
            continue
        if "error" in r:
            notes.append(f"(c/d/e) {label}: failed: {r['error']}")
            continue
        c, d = r["c"], r["d"]
        line = f"(c) {label}: ms per upload {_ms(c['times'])}"
        if side == "rh":
            line += (
                " (`put_artifact` returns once the server has stored and sha256-hashed the file: the server "
                "spools the body to a temporary file, then copies it into the store)"
            )
        else:
            line += (
                f" (artifact uri `{r['artifact_uri']}`; file found in the server's `--artifacts-destination`: "
                f"{r['ml_stored_in_destination']})"
            )
        line += f"; (d) ms per download to a folder {_ms(d['folder_times'])}"
        if side == "rh":
            line += f", to /dev/null {_ms(d['null_times'])}; client peak after the /dev/null reads {_num(d['client_hwm_null_mb'])} MB"
        line += "."
        notes.append(line)
        for phase in ("c", "d"):
            after = r[phase]["server_after"]
            if len(after["procs"]) > 1:
                roles: dict[str, list[float]] = {}
                for p in after["procs"]:
                    roles.setdefault(p["role"], []).append(p["hwm_mb"])
                procs = "; ".join(f"{len(v)} × {k} {'/'.join(_num(x) for x in v)} MB" for k, v in roles.items())
                notes.append(
                    f"(e) {label}: the server is {len(after['procs'])} processes; VmHWM after ({phase}): "
                    f"{procs}; RSS of all together {_n(after['sum_rss_mb'])} MB. The table shows the "
                    "largest uvicorn worker (the processes that answer requests)."
                )
    r = res.get("rh_profile")
    if r is not None:
        if "error" in r:
            notes.append(f"profile of (a): {r['error']}")
        else:
            e = r["each"][0]
            line = (
                f"profile of (a), a separate run under py-spy at 200 Hz, all threads ({_rate(r['points_per_s'])} "
                f"while sampled: `log()` loop {e['loop_s']:.2f} s + `flush()` {e['flush_s']:.2f} s):"
            )
            for who in ("client", "server"):
                p = r[who]
                if "error" in p:
                    line += f" {who}: {p['error']};"
                    continue
                parts = ", ".join(f"{k} {v:.0%}" for k, v in p["buckets"].items())
                tops = ", ".join(f"`{k}` {v:.0%}" for k, v in p["top_own"][:4])
                line += f" **{who}** ≈ {p['cpu_s']:.2f} s of CPU samples: {parts} (own time: {tops});"
            notes.append(line.rstrip(";") + ".")
    if "rh_art" in res or "ml_art" in res:
        notes.append(
            "(e) VmHWM is each process's own peak resident set since it started, read from /proc/PID/status; "
            "'before' is read once the client has set up (imports done, its run created or found) and the "
            "server has answered it, 'after' once the transfers are over. The page cache is not counted."
        )
        notes.append(
            "(c)/(d): the source file is in the page cache; `sync` before each transfer; its first 16 bytes "
            "change before each upload, so each upload stores new content."
        )
    print()
    for note in notes:
        print(f"- {note}")


def _ms(xs: list[float]) -> list[int]:
    return [round(x * 1000) for x in xs]


def _pps(r: dict[str, Any]) -> float:
    return float(r["points_per_s"])


def _fmt_s(xs: list[float]) -> str:
    if len(xs) == 1:
        return f"{xs[0]:.2f} s"
    return f"{min(xs):.2f}…{max(xs):.2f} s"


def _uvicorn_impl() -> str:
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio loop"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11 (pure Python; httptools not installed)"
    return f"{loop}, {http}"


def machine_lines(ml_version: str) -> list[str]:
    from importlib.metadata import version

    versions = ", ".join(f"{p} {version(p)}" for p in ("uvicorn", "fastapi", "httpx") if importlib.util.find_spec(p))
    return [
        machine_line(),
        f"- python {platform.python_version()} ({sys.executable}), sqlite {sqlite3.sqlite_version}, "
        f"mlflow {ml_version}, {versions}",
        f"- temporary folders under {tempfile.gettempdir()}; servers and clients on 127.0.0.1",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="sizes / 10: a smoke run")
    parser.add_argument("--no-mlflow", action="store_true", help="skip the MLflow column")
    parser.add_argument("--only", default="abcde", help="measures to run, e.g. 'ab' (default: all; e needs c and d)")
    parser.add_argument("--json", metavar="FILE", help="also write the raw results to FILE")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run (a) for runhistory once more under py-spy (client and server); notes only",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--args", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:  # inside a subprocess started by Worker
        result = WORKERS[args.worker](json.loads(args.args))
        Path(args.result).write_text(json.dumps(result))
        return 0

    installed = mlflow_installed()
    have_ml = installed and not args.no_mlflow
    ml_version = "not installed"
    if installed:
        from importlib.metadata import version

        ml_version = version("mlflow")
    sz = QUICK if args.quick else FULL
    only = set(args.only)
    command = shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    print(f"# runhistory server benchmark{' (--quick)' if args.quick else ''}\n")
    print("\n".join(machine_lines(ml_version)))
    print(f"- command: `{command}` (cwd {os.getcwd()})")
    print(flush=True)

    res: dict[str, Any] = {}
    t_all = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench-server-"))
    try:
        if "a" in only:
            res["rh_ingest1"] = _guard("(a) runhistory", lambda: measure_ingest("rh", 1, sz["a_points"], tmp))
            if args.profile:
                res["rh_profile"] = _guard("(a) runhistory under py-spy", lambda: measure_profile(sz["a_points"], tmp))
            if have_ml:
                res["ml_ingest1"] = _guard("(a) MLflow", lambda: measure_ingest("ml", 1, sz["a_ml_points"], tmp))
        if "b" in only:
            w = sz["b_writers"]
            res["rh_ingest8"] = _guard("(b) runhistory", lambda: measure_ingest("rh", w, sz["b_points"], tmp))
            if have_ml:
                res["ml_ingest8"] = _guard("(b) MLflow", lambda: measure_ingest("ml", w, sz["b_ml_points"], tmp))
        if only & set("cde"):
            src = tmp / "random.bin"
            t0 = _progress(f"making a {sz['c_mb']} MB random file")
            _make_random_file(src, sz["c_mb"])
            os.sync()
            _done(t0)
            res["rh_art"] = _guard("(c)(d)(e) runhistory", lambda: measure_artifacts("rh", src, sz["c_reps"], tmp))
            if have_ml:
                res["ml_art"] = _guard("(c)(d)(e) MLflow", lambda: measure_artifacts("ml", src, sz["c_reps"], tmp))
            src.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = time.perf_counter() - t_all

    absent = "skipped (--no-mlflow)" if installed else "not installed"
    print_table(build_rows(res, sz, have_ml, absent))
    print_notes(res, sz, args.quick, have_ml, ml_version)
    errors = [f"{k}: {v['error']}" for k, v in res.items() if isinstance(v, dict) and "error" in v]
    for e in errors:
        print(f"- error: {e}")
    print(f"\nTotal benchmark time: {total:.0f} s.")
    if args.json:
        Path(args.json).write_text(json.dumps({"sizes": sz, "results": res}, indent=2))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
