"""System metrics benchmark: what the sampler thread costs the training loop.

A plain script, not a pytest test::

    .venv/bin/python tests/bench/bench_system.py            # 10 runs of 3,000,000 points (about a minute)
    .venv/bin/python tests/bench/bench_system.py --quick    # 1,000,000 points, 3 rounds: a smoke run
    .venv/bin/python tests/bench/bench_system.py --interval 10   # the default interval instead
    .venv/bin/python tests/bench/bench_system.py --writer        # the writer alone, batch by batch
    .venv/bin/python tests/bench/bench_system.py --rounds 10     # more runs each way, for a smaller difference

Each run is a fresh subprocess (``--worker on|off``) with a fresh temporary
store, logging the plain loop ``for i in range(N): h = logger.log("x", float(i))``
then ``h.wait()``, with the sampler on at a 1 s interval (harsher than the 10 s
default) or off (``RUNHISTORY_SYSTEM_METRICS=0``). Both wait ``SETTLE``
seconds before the clock starts, so that the loop is timed while the sampler
samples (its one-time start, importing psutil on its thread, is measured on
it by the quick run, whose loop is shorter than a second). N is 3,000,000 so that the loop lasts long enough for
a few samples at 1 s. The two alternate, the
first of each round swapping, so that a machine slowing down or speeding up
over the minute weighs on both. Besides the clock it takes the process's CPU
time (all its threads: the loop, the writer, the sampler), which other work on
a shared machine disturbs much less. It prints the machine, the command line
and a markdown table of medians.

``--writer`` times what a sample costs where it costs: the writer storing a
batch of ``BATCH`` points of one metric, then the same batch with a sample's
five points inside it (queued in the order of their numbers, or before the
point whose number the loop had taken: the two threads interleaved), each on a
real store in this process, as the writer thread's CPU time per batch.
``--writer-kind KIND`` stores only batches of that kind, for counting
instructions (``valgrind --tool=callgrind``: the difference between two kinds
is what the strangers cost).
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
#: Points in a batch of ``--writer``: the embedded store's batch, which the writer drains whole
#: while the loop outpaces it.
BATCH = 200_000
#: ``--writer``'s batches: one metric; a sample inside it, in order; a sample before the loop's point.
KINDS = ("one metric", "a sample inside, in order", "a sample inside, interleaved")
SYSTEM = ("sys/cpu", "sys/memory", "sys/rss", "sys/disk_io", "sys/net")


def worker(points: int) -> dict[str, Any]:
    """One run of the loop in this process; what it took and how many system points it stored."""
    from runhistory.logger import get_logger

    logger = get_logger(experiment="bench-system")
    logger.log("x", -1.0).wait()  # the run exists, the writer has started, the series is known
    time.sleep(SETTLE)
    cpu = time.process_time()
    loop_s, total_s = timed_plain_loop(logger, "x", points)
    cpu_s = time.process_time() - cpu
    logger.finish()
    sys_points = sum(m.count for m in logger.store.list_metrics(logger.run_id) if m.name.startswith("sys/"))
    return {"loop_s": loop_s, "total_s": total_s, "cpu_s": cpu_s, "sys_points": sys_points}


def batch(kind: str, first: int) -> list[Any]:
    """A queue's batch as the loop and the sampler lay it out: ``BATCH`` points of "x" numbered
    from ``first``, with a sample's five points in the middle unless ``kind`` is one metric
    (built the same way for every kind, so that counted instructions differ by the writer's alone)."""
    from runhistory.logger._ops import ITEM_WIDTH

    half = first + BATCH // 2
    sampled = kind != KINDS[0]
    after = half + len(SYSTEM) if sampled else half  # the loop's numbers after the sample's
    loop = [*range(first, half), *range(after, after + BATCH - BATCH // 2)]
    # Interleaved: the loop took `half`, then the sampler took the next five and queued them first.
    taken = half + 1 if kind == KINDS[2] else half
    loop[BATCH // 2] = half if kind == KINDS[2] else loop[BATCH // 2]
    flat: list[Any] = []
    for seq in loop:
        flat += (seq, "x", float(seq), None, 1.0 + seq)
    sample: list[Any] = []
    for seq, name in zip(range(taken, taken + len(SYSTEM)), SYSTEM, strict=True):
        sample += (seq, name, 1.0, None, 1.0 + seq)
    at = BATCH // 2 * ITEM_WIDTH
    flat[at:at] = sample if sampled else []
    return flat


def writer_cpu(kinds: tuple[str, ...], reps: int) -> dict[str, list[tuple[float, float]]]:
    """The writer thread's CPU seconds for each batch, ``reps`` batches of each kind in a shuffled
    order (a store's checkpoint, every few batches, falls on each kind alike), on a fresh store:
    (before the store, in the store) a batch. The cycle collector runs before each batch, so
    that none of its runs (which walk the batch's young lists, wherever the process's count of
    objects happens to cross its threshold) falls inside one kind more than another."""
    import gc
    import random
    import threading
    from pathlib import Path

    from runhistory.api import EmbeddedStore, NewRun
    from runhistory.logger._delivery import Delivery
    from runhistory.logger._receipts import Receipts
    from runhistory.logger._writer import Writer

    taken: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
    in_store = [0.0]

    class TimedDelivery(Delivery):
        def send(self, op: Any) -> None:
            start = time.thread_time()
            super().send(op)
            in_store[0] += time.thread_time() - start

    order = [kind for _ in range(reps) for kind in kinds]
    random.Random(1).shuffle(order)
    with tempfile.TemporaryDirectory(prefix="bench-writer-") as home:
        store = EmbeddedStore(Path(home))
        run_id = store.create_run(NewRun(experiment="bench-writer")).id
        delivery = TimedDelivery(store, run_id, Receipts(), 5.0, threading.Lock())
        kinds_of = dict.fromkeys(("x", *SYSTEM), "number")
        writer = Writer([], delivery, kinds_of, "bench", BATCH + len(SYSTEM), lambda: None, 3600.0)
        first = 0
        for kind in order:
            flat = batch(kind, first)
            first += BATCH + (len(SYSTEM) if kind != KINDS[0] else 0)
            in_store[0] = 0.0
            gc.collect()
            start = time.thread_time()
            writer._store_batch(flat)
            total = time.thread_time() - start
            taken[kind].append((total - in_store[0], in_store[0]))
        store.close()
    return taken


def writer_table(reps: int) -> None:
    taken = writer_cpu(KINDS, reps)

    def median(kind: str, part: int) -> float:
        return statistics.median(t[part] for t in taken[kind]) * 1000

    print(
        f"| a batch of {BATCH:,} points, writer thread's CPU time, medians of {reps} | before the store | in the store |"
    )
    print("|---|---|---|")
    for kind in KINDS:
        print(f"| {kind} | {num(median(kind, 0))} ms | {num(median(kind, 1))} ms |")


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
    parser.add_argument("--quick", action="store_true", help="1,000,000 points, 3 rounds")
    parser.add_argument("--interval", type=float, default=INTERVAL, help="seconds between samples (default 1)")
    parser.add_argument("--rounds", type=int, help="runs each way (default 5; 3 with --quick)")
    parser.add_argument("--writer", action="store_true", help="the writer alone: a batch with and without a sample")
    parser.add_argument("--writer-kind", choices=KINDS, help="only batches of this kind (for valgrind)")
    parser.add_argument("--reps", type=int, default=9, help="batches of each kind for --writer (default 9)")
    parser.add_argument("--worker", type=int, metavar="POINTS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker)))
        return
    if args.writer_kind is not None:
        writer_cpu((args.writer_kind,), args.reps)
        return
    if args.writer:
        print(machine_line())
        print(f"- command: {shlex.join([os.path.basename(sys.executable), *sys.argv])}")
        print()
        writer_table(args.reps)
        return
    points, rounds = (1_000_000, 3) if args.quick else (3_000_000, 5)
    rounds = args.rounds or rounds
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
        ("cpu_s", "the process's CPU time (all threads) for both, s"),
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
