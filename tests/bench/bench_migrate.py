"""``runhistory migrate`` benchmark: an embedded store of N runs into PostgreSQL and a local SeaweedFS.

A plain script, not a pytest test::

    .venv/bin/python tests/bench/bench_migrate.py                 # 200 runs of 10,000 points
    .venv/bin/python tests/bench/bench_migrate.py --runs 20 --points 1000

It starts a throwaway PostgreSQL cluster and ``weed mini`` as the tests do, fills an
embedded store (each run: params, tags, a note, one series of ``--points`` points, two
small artifacts of its own), then times ``runhistory migrate --json`` (a real process)
twice: the copy, and a second run that finds everything there. It prints runs/s and
points/s of the copy (verification included) and the time of the second run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from runhistory.api import EmbeddedStore, NewRun, SeriesBatch  # noqa: E402
from tests._postgres import Cluster  # noqa: E402
from tests._processes import clean_env  # noqa: E402
from tests._s3 import BUCKET, SeaweedFS  # noqa: E402


def fill(home: Path, runs: int, points: int) -> None:
    store = EmbeddedStore(home)
    for n in range(runs):
        run = store.create_run(NewRun(experiment="bench", command=["train.py"], host="gpu1"))
        store.set_params(run.id, {"lr": 1e-3 * n, "seed": n})
        store.update_tags(run.id, add=["bench"])
        store.set_note(run.id, f"run {n}")
        values = [1 / (i + 1) for i in range(points)]
        store.append_metrics(
            run.id, {"loss": SeriesBatch("number", values, [None] * points, [float(i) for i in range(points)])}
        )
        store.put_artifact(run.id, "config.json", f'{{"seed": {n}}}'.encode())
        store.put_artifact(run.id, "weights.bin", bytes([n % 256]) * 65536)
        store.finish_run(run.id, "completed")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--points", type=int, default=10_000, help="points per run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        cluster = Cluster()
        service = SeaweedFS(root / "s3")
        try:
            cluster.start()
            cluster.execute("CREATE DATABASE bench")
            service.start()
            fill(root / "home", args.runs, args.points)
            command = [
                sys.executable, "-m", "runhistory.app.cli", "migrate", "--json",
                "--to", cluster.dsn("bench"), "--blobs", f"s3://{BUCKET}/bench",
            ]  # fmt: skip
            env = clean_env(root / "home", **service.environ())
            for label in ("copy", "again"):
                begun = time.monotonic()
                done = subprocess.run(command, env=env, capture_output=True, check=True)
                seconds = time.monotonic() - begun
                doc = json.loads(done.stdout)
                assert doc["verified"], doc["problems"]
                points = doc["points"]["copied"]
                print(
                    f"{label}: {seconds:.2f} s (process included) · {doc['runs']['copied']} runs copied, "
                    f"{doc['runs']['skipped']} skipped · {points:,} points · {doc['blobs']['copied']} blobs "
                    f"({doc['bytes']['copied']:,} bytes) · in-process {doc['seconds']:.2f} s"
                    + (
                        f" · {doc['runs']['copied'] / doc['seconds']:.0f} runs/s, {points / doc['seconds']:,.0f} points/s"
                        if label == "copy"
                        else ""
                    )
                )
        finally:
            service.stop()
            cluster.remove()


if __name__ == "__main__":
    main()
