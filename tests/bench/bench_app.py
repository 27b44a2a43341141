"""App benchmark: time to the first painted runs table with 100,000 runs in the store.

A plain script, not a pytest test::

    .venv/bin/python tests/bench/bench_app.py              # 100,000 runs, 5 repetitions
    .venv/bin/python tests/bench/bench_app.py --runs 10000 --reps 3

It fills a temporary embedded store with N runs (rows inserted straight into
the store's SQLite ``runs`` table: creating 100,000 runs one by one through
``create_run`` takes minutes and measures the store, not the app), gives the
newest 100 runs a few metrics, then measures:

- warm: ``make_app(store)`` started headless by the Pilot (``run_test``) until
  the runs table holds rows and the screen has been painted, in a process
  that has imported everything already;
- cold: a new Python process that imports the app, opens the store and runs
  the app headless, from spawning it to the same point.

It prints the machine, the command line and one markdown table with the
median (and min/max) of each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

TARGET_S = 1.0
SIZE = (120, 40)


def fill_store(home: Path, runs: int) -> None:
    """``runs`` runs, one a minute going back in time, 20 experiments; the newest 100 with metrics."""
    from runhistory.api import EmbeddedStore, SeriesBatch
    from runhistory.api._embedded.schema import RUN_TEXT

    store = EmbeddedStore(home)  # creates the schema
    store.close()
    rng = random.Random(1)
    now = time.time()
    statuses = ["completed"] * 8 + ["failed", "killed"]
    rows = []
    for i in range(runs):
        started = now - 60 * (i + 1) - 3600
        rows.append(
            (
                uuid.UUID(int=rng.getrandbits(128)).hex,
                f"exp-{i % 20:02d}",
                f"run {i}",
                rng.choice(statuses),
                started,
                started + rng.uniform(60, 7200),
                started + 60,
                json.dumps(["python", "train.py", f"--seed={i}"]),
                "/home/user/project",
                "gpu-box-1",
                "user",
                "3.11.7",
                10_000 + i,
                None,
                None,
                None,
                None,
                "[]",
            )
        )
    conn = sqlite3.connect(home / "runhistory.sqlite3")
    with conn:
        conn.executemany(
            "INSERT INTO runs (id, experiment, name, status, started_at, ended_at, heartbeat_at, command, cwd, host, "
            "user, python, pid, git_commit, git_dirty, error, exit_code, skipped_files) "
            "VALUES (" + ", ".join("?" * 18) + ")",
            rows,
        )
        conn.execute(f"INSERT INTO run_text (run_id, body) SELECT id, {RUN_TEXT} FROM runs")  # the word index
    conn.close()
    store = EmbeddedStore(home)
    for run in store.list_runs(limit=100).runs:
        n = 500
        losses = [2.0 * math.exp(-5 * s / n) + 0.1 + rng.gauss(0, 0.02) for s in range(n)]
        store.append_metrics(
            run.id,
            {
                "train/loss": SeriesBatch("number", losses, [None] * n, [now] * n),  # type: ignore[arg-type]
                "val/accuracy": SeriesBatch("number", [0.9], [None], [now]),
            },
        )
    store.close()


async def _first_paint(home: Path) -> float:
    """Seconds from starting the app to the first painted, non-empty runs table."""
    from runhistory.api import EmbeddedStore
    from runhistory.app.app import make_app
    from runhistory.app.widgets.runs_table import RunsTable

    started = time.perf_counter()
    app = make_app(EmbeddedStore(home), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        while True:
            tables = app.screen.query(RunsTable)
            if tables and tables.first().row_count:
                break
            await asyncio.sleep(0.002)
        await pilot.pause()  # the next refresh: the rows are on screen
        painted = time.perf_counter() - started
        assert tables.first().row_count >= 40
    return painted


def _worker(home: Path) -> None:
    print(json.dumps({"painted": asyncio.run(_first_paint(home))}), flush=True)


def _cold(home: Path) -> float:
    """Seconds from spawning a fresh process to its first painted runs table (imports included)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--worker", str(home)],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("RUNHISTORY_")},
    )
    elapsed = time.perf_counter() - started
    json.loads(done.stdout.strip().splitlines()[-1])
    return elapsed


def _row(label: str, values: list[float]) -> str:
    median = statistics.median(values)
    met = "yes" if median <= TARGET_S else "NO"
    return (
        f"| {label} | {median * 1000:.0f} ms | {min(values) * 1000:.0f}–{max(values) * 1000:.0f} ms "
        f"| ≤ {TARGET_S * 1000:.0f} ms | {met} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--worker", metavar="HOME", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(Path(args.worker))
        return
    with tempfile.TemporaryDirectory(prefix="runhistory-bench-app-") as tmp:
        home = Path(tmp) / "store"
        t0 = time.perf_counter()
        fill_store(home, args.runs)
        setup = time.perf_counter() - t0
        warm = [asyncio.run(_first_paint(home)) for _ in range(args.reps)]
        cold = [_cold(home) for _ in range(args.reps)]
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"command: {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(
        f"store: {args.runs:,} runs (filled in {setup:.1f} s), terminal {SIZE[0]}x{SIZE[1]}, {args.reps} repetitions\n"
    )
    print("| first paint of the runs table | median | range | target | met? |")
    print("|---|---|---|---|---|")
    print(_row(f"warm: `make_app(store)` to painted table, {args.runs:,} runs", warm))
    print(_row(f"cold: new process (imports, store, app) to painted table, {args.runs:,} runs", cold))


if __name__ == "__main__":
    main()
