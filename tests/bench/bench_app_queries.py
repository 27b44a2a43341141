"""App benchmark: filtering and sorting 100,000 runs in the runs screen, and its memory.

A plain script, not a pytest test::

    .venv/bin/python tests/bench/bench_app_queries.py              # 100,000 runs
    .venv/bin/python tests/bench/bench_app_queries.py --runs 10000

It builds the store of ``bench_queries.py`` (N runs, 10 params and 5 metrics
each), starts the app headless through the Pilot, and times what a user does
on the runs screen, from the key (or the filter's text) to the table having
drawn the store's answer (the end of the first pass of ``RunsTable.render_lines``
after the page was put in the table): a plain-word filter for one run (``/`` then
``trial-12345``), a query on a param and a metric, a sort by a metric (``s``
until it gets there), a sort by a param column, and Escape (the filter
cleared). After each it reads the process's resident memory; the table says
the median of the repetitions and the most memory seen.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_queries import build_runhistory
from report import machine_line

SIZE = (140, 40)
TARGET_MS = 100
TARGET_MB = 150


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


async def measure(home: Path, reps: int, n: int) -> tuple[dict[str, list[float]], float]:
    from runhistory.api import EmbeddedStore
    from runhistory.app.app import make_app
    from runhistory.app.preferences import Preferences
    from runhistory.app.screens.runs import RunsScreen
    from runhistory.app.widgets.runs_table import RunsTable

    prefs = Preferences(home.parent / "prefs.json")
    prefs.set_param_columns(EmbeddedStore(home).location, ["lr", "optimizer"])
    app = make_app(EmbeddedStore(home), live_interval=None, preferences=prefs)
    times: dict[str, list[float]] = {}
    peak = 0.0
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        table = screen.query_one(RunsTable)

        # When each generation's first page was put in the table, and when the table
        # finished drawing its rows (each pass of RunsTable.render_lines).
        pages: dict[int, float] = {}
        drawn: list[float] = []
        page_loaded = RunsScreen.on_runs_page_loaded
        draw = RunsTable.render_lines

        def on_runs_page_loaded(self: RunsScreen, message: Any) -> None:
            page_loaded(self, message)
            pages.setdefault(message.generation, time.perf_counter())

        def render_lines(self: RunsTable, crop: Any) -> Any:
            lines = draw(self, crop)
            drawn.append(time.perf_counter())
            return lines

        RunsScreen.on_runs_page_loaded = on_runs_page_loaded  # type: ignore[method-assign]
        RunsTable.render_lines = render_lines  # type: ignore[method-assign]

        async def answered(before: int) -> float:
            """When the table had drawn the store's answer: the first page of a new
            generation was put in the table, then the table drew its rows (the key
            metrics' cells of the rows in view are read after that, and fill in).

            Polled with bare sleeps: ``pilot.pause()`` walks every widget and forces a
            screen update on each call, and polling with it took the GIL from the very
            work being timed (the store's thread) for about as long as that work."""
            while not any(generation > before for generation in pages):
                await asyncio.sleep(0.001)
            put = min(t for generation, t in pages.items() if generation > before)
            while not drawn or drawn[-1] < put:
                await asyncio.sleep(0.001)
            return next(t for t in drawn if t >= put)

        async def timed(label: str, act: Any) -> None:
            nonlocal peak
            before = screen.model.generation
            t0 = time.perf_counter()
            await act()
            shown = await answered(before)
            times.setdefault(label, []).append((shown - t0) * 1000)
            await pilot.pause(0.05)  # the row metrics read for the rows in view, before the next action
            peak = max(peak, rss_mb())

        while not table.row_count:
            await pilot.pause(0.01)
        for _ in range(reps):
            last = f"trial-{n - 1}"  # the oldest run: never on a page read before

            async def find_one(last: str = last) -> None:
                screen.apply_filter(last)

            await timed("(a) `/ trial-N`: one run of N by a word", find_one)
            assert [screen.model.get(i).name for i in table.run_ids] == [last]  # type: ignore[union-attr]

            async def query() -> None:
                screen.apply_filter("params.lr >= 1e-3 and metrics.val/accuracy > 0.9")

            await timed("(b) `/ params.lr >= 1e-3 and metrics.val/accuracy > 0.9`", query)

            async def by_metric() -> None:
                screen.sort_by("metric:val/accuracy")

            await timed("(c) sort (b) by `val/accuracy`", by_metric)

            async def by_param() -> None:
                screen.sort_by("param:lr")

            await timed("(d) sort (b) by the param column `lr`", by_param)

            async def cleared() -> None:
                # What Escape runs (called directly, like the steps above: Pilot's key press
                # waits for the process to go idle, which is not part of what the user waits for)
                screen.action_clear_filter()

            await timed("(e) Escape: the filter cleared, the first page again", cleared)

            async def unsorted() -> None:
                screen.sort_key, screen.sort_descending = "started", False
                screen.sort_by("started")

            await timed("(f) back to newest first", unsorted)
            assert len(screen.model.runs) <= 300, len(screen.model.runs)
    return times, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    print(machine_line())
    print(f"command: {' '.join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])])}")
    with tempfile.TemporaryDirectory(prefix="rh-bench-app-queries-") as tmp:
        home = Path(tmp) / "store"
        build_runhistory(home, args.runs)
        start = rss_mb()
        times, peak = asyncio.run(measure(home, args.reps, args.runs))
    print(f"\n{args.runs:,} runs; the runs screen at {SIZE[0]}×{SIZE[1]}; medians of {args.reps}")
    print("| action | median | max | target | met? |")
    print("|---|---|---|---|---|")
    for label, values in times.items():
        median = statistics.median(values)
        print(
            f"| {label} | {median:.0f} ms | {max(values):.0f} ms | < {TARGET_MS} ms | {'yes' if median < TARGET_MS else '**NO**'} |"
        )
    print(
        f"| most resident memory of the app's process (before the app: {start:.0f} MB) | {peak:.0f} MB | | < {TARGET_MB} MB | "
        f"{'yes' if peak < TARGET_MB else '**NO**'} |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
