"""Query benchmark: filtering and sorting runs by params and metrics, answered by the store.

A plain script, not a pytest test::

    .venv/bin/python tests/bench/bench_queries.py              # 100,000 runs (a few minutes)
    .venv/bin/python tests/bench/bench_queries.py --runs 10000 # a smaller store

It builds a store of N finished runs, each with 10 params and 5 metrics (their
rows written straight into the store's tables, as a long-lived store would
hold them), then times the first page of 50:

(a) unfiltered, newest first; (b) a filter on one param and one metric with a
sort on a metric (``params.optimizer = adam and metrics.val/accuracy > 0.9``,
``metrics.val/accuracy desc``); (c) the same with a numeric param range
(``params.lr >= 1e-3``), which MLflow cannot express (its params are text);
(d) a sort on a param over every run; (e) the first page of the next 50
(cursor paging); (f) (b) through the CLI (``runhistory list --json``, a new
process each time: imports included).

MLflow (``pip install -e '.[bench]'``) gets the same runs, params and latest
metrics written straight into its own SQLite schema, created by MLflow
itself, and runs ``MlflowClient.search_runs`` with the same filter and order
(``params.optimizer = 'adam' and metrics.val_accuracy > 0.9``; MLflow metric
names may not hold ``/``). Each figure is the median of several runs (a query
that takes more than ``BUDGET_S / 4`` is timed once).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from report import machine_line, mlflow_installed
from report import print_table as _print_table

OPTIMIZERS = ("adam", "adamw", "sgd", "lion")
FILTER = "params.optimizer = adam and metrics.val/accuracy > 0.9"
SORT = "metrics.val/accuracy desc"
RANGE = "params.lr >= 1e-3 and metrics.val/accuracy > 0.9"
PARAM_SORT = "params.lr desc"
ML_FILTER = "params.optimizer = 'adam' and metrics.val_accuracy > 0.9"
ML_ORDER = ["metrics.val_accuracy DESC"]
PAGE = 50


def _run_spec(i: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, float]]:
    params: dict[str, Any] = {
        "lr": 10 ** rng.uniform(-5, -1),
        "batch_size": rng.choice((32, 64, 128, 256)),
        "optimizer": rng.choice(OPTIMIZERS),
        "dropout": round(rng.uniform(0, 0.5), 3),
        "layers": rng.randint(2, 12),
        "seed": i,
        "warmup": rng.choice((0, 100, 500, 1000)),
        "weight_decay": rng.choice((0.0, 1e-4, 1e-2)),
        "arch": rng.choice(("cnn", "resnet18", "vit-tiny")),
        "amp": rng.random() < 0.5,
    }
    accuracy = min(0.999, max(0.0, rng.gauss(0.85, 0.06)))
    metrics = {
        "train/loss": rng.uniform(0.01, 2.0),
        "val/loss": rng.uniform(0.05, 2.5),
        "val/accuracy": accuracy,
        "train/lr": params["lr"],
        "epoch": float(rng.randint(5, 100)),
    }
    return params, metrics


def build_runhistory(home: Path, n: int) -> None:
    """``n`` runs written straight into an embedded store's tables."""
    from runhistory.api import EmbeddedStore
    from runhistory.api._embedded.schema import RUN_TEXT
    from runhistory.api._params import param_columns

    EmbeddedStore(home).close()
    rng = random.Random(1)
    now = time.time() - 86400
    conn = sqlite3.connect(home / "runhistory.sqlite3")
    runs, params_rows, metrics_rows, latest_rows = [], [], [], []
    for i in range(n):
        run_id = uuid.UUID(int=i + 1).hex
        params, metrics = _run_spec(i, rng)
        started = now - 60 * i
        runs.append(
            (
                run_id,
                f"sweep-{i % 20}",
                f"trial-{i}",
                "completed",
                started,
                started + 600,
                started + 600,
                json.dumps(["python", "train.py", f"--seed={i}"]),
                "/work",
                "gpu-1",
                "ada",
                "3.11.7",
                None,
                None,
                None,
                None,
                0,
                "[]",
                json.dumps(params),
                "[]",
                None,
            )
        )
        params_rows += [(run_id, k, *param_columns(v)) for k, v in params.items()]
        for name, value in metrics.items():
            metrics_rows.append((run_id, name, "number", 1, 0, json.dumps(value), started + 600))
            latest_rows.append((name, run_id, value, None))
    with conn:
        conn.executemany(f"INSERT INTO runs VALUES ({', '.join('?' * 21)})", runs)
        conn.executemany("INSERT INTO run_params (run_id, key, kind, num, text) VALUES (?, ?, ?, ?, ?)", params_rows)
        conn.executemany(
            "INSERT INTO metrics (run_id, name, kind, count, last_step, last_value, last_time) VALUES (?, ?, ?, ?, ?, ?, ?)",
            metrics_rows,
        )
        conn.executemany("INSERT INTO latest_values (name, run_id, num, text) VALUES (?, ?, ?, ?)", latest_rows)
        conn.execute(f"INSERT INTO run_text (run_id, body) SELECT id, {RUN_TEXT} FROM runs")
    conn.execute("ANALYZE")
    conn.close()


def mlflow_rows(n: int, experiment: str, artifacts: str) -> tuple[list[tuple[Any, ...]], ...]:
    """The rows of the same ``n`` runs in MLflow's tables: ``runs`` (13 columns, see
    ``build_mlflow``), ``params`` (key, value, run_uuid) and ``latest_metrics`` (key, value,
    timestamp, step, is_nan, run_uuid; MLflow metric names may not hold ``/``)."""
    rng = random.Random(1)
    now_ms = int((time.time() - 86400) * 1000)
    runs, params_rows, latest_rows = [], [], []
    for i in range(n):
        run_id = uuid.UUID(int=i + 1).hex
        params, metrics = _run_spec(i, rng)
        started = now_ms - 60_000 * i
        runs.append(
            (
                run_id,
                f"trial-{i}",
                "LOCAL",
                "train.py",
                "ada",
                "FINISHED",
                started,
                started + 600_000,
                "",
                f"{artifacts}/{run_id}",
                experiment,
                "active",
                None,
            )
        )
        params_rows += [(k, str(v), run_id) for k, v in params.items()]
        latest_rows += [(k.replace("/", "_"), v, started + 600_000, 0, 0, run_id) for k, v in metrics.items()]
    return runs, params_rows, latest_rows


#: MLflow's ``runs`` columns ``mlflow_rows`` gives, in its order.
MLFLOW_RUN_COLUMNS = (
    "run_uuid, name, source_type, source_name, user_id, status, start_time, end_time, "
    "source_version, artifact_uri, experiment_id, lifecycle_stage, deleted_time"
)


def build_mlflow(folder: Path, n: int) -> tuple[Any, str]:
    """The same runs in MLflow's own schema (created by MLflow, filled with SQL)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    experiment = client.create_experiment("bench", artifact_location=str(folder / "artifacts"))
    client.create_run(experiment)  # makes sure every table exists
    runs, params_rows, latest_rows = mlflow_rows(n, experiment, str(folder / "artifacts"))
    conn = sqlite3.connect(folder / "mlflow.db")
    with conn:
        conn.executemany(f"INSERT INTO runs ({MLFLOW_RUN_COLUMNS}) VALUES ({', '.join('?' * 13)})", runs)
        conn.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)", params_rows)
        conn.executemany(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, ?, ?)",
            latest_rows,
        )
        conn.executemany(
            "INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, ?, ?)", latest_rows
        )
    conn.close()
    return client, experiment


#: Seconds a measure may take in all: a query that takes a minute is timed once, not 15 times.
BUDGET_S = 60.0


def median_ms(fn: Any, reps: int) -> float:
    """The median time of ``fn`` over ``reps`` runs after a warm one (fewer when over ``BUDGET_S``)."""
    t0 = time.perf_counter()
    fn()  # warm
    first = time.perf_counter() - t0
    if first > BUDGET_S / 4:
        return first * 1000  # one run says enough, and more would take minutes
    times = []
    spent = first
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        spent += times[-1]
        if spent > BUDGET_S:
            break
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args(argv)
    n = args.runs
    print(machine_line())
    print(f"command: {' '.join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])])}")
    with tempfile.TemporaryDirectory(prefix="rh-bench-queries-") as tmp:
        home = Path(tmp) / "store"
        t0 = time.perf_counter()
        build_runhistory(home, n)
        print(f"built {n:,} runs × (10 params, 5 metrics) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        from runhistory.api import EmbeddedStore

        store = EmbeddedStore(home)
        first = store.list_runs(where=FILTER, sort=SORT, limit=PAGE)
        assert len(first.runs) == PAGE and first.next_cursor
        best = [r.id for r in first.runs]
        rh = {
            "a": median_ms(lambda: store.list_runs(limit=PAGE), args.reps),
            "b": median_ms(lambda: store.list_runs(where=FILTER, sort=SORT, limit=PAGE), args.reps),
            "c": median_ms(lambda: store.list_runs(where=RANGE, sort=SORT, limit=PAGE), args.reps),
            "d": median_ms(lambda: store.list_runs(sort=PARAM_SORT, limit=PAGE), args.reps),
            "e": median_ms(
                lambda: store.list_runs(where=FILTER, sort=SORT, limit=PAGE, cursor=first.next_cursor), args.reps
            ),
        }
        env = {**os.environ, "RUNHISTORY_HOME": str(home)}
        cli = [
            sys.executable,
            "-m",
            "runhistory.app.cli",
            "list",
            "--json",
            "-n",
            str(PAGE),
            "--where",
            FILTER,
            "--sort",
            SORT,
        ]
        out = subprocess.run(cli, env=env, capture_output=True, check=True)
        assert [d["id"] for d in json.loads(out.stdout)] == best
        rh["f"] = median_ms(
            lambda: subprocess.run(cli, env=env, capture_output=True, check=True), max(3, args.reps // 3)
        )
        store.close()

        ml: dict[str, float] = {}
        if mlflow_installed():
            folder = Path(tmp) / "mlflow"
            folder.mkdir()
            t0 = time.perf_counter()
            client, experiment = build_mlflow(folder, n)
            print(f"built the same runs in MLflow in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            found = client.search_runs([experiment], filter_string=ML_FILTER, order_by=ML_ORDER, max_results=PAGE)
            assert [r.info.run_id for r in found] == best, "MLflow found other runs"
            ml["a"] = median_ms(lambda: client.search_runs([experiment], max_results=PAGE), args.reps)
            ml["b"] = median_ms(
                lambda: client.search_runs([experiment], filter_string=ML_FILTER, order_by=ML_ORDER, max_results=PAGE),
                args.reps,
            )
            token = found.token
            ml["e"] = median_ms(
                lambda: client.search_runs(
                    [experiment], filter_string=ML_FILTER, order_by=ML_ORDER, max_results=PAGE, page_token=token
                ),
                args.reps,
            )

    def cell(x: float | None) -> str:
        if x is None:
            return "—"
        return f"{x / 1000:,.1f} s" if x >= 10_000 else f"{x:,.1f} ms"

    def ratio(ours: float, theirs: float | None) -> str:
        return "—" if theirs is None else f"{theirs / ours:,.1f}× faster"

    absent = "not installed" if not mlflow_installed() else "cannot express it (params are text)"
    rows = [
        [
            f"(a) first page of {PAGE}, newest first",
            cell(rh["a"]),
            cell(ml.get("a")) if ml else absent,
            ratio(rh["a"], ml.get("a")),
            "—",
            "—",
        ],
        [
            f"(b) `{FILTER}`, sort `{SORT}`, first {PAGE}",
            cell(rh["b"]),
            cell(ml.get("b")) if ml else absent,
            ratio(rh["b"], ml.get("b")),
            "≤ 50 ms",
            "yes" if rh["b"] <= 50 else "no",
        ],
        [
            f"(c) `{RANGE}`, same sort",
            cell(rh["c"]),
            absent if ml else absent,
            "—",
            "≤ 50 ms",
            "yes" if rh["c"] <= 50 else "no",
        ],
        [f"(d) sort `{PARAM_SORT}` over every run", cell(rh["d"]), absent if ml else absent, "—", "—", "—"],
        [
            "(e) (b)'s next page (cursor)",
            cell(rh["e"]),
            cell(ml.get("e")) if ml else absent,
            ratio(rh["e"], ml.get("e")),
            "—",
            "—",
        ],
        [
            "(f) (b) through the CLI, a new process each time",
            cell(rh["f"]),
            "—",
            "—",
            "≤ 300 ms",
            "yes" if rh["f"] <= 300 else "no",
        ],
    ]
    print(f"\n{n:,} runs, 10 params and 5 metrics each; medians of {args.reps} runs")
    _print_table(rows, "MLflow `search_runs` (sqlite)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
