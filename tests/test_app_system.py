"""The system pane: a running run's sys/ metrics beside its charts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runhistory.api import EmbeddedStore, NewRun, SeriesBatch
from runhistory.app.app import make_app
from runhistory.app.widgets.chart_grid import ChartGrid
from runhistory.app.widgets.system_pane import SystemPane, system_label, system_value

from ._pilot import open_run, settle
from .app_data import fixed_clock


def test_values_read_in_their_units() -> None:
    assert system_value("sys/cpu", 37.4) == "37%"
    assert system_value("sys/rss", 3 * 2**30) == "3.0 GiB"
    assert system_value("sys/net", 1.5 * 2**20).endswith("/s")
    assert system_value("sys/gpu0/temperature", 71.2) == "71°C"
    assert system_value("sys/gpu1/power", 180.4) == "180 W"
    assert system_value("sys/cpu", float("nan")) == "nan"
    assert system_label("sys/gpu3/util") == "GPU 3 use"
    assert system_label("sys/disk_io") == "disk I/O"
    assert system_label("sys/\x1b[2Jodd") == "odd" or "\x1b" not in system_label("sys/\x1b[2Jodd")


def _store(tmp_path: Path, *, finished: bool) -> tuple[EmbeddedStore, str]:
    store = EmbeddedStore(tmp_path / "store")
    run = store.create_run(NewRun(experiment="sys", name="with-system"))
    now = time.time()
    n = 30
    batch = {
        "train/loss": SeriesBatch("number", [1.0 / (i + 1) for i in range(n)], [None] * n, [now] * n),
        "sys/cpu": SeriesBatch("number", [10.0 + i for i in range(n)], [None] * n, [now] * n),
        "sys/memory": SeriesBatch("number", [50.0] * n, [None] * n, [now] * n),
        "sys/rss": SeriesBatch("number", [float(2**30)] * n, [None] * n, [now] * n),
    }
    store.append_metrics(run.id, batch)
    if finished:
        store.finish_run(run.id, "completed")
    return store, run.id


@pytest.mark.anyio
async def test_a_running_run_shows_its_system_metrics_beside_the_charts(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path, finished=False)
    app = make_app(store, clock=time.time, live_interval=None)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = await open_run(pilot, run_id)
        pane = screen.query_one(SystemPane)
        assert pane.display
        body = pane.plain
        assert "CPU 39%" in body and "memory 50%" in body and "process memory 1.0 GiB" in body
        # The first charts are the run's own: the system metrics have their pane.
        assert screen.query_one(ChartGrid).metrics == ["train/loss"]
        await pilot.press("y")
        await settle(pilot)
        assert not pane.display


@pytest.mark.anyio
async def test_a_finished_run_shows_them_when_asked(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path, finished=True)
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = await open_run(pilot, run_id)
        pane = screen.query_one(SystemPane)
        assert not pane.display
        await pilot.press("y")
        await settle(pilot)
        assert pane.display and "CPU 39%" in pane.plain
