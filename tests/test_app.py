"""The terminal app, driven by the Pilot: each flow a user takes, asserted on what the screen holds."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from runhistory.api import EmbeddedStore, NewRun
from runhistory.app.app import RunHistoryApp, make_app
from runhistory.app.curves import nice_ticks
from runhistory.app.key_metrics import key_metric_names, main_series_name, rank_metric_names
from runhistory.app.run_filter import RunFilter
from runhistory.app.screens.error import ErrorModal
from runhistory.app.screens.help import HelpModal
from runhistory.app.screens.run import RunScreen
from runhistory.app.screens.runs import FIRST_PAGE, RunsScreen
from runhistory.app.widgets.chart_grid import ChartGrid
from runhistory.app.widgets.console_log import ConsoleLog, clean_line
from runhistory.app.widgets.metric_chart import MetricChart
from runhistory.app.widgets.metric_picker import MetricPicker
from runhistory.app.widgets.run_header import RunHeader
from runhistory.app.widgets.runs_table import RunsTable
from runhistory.app.widgets.scalars_table import ScalarsTable
from runhistory.app.widgets.sparkline import sparkline

from ._pilot import SIZE, FlakyStore, idle, notifications, open_run, runs_table, settle, wait_for
from .app_data import BASELINE, DIVERGED, HIGH_LR, LIVE, NOW, batch, fixed_clock, insert_runs, make_store


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    return make_store(tmp_path / "store")


# -- the runs screen -----------------------------------------------------------------


@pytest.mark.anyio
async def test_opens_on_the_runs_newest_first(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = runs_table(app)
        assert table.run_ids == [LIVE, DIVERGED, HIGH_LR, BASELINE]
        assert table.has_focus
        live, diverged, _, baseline = (table.cells_of(i)[1:] for i in table.run_ids)  # [0]: the mark column
        assert live[:5] == ["d4d4d4d4", "resnet-cifar live", f"{live[2][0]} running", "5m", "5m 00s"]
        assert diverged[2] == "✘ failed" and diverged[3:5] == ["1h", "1m 05s"]
        assert baseline[:5] == ["a1a1a1a1", "mnist-cnn baseline", "✔ completed", "3h", "25m 12s"]
        # Key metrics (latest values) and the sparkline of the main series.
        headers = [str(c.label) for c in table.columns.values()]
        assert headers[6:] == ["train/loss", "accuracy", "trend"]  # train/lr is bookkeeping
        assert baseline[5] == f"{0.05 + 2.0 * math.exp(-5 * 299 / 300) + 0.03 * math.sin(299 * 0.7 + 1):.4g}"
        assert diverged[5] == "nan" and diverged[6] == "–"
        assert len(baseline[-1]) == table.columns[table.ordered_columns[-1].key].width
        status = app.screen.query_one("#runs-status").render()
        assert "4 runs" in str(status) and "1 running" in str(status)


@pytest.mark.anyio
async def test_filter_by_text_status_experiment_and_metric(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        assert app.focused is not None and app.focused.id == "filter"
        await pilot.press(*"diverg")
        await settle(pilot)
        assert runs_table(app).run_ids == [DIVERGED]
        for text, expected in (
            ("running", [LIVE]),  # a status word: the store filters
            ("exp:mnist-cnn", [HIGH_LR, BASELINE]),
            ("params.lr >= 3e-3 and params.batch_size = 64", [HIGH_LR]),  # a query, run by the store
            ("tag:baseline or metrics.train/loss > 5", [BASELINE]),  # NaN is no number: it compares with nothing
            ("unstable", [DIVERGED]),  # a tag, by a word
            ("mnist high", [HIGH_LR]),  # every word must match
            ("a1a1", [BASELINE]),  # an id
            ("nothing-like-this", []),
        ):
            app.screen.query_one("#filter").value = text  # type: ignore[attr-defined]
            await settle(pilot)
            assert runs_table(app).run_ids == expected, text
        await pilot.press("enter")  # keeps the filter, back to the table
        assert runs_table(app).has_focus
        await pilot.press("escape")  # clears it
        await settle(pilot)
        assert runs_table(app).run_ids == [LIVE, DIVERGED, HIGH_LR, BASELINE]


@pytest.mark.anyio
async def test_sort_by_key_and_by_clicking_a_header(store: EmbeddedStore) -> None:
    store.clock = fixed_clock()  # the store sorts by duration, which it measures on its clock
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = runs_table(app)
        table.move_cursor(row=2)  # high-lr
        await pilot.press("s")  # experiment, A to Z
        assert table.run_ids == [BASELINE, HIGH_LR, DIVERGED, LIVE]
        assert table.cursor_run_id == HIGH_LR  # the cursor follows its run
        await pilot.press("S")
        assert table.run_ids == [LIVE, DIVERGED, HIGH_LR, BASELINE]
        # A click on the "duration" header sorts by it, longest first.
        x = sum(c.get_render_width(table) for c in table.ordered_columns[:5]) + 2
        await pilot.click(RunsTable, offset=(x, 0))
        await settle(pilot)
        assert table.run_ids == [BASELINE, HIGH_LR, LIVE, DIVERGED]
        assert "sorted by duration ↓" in str(app.screen.query_one("#runs-status").render())


@pytest.mark.slow
@pytest.mark.anyio
async def test_runs_load_a_page_at_a_time(tmp_path: Path) -> None:
    insert_runs(tmp_path / "many", 1_000)
    app = make_app(EmbeddedStore(tmp_path / "many"), clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        assert len(screen.model.runs) == FIRST_PAGE and not screen.model.exhausted
        await pilot.press("end")  # the cursor near the end reads the next page
        await settle(pilot)
        assert len(screen.model.runs) > FIRST_PAGE
        while not screen.model.exhausted:
            await pilot.press("end")
            await settle(pilot)
        assert len(screen.model.runs) == runs_table(app).row_count == 1_000
        assert len({r.id for r in screen.model.runs}) == 1_000


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_filter_is_answered_by_the_store_among_every_run(tmp_path: Path) -> None:
    home = tmp_path / "many"
    insert_runs(home, 3_000)
    store = EmbeddedStore(home)
    target = store.list_runs(limit=300).runs[250]
    store.append_metrics(target.id, {"special/metric": batch("number", [1.0], NOW)})
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        screen.apply_filter("--trial=2999")  # the oldest run, never read: the store finds it
        await wait_for(pilot, lambda: runs_table(app).row_count == 1)
        assert runs_table(app).cells_of(runs_table(app).run_ids[0])[2] == "bulk-3 bulk run 2999"
        assert len(screen.model.runs) == 1  # nothing but the answer is held
        screen.apply_filter("metrics.special/metric >= 1")
        await wait_for(pilot, lambda: runs_table(app).run_ids == [target.id])
        screen.apply_filter("metrics.special/metric >=")  # half typed: said, and the table stays
        await settle(pilot)
        assert runs_table(app).run_ids == [target.id]
        assert "expected a value" in str(screen.query_one("#runs-status").render())
        await pilot.press("escape")
        screen.apply_filter("")
        await settle(pilot)
        assert len(screen.model.runs) == FIRST_PAGE  # cleared: the first page again, not every run


# -- the run screen ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.anyio
async def test_open_a_run_shows_header_scalars_charts_text_and_console(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_run(pilot, HIGH_LR)
        header = screen.query_one(RunHeader).plain
        for expected in (
            HIGH_LR,
            "mnist-cnn · high-lr",
            "completed",
            "$ python train.py --seed=2",
            "ada@gpu-box-1",
            "3f2a9c1d0b7e (dirty)",
            "ran 20m 00s",
            "(2h ago)",
        ):
            assert expected in header, expected
        scalars = screen.query_one(ScalarsTable)
        assert scalars.row_count == 5
        assert [str(c) for c in scalars.get_row("train/loss")][:4] == ["train/loss", "number", "300", "299"]
        # The most telling metrics are charted at once, as many as fit.
        grid = screen.query_one(ChartGrid)
        assert grid.metrics[:2] == ["train/loss", "val/accuracy"]
        chart = grid.chart("train/loss")
        assert chart is not None and chart.series is not None
        assert chart.series.count == 300 and len(chart.series) <= chart.max_points
        assert "300 pts" in str(chart.border_subtitle)
        await pilot.press("3")
        await settle(pilot)
        assert "phase" in [str(row[0]) for row in (screen.query_one("#text-history").get_row_at(i) for i in range(3))]  # type: ignore[attr-defined]
        await pilot.press("4")
        await settle(pilot)
        console = screen.query_one(ConsoleLog)
        assert console.missing and "No console log" in console.text


@pytest.mark.anyio
async def test_a_failed_run_shows_its_error(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_run(pilot, DIVERGED)
        assert "RuntimeError: loss is NaN at step 4: gradient exploded" in screen.query_one(RunHeader).plain
        chart = screen.query_one(ChartGrid).chart("train/loss")
        assert chart is not None and chart.series is not None and chart.series.count == 5
        assert "last nan · 5 pts · 1 not drawn (NaN, inf)" == chart.border_subtitle


@pytest.mark.slow
@pytest.mark.anyio
async def test_switch_metric_add_a_chart_and_chart_a_list_metric(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_run(pilot, BASELINE)
        picker = screen.query_one(MetricPicker)
        assert picker.has_focus
        # Listed by group (headers between), in natural order.
        assert picker.names == ["train/loss", "train/lr", "val/accuracy", "val/per_class_accuracy"]
        await pilot.press("down", "enter")  # Enter: chart only this one
        await settle(pilot)
        grid = screen.query_one(ChartGrid)
        assert grid.metrics == ["train/lr"]
        assert grid.chart("train/lr").series.count == 300  # type: ignore[union-attr]
        await pilot.press("down", "down", "space")  # Space: add a chart (the "val/" header is skipped)
        await settle(pilot)
        assert grid.metrics == ["train/lr", "val/per_class_accuracy"]
        chart = grid.chart("val/per_class_accuracy")
        assert chart is not None and chart.series is not None and chart.series.kind == "chart"
        assert "step 299" in str(chart.border_subtitle)
        await pilot.click(MetricPicker, offset=(4, 1))  # a click ticks train/loss too (under the "train/" header)
        await settle(pilot)
        assert grid.metrics == ["train/loss", "train/lr", "val/per_class_accuracy"]


@pytest.mark.slow
@pytest.mark.anyio
async def test_toggle_log_scale(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_run(pilot, BASELINE)
        charts = screen.query_one(ChartGrid).charts
        assert charts and not any(c.log_scale for c in charts)
        await pilot.press("l")
        await idle(pilot)
        assert all(c.log_scale for c in charts)
        assert all(str(c.border_title) == f"{c.metric} · log" for c in charts)
        for chart in charts:  # each curve is drawn across its plot, on the log axis's own limits
            drawn = str(getattr(chart.render(), "plain", ""))
            dots = sum(1 for ch in drawn if 0x2801 <= ord(ch) <= 0x28FF)
            assert dots > 20, (chart.metric, dots)
        await pilot.press("l")
        await idle(pilot)
        assert not any(c.log_scale for c in charts)


@pytest.mark.slow
@pytest.mark.anyio
async def test_back_and_quit(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = runs_table(app)
        await open_run(pilot, DIVERGED)
        await pilot.press("escape")
        await idle(pilot)
        assert isinstance(app.screen, RunsScreen)
        assert runs_table(app) is table and table.cursor_run_id == DIVERGED
        await pilot.press("q")
        await idle(pilot)
        assert not app.is_running


@pytest.mark.slow
@pytest.mark.anyio
async def test_mouse_opens_a_run(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.click(RunsTable, offset=(3, 3))  # the third run: highlight…
        await pilot.click(RunsTable, offset=(3, 3))  # …and a second click opens it
        await settle(pilot)
        assert isinstance(app.screen, RunScreen) and app.screen.run_data.id == HIGH_LR


# -- live ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_running_run_updates_live(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = runs_table(app)
        table.move_cursor(row=1)  # diverged
        # A new run starts: it appears on top, and the cursor stays on its run.
        store.create_run(NewRun(experiment="mnist-cnn", name="fresh", run_id="e5" * 16))
        await wait_for(pilot, lambda: table.run_ids[:1] == ["e5" * 16])
        assert table.cursor_run_id == DIVERGED
        screen = await open_run(pilot, LIVE)
        chart = screen.query_one(ChartGrid).chart("train/loss")
        assert chart is not None and chart.series is not None and chart.series.count == 120
        console = screen.query_one(ConsoleLog)
        assert console.text.endswith("epoch 1/90 loss 2.31")
        # The training script logs on, and its console grows.
        store.append_metrics(
            LIVE, {"train/loss": batch("number", [0.3] * 30, NOW), "val/accuracy": batch("number", [0.8], NOW)}
        )
        store.put_artifact(
            LIVE, "logs/console.txt", b"training resnet on cifar-10\nepoch 1/90 loss 2.31\nepoch 2/90 loss 1.20\n"
        )
        await wait_for(pilot, lambda: chart.series is not None and chart.series.count == 150)
        await wait_for(pilot, lambda: console.text.endswith("epoch 2/90 loss 1.20"))
        scalars = screen.query_one(ScalarsTable)
        await wait_for(pilot, lambda: scalars.row_count == 3)
        assert "val/accuracy" in screen.query_one(MetricPicker).names
        # It finishes: the header says so, and the screen stops reading.
        store.finish_run(LIVE, "completed")
        await wait_for(pilot, lambda: "completed" in screen.query_one(RunHeader).plain)
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.cells_of(LIVE)[3] == "✔ completed")


# -- manners -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_help_lists_the_keys_of_the_screen(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await idle(pilot)
        assert isinstance(app.screen, HelpModal)
        text = " ".join(f"{key} {what}" for key, what in app.screen.rows) + app.screen.extra
        for expected in ("Open run", "Filter", "Sort", "Quit", "exp:NAME"):
            assert expected in text, expected
        await pilot.press("escape")
        await idle(pilot)
        assert isinstance(app.screen, RunsScreen)


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_command_palette_lists_each_screens_actions(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for expected in ("Open run", "Filter", "Sort", "Reverse", "Quit", "Help", "Theme"):
            assert expected in titles, expected
        screen = await open_run(pilot, BASELINE)
        titles = [c.title for c in app.get_system_commands(screen)]
        for expected in ("Back", "Log scale", "Charts", "Console", "All charts"):
            assert expected in titles, expected
        command = next(c for c in app.get_system_commands(screen) if c.title == "Log scale")
        await command.callback()  # type: ignore[misc]
        assert screen.log_scale
        await pilot.press("ctrl+p")
        await idle(pilot)
        assert type(app.screen).__name__ == "CommandPalette"


@pytest.mark.slow
@pytest.mark.anyio
async def test_every_binding_has_a_description(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_run(pilot, BASELINE)
        from runhistory.app.screens import error, help, run, runs
        from runhistory.app.widgets import metric_picker
        from runhistory.app.widgets import runs_table as table_module

        for owner in (
            RunHistoryApp,
            runs.RunsScreen,
            run.RunScreen,
            help.HelpModal,
            error.ErrorModal,
            metric_picker.MetricPicker,
            table_module.RunsTable,
        ):
            for binding in owner.BINDINGS:
                assert binding.description, (owner.__name__, binding.key)  # type: ignore[union-attr]


@pytest.mark.slow
@pytest.mark.anyio
async def test_usable_at_80_by_24(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = runs_table(app)
        keys = [str(c.key.value) for c in table.ordered_columns]
        assert keys[:6] == ["mark", "id", "experiment", "status", "started", "duration"]
        assert "metric:train/loss" in keys and keys[-1] == "spark"
        assert sum(c.get_render_width(table) for c in table.ordered_columns) <= 80
        screen = await open_run(pilot, BASELINE)
        chart = screen.query_one(MetricChart)
        assert chart.size.width >= 40 and chart.size.height >= 8
        assert chart.series is not None


@pytest.mark.slow
@pytest.mark.anyio
async def test_store_errors_show_a_modal_or_a_notification_never_a_traceback(store: EmbeddedStore) -> None:
    flaky = FlakyStore(store)
    flaky.down = True
    app = make_app(flaky, clock=fixed_clock(), live_interval=0.1)  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ErrorModal)
        assert "connection refused" in str(app.screen.query_one("#error-message").render())
        await pilot.press("enter")
        await idle(pilot)
        assert isinstance(app.screen, RunsScreen)
        # The live refresh fails too: one notification, and the status line says so.
        await wait_for(pilot, lambda: bool(notifications(app)))
        assert "retrying" in str(app.screen.query_one("#runs-status").render())
        flaky.down = False
        app.screen.action_reload()
        await wait_for(pilot, lambda: runs_table(app).row_count == 4)
        await wait_for(pilot, lambda: "retrying" not in str(app.screen.query_one("#runs-status").render()))
        # A run deleted while it is open: a modal, then back to the runs.
        await open_run(pilot, HIGH_LR)
        flaky.deleted.add(HIGH_LR)
        app.screen.action_reload()  # type: ignore[attr-defined]
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "no longer in the store" in str(app.screen.query_one("#error-message").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
    assert app.return_code in (None, 0)


# -- pieces --------------------------------------------------------------------------


def test_filter_words() -> None:
    query = RunFilter.parse("Failed exp:mnist-cnn LR=3e-3 status:running")
    assert query.where == 'status = failed and experiment = "mnist-cnn" and "LR=3e-3" and status = running'
    assert RunFilter.parse("").active is False
    assert RunFilter.parse("s:bogus").where == "s:bogus"
    assert RunFilter.parse("params.lr >= 1e-3 and tag:best").where == "params.lr >= 0.001 and tag:best"
    half = RunFilter.parse("params.lr >=")
    assert half.where is None and half.error is not None and "expected a value" in half.error


def test_key_metrics_rank_losses_then_scores_then_the_rest() -> None:
    names = {
        "train/lr": 3,
        "val/accuracy": 3,
        "epoch": 3,
        "throughput": 1,
        "val/loss": 3,
        "train/loss": 3,
        "gpu/mem": 3,
    }
    assert rank_metric_names(names) == [
        "train/loss",
        "val/loss",
        "val/accuracy",
        "throughput",
        "train/lr",
        "epoch",
        "gpu/mem",
    ]
    assert key_metric_names([], 3) == []
    assert main_series_name([]) is None


def test_sparkline_fits_its_width() -> None:
    assert sparkline([], 10).plain == ""
    assert sparkline([1.0, 1.0], 10).plain == "▅▅"
    line = sparkline([float(i) for i in range(100)], 12)
    assert len(line.plain) == 12 and line.plain[0] == "▁" and line.plain[-1] == "█"


def test_console_lines_are_cleaned() -> None:
    assert clean_line("\x1b[31mred\x1b[0m") == "red"
    assert clean_line("10%\r50%\r100%") == "100%"
    assert clean_line("bell\x07\ttab") == "bell    tab"


def test_chart_ticks_are_round() -> None:
    assert nice_ticks(0, 3999, 5) == [0, 1000, 2000, 3000]
    assert nice_ticks(5, 5, 4) == [5]


def _console_lines(first: int, last: int) -> bytes:
    return b"".join(b"epoch %d/900 loss %.3f\n" % (i, 2.0 / i) for i in range(first, last + 1))


def _at_the_end(console: ConsoleLog, last_line: str) -> bool:
    """The view is at the log's end, and its bottom row shows ``last_line``."""
    bottom = console.render_line(console.size.height - 1).text
    return console.size.height > 0 and console.scroll_offset.y == console.max_scroll_y and last_line in bottom


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_console_tab_opens_at_the_end(store: EmbeddedStore) -> None:
    store.put_artifact(LIVE, "logs/console.txt", _console_lines(1, 200))  # far longer than the pane
    app = make_app(store, clock=fixed_clock(), live_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_run(pilot, LIVE)
        console = screen.query_one(ConsoleLog)
        assert console.text.endswith("epoch 200/900 loss 0.010")  # read while its tab was hidden
        await pilot.press("4")
        await wait_for(pilot, lambda: _at_the_end(console, "epoch 200/900"))
        # More arrives while another tab is shown: the console opens at the new end.
        await pilot.press("1")
        store.put_artifact(LIVE, "logs/console.txt", _console_lines(1, 260))
        await wait_for(pilot, lambda: console.text.endswith("epoch 260/900 loss 0.008"))
        await pilot.press("4")
        await wait_for(pilot, lambda: _at_the_end(console, "epoch 260/900"))


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_console_follows_new_lines_until_scrolled_up(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_run(pilot, LIVE)
        await pilot.press("4")
        console = screen.query_one(ConsoleLog)
        await wait_for(pilot, lambda: console.text.endswith("epoch 1/90 loss 2.31"))
        start = b"training resnet on cifar-10\nepoch 1/90 loss 2.31\n"  # what the run has written so far
        # The log grows past the pane, then on: the view keeps to the end.
        for last in (200, 260):
            store.put_artifact(LIVE, "logs/console.txt", start + _console_lines(1, last))
            await wait_for(pilot, lambda last=last: _at_the_end(console, f"epoch {last}/900"))
        # Scrolled up, it stays where the user put it as more arrives.
        await pilot.press("home")
        await wait_for(pilot, lambda: console.scroll_offset.y == 0)
        store.put_artifact(LIVE, "logs/console.txt", start + _console_lines(1, 300))
        await wait_for(pilot, lambda: console.text.endswith("epoch 300/900 loss 0.007"))
        await idle(pilot)
        assert console.scroll_offset.y == 0 and "training resnet" in console.render_line(0).text
        # Back at the end, it follows again.
        await pilot.press("end")
        await wait_for(pilot, lambda: _at_the_end(console, "epoch 300/900"))
        store.put_artifact(LIVE, "logs/console.txt", start + _console_lines(1, 340))
        await wait_for(pilot, lambda: _at_the_end(console, "epoch 340/900"))
        # A smaller terminal: still at the end.
        await pilot.resize_terminal(SIZE[0], SIZE[1] - 10)
        await wait_for(pilot, lambda: _at_the_end(console, "epoch 340/900"))


class CountingStore:
    """A store that counts the calls made to it, by method."""

    def __init__(self, store: EmbeddedStore) -> None:
        self.store = store
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.store, name)
        if not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return found(*args, **kwargs)

        return call


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_screen_under_another_reads_nothing_live(store: EmbeddedStore) -> None:
    counting = CountingStore(store)
    app = make_app(counting, clock=fixed_clock(), live_interval=0.05)  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_run(pilot, LIVE)
        await wait_for(pilot, lambda: counting.calls.get("get_run", 0) >= 2)  # its live refresh ticks
        before = counting.calls.get("list_runs", 0)
        gets = counting.calls["get_run"]
        await wait_for(pilot, lambda: counting.calls["get_run"] >= gets + 5)  # five more ticks of the run on top
        assert counting.calls.get("list_runs", 0) == before  # while the runs screen underneath read nothing


@pytest.mark.anyio
async def test_a_tampered_store_cannot_reach_the_terminal_through_the_runs_table(tmp_path: Path) -> None:
    # The store refuses these names; a file written by something else can still hold them.
    import sqlite3

    store = EmbeddedStore(tmp_path / "store")
    run = store.create_run(NewRun(experiment="plain", name="plain"))
    evil = "[/oops]\x1b]52;c;aGk=\x07[bold]x"
    with sqlite3.connect(tmp_path / "store" / "runhistory.sqlite3") as db:
        db.execute(
            "UPDATE runs SET experiment = ?, name = ?, status = ?, host = ? WHERE id = ?",
            (evil, "\x1b[2J" + evil, "running\x1b[31m", evil, run.id),
        )

    def control(text: str) -> list[str]:
        return [c for c in text if ord(c) < 32 and c != "\n" or 0x7F <= ord(c) < 0xA0]

    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = runs_table(app)
        drawn = "".join(segment.text for y in range(3) for segment in table.render_line(y))
        screen = await open_run(pilot, run.id)
        header = screen.query_one(RunHeader).plain
        title = str(screen.sub_title)
    assert "[/oops]" in drawn and "[bold]x" in drawn  # literally, never read as markup
    assert not control(drawn) and not control(header) and not control(title)
    assert "[/oops]" in header
