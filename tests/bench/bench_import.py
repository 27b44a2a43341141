"""``runhistory import mlflow`` benchmark: points/s imported from an MLflow sqlite store.

A plain script, not a pytest test::

    .venv/bin/python tests/bench/bench_import.py                    # 20 runs of 50,000 points (about 5 minutes)
    .venv/bin/python tests/bench/bench_import.py --runs 4 --points 1000 --repeat 1

Needs MLflow (``pip install -e '.[import]'``). Writes an MLflow 3 sqlite store with MLflow's
own client (each run: 5 params, 2 tags, one metric of ``--points`` points logged with
``log_batch``, one small artifact) in a temporary folder (``/dev/shm`` when there is one),
then times ``runhistory import mlflow URI --json`` as a real process into a fresh embedded
store ``--repeat`` times, and a second import into the last one (which finds every run
there). Beside it, what MLflow's own client takes to read the same points back
(``get_metric_history`` for every run, once), what an import through that client alone
would cost at least. Prints a table of medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests._processes import clean_env  # noqa: E402
from tests.bench.report import machine_line, mlflow_installed  # noqa: E402

T0 = 1_760_000_000_000  # ms


def fill(uri: str, folder: Path, runs: int, points: int) -> float:
    """The MLflow store; returns the seconds MLflow took to write it."""
    import mlflow
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    begun = time.monotonic()
    experiment = client.create_experiment("bench", artifact_location=str(folder / "artifacts"))
    (folder / "config.json").write_text('{"seed": 1}')
    for n in range(runs):
        run = client.create_run(experiment, run_name=f"run-{n}", start_time=T0 + n)
        rid = run.info.run_id
        client.log_batch(
            rid,
            params=[
                Param(k, str(v))
                for k, v in {"lr": 1e-3 * (n + 1), "seed": n, "layers": 4, "opt": "adam", "bs": 64}.items()
            ],
            tags=[RunTag("team", "bench"), RunTag("mlflow.note.content", f"run {n}")],
        )
        metrics = [Metric("loss", 1.0 / (i + 1), T0 + i, i) for i in range(points)]
        for start in range(0, points, 1000):  # MLflow's most metrics in one log_batch
            client.log_batch(rid, metrics=metrics[start : start + 1000])
        client.log_artifact(rid, str(folder / "config.json"))
        client.set_terminated(rid, "FINISHED", end_time=T0 + 10_000 + n)
    return time.monotonic() - begun


def mlflow_read(uri: str) -> tuple[float, int]:
    """Seconds MLflow's client takes to read every point of every run back, and the points."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    begun = time.monotonic()
    count = 0
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id], max_results=1000):
            for key in run.data.metrics:
                count += len(client.get_metric_history(run.info.run_id, key))
    return time.monotonic() - begun, count


def run_import(uri: str, home: Path) -> tuple[float, dict[str, object]]:
    command = [sys.executable, "-m", "runhistory.app.cli", "import", "mlflow", uri, "--json"]
    begun = time.monotonic()
    done = subprocess.run(command, env=clean_env(home), capture_output=True, check=True)
    return time.monotonic() - begun, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--points", type=int, default=50_000, help="points per run")
    parser.add_argument("--repeat", type=int, default=3, help="imports timed, each into a fresh store")
    args = parser.parse_args()
    if not mlflow_installed():
        sys.exit("bench_import needs MLflow: pip install -e '.[import]'")
    warnings.simplefilter("ignore")
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None) as tmp:
        root = Path(tmp)
        uri = f"sqlite:///{root / 'mlflow.db'}"
        wrote = fill(uri, root, args.runs, args.points)
        total = args.runs * args.points
        print(machine_line())
        print(
            f"MLflow store: {args.runs} runs × {args.points:,} points = {total:,} points, written by MLflow in {wrote:.1f} s"
        )
        whole, inside = [], []
        for n in range(args.repeat):
            seconds, doc = run_import(uri, root / f"home{n}")
            points = doc["points"]["imported"]  # type: ignore[index]
            assert points == total, doc
            whole.append(seconds)
            inside.append(float(doc["seconds"]))  # type: ignore[arg-type]
        again, doc = run_import(uri, root / f"home{args.repeat - 1}")
        assert doc["runs"]["skipped"] == args.runs, doc  # type: ignore[index]
        read, count = mlflow_read(uri)  # once: it is the slowest part, and only beside the import
        assert count == total
        rows = [
            ("import, the whole command (process, imports, MLflow's start)", statistics.median(whole)),
            ("import, the importing alone (its --json seconds)", statistics.median(inside)),
            ("MLflow's client reading the points back (get_metric_history, once)", read),
        ]
        print()
        print(f"| measure (median of {args.repeat}) | seconds | points/s |")
        print("|---|---|---|")
        for label, seconds in rows:
            print(f"| {label} | {seconds:.2f} s | {total / seconds:,.0f} |")
        print(f"| a second import (every run found, nothing read) | {again:.2f} s | — |")


if __name__ == "__main__":
    main()
