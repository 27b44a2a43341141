"""Chart benchmark: a 1M-point run's chart drawn, then zoomed, in the real app (headless Pilot).

A plain script, not a pytest test::

    .venv/bin/python tests/bench/bench_charts.py            # 1,000,000 points, 5 repetitions
    .venv/bin/python tests/bench/bench_charts.py --points 100000 --reps 3

It logs one run with a ``loss`` series of N points into a temporary embedded
store, then measures, in a process that has imported everything already:

- open: Enter on the run in the runs table until its loss chart holds the
  series read at its width and the screen has been painted;
- full size: Enter on the chart until the full-size chart is painted;
- zoom: ``+`` until the steps in view have been read again and painted;
- store reads alone: ``read_series`` at 400 points, whole and of a 1/64 range.

It prints the machine, the command line and one markdown table of medians (and ranges).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from runhistory.api import EmbeddedStore, NewRun, SeriesBatch


def fill(home: Path, points: int) -> tuple[EmbeddedStore, str]:
    store = EmbeddedStore(home)
    run = store.create_run(NewRun(experiment="bench", name="one-million"))
    now = time.time()
    step = 100_000
    for at in range(0, points, step):
        n = min(step, points - at)
        values = [math.exp(-(at + i) / points * 4) + 0.05 * math.sin(at + i) for i in range(n)]
        store.append_metrics(
            run.id, {"loss": SeriesBatch("number", values, [None] * n, [now + (at + i) * 1e-3 for i in range(n)])}
        )
    store.finish_run(run.id, "completed")
    return store, run.id


async def measure(store: EmbeddedStore, run_id: str) -> tuple[float, float, float]:
    from runhistory.app.app import make_app
    from runhistory.app.screens.chart import ChartScreen
    from runhistory.app.screens.run import RunScreen
    from runhistory.app.widgets.chart_grid import ChartGrid
    from runhistory.app.widgets.runs_table import RunsTable

    app = make_app(store, live_interval=None)

    async def until(condition: Any) -> None:
        while not condition():
            await asyncio.sleep(0.002)

    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(RunsTable)
        await until(lambda: table.row_count >= 1)
        start = time.perf_counter()
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, RunScreen))
        screen = app.screen
        await until(lambda: bool(screen.query_one(ChartGrid).charts))
        chart = screen.query_one(ChartGrid).chart("loss")
        await until(lambda: chart is not None and chart.series is not None)
        await pilot.pause(0)
        opened = time.perf_counter() - start
        assert chart is not None
        chart.focus()
        start = time.perf_counter()
        await pilot.press("enter")
        await until(
            lambda: isinstance(app.screen, ChartScreen) and app.screen.series and app.screen.series[0] is not None
        )
        await pilot.pause(0)
        full = time.perf_counter() - start
        full_screen = app.screen
        assert isinstance(full_screen, ChartScreen)
        first = full_screen.series[0]
        start = time.perf_counter()
        await pilot.press("plus")
        await until(lambda: full_screen.series[0] is not first)
        await pilot.pause(0)
        zoomed = time.perf_counter() - start
    return opened, full, zoomed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store, run_id = fill(Path(tmp) / "store", args.points)
        rows: dict[str, list[float]] = {"open": [], "full": [], "zoom": [], "read whole": [], "read 1/64": []}
        for _ in range(args.reps):
            opened, full, zoomed = asyncio.run(measure(store, run_id))
            rows["open"].append(opened)
            rows["full"].append(full)
            rows["zoom"].append(zoomed)
            t = time.perf_counter()
            store.read_series(run_id, "loss", max_points=400)
            rows["read whole"].append(time.perf_counter() - t)
            t = time.perf_counter()
            store.read_series(
                run_id,
                "loss",
                max_points=400,
                start_step=args.points // 2,
                end_step=args.points // 2 + args.points // 64,
            )
            rows["read 1/64"].append(time.perf_counter() - t)
    print(f"{platform.system()}, {platform.machine()}, Python {platform.python_version()}; {' '.join(sys.argv)}")
    labels = {
        "open": f"Enter on the run → its {args.points:,}-point loss chart painted",
        "full": "Enter on the chart → full size, painted",
        "zoom": "+ → the steps in view read again and painted",
        "read whole": "store alone: read_series at 400 points, whole",
        "read 1/64": "store alone: read_series at 400 points, 1/64 of the steps",
    }
    print("\n| measure | median | range |\n|---|---|---|")
    for key, times in rows.items():
        ms = [t * 1000 for t in times]
        print(f"| {labels[key]} | {statistics.median(ms):.1f} ms | {min(ms):.1f}–{max(ms):.1f} ms |")


if __name__ == "__main__":
    main()
