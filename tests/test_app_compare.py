"""Compare: runs marked with space on the runs screen, ``c`` overlays a metric and sets their scalars side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import OptionList, Static

from runhistory.api import EmbeddedStore
from runhistory.app.app import RunHistoryApp, make_app
from runhistory.app.curves import time_label, time_ticks
from runhistory.app.runs_model import MAX_COMPARE
from runhistory.app.screens.compare import CompareScreen
from runhistory.app.screens.runs import RunsScreen
from runhistory.app.widgets.compare_chart import CompareChart
from runhistory.app.widgets.scalars_diff import ScalarsDiff, compare_rows

from ._pilot import SIZE, SNAPSHOT_SIZE, FlakyStore, fixed_app, idle, notifications, runs_table, settle, wait_for
from .app_data import BASELINE, DIVERGED, HIGH_LR, LIVE, NOW, batch, fixed_clock, insert_runs, loss_curve, make_store


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    return make_store(tmp_path / "store")


async def mark(pilot: Any, *run_ids: str) -> None:
    """Mark ``run_ids`` with space, each from the cursor on its row."""
    table = runs_table(pilot.app)
    for run_id in run_ids:
        table.move_cursor(row=table.run_ids.index(run_id))
        await pilot.press("space")
    await idle(pilot)


async def compare(pilot: Any, *run_ids: str) -> CompareScreen:
    await settle(pilot)
    await mark(pilot, *run_ids)
    await pilot.press("c")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, CompareScreen)
    return screen


def make_app_fixed(store: Any, live_interval: float | None = None) -> RunHistoryApp:
    return make_app(store, clock=fixed_clock(), live_interval=live_interval)


def legend(screen: CompareScreen) -> str:
    return str(screen.query_one("#compare-legend", Static).render())


@pytest.mark.anyio
async def test_space_marks_runs_and_c_needs_two(store: EmbeddedStore) -> None:
    app = make_app_fixed(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = runs_table(app)
        await pilot.press("c")
        await idle(pilot)
        assert isinstance(app.screen, RunsScreen)
        assert any("Mark two runs" in n for n in notifications(app))
        await mark(pilot, BASELINE)  # the last row: the cursor stays on it
        assert table.cells_of(BASELINE)[0] == "●" and table.cells_of(HIGH_LR)[0] == " "
        assert table.cursor_row == table.run_ids.index(BASELINE)
        assert "1 marked" in str(app.screen.query_one("#runs-status").render())
        await pilot.press("c")
        await idle(pilot)
        assert isinstance(app.screen, RunsScreen)
        await mark(pilot, HIGH_LR)
        # The cursor moves down a row, as in a file manager.
        assert table.cursor_row == table.run_ids.index(HIGH_LR) + 1
        assert "2 marked (c compares)" in str(app.screen.query_one("#runs-status").render())
        await mark(pilot, HIGH_LR)  # space again unmarks
        assert table.cells_of(HIGH_LR)[0] == " "
        await mark(pilot, HIGH_LR)
        await pilot.press("u")
        await idle(pilot)
        assert table.cells_of(BASELINE)[0] == " " and "marked" not in str(app.screen.query_one("#runs-status").render())


@pytest.mark.slow
@pytest.mark.anyio
async def test_at_most_max_compare_runs_are_marked(tmp_path: Path) -> None:
    home = tmp_path / "many"
    insert_runs(home, MAX_COMPARE + 1)
    many = EmbeddedStore(home)
    for index, run in enumerate(many.list_runs(limit=MAX_COMPARE + 1).runs):
        many.append_metrics(run.id, {"loss": batch("number", loss_curve(20, 0.1 * index, index), NOW - 600)})
    app = make_app_fixed(many)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        ids = runs_table(app).run_ids
        await mark(pilot, *ids[:MAX_COMPARE])
        assert len(screen.model.marked) == MAX_COMPARE
        await mark(pilot, ids[MAX_COMPARE])
        assert len(screen.model.marked) == MAX_COMPARE and ids[MAX_COMPARE] not in screen.model.marked
        assert any(f"At most {MAX_COMPARE} runs" in n for n in notifications(app))
        await pilot.press("c")
        await settle(pilot)
        compared = app.screen
        assert isinstance(compared, CompareScreen) and len(compared.runs) == MAX_COMPARE
        # Every run has its own colour in the legend and the chart.
        colours = {line.color for line in compared.query_one(CompareChart).lines}
        assert len(colours) == MAX_COMPARE


@pytest.mark.slow
@pytest.mark.anyio
async def test_compare_overlays_a_metric_with_a_legend(store: EmbeddedStore) -> None:
    app = make_app_fixed(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await compare(pilot, BASELINE, HIGH_LR, DIVERGED)
        chart = screen.query_one(CompareChart)
        # The most telling metric the runs share is drawn first, one line per run, in marking order.
        assert chart.metric == "train/loss"
        assert [line.label for line in chart.lines] == ["a1a1a1a1 baseline", "b2b2b2b2 high-lr", "c3c3c3c3 diverged"]
        assert [line.color for line in chart.lines] == [0, 1, 2]
        text = legend(screen)
        for label in ("a1a1a1a1 baseline 0.0692711", "b2b2b2b2 high-lr 0.341906", "c3c3c3c3 diverged nan"):
            assert label in text
        # Steps aligned: each line is drawn over the steps the store holds.
        for line, run_id in zip(chart.lines, (BASELINE, HIGH_LR, DIVERGED)):
            assert line.series is not None
            stored = store.read_series(run_id, "train/loss", max_points=chart.max_points)
            assert line.series.steps == stored.steps
        assert "3 of 3 runs · x: step" in chart.border_subtitle
        # The picker lists the metrics with how many runs log each; picking one draws it.
        picker = screen.query_one("#compare-metrics", OptionList)
        prompts = [str(picker.get_option_at_index(i).prompt) for i in range(picker.option_count)]
        assert prompts[0] == "train/loss" and "val/accuracy 2/3" in prompts
        picker.highlighted = prompts.index("val/accuracy 2/3")
        await settle(pilot)
        chart = screen.charts[0]  # the grid starts at the highlighted metric
        assert chart.metric == "val/accuracy"
        assert [len(line.series.values) if line.series else None for line in chart.lines] == [10, 10, None]
        assert chart.lines[0].series is not None and chart.lines[0].series.steps[:2] == [29, 59]
        assert "(no such metric)" in legend(screen)
        assert "2 of 3 runs" in chart.border_subtitle
        # x: time since each run's start; l: log scale.
        await pilot.press("x")
        await idle(pilot)
        assert chart.by_time and "x: time since start" in chart.border_subtitle
        await pilot.press("x")
        await idle(pilot)
        assert "x: wall time" in chart.border_subtitle
        await pilot.press("l")
        await idle(pilot)
        assert chart.log_scale and str(chart.border_title) == "val/accuracy · log"
        await pilot.press("escape")
        await idle(pilot)
        assert isinstance(app.screen, RunsScreen)


@pytest.mark.anyio
async def test_the_scalars_table_highlights_differences(store: EmbeddedStore) -> None:
    app = make_app_fixed(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await compare(pilot, BASELINE, HIGH_LR)
        table = screen.query_one(ScalarsDiff)
        rows = {row.name: row for row in table.rows_shown}
        # How they ran comes first, what differs in it before the rest: params, tags, git, command.
        assert list(rows)[:6] == ["lr", "tags", "git commit", "command", "experiment", "status"]
        assert rows["lr"].values == (0.001, 0.003) and rows["tags"].values == ("baseline best", None)
        assert rows["git commit"].values == ("3f2a9c1d0b7e", "3f2a9c1d0b7e dirty")
        assert not rows["batch_size"].differs and list(rows).index("batch_size") < list(rows).index("train/loss")
        assert not rows["experiment"].differs and not rows["phase"].differs
        # Lower is better for a loss, higher for an accuracy.
        assert rows["train/loss"].differs and rows["train/loss"].best == {0}
        assert rows["val/accuracy"].differs and rows["val/accuracy"].best == {0}
        assert rows["val/accuracy"].values == (0.855, 0.825)
        assert not rows["train/lr"].best  # the same value: nothing to pick
        await pilot.press("f")
        await idle(pilot)
        assert [row.name for row in table.rows_shown] == [
            "lr",
            "tags",
            "git commit",
            "command",
            "train/loss",
            "val/accuracy",
        ]
        # Enter on a row draws its metric.
        table.focus()
        table.move_cursor(row=5)
        await pilot.press("enter")
        await settle(pilot)
        assert screen.query_one(CompareChart).metric == "val/accuracy"


@pytest.mark.slow
@pytest.mark.anyio
async def test_compare_follows_a_running_run_and_a_deleted_one(store: EmbeddedStore) -> None:
    flaky = FlakyStore(store)
    app = make_app_fixed(flaky, live_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await mark(pilot, LIVE, BASELINE)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        await wait_for(pilot, lambda: bool(screen.charts))  # the grid's charts are mounted as the runs are read
        chart = screen.charts[0]
        await wait_for(pilot, lambda: bool(chart.lines) and chart.lines[0].series is not None)
        assert chart.lines[0].series is not None and chart.lines[0].series.count == 120
        store.append_metrics(LIVE, {"train/loss": batch("number", loss_curve(10, 0.1, 5), NOW, 2.0)})
        await wait_for(pilot, lambda: chart.lines[0].series is not None and chart.lines[0].series.count == 130)
        # A run deleted meanwhile keeps its colour, says it is gone, and the other is still drawn.
        flaky.deleted.add(LIVE)
        screen.action_reload()
        await wait_for(pilot, lambda: "deleted run" in legend(screen))
        # The legend is written as the runs are read; the chart once their series are read again
        # (a read of its own, later on a busy machine).
        await wait_for(pilot, lambda: len(chart.lines) == 1)
        assert [line.label for line in chart.lines] == ["a1a1a1a1 baseline"] and chart.lines[0].color == 1
        assert isinstance(app.screen, CompareScreen)


@pytest.mark.slow
@pytest.mark.anyio
async def test_odd_names_and_kinds_are_shown_safely(store: EmbeddedStore) -> None:
    # A name with markup brackets, a name that is a number in one run and text (with a
    # title-changing escape sequence) in the other.
    store.append_metrics(BASELINE, {"x[/]y": batch("number", [1.0, 2.0], NOW), "note": batch("number", [1], NOW)})
    store.append_metrics(
        HIGH_LR, {"x[/]y": batch("number", [3.0, 1.0], NOW), "note": batch("string", ["\x1b]0;owned\x07hi"], NOW)}
    )
    app = make_app_fixed(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await compare(pilot, BASELINE, HIGH_LR)
        picker = screen.query_one("#compare-metrics", OptionList)
        names = [str(picker.get_option_at_index(i).prompt) for i in range(picker.option_count)]
        picker.highlighted = names.index("x[/]y")
        await settle(pilot)
        chart = screen.query_one(CompareChart)
        assert chart.metric == "x[/]y" and "x[/]y" in chart.render_str(chart.border_title or "").plain
        picker.highlighted = names.index("note 1/2")
        await settle(pilot)
        rows = [row.name for row in screen.query_one(ScalarsDiff).rows_shown]
        assert rows.count("note") == 1
        assert "owned" not in legend(screen)  # the legend shows number values only
        shown = app.export_screenshot()
        assert "\x1b]0" not in shown and "\x07" not in shown
        # Enter on a row that cannot be drawn says why.
        table = screen.query_one(ScalarsDiff)
        table.focus()
        table.move_cursor(row=1)  # status
        await pilot.press("enter")
        await idle(pilot)
        assert any("Only number metrics" in n for n in notifications(app))


def test_time_ticks_are_round_times() -> None:
    assert time_ticks(0, 600, 9) == [0, 120, 240, 360, 480, 600]
    assert [time_label(t) for t in time_ticks(0, 7200, 8)] == ["0s", "30m", "1h", "1h30m", "2h"]
    assert time_label(45) == "45s" and time_label(90) == "1m30s" and time_label(2 * 86400 + 3600) == "2d1h"
    assert time_ticks(5, 5, 4) == [5]


@pytest.mark.slow
def test_compare_screen_snapshot(snap_compare: Any, store: EmbeddedStore, utc: None) -> None:
    async def compare_three(pilot: Pilot[Any]) -> None:
        await compare(pilot, BASELINE, HIGH_LR, DIVERGED)

    app = fixed_app(store)
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=compare_three)


@pytest.mark.slow
def test_compare_screen_at_80_by_24_snapshot(snap_compare: Any, store: EmbeddedStore, utc: None) -> None:
    async def compare_two(pilot: Pilot[Any]) -> None:
        await compare(pilot, BASELINE, HIGH_LR)
        await pilot.press("l")
        await idle(pilot)

    app = fixed_app(store)
    assert snap_compare(app, terminal_size=(80, 24), run_before=compare_two)


def test_compare_rows_pick_the_best_only_where_the_name_says_which_way(store: EmbeddedStore) -> None:
    from runhistory.api import MetricInfo

    def info(name: str, value: object) -> MetricInfo:
        return MetricInfo(name, "number" if isinstance(value, (int, float)) else "string", 1, 0, value, NOW)  # type: ignore[arg-type]

    runs = [store.get_run(i) for i in (BASELINE, HIGH_LR, DIVERGED)]
    rows = {
        r.name: r
        for r in compare_rows(
            runs,
            [
                [
                    info("val/loss", 0.5),
                    info("val/acc", 0.7),
                    info("train/lr", 1e-3),
                    info("epoch", 3),
                    info("note", "x"),
                    info("count", 3),
                    info("mixed", 1.5),
                ],
                [
                    info("val/loss", float("nan")),
                    info("val/acc", 0.9),
                    info("train/lr", 1e-4),
                    info("epoch", 3),
                    info("count", 3.0),
                    info("mixed", "a string"),
                ],
                [
                    info("val/loss", 0.4),
                    info("val/acc", 0.9),
                    info("train/lr", 1e-3),
                    info("epoch", 3),
                    info("note", "x"),
                    info("count", 3),
                ],
            ],
        )
    }
    assert rows["experiment"].differs and rows["status"].values == ("completed", "completed", "failed")
    assert rows["val/loss"].best == {2}  # NaN is never the best
    assert rows["val/acc"].best == {1, 2} and rows["val/acc"].differs  # a tie: both are the best
    assert rows["train/lr"].differs and not rows["train/lr"].best  # bookkeeping: no "best" learning rate
    assert not rows["epoch"].differs and not rows["epoch"].best
    assert not rows["count"].differs  # 3 and 3.0 are the same number
    assert rows["mixed"].name == "mixed" and [r.name for r in rows.values()].count("mixed") == 1
    assert rows["note"].differs and rows["note"].values == ("x", None, "x")
