"""System metrics benchmark: what the sampler thread costs the training loop.

A plain script, not a pytest test::

    .venv/bin/python tests/bench/bench_system.py            # 10 runs of 3,000,000 points (about a minute)
    .venv/bin/python tests/bench/bench_system.py --quick    # 1,000,000 points, 3 rounds: a smoke run
    .venv/bin/python tests/bench/bench_system.py --interval 10   # the default interval instead

Each run is a fresh subprocess (``--worker on|off``) with a fresh temporary
store, logging the plain loop ``for i in range(N): h = logger.log("x", float(i))``
then ``h.wait()``, with the sampler on at a 1 s interval (harsher than the 10 s
default) or off (``RUNHISTORY_SYSTEM_METRICS=0``). Both wait ``SETTLE``
seconds before the clock starts, so that the loop is timed while the sampler
samples (its one-time start, importing psutil on its thread, is measured on
it by the quick run, whose loop is shorter than a second). N is 3,000,000 so that the loop lasts long enough for
a few samples at 1 s. The two alternate, the
first of each round swapping, so that a machine slowing down or speeding up
over the minute weighs on both. It prints the machine, the command line and a
markdown table of medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from report import machine_line, num, timed_plain_loop

#: Seconds between samples while measuring (``--interval``): ten times as often as the default, to be harsh.
INTERVAL = 1.0
#: Seconds both kinds of run wait before the loop: past the sampler's start and first sample.
SETTLE = 1.2


def worker(points: int) -> dict[str, Any]:
    """One run of the loop in this process; what it took and how many system points it stored."""
    from runhistory.logger import get_logger

    logger = get_logger(experiment="bench-system")
    logger.log("x", -1.0).wait()  # the run exists, the writer has started, the series is known
    time.sleep(SETTLE)
    loop_s, total_s = timed_plain_loop(logger, "x", points)
    logger.finish()
    sys_points = sum(m.count for m in logger.store.list_metrics(logger.run_id) if m.name.startswith("sys/"))
    return {"loop_s": loop_s, "total_s": total_s, "sys_points": sys_points}


def run_once(sampler: bool, points: int, interval: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-system-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNHISTORY_")}
        env.update(RUNHISTORY_HOME=home, RUNHISTORY_SYSTEM_METRICS=str(interval) if sampler else "0")
        done = subprocess.run(
            [sys.executable, __file__, "--worker", str(points)],
            env=env,
            cwd=home,
            capture_output=True,
            text=True,
            check=True,
        )
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 points, 3 rounds")
    parser.add_argument("--interval", type=float, default=INTERVAL, help="seconds between samples (default 1)")
    parser.add_argument("--worker", type=int, metavar="POINTS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker)))
        return
    points, rounds = (1_000_000, 3) if args.quick else (3_000_000, 5)
    runs: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    for r in range(rounds):
        for sampler in (True, False) if r % 2 == 0 else (False, True):
            runs[sampler].append(run_once(sampler, points, args.interval))

    def median(sampler: bool, key: str) -> float:
        return statistics.median(run[key] for run in runs[sampler])

    print(machine_line())
    print(f"- command: {shlex.join([os.path.basename(sys.executable), *sys.argv])}")
    print(f"- {points:,} points a run, {rounds} runs each way, alternating; medians")
    print()
    print(f"| measure | sampler off | sampler on ({args.interval:g} s) | on / off |")
    print("|---|---|---|---|")
    for key, what in [
        ("loop_s", f'`log("x", float(i))` × {points:,}, caller\'s loop, s'),
        ("total_s", "… then `h.wait()`: all stored, s"),
    ]:
        off, on = median(False, key), median(True, key)
        print(f"| {what} | {num(off)} s | {num(on)} s | {on / off:.3f} |")
    off_rate, on_rate = points / median(False, "total_s"), points / median(True, "total_s")
    print(f"| points/s stored | {off_rate:,.0f} | {on_rate:,.0f} | {on_rate / off_rate:.3f} |")
    print(
        f"| `sys/…` points stored in the run | {median(False, 'sys_points'):.0f} | {median(True, 'sys_points'):.0f} | — |"
    )
    spread = {s: [round(run["total_s"], 3) for run in runs[s]] for s in (False, True)}
    print()
    print(f"- every run's log + wait, s: off {spread[False]}, on {spread[True]}")


if __name__ == "__main__":
    main()
