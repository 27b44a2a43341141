"""Core benchmark: runhistory's logger and embedded store against MLflow (sqlite backend).

A plain script, not a pytest test::

    .venv/bin/python tests/bench/bench_core.py            # full run (a few minutes)
    .venv/bin/python tests/bench/bench_core.py --quick    # sizes / 10, a smoke run

It prints the machine, the command line and one markdown table:

    measure | runhistory | MLflow (sqlite backend) | ratio | target | met?

(a) caller-thread cost of ``log(name, float)``; (b) points/s of the plain loop
``for i in range(1_000_000): h = logger.log("loss", float(i))`` then ``h.wait()``; (c) reading a 1M-point series whole and downsampled; (d) the
first page of 50 runs out of 100,000, unfiltered and by experiment; (e) MB/s
uploading a 100 MB file, against ``cp``; (f) ``import runhistory.logger`` time;
(g) store bytes per point after (b).

Every measure runs in a fresh subprocess (``--worker NAME``) with a fresh
temporary store folder, so ``get_logger()``'s per-process singleton, imports and
memory never leak from one measure into another. MLflow is optional
(``pip install -e '.[bench]'``); without it the MLflow column says "not installed".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from report import count as _n
from report import machine_line, mlflow_installed, noisy_loss, timed_plain_loop
from report import met as _met
from report import num as _num
from report import print_table as _print_table
from report import rate as _rate
from report import ratio as _ratio


def print_table(rows: list[list[str]]) -> None:
    _print_table(rows, "MLflow (sqlite backend)")


# -- sizes ----------------------------------------------------------------------

FULL = {
    "a_calls": 200_000,  # runhistory log() calls timed one by one
    "a_ml_calls": 2_000,  # mlflow.log_metric calls (each costs milliseconds)
    "b_points": 1_000_000,  # points logged, then read back in (c)
    "b_reps": 5,  # runs of the plain loop, each in a process of its own: (b) is their median
    "b_ml_points": 100_000,  # points MLflow logs with log_batch
    "c_reps": 5,
    "d_runs": 100_000,
    "d_ml_runs": 10_000,
    "d_reps": 20,
    "e_mb": 100,
    "e_reps": 5,
    "f_reps": 10,
}
QUICK = {
    **FULL,
    "a_calls": 20_000,
    "a_ml_calls": 200,
    "b_points": 100_000,
    "b_ml_points": 10_000,
    "d_runs": 10_000,
    "d_ml_runs": 1_000,
    "e_mb": 10,
    "e_reps": 3,
    "f_reps": 3,
}
EXPERIMENTS = 20  # (d): runs are spread over this many experiments
ML_BATCH = 1000  # (b): metrics per MlflowClient.log_batch call (MLflow's own limit)
DOWNSAMPLE = 1000  # (c): max_points / max_results
PAGE = 50  # (d): runs per page

# Environment for every subprocess: MLflow telemetry off (no network here anyway),
# and nothing that would make the logger join another run or talk to a server.
_ENV_DROP = ("RUNHISTORY_RUN_ID", "RUNHISTORY_URL", "RUNHISTORY_TOKEN", "RUNHISTORY_EXPERIMENT")
# PYTHONDONTWRITEBYTECODE is dropped too: (f) must time imports with .pyc caches.
_ENV_DROP = (*_ENV_DROP, "PYTHONDONTWRITEBYTECODE")
_ENV_SET = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


def _child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _ENV_DROP}
    env.update(_ENV_SET)
    env.update(extra)
    return env


# -- helpers used by the workers ----------------------------------------------------


def _percentile(sorted_values: list[int] | list[float], q: float) -> float:
    return float(sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))])


def _timed_median(fn: Callable[[], Any], reps: int) -> tuple[float, list[float]]:
    """Median seconds of ``reps`` calls of ``fn``."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _checkpoint(db: Path) -> list[int]:
    """Fold the WAL into the database file; returns sqlite's (busy, log, checkpointed)."""
    conn = sqlite3.connect(db, timeout=60)
    try:
        return list(conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone())
    finally:
        conn.close()


def _empty_timed_call_ns(n: int) -> float:
    """Median cost of ``t0 = pc(); t1 = pc()`` with nothing in between."""
    pc = time.perf_counter_ns
    out = [0] * n
    for i in range(n):
        t0 = pc()
        t1 = pc()
        out[i] = t1 - t0
    return statistics.median(out)


def _mlflow_setup(folder: Path, experiment: str = "bench") -> tuple[Any, Any, str]:
    """(mlflow, MlflowClient(), experiment id) on a fresh sqlite store in ``folder``."""
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    client = MlflowClient()
    exp_id = client.create_experiment(experiment, artifact_location=(folder / "artifacts").as_uri())
    return mlflow, client, exp_id


# -- workers: each runs in its own subprocess, in its own temporary folder -------------


def worker_rh_a(tmp: Path, sz: dict[str, int]) -> dict[str, Any]:
    """(a) runhistory: per-call cost of log(name, float) on the caller's thread."""
    from runhistory.logger import get_logger

    n = sz["a_calls"]
    values = noisy_loss(n)
    logger = get_logger(experiment="bench-a")
    logger.log("loss", 0.5)  # the series' first value takes the checked path
    logger.flush()  # the writer has started and settled
    empty = _empty_timed_call_ns(n)
    pc = time.perf_counter_ns
    log = logger.log
    out = [0] * n
    wall0 = pc()
    for i in range(n):
        v = values[i]
        t0 = pc()
        log("loss", v)
        t1 = pc()
        out[i] = t1 - t0
    wall = pc() - wall0
    logger.flush()
    out.sort()
    return {
        "calls": n,
        "empty_ns": empty,
        "median_us": (statistics.median(out) - empty) / 1000,
        "p90_us": (_percentile(out, 0.90) - empty) / 1000,
        "p99_us": (_percentile(out, 0.99) - empty) / 1000,
        "max_us": out[-1] / 1000,
        "mean_us": (sum(out) / n - empty) / 1000,
        "loop_wall_s": wall / 1e9,
    }


def worker_ml_a(tmp: Path, sz: dict[str, int]) -> dict[str, Any]:
    """(a) MLflow: per-call cost of a synchronous mlflow.log_metric."""
    mlflow, _client, exp_id = _mlflow_setup(tmp)
    n = sz["a_ml_calls"]
    values = noisy_loss(n)
    pc = time.perf_counter_ns
    out = [0] * n
    with mlflow.start_run(experiment_id=exp_id):
        mlflow.log_metric("loss", 0.5, step=0, synchronous=True)  # first call creates the metric
        empty = _empty_timed_call_ns(10_000)
        log_metric = mlflow.log_metric
        for i in range(n):
            v = values[i]
            t0 = pc()
            log_metric("loss", v, step=i + 1, synchronous=True)
            t1 = pc()
            out[i] = t1 - t0
    out.sort()
    return {
        "calls": n,
        "median_us": (statistics.median(out) - empty) / 1000,
        "p99_us": (_percentile(out, 0.99) - empty) / 1000,
        "version": mlflow.__version__,
    }


def worker_rh_bcg(tmp: Path, sz: dict[str, int]) -> dict[str, Any]:
    """(b) log N floats then wait for the last, (g) store bytes per point, (c) read the series back."""
    from runhistory.api import EmbeddedStore
    from runhistory.logger import get_logger

    home = Path(os.environ["RUNHISTORY_HOME"])
    n = sz["b_points"]
    logger = get_logger(experiment="bench-b")
    logger.flush()
    run_id = logger.run_id
    _checkpoint(home / "runhistory.sqlite3")
    empty_bytes = _folder_bytes(home)
    loop_s, total_s = timed_plain_loop(logger, "loss", n)
    logger.finish()

    # (g): the WAL folded into the database, then every file of the store.
    ckpt = _checkpoint(home / "runhistory.sqlite3")
    total_bytes = _folder_bytes(home)

    # (c): a store opened afresh, as a reader (the TUI, the CLI) would.
    store = EmbeddedStore(home)
    full, full_times = _timed_median(lambda: store.read_series(run_id, "loss"), sz["c_reps"])
    series = store.read_series(run_id, "loss")
    ds, ds_times = _timed_median(lambda: store.read_series(run_id, "loss", max_points=DOWNSAMPLE), sz["c_reps"])
    ds_series = store.read_series(run_id, "loss", max_points=DOWNSAMPLE)

    # For the notes: a series half as long, written straight to the store (not
    # through the logger), read downsampled the same way.
    from runhistory.api import NewRun, SeriesBatch

    half = n // 2
    run2 = store.create_run(NewRun(experiment="bench-c-half")).id
    now = time.time()
    half_values = noisy_loss(half, seed=2)
    for start in range(0, half, 200_000):
        part = half_values[start : start + 200_000]
        store.append_metrics(run2, {"loss": SeriesBatch("number", part, [None] * len(part), [now] * len(part))})
    half_full, _ = _timed_median(lambda: store.read_series(run2, "loss"), sz["c_reps"])
    half_ds, _ = _timed_median(lambda: store.read_series(run2, "loss", max_points=DOWNSAMPLE), sz["c_reps"])
    store.close()
    return {
        "points": n,
        "log_loop_s": loop_s,
        "flush_s": total_s - loop_s,
        "points_per_s": n / total_s,
        "checkpoint": ckpt,
        "store_bytes": total_bytes,
        "empty_store_bytes": empty_bytes,
        "bytes_per_point": total_bytes / n,
        "read_full_ms": full * 1000,
        "read_full_all_ms": [t * 1000 for t in full_times],
        "read_full_count": series.count,
        "read_full_len": len(series.values),
        "read_ds_ms": ds * 1000,
        "read_ds_all_ms": [t * 1000 for t in ds_times],
        "read_ds_len": len(ds_series.values),
        "half_points": half,
        "half_read_full_ms": half_full * 1000,
        "half_read_ds_ms": half_ds * 1000,
    }


def worker_rh_b(tmp: Path, sz: dict[str, int]) -> dict[str, Any]:
    """(b) again: only the plain loop and the wait, in a fresh process and store."""
    from runhistory.logger import get_logger

    n = sz["b_points"]
    logger = get_logger(experiment="bench-b")
    logger.flush()
    loop_s, total_s = timed_plain_loop(logger, "loss", n)
    logger.finish()
    return {"points": n, "log_loop_s": loop_s, "flush_s": total_s - loop_s, "points_per_s": n / total_s}


def worker_ml_bcg(tmp: Path, sz: dict[str, int]) -> dict[str, Any]:
    """MLflow's (b), (g) and (c): log_batch of 1000 metrics per call, file size, history reads."""
    from mlflow.entities import Metric

    mlflow, client, exp_id = _mlflow_setup(tmp)
    db = tmp / "mlflow.db"
    n = sz["b_ml_points"]
    values = noisy_loss(n)
    run_id = client.create_run(exp_id).info.run_id
    now_ms = int(time.time() * 1000)
    metrics = [Metric("loss", v, now_ms + i // 100, i) for i, v in enumerate(values)]
    if db.with_name(db.name + "-wal").exists():
        _checkpoint(db)
    empty_bytes = db.stat().st_size
    t0 = time.perf_counter()
    for start in range(0, n, ML_BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + ML_BATCH], synchronous=True)
    t1 = time.perf_counter()
    client.set_terminated(run_id)
    if db.with_name(db.name + "-wal").exists():
        _checkpoint(db)
    db_bytes = db.stat().st_size

    full, _ = _timed_median(lambda: client.get_metric_history(run_id, "loss"), sz["c_reps"])
    history_len = len(client.get_metric_history(run_id, "loss"))
    # Not on MlflowClient: the tracking store has it (the server's
    # /metrics/get-history-bulk-interval endpoint calls it).
    store = client._tracking_client.store
    ds_ms: float | None = None
    ds_len: int | None = None
    if hasattr(store, "get_metric_history_bulk_interval"):
        fn = lambda: store.get_metric_history_bulk_interval([run_id], "loss", DOWNSAMPLE, None, None)  # noqa: E731
        ds, _ = _timed_median(fn, sz["c_reps"])
        ds_ms, ds_len = ds * 1000, len(fn())
    return {
        "points": n,
        "points_per_s": n / (t1 - t0),
        "db_bytes": db_bytes,
        "empty_db_bytes": empty_bytes,
        "bytes_per_point": db_bytes / n,
        "net_bytes_per_point": (db_bytes - empty_bytes) / n,
        "read_full_ms": full * 1000,
        "read_full_len": history_len,
        "read_ds_ms": ds_ms,
        "read_ds_len": ds_len,
    }


def worker_rh_d(tmp: Path, sz: dict[str, int]) -> dict[str, Any]:
    """(d) runhistory: first page of 50 runs out of N, unfiltered and by experiment."""
    from runhistory.api import EmbeddedStore, NewRun

    n = sz["d_runs"]
    store = EmbeddedStore(tmp / "store")
    t0 = time.perf_counter()
    for i in range(n):
        store.create_run(
            NewRun(
                experiment=f"exp-{i % EXPERIMENTS:02d}",
                name=f"run {i}",
                command=["python", "train.py", "--lr", "0.001", f"--seed={i}"],
                cwd="/home/user/project",
                host="gpu-box-1",
                user="user",
                python="3.11.7",
                pid=10_000 + i,
            )
        )
    setup_s = time.perf_counter() - t0
    store.close()
    store = EmbeddedStore(tmp / "store")  # a reader opening the store afresh
    first = time.perf_counter()
    page = store.list_runs(limit=PAGE)
    first_ms = (time.perf_counter() - first) * 1000
    assert len(page.runs) == PAGE
    all_ms, _ = _timed_median(lambda: store.list_runs(limit=PAGE), sz["d_reps"])
    exp = f"exp-{7 % EXPERIMENTS:02d}"
    filtered = store.list_runs(experiment=exp, limit=PAGE)
    assert len(filtered.runs) == PAGE and all(r.experiment == exp for r in filtered.runs)
    exp_ms, _ = _timed_median(lambda: store.list_runs(experiment=exp, limit=PAGE), sz["d_reps"])
    # Not a row of the table, for the notes: the second page, through the cursor.
    page2_ms, _ = _timed_median(lambda: store.list_runs(limit=PAGE, cursor=page.next_cursor), sz["d_reps"])
    status_ms, _ = _timed_median(lambda: store.list_runs(status="running", limit=PAGE), sz["d_reps"])
    return {
        "runs": n,
        "setup_s": setup_s,
        "creates_per_s": n / setup_s,
        "first_call_ms": first_ms,
        "all_ms": all_ms * 1000,
        "exp_ms": exp_ms * 1000,
        "page2_ms": page2_ms * 1000,
        "status_running_ms": status_ms * 1000,
    }


def worker_ml_d(tmp: Path, sz: dict[str, int]) -> dict[str, Any]:
    """(d) MLflow: search_runs(max_results=50, newest first) over N runs, all and one experiment."""
    _mlflow, client, first_exp = _mlflow_setup(tmp, "exp-00")
    exp_ids = [first_exp] + [
        client.create_experiment(f"exp-{k:02d}", artifact_location=(tmp / "artifacts").as_uri())
        for k in range(1, EXPERIMENTS)
    ]
    n = sz["d_ml_runs"]
    t0 = time.perf_counter()
    for i in range(n):
        client.create_run(exp_ids[i % EXPERIMENTS], run_name=f"run {i}")
    setup_s = time.perf_counter() - t0
    order = ["attributes.start_time DESC"]

    def search(ids: list[str]) -> Any:
        runs = client.search_runs(ids, max_results=PAGE, order_by=order)
        assert len(runs) == PAGE
        return runs

    all_s, _ = _timed_median(lambda: search(exp_ids), sz["d_reps"])
    exp_s, _ = _timed_median(lambda: search([exp_ids[7]]), sz["d_reps"])
    return {"runs": n, "setup_s": setup_s, "all_ms": all_s * 1000, "exp_ms": exp_s * 1000}


def _make_random_file(path: Path, mb: int) -> None:
    with open(path, "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1 << 20))


def worker_e(tmp: Path, sz: dict[str, int]) -> dict[str, Any]:
    """(e) upload a file of random bytes: cp, logger.upload_file and mlflow.log_artifact, interleaved."""
    from runhistory.api import EmbeddedStore, NewRun
    from runhistory.logger._logger import Logger

    mb = sz["e_mb"]
    src = tmp / "random.bin"
    _make_random_file(src, mb)
    size = src.stat().st_size
    os.sync()  # start from a quiet disk: the file's dirty pages written back
    have_ml = bool(sz.get("mlflow"))
    if have_ml:
        mlflow, client, exp_id = _mlflow_setup(tmp / "ml")
    cp_s, rh_s, rh_stored_s, ml_s = [], [], [], []
    for rep in range(sz["e_reps"]):
        # cp, as a subprocess, to the same file system
        dst = tmp / f"cp-{rep}.bin"
        t0 = time.perf_counter()
        subprocess.run(["cp", str(src), str(dst)], check=True)
        cp_s.append(time.perf_counter() - t0)
        dst.unlink()

        # runhistory, into a fresh store each time (no dedup of the blob)
        home = tmp / f"rh-{rep}"
        store = EmbeddedStore(home)
        run = store.create_run(NewRun(experiment="bench-e"))
        logger = Logger(store, run.id, owner=True, cwd=str(tmp))
        logger.flush()  # the writer thread has started and settled
        t0 = time.perf_counter()
        handle = logger.upload_file("model/weights.bin", src)
        rh_s.append(time.perf_counter() - t0)
        handle.wait()
        rh_stored_s.append(time.perf_counter() - t0)
        assert store.list_artifacts(run.id, "model/weights.bin")[0].size == size
        logger.finish()
        store.close()
        shutil.rmtree(home)

        if have_ml:
            with mlflow.start_run(experiment_id=exp_id) as ml_run:
                t0 = time.perf_counter()
                mlflow.log_artifact(str(src), artifact_path="model")
                ml_s.append(time.perf_counter() - t0)
            shutil.rmtree(tmp / "ml" / "artifacts" / ml_run.info.run_id, ignore_errors=True)
        os.sync()  # each copy starts with no dirty pages of the previous one

    # For the notes: sha256 alone over the same (cached) file, the ceiling of
    # any upload that hashes what it stores.
    def sha256_file() -> None:
        digest = hashlib.sha256()
        with open(src, "rb", buffering=0) as f:
            for piece in iter(lambda: f.read(4 << 20), b""):
                digest.update(piece)

    sha_s, _ = _timed_median(sha256_file, sz["e_reps"])

    mbytes = size / 1e6
    out: dict[str, Any] = {
        "sha256_mb_s": mbytes / sha_s,
        "mb": mbytes,
        "cp_mb_s": mbytes / statistics.median(cp_s),
        "rh_mb_s": mbytes / statistics.median(rh_s),
        "rh_stored_mb_s": mbytes / statistics.median(rh_stored_s),
        "cp_all_s": cp_s,
        "rh_all_s": rh_s,
        "rh_stored_all_s": rh_stored_s,
    }
    out["rh_vs_cp"] = out["rh_mb_s"] / out["cp_mb_s"]
    if have_ml:
        out["ml_mb_s"] = mbytes / statistics.median(ml_s)
        out["ml_vs_cp"] = out["ml_mb_s"] / out["cp_mb_s"]
        out["ml_all_s"] = ml_s
    return out


WORKERS: dict[str, Callable[[Path, dict[str, int]], dict[str, Any]]] = {
    "rh_a": worker_rh_a,
    "ml_a": worker_ml_a,
    "rh_bcg": worker_rh_bcg,
    "rh_b": worker_rh_b,
    "ml_bcg": worker_ml_bcg,
    "rh_d": worker_rh_d,
    "ml_d": worker_ml_d,
    "e": worker_e,
}


# -- the driver -------------------------------------------------------------------------


def _b_median(first: dict[str, Any], more: list[dict[str, Any]]) -> None:
    """(b) as the median run of the plain loop: ``first`` (whose store (c) and (g) read) and ``more``."""
    runs = sorted([first, *(r for r in more if "error" not in r)], key=lambda r: r["points_per_s"])
    middle = runs[len(runs) // 2]
    first["b_all_points_per_s"] = [r["points_per_s"] for r in runs]
    first.update({k: middle[k] for k in ("log_loop_s", "flush_s", "points_per_s")})


def run_worker(name: str, sizes: dict[str, int], keep: bool) -> dict[str, Any]:
    """Run one worker in a fresh subprocess and temporary folder; its result, or {"error": …}."""
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    result_file = tmp / "result.json"
    env = _child_env(RUNHISTORY_HOME=str(tmp / "store"))
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        name,
        "--sizes",
        json.dumps(sizes),
        "--result",
        str(result_file),
        "--tmp",
        str(tmp),
    ]
    t0 = time.perf_counter()
    print(f"  running {name} …", end="", file=sys.stderr, flush=True)
    try:
        done = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0 or not result_file.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
            print(f" FAILED (exit {done.returncode})\n    " + "\n    ".join(tail), file=sys.stderr)
            return {"error": f"exit {done.returncode}"}
        result: dict[str, Any] = json.loads(result_file.read_text())
    except subprocess.TimeoutExpired:
        print(" timed out", file=sys.stderr)
        return {"error": "timeout"}
    finally:
        if keep:
            print(f" (kept {tmp})", end="", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f" {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return result


def measure_import(module: str | None, reps: int) -> dict[str, Any]:
    """(f): median over fresh ``python -c`` subprocesses of (import time − ``pass`` time)."""
    env = _child_env()
    cwd = tempfile.gettempdir()  # not the project folder: no accidental top-level imports

    def once(code: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=cwd, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t0

    stmt = f"import {module}"
    once("pass")
    once(stmt)  # warm-up: .pyc files written, files in the page cache
    diffs, bases, imports = [], [], []
    for _ in range(reps):
        base = once("pass")
        full = once(stmt)
        bases.append(base)
        imports.append(full)
        diffs.append(full - base)
    return {
        "seconds": statistics.median(diffs),
        "pass_s": statistics.median(bases),
        "import_s": statistics.median(imports),
        "reps": reps,
    }


def run_f(sizes: dict[str, int], have_ml: bool) -> tuple[dict[str, Any], dict[str, Any] | None]:
    print("  running f …", end="", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    rh = measure_import("runhistory.logger", sizes["f_reps"])
    ml = measure_import("mlflow", sizes["f_reps"]) if have_ml else None
    print(f" {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return rh, ml


# -- formatting -----------------------------------------------------------------------


def build_rows(res: dict[str, Any], sizes: dict[str, int], have_ml: bool, absent: str) -> list[list[str]]:
    """The table's rows, from the workers' results; ``absent`` fills the MLflow cells without MLflow."""
    rows: list[list[str]] = []

    def get(key: str) -> dict[str, Any] | None:
        r = res.get(key)
        return None if r is None or "error" in r else r

    def rh_cell(key: str, fmt: Callable[[dict[str, Any]], str]) -> str:
        r = res.get(key)
        if r is None:
            return "skipped"
        if "error" in r:
            return f"error ({r['error']})"
        return fmt(r)

    def ml_cell(key: str, fmt: Callable[[dict[str, Any]], str]) -> str:
        return rh_cell(key, fmt) if have_ml else absent

    def field(r: dict[str, Any] | None, name: str) -> float | None:
        return None if r is None else r.get(name)

    # (a)
    rh, ml = get("rh_a"), get("ml_a")
    if "rh_a" in res or "ml_a" in res:
        rows.append(
            [
                "(a) `log(name, float)` caller-thread cost, median µs/call",
                rh_cell("rh_a", lambda r: f"{r['median_us']:.2f} µs ({_n(r['calls'])} calls)"),
                ml_cell("ml_a", lambda r: f"{_num(r['median_us'])} µs (`mlflow.log_metric`, {_n(r['calls'])} calls)"),
                _ratio(field(rh, "median_us"), field(ml, "median_us"), higher_is_better=False),
                "≤ 2 µs",
                _met(None if rh is None else rh["median_us"] <= 2),
            ]
        )
    # (b), (c), (g)
    rh, ml = get("rh_bcg"), get("ml_bcg")
    smaller = sizes["b_ml_points"] < sizes["b_points"]
    if "rh_bcg" in res or "ml_bcg" in res:
        rows.append(
            [
                f'(b) `h = logger.log("loss", float(i))` × {_n(sizes["b_points"])} + `h.wait()`, points/s',
                rh_cell(
                    "rh_bcg",
                    lambda r: (
                        f"{_rate(r['points_per_s'])} (median of {len(r.get('b_all_points_per_s', [0]))} runs "
                        f"of {_n(r['points'])} points)"
                    ),
                ),
                ml_cell(
                    "ml_bcg",
                    lambda r: f"{_rate(r['points_per_s'])} (`log_batch` ×{ML_BATCH}, {_n(r['points'])} points)",
                ),
                _ratio(field(rh, "points_per_s"), field(ml, "points_per_s"), higher_is_better=True),
                "≥ 1,000,000 points/s",
                _met(None if rh is None else rh["points_per_s"] >= 1_000_000),
            ]
        )
        rows.append(
            [
                f"(c) `read_series` whole, ms (median of {sizes['c_reps']})",
                rh_cell("rh_bcg", lambda r: f"{_num(r['read_full_ms'])} ms ({_n(r['read_full_len'])} points)"),
                ml_cell(
                    "ml_bcg",
                    lambda r: f"{_num(r['read_full_ms'])} ms (`get_metric_history`, {_n(r['read_full_len'])} points)",
                ),
                _ratio(field(rh, "read_full_ms"), field(ml, "read_full_ms"), False, smaller),
                "—",
                "—",
            ]
        )
        rows.append(
            [
                f"(c) `read_series(max_points={DOWNSAMPLE})`, ms (median of {sizes['c_reps']})",
                rh_cell(
                    "rh_bcg",
                    lambda r: f"{_num(r['read_ds_ms'])} ms ({_n(r['read_ds_len'])} of {_n(r['points'])} points)",
                ),
                ml_cell(
                    "ml_bcg",
                    lambda r: (
                        "n/a"
                        if r["read_ds_ms"] is None
                        else f"{_num(r['read_ds_ms'])} ms (`get_metric_history_bulk_interval`, {_n(r['read_ds_len'])} of {_n(r['points'])} points)"
                    ),
                ),
                _ratio(field(rh, "read_ds_ms"), field(ml, "read_ds_ms"), False, smaller),
                "≤ 50 ms",
                _met(None if rh is None else rh["read_ds_ms"] <= 50),
            ]
        )
    # (d)
    rh, ml = get("rh_d"), get("ml_d")
    smaller = sizes["d_ml_runs"] < sizes["d_runs"]
    if "rh_d" in res or "ml_d" in res:
        for key, what, ml_what in (
            ("all_ms", "first page", "all experiments"),
            ("exp_ms", "by experiment", "one experiment"),
        ):
            call = "list_runs(limit=50)" if key == "all_ms" else "list_runs(experiment=…, limit=50)"
            rows.append(
                [
                    f"(d) {what}: `{call}` of {_n(sizes['d_runs'])} runs, ms (median of {sizes['d_reps']})",
                    rh_cell("rh_d", lambda r, k=key: f"{_num(r[k])} ms ({_n(r['runs'])} runs)"),
                    ml_cell(
                        "ml_d",
                        lambda r, k=key, w=ml_what: f"{_num(r[k])} ms (`search_runs`, {w}, {_n(r['runs'])} runs)",
                    ),
                    _ratio(field(rh, key), field(ml, key), False, smaller),
                    "≤ 20 ms",
                    _met(None if rh is None else rh[key] <= 20),
                ]
            )
    # (e)
    e = get("e")
    if "e" in res:
        rows.append(
            [
                f"(e) upload a {sizes['e_mb']} MB file, MB/s (median of {sizes['e_reps']})",
                rh_cell(
                    "e",
                    lambda r: (
                        f"{_num(r['rh_mb_s'])} MB/s = {r['rh_vs_cp']:.0%} of `cp` ({_num(r['cp_mb_s'])} MB/s); "
                        f"stored and hashed (`.wait()`): {_num(r['rh_stored_mb_s'])} MB/s"
                    ),
                ),
                ml_cell(
                    "e",
                    lambda r: (
                        "n/a"
                        if "ml_mb_s" not in r
                        else f"{_num(r['ml_mb_s'])} MB/s = {r['ml_vs_cp']:.0%} of `cp` (`mlflow.log_artifact`)"
                    ),
                ),
                _ratio(field(e, "rh_mb_s"), field(e, "ml_mb_s"), higher_is_better=True),
                "≥ 80 % of `cp`",
                _met(None if e is None else e["rh_vs_cp"] >= 0.8),
            ]
        )
    # (f)
    rh, ml = res.get("rh_f"), res.get("ml_f")
    if rh is not None:
        rows.append(
            [
                f"(f) import time (minus `python -c pass`), s (median of {sizes['f_reps']})",
                f"{rh['seconds']:.3f} s (`import runhistory.logger`)",
                absent if ml is None else f"{ml['seconds']:.3f} s (`import mlflow`)",
                _ratio(rh["seconds"], None if ml is None else ml["seconds"], higher_is_better=False),
                "≤ 0.15 s",
                _met(rh["seconds"] <= 0.15),
            ]
        )
    # (g)
    rh, ml = get("rh_bcg"), get("ml_bcg")
    if "rh_bcg" in res or "ml_bcg" in res:
        rows.append(
            [
                "(g) store bytes per point after (b)",
                rh_cell(
                    "rh_bcg",
                    lambda r: f"{r['bytes_per_point']:.2f} B (whole folder, {_num(r['store_bytes'] / 1e6)} MB)",
                ),
                ml_cell(
                    "ml_bcg",
                    lambda r: (
                        f"{r['bytes_per_point']:.1f} B (sqlite file; {r['net_bytes_per_point']:.1f} B net of the empty db)"
                    ),
                ),
                _ratio(field(rh, "bytes_per_point"), field(ml, "net_bytes_per_point"), higher_is_better=False),
                "≤ 16 B",
                _met(None if rh is None else rh["bytes_per_point"] <= 16),
            ]
        )
    return rows


def print_notes(res: dict[str, Any], sizes: dict[str, int], quick: bool) -> None:
    notes = [
        "ratio: how many times runhistory beats MLflow on that measure (a lower cost or a higher rate); "
        "† = MLflow measured on a smaller workload than runhistory (see its cell), so the ratio flatters MLflow.",
        "Each measure ran in a fresh subprocess with a fresh temporary store folder (cwd = that folder).",
    ]
    if quick:
        notes.append("**--quick**: sizes are 1/10 of the full run; the targets are meant for the full sizes.")
    r = res.get("rh_a")
    if r and "error" not in r:
        notes.append(
            f"(a) runhistory: p90 {r['p90_us']:.2f} µs, p99 {r['p99_us']:.2f} µs, max {_num(r['max_us'])} µs, "
            f"mean {r['mean_us']:.2f} µs; empty timed call {r['empty_ns']:.0f} ns (subtracted); "
            f"timed loop {r['loop_wall_s'] * 1000:.0f} ms wall (writer thread running meanwhile)."
        )
    r = res.get("ml_a")
    if r and "error" not in r:
        notes.append(f"(a) MLflow {r['version']}: p99 {_num(r['p99_us'])} µs; `synchronous=True`, one run, steps 1…N.")
    r = res.get("rh_bcg")
    if r and "error" not in r:
        notes.append(
            f"(b) runhistory, the median run: `log()` loop {r['log_loop_s']:.2f} s + `h.wait()` {r['flush_s']:.2f} s "
            f"(caller side alone {_rate(r['points'] / r['log_loop_s'])}); every run, points/s: "
            f"{', '.join(_n(round(x)) for x in r.get('b_all_points_per_s', [r['points_per_s']]))}. "
            f"(g): WAL checkpoint (busy, log, checkpointed) = {r['checkpoint']}; empty store "
            f"{_n(r['empty_store_bytes'])} B. (c) all reads, ms: whole {[round(x, 1) for x in r['read_full_all_ms']]}, "
            f"downsampled {[round(x, 1) for x in r['read_ds_all_ms']]}. "
            f"A {_n(r['half_points'])}-point series: whole {_num(r['half_read_full_ms'])} ms, "
            f"`max_points={DOWNSAMPLE}` {_num(r['half_read_ds_ms'])} ms."
        )
    r = res.get("ml_bcg")
    if r and "error" not in r:
        notes.append(
            f"(b/g) MLflow: sqlite file {_n(r['db_bytes'])} B after, {_n(r['empty_db_bytes'])} B before "
            "the points (the ratio in (g) uses the net figure)."
        )
    r = res.get("rh_d")
    if r and "error" not in r:
        notes.append(
            f"(d) runhistory setup: {_n(r['runs'])} × `create_run` in {r['setup_s']:.1f} s "
            f"({_n(r['creates_per_s'])} runs/s); first `list_runs` on a freshly opened store "
            f"{_num(r['first_call_ms'])} ms; second page via cursor {_num(r['page2_ms'])} ms; "
            f"`status='running'` filter {_num(r['status_running_ms'])} ms."
        )
    r = res.get("ml_d")
    if r and "error" not in r:
        notes.append(
            f"(d) MLflow setup: {_n(r['runs'])} × `create_run` in {r['setup_s']:.1f} s; "
            "`search_runs(…, max_results=50, order_by=['attributes.start_time DESC'])`."
        )
    r = res.get("e")
    if r and "error" not in r:
        s = lambda xs: [round(x * 1000) for x in xs]  # noqa: E731
        line = (
            f"(e) ms per copy: cp {s(r['cp_all_s'])}, runhistory `upload_file()` returns {s(r['rh_all_s'])}, "
            f"stored and hashed {s(r['rh_stored_all_s'])}"
        )
        if "ml_all_s" in r:
            line += f", MLflow {s(r['ml_all_s'])}"
        notes.append(
            line + f"; sha256 alone over the cached file: {_num(r['sha256_mb_s'])} MB/s (runhistory hashes what it "
            "stores, MLflow and `cp` do not); `cp` timing includes its process start; page cache warm, `sync` between reps."
        )
    r, m = res.get("rh_f"), res.get("ml_f")
    if r:
        line = f"(f) absolute medians: `python -c pass` {r['pass_s']:.3f} s, `import runhistory.logger` {r['import_s']:.3f} s"
        if m:
            line += f", `import mlflow` {m['import_s']:.3f} s"
        notes.append(line + ".")
    print()
    for note in notes:
        print(f"- {note}")


def machine_lines() -> list[str]:
    ml = "not installed"
    if mlflow_installed():
        from importlib.metadata import version

        ml = version("mlflow")
    return [
        machine_line(),
        f"- python {platform.python_version()} ({sys.executable}), sqlite {sqlite3.sqlite_version}, mlflow {ml}",
        f"- temporary folders under {tempfile.gettempdir()}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="sizes / 10: a smoke run of seconds")
    parser.add_argument("--no-mlflow", action="store_true", help="skip the MLflow column")
    parser.add_argument("--only", default="abcdefg", help="measures to run, e.g. 'af' (default: all)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    parser.add_argument("--json", metavar="FILE", help="also write the raw results to FILE")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:  # inside a subprocess started by run_worker()
        result = WORKERS[args.worker](Path(args.tmp), json.loads(args.sizes))
        Path(args.result).write_text(json.dumps(result))
        return 0

    installed = mlflow_installed()
    have_ml = installed and not args.no_mlflow
    sizes = {**(QUICK if args.quick else FULL), "mlflow": int(have_ml)}
    only = set(args.only)
    command = shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    print(f"# runhistory core benchmark{' (--quick)' if args.quick else ''}\n")
    print("\n".join(machine_lines()))
    print(f"- command: `{command}` (cwd {os.getcwd()})")
    print(flush=True)

    res: dict[str, Any] = {}
    t0 = time.perf_counter()
    plan = [("a", "rh_a", "ml_a"), ("bcg", "rh_bcg", "ml_bcg"), ("d", "rh_d", "ml_d")]
    for letters, rh_name, ml_name in plan:
        if only & set(letters):
            res[rh_name] = run_worker(rh_name, sizes, args.keep)
            if letters == "bcg" and "error" not in res[rh_name]:
                _b_median(res[rh_name], [run_worker("rh_b", sizes, args.keep) for _ in range(sizes["b_reps"] - 1)])
            if have_ml:
                res[ml_name] = run_worker(ml_name, sizes, args.keep)
    if "e" in only:
        res["e"] = run_worker("e", sizes, args.keep)
    if "f" in only:
        res["rh_f"], res["ml_f"] = run_f(sizes, have_ml)
    total = time.perf_counter() - t0

    absent = "skipped (--no-mlflow)" if installed else "not installed"
    print_table(build_rows(res, sizes, have_ml, absent))
    print_notes(res, sizes, args.quick)
    print(f"\nTotal benchmark time: {total:.0f} s.")
    if args.json:
        Path(args.json).write_text(json.dumps({"sizes": sizes, "results": res}, indent=2))
    return 1 if any(isinstance(r, dict) and "error" in r for r in res.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
