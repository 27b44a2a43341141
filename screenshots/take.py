"""Screenshots of every screen, from the real app on the demo's data.

    .venv/bin/pip install -e '.[screenshots]'
    .venv/bin/python screenshots/take.py            # writes screenshots/*.svg and *.png

It logs the demo runs into a temporary store through the real logger, starts
the demo's live run (a real training loop under ``runhistory run``), lets it
train for ``--wait`` seconds, then drives the app with the Pilot exactly as a
user would (keys only) and saves each screen with ``save_screenshot``. The
PNGs are drawn from the SVGs with cairosvg; see ``svg_to_png`` for the one
liberty taken there (fonts).
"""

from __future__ import annotations

import argparse
import asyncio
import html
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

_TEXT = re.compile(
    r'<text class="([^"]+)" x="([\d.]+)" y="([\d.]+)" textLength="([\d.]+)" clip-path="([^"]+)">([^<]*)</text>'
)


def _one_text_per_cell(match: re.Match[str]) -> str:
    cls, x, y, length, clip, text = match.groups()
    text = html.unescape(text)
    cell = float(length) / max(1, len(text))
    out = []
    for i, char in enumerate(text):
        if char in " \u00a0\u2800\n":
            continue
        braille = "\u2800" <= char <= "\u28ff"
        font = ' style="font-family: DejaVu Sans"' if braille else ""
        out.append(
            f'<text class="{cls}" x="{float(x) + i * cell:.1f}" y="{y}"{font} clip-path="{clip}">{html.escape(char)}</text>'
        )
    return "".join(out)


def svg_to_png(svg_path: Path, width: int = 1600) -> Path:
    """Draw an app screenshot (SVG) as a PNG.

    The SVG names the Fira Code web font and relies on ``textLength`` to keep
    every character in its cell; cairosvg has neither. So for the PNG each
    character is placed in its own cell, in DejaVu Sans Mono, and braille
    (the charts' dots, missing from that font) in DejaVu Sans: what a
    terminal does with its fallback font. Nothing else changes.
    """
    import cairosvg

    svg = svg_path.read_text()
    svg = svg.replace('"Fira Code"', '"DejaVu Sans Mono"').replace(
        "Fira Code, monospace", "DejaVu Sans Mono, monospace"
    )
    svg = _TEXT.sub(_one_text_per_cell, svg)
    png = svg_path.with_suffix(".png")
    cairosvg.svg2png(bytestring=svg.encode(), write_to=str(png), output_width=width)
    return png


async def _until(pilot: Any, condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        await pilot.pause(0.1)


async def _settle(pilot: Any) -> None:
    """Wait until the app's reads are done and shown (an exclusive read may replace another)."""
    from textual.worker import WorkerCancelled

    quiet = 0
    for _ in range(50):
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerCancelled:
            continue
        await pilot.pause(0.1)
        quiet = 0 if any(w.is_running for w in pilot.app.workers) else quiet + 1
        if quiet == 3:
            return


async def _shoot(home: Path, live_id: str, out: Path, size: tuple[int, int], suffix: str) -> list[Path]:
    from textual.widgets import Input

    from runhistory.api import EmbeddedStore
    from runhistory.app.app import make_app
    from runhistory.app.screens.run import RunScreen
    from runhistory.app.screens.runs import RunsScreen
    from runhistory.app.widgets.artifact_tree import ArtifactTree
    from runhistory.app.widgets.chart_grid import ChartGrid
    from runhistory.app.widgets.compare_chart import CompareChart
    from runhistory.app.widgets.metric_picker import MetricPicker
    from runhistory.app.widgets.runs_table import RunsTable

    app = make_app(EmbeddedStore(home))
    app.sub_title = "demo store"
    saved: list[Path] = []

    def save(name: str) -> None:
        filename = f"{name}{suffix}.svg"
        app.save_screenshot(filename, path=str(out))
        saved.append(out / filename)

    async with app.run_test(size=size) as pilot:
        table = app.screen.query_one(RunsTable)
        await _until(pilot, lambda: table.row_count >= 6 and bool(table.cells_of(table.run_ids[-1])[-1]))
        await pilot.press("home")
        await pilot.pause(1.2)  # one live tick: fresh durations and sparklines
        save("runs")
        if suffix:  # the small terminal: the runs and one run are enough
            await pilot.press("enter")
            await _settle(pilot)
            await pilot.pause(1.2)
            save("run")
            return saved
        # The live run: its charts, moving.
        await pilot.press("enter")
        await _settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunScreen) and screen.run_data.id == live_id
        grid = screen.query_one(ChartGrid)
        await _until(pilot, lambda: all(c.series is not None for c in grid.charts))
        await pilot.pause(1.5)
        save("run-charts")
        await pilot.press("4")
        await pilot.pause(1.5)
        save("run-console")
        await pilot.press("escape")
        await pilot.pause(0.5)
        # A finished run: its loss on a log scale, its accuracy, and two chart metrics
        # (per-class accuracy over the epochs, the ROC curve's true positive rates).
        await pilot.press("down", "enter")
        await _settle(pilot)
        picker = app.screen.query_one(MetricPicker)

        async def tick(name: str, key: str = "space") -> None:
            picker.highlight(name)
            await pilot.press(key)

        await tick("train/loss", "enter")
        for name in ("val/accuracy", "val/per_class_accuracy", "val/roc_tpr"):
            await tick(name)
        await _settle(pilot)
        await pilot.press("l")
        await _settle(pilot)
        await pilot.pause(0.5)
        assert picker.has_focus
        save("run-charts-log")
        # Smoothed (the raw points faint behind), then the metric filter.
        await pilot.press("l", "S")
        await _settle(pilot)
        await pilot.pause(0.5)
        save("run-charts-smooth")
        await pilot.press("slash", *"val/", "enter")
        await _settle(pilot)
        await pilot.press("slash")
        await pilot.pause(0.5)
        save("run-charts-filter")
        await pilot.press("escape", "S")
        await _settle(pilot)
        # One chart full size: zoomed in twice, the cursor naming the nearest stored point.
        await tick("train/loss", "enter")
        await _settle(pilot)
        app.screen.query_one(ChartGrid).charts[0].focus()
        await pilot.press("enter")
        await _settle(pilot)
        await pilot.pause(0.3)
        await pilot.press("i", "plus", "plus", "S", *["right_square_bracket"] * 4)
        await _settle(pilot)
        await pilot.press("right", "right", "right")
        await _settle(pilot)
        await pilot.pause(0.5)
        save("chart-zoom")
        await pilot.press("escape")
        await _settle(pilot)
        await pilot.press("o")  # the overview beside the charts: params, tags, note, packages, diff
        await _settle(pilot)
        await pilot.pause(0.5)
        save("run-overview")
        await pilot.press("o")
        await pilot.press("2")
        await _settle(pilot)
        save("run-scalars")
        await pilot.press("3")
        await _settle(pilot)
        save("run-text")
        await pilot.press("5")
        await _settle(pilot)
        app.screen.query_one(ArtifactTree).select_path("outputs/metrics.csv")
        await _settle(pilot)
        await pilot.pause(0.5)
        save("run-artifacts")
        app.screen.query_one(ArtifactTree).select_path("outputs/plots/confusion.png")
        await _settle(pilot)
        await pilot.pause(0.5)
        save("run-artifacts-image")
        # The images it logged each epoch, a few epochs before the end, with the step slider.
        await pilot.press("6")
        await _settle(pilot)
        await pilot.press("down", "left", "left", "left", "left")  # val/samples, four epochs before the end
        await _settle(pilot)
        await pilot.pause(0.5)
        save("run-media")
        await pilot.press("5")
        await _settle(pilot)
        # Download and promote, by keyboard, from the tree's selection.
        app.screen.query_one(ArtifactTree).select_path("outputs/")
        await pilot.pause(0.3)
        await pilot.press("d")
        await _settle(pilot)
        app.screen.query_one("#download-dest", Input).value = "~/models"
        await pilot.pause(0.3)
        save("download")
        await pilot.press("escape", "p")
        await _settle(pilot)
        await pilot.press(*"mnist-classifier")
        await _settle(pilot)
        await pilot.pause(0.3)
        save("promote")
        await pilot.press("escape")
        await pilot.pause(0.3)
        await pilot.press("escape")
        await pilot.pause(0.5)
        # Compare three runs of one experiment: space marks, c compares.
        runs_screen = app.screen
        assert isinstance(runs_screen, RunsScreen)
        by_name = {r.name: r.id for r in runs_screen.model.runs}
        for name in ("baseline", "high-lr", "low-lr"):
            table.move_cursor(row=table.run_ids.index(by_name[name]))
            await pilot.press("space")
        await pilot.press("c")
        await _settle(pilot)
        await pilot.pause(0.5)
        save("compare")
        # Every run on one chart full size, smoothed, with the cursor.
        app.screen.query(CompareChart).first().focus()
        await pilot.press("enter")
        await _settle(pilot)
        await pilot.pause(0.3)
        await pilot.press("S", "i")
        await _settle(pilot)
        await pilot.pause(0.5)
        save("compare-chart")
        await pilot.press("escape")
        await _settle(pilot)
        await pilot.press("escape", "u", "home")
        await pilot.pause(0.5)
        # The assets promoted by the demo, with their lineage.
        await pilot.press("a")
        await _settle(pilot)
        await pilot.pause(0.5)
        save("assets")
        await pilot.press("escape")
        await pilot.pause(0.5)
        # Param columns, a query and a sort, all answered by the store.
        await pilot.press("P")
        await _settle(pilot)
        keys = app.screen.keys  # type: ignore[attr-defined]
        for key in ("lr", "optimizer.name"):
            await pilot.press("home", *["down"] * keys.index(key), "space")
        await pilot.press("enter")
        await _settle(pilot)
        await pilot.press("slash", *"params.lr >= 1e-4 and not tag:unstable", "enter")
        await _settle(pilot)
        for _ in range(12):
            if runs_screen.sort_key == "param:lr":
                break
            await pilot.press("s")
            await _settle(pilot)
        await pilot.pause(0.8)
        save("runs-filtered-sorted")
        await pilot.press("escape", "question_mark")
        await pilot.pause(0.5)
        save("help")
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description="Screenshots of every screen, from the real app on demo data.")
    parser.add_argument(
        "--wait", type=float, default=30.0, help="seconds the live run trains before the pictures (default 30)"
    )
    parser.add_argument(
        "--out", type=Path, default=HERE, help="folder for the .svg and .png files (default: screenshots/)"
    )
    args = parser.parse_args()

    from runhistory.api import EmbeddedStore
    from runhistory.app.demo import log_demo_runs, start_live_run, stop_live_run

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="runhistory-screenshots-") as tmp:
        home = Path(tmp) / "demo"
        print("logging the demo runs …", file=sys.stderr)
        log_demo_runs(home)
        live = start_live_run(home)
        try:
            store = EmbeddedStore(home)
            deadline = time.monotonic() + 15
            while not (runs := store.list_runs(status="running", limit=1).runs):
                if time.monotonic() > deadline:
                    raise TimeoutError("the live run did not start")
                time.sleep(0.2)
            print(f"the live run trains for {args.wait:g} s …", file=sys.stderr)
            time.sleep(args.wait)
            saved = asyncio.run(_shoot(home, runs[0].id, args.out, (120, 36), ""))
            saved += asyncio.run(_shoot(home, runs[0].id, args.out, (80, 24), "-80x24"))
        finally:
            stop_live_run(live)
    for svg in saved:
        png = svg_to_png(svg)
        print(f"wrote {svg.relative_to(args.out)} and {png.relative_to(args.out)}")


if __name__ == "__main__":
    main()
