"""Charts a researcher reads: lines with gaps, smoothing, zoom with exact re-reads, inspect, raw points,
the metric filter, the grid's layouts, and every run overlaid in compare."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Static

from runhistory.api import EmbeddedStore, NewRun, SeriesBatch
from runhistory.app.app import make_app
from runhistory.app.curves import ema, marks, nice_ticks, segments, time_label, time_ticks
from runhistory.app.metric_names import distinct_labels, grouped, matches, natural_key
from runhistory.app.screens.chart import RAW_POINTS_MAX, ChartScreen, clamp, zoom
from runhistory.app.screens.smoothing import next_weight
from runhistory.app.widgets.chart_grid import ChartGrid
from runhistory.app.widgets.metric_chart import MetricChart
from runhistory.app.widgets.metric_picker import MetricPicker

from ._pilot import SIZE, idle, open_run, settle, wait_for
from .app_data import fixed_clock

# -- the arithmetic ----------------------------------------------------------------------


def tensorboard_ema(values: list[float], weight: float) -> list[float]:
    """TensorBoard's smoothing, as its scalar dashboard computes it (written out independently)."""
    out, last, n = [], 0.0, 0
    for v in values:
        last = last * weight + (1 - weight) * v
        n += 1
        out.append(last / (1 - weight**n))
    return out


def test_smoothing_is_tensorboards_debiased_ema_and_skips_what_is_not_finite() -> None:
    values = [1.0, 0.5, 0.8, 0.2, 0.4]
    assert ema(values, 0.6) == pytest.approx(tensorboard_ema(values, 0.6))
    assert ema(values, 0.0) == values
    gapped = ema([1.0, math.nan, 0.5, math.inf], 0.6)
    assert math.isnan(gapped[1]) and gapped[3] == math.inf  # type: ignore[arg-type]
    assert gapped[2] == pytest.approx(tensorboard_ema([1.0, 0.5], 0.6)[1])
    # A point standing for 10 stored ones smooths as 10 points would.
    assert ema([0.0, 1.0], 0.9, spread=10)[1] == pytest.approx(tensorboard_ema([0.0, 1.0], 0.9**10)[1])


def test_lines_break_at_nan_and_infinities_with_a_mark() -> None:
    xs = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    values: list[object] = [1.0, 2.0, math.nan, 3.0, math.inf, -math.inf, 4.0]
    assert segments(xs, values) == [([0.0, 1.0], [1.0, 2.0]), ([3.0], [3.0]), ([6.0], [4.0])]
    assert [(m.x, m.top, m.symbol) for m in marks(xs, values)] == [
        (2.0, False, "×"),
        (4.0, True, "▲"),
        (5.0, False, "▼"),
    ]
    # On a log scale, values at or below zero are left out and marked too.
    assert segments([0.0, 1.0], [0.0, 1.0], positive=True) == [([1.0], [1.0])]
    assert [m.symbol for m in marks([0.0], [-1.0], positive=True)] == ["▽"]


def test_ticks_are_round_values() -> None:
    assert nice_ticks(0.1, 0.9, 5) == [0.2, 0.4, 0.6, 0.8]
    assert nice_ticks(0.0, 0.3, 4) == [0.0, 0.1, 0.2, 0.3]  # not 0.30000000000000004
    assert nice_ticks(-3, 12, 4) == [0, 5, 10]
    assert time_ticks(0, 0.5, 6) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]  # a run shorter than a second
    assert [time_label(t) for t in (0.25, 45, 90)] == ["0.25s", "45s", "1m30s"]


def test_names_group_by_prefix_in_natural_order_and_shorten_apart() -> None:
    names = ["val/acc", "layer10", "layer2", "train/loss", "sys/cpu", "train/layer10/norm", "train/layer2/norm"]
    assert grouped(names) == [
        ("", ["layer2", "layer10"]),
        ("sys/", ["sys/cpu"]),
        ("train/", ["train/layer2/norm", "train/layer10/norm", "train/loss"]),
        ("val/", ["val/acc"]),
    ]
    assert sorted(["b10", "b2", "a"], key=natural_key) == ["a", "b2", "b10"]
    long = [f"model/encoder/layers/layer{i}/attention/query/grad_norm" for i in range(12)]
    for width in (12, 20, 30):
        labels = distinct_labels(long, width)
        assert len(set(labels.values())) == len(long)
        assert all(len(label) <= width for label in labels.values())
    assert matches("val/loss", "val/*") and not matches("train/loss", "val/*")
    assert matches("train/LOSS", "loss") and matches("a[1]", "a[[]1]")


def test_zoom_keeps_the_cursor_in_place_and_stays_in_the_steps() -> None:
    assert zoom((0, 1000), (0, 1000), 500, 0.5) == (250, 750)
    assert zoom((0, 1000), (0, 1000), 100, 0.5) == (50, 550)  # 100 stays a tenth of the way across
    assert zoom((0, 1000), (250, 750), 500, 2) == (0, 1000)
    assert zoom((0, 1000), (0, 4), 2, 0.5) == (0, 4)  # never narrower than MIN_ZOOM_STEPS
    assert clamp((0, 1000), (900, 1100)) == (800, 1000)
    assert next_weight(0.6, 1) == 0.7 and next_weight(0.6, -1) == 0.5 and next_weight(0.999, 1) == 0.999


# -- in the app ----------------------------------------------------------------------------

SPIKES = 100_000


@pytest.fixture
def spiky(tmp_path: Path) -> tuple[EmbeddedStore, str]:
    """A run whose loss is flat but for two spikes 50 steps apart, and a short noisy series with gaps."""
    store = EmbeddedStore(tmp_path / "store")
    run = store.create_run(NewRun(experiment="spikes", name="spiky"))
    values = [0.0] * SPIKES
    values[30_000], values[30_050] = 10.0, 5.0
    now = time.time()
    for at in range(0, SPIKES, 50_000):
        chunk = values[at : at + 50_000]
        store.append_metrics(
            run.id,
            {
                "loss": SeriesBatch(
                    "number", chunk, [None] * len(chunk), [now + (at + i) / 1000 for i in range(len(chunk))]
                )
            },
        )
    noisy = [math.sin(i / 5) + (0.3 if i % 2 else -0.3) for i in range(60)]
    noisy[20] = math.nan
    noisy[40] = math.inf
    store.append_metrics(run.id, {"val/noisy": SeriesBatch("number", noisy, [None] * 60, [now] * 60)})
    for name in ("train/acc", "train/layer10/norm", "train/layer2/norm", "val/acc"):
        store.append_metrics(run.id, {name: SeriesBatch("number", [0.5, 0.6], [None, None], [now, now])})
    store.finish_run(run.id, "completed")
    return store, run.id


async def open_full_size(pilot: Any, run_id: str, metric: str) -> ChartScreen:
    screen = await open_run(pilot, run_id)
    picker = screen.query_one(MetricPicker)
    picker.highlight(metric)
    await pilot.press("enter")  # chart only this one
    await settle(pilot)
    chart = screen.query_one(ChartGrid).chart(metric)
    assert chart is not None
    chart.focus()
    await pilot.press("enter")  # and open it full size
    await settle(pilot)
    full = pilot.app.screen
    assert isinstance(full, ChartScreen)
    return full


@pytest.mark.slow
@pytest.mark.anyio
async def test_zooming_in_reads_the_range_again_and_shows_the_hidden_spike(spiky: tuple[EmbeddedStore, str]) -> None:
    store, run_id = spiky
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_full_size(pilot, run_id, "loss")
        whole = screen.series[0]
        assert whole is not None and whole.count == SPIKES and whole.downsampled
        assert 10.0 in whole.values and 5.0 not in whole.values  # the smaller spike shares a bucket
        await pilot.press("i")  # a cursor in the middle; put it by the spikes
        await settle(pilot)
        screen.cursor = 30_040.0
        for _ in range(6):
            await pilot.press("plus")
            await settle(pilot)
        assert screen.view is not None and screen.view[0] <= 30_050 <= screen.view[1]
        assert screen.view[1] - screen.view[0] == pytest.approx(SPIKES / 64, rel=0.01)
        zoomed = screen.series[0]
        assert zoomed is not None and zoomed.count < SPIKES
        assert dict(zip(zoomed.steps, zoomed.values))[30_050] == 5.0  # read again at the range: there
        legend = str(screen.query_one("#chart-legend", Static).render())
        assert "steps 29," in legend and "of 0–99,999" in legend
        # The cursor names the stored point nearest to it, exactly.
        await wait_for(pilot, lambda: bool(screen.nearest_points) and screen.nearest_points[0] is not None)
        await pilot.press("right")  # one cell to the right, and read again
        await settle(pilot)
        screen.cursor = 30_049.6
        screen._ask_nearest()
        await settle(pilot)
        step, value, _ = screen.nearest_points[0]  # type: ignore[misc]
        assert (step, value) == (30_050, 5.0)
        panel = str(screen.query_one("#chart-inspect", Static).render())
        assert "step 30,050" in panel and "value 5" in panel
        # Pan right, then back to every step.
        before = screen.view
        await pilot.press("i")  # cursor off: the arrows pan
        await pilot.press("right")
        await settle(pilot)
        assert screen.view is not None and before is not None and screen.view[0] > before[0]
        await pilot.press("0")
        await settle(pilot)
        assert screen.view is None and screen.series[0] is not None and screen.series[0].count == SPIKES
        await pilot.press("escape")
        await idle(pilot)
        assert not isinstance(app.screen, ChartScreen)


@pytest.mark.slow
@pytest.mark.anyio
async def test_raw_points_are_listed_up_to_the_limit(spiky: tuple[EmbeddedStore, str]) -> None:
    store, run_id = spiky
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_full_size(pilot, run_id, "loss")
        await pilot.press("r")
        await settle(pilot)
        table = screen.query_one("#chart-raw", DataTable)
        assert table.row_count == 1 and "zoom in" in str(table.get_row_at(0)[0])
        for last, rows in ((RAW_POINTS_MAX - 1, RAW_POINTS_MAX), (RAW_POINTS_MAX, 1)):  # at the limit, one past
            screen.view = (0.0, float(last))
            screen._ask()
            await settle(pilot)
            assert table.row_count == rows
        screen.view = (29_990.0, 30_060.0)
        screen._ask()
        await settle(pilot)
        cells = [table.get_row_at(i) for i in range(table.row_count)]
        assert [c[1] for c in cells][:2] == ["29,990", "29,991"] and table.row_count == 71
        assert [c[2] for c in cells if c[1] in ("30,000", "30,050")] == ["10", "5"]


@pytest.mark.slow
@pytest.mark.anyio
async def test_smoothing_the_grid_and_the_metric_filter(spiky: tuple[EmbeddedStore, str]) -> None:
    store, run_id = spiky
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_run(pilot, run_id)
        picker = screen.query_one(MetricPicker)
        assert picker.names == ["loss", "train/acc", "train/layer2/norm", "train/layer10/norm", "val/acc", "val/noisy"]
        grid = screen.query_one(ChartGrid)
        await pilot.press("S")
        await idle(pilot)
        assert all(c.smoothing == 0.6 and "EMA 0.6" in str(c.border_title) for c in grid.charts)
        await pilot.press("right_square_bracket")
        await idle(pilot)
        assert all("EMA 0.7" in str(c.border_title) for c in grid.charts)
        await pilot.press("S")
        await idle(pilot)
        assert all(c.smoothing is None and "EMA" not in str(c.border_title) for c in grid.charts)
        # g: 1×1, 2×2, 3×3, then as many as fit.
        for size in (1, 2, 3, 0):
            await pilot.press("g")
            await idle(pilot)
            assert grid.layout_size == size
        # / filters the names; Enter charts every match; Escape closes the filter.
        await pilot.press("slash")
        assert screen.query_one("#metric-filter", Input).has_focus
        await pilot.press("v", "a", "l", "slash", "asterisk")
        await idle(pilot)
        assert screen.query_one("#metric-filter", Input).value == "val/*"
        assert picker.names == ["val/acc", "val/noisy"]
        await pilot.press("enter")
        await settle(pilot)
        assert sorted(grid.metrics) == ["val/acc", "val/noisy"]
        assert picker.has_focus
        screen.query_one("#metric-filter", Input).focus()
        await pilot.press("escape")
        await idle(pilot)
        assert len(picker.names) == 6 and not screen.query_one("#metric-filter", Input).display


@pytest.mark.anyio
async def test_a_series_with_nan_and_inf_draws_with_gaps(spiky: tuple[EmbeddedStore, str]) -> None:
    store, run_id = spiky
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_run(pilot, run_id)
        picker = screen.query_one(MetricPicker)
        picker.highlight("val/noisy")
        await pilot.press("enter")
        await settle(pilot)
        chart = screen.query_one(ChartGrid).chart("val/noisy")
        assert isinstance(chart, MetricChart) and chart.series is not None
        assert "2 not drawn" in str(chart.border_subtitle)
        drawn = chart.render()
        assert not isinstance(drawn, str)  # a plot, not a note


def test_a_zoomed_view_smooths_on_from_the_steps_before_it(tmp_path: Path) -> None:
    from runhistory.api import Series
    from runhistory.app.screens.chart import ChartRun, with_neighbours, zoomed_line

    values = [math.sin(i / 3) + i / 50 for i in range(100)]

    def part(lo: int, hi: int) -> Series:
        return Series("x", "number", hi - lo, list(range(lo, hi)), values[lo:hi], [0.0] * (hi - lo))

    drawn = with_neighbours(part(40, 60), part(0, 40), part(60, 100))
    assert drawn.count == 20 and drawn.steps[0] == 0 and drawn.steps[-1] == 60
    run = EmbeddedStore(tmp_path / "store").create_run(NewRun())
    line = zoomed_line(ChartRun(run, 0, "r"), drawn, 40, 1.0)
    assert line.lead_in == 39  # the lead-in's last point is drawn: the line reaches the view's edge
    smoothed = ema(drawn.values, 0.8, line.spreads or 1.0)
    assert smoothed[40:60] == pytest.approx(tensorboard_ema(values, 0.8)[40:60])
