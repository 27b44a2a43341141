"""The app on a real ``runhistory serve`` (127.0.0.1, ephemeral port), through the HTTP store.

The same screens as on the embedded store: the runs, a run's files with an
image drawn, compare, the assets with a version downloaded and checked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from runhistory.api import EmbeddedStore, Store, open_store
from runhistory.app.app import make_app
from runhistory.app.screens.assets import AssetsScreen
from runhistory.app.screens.compare import CompareScreen
from runhistory.app.screens.run import RunScreen
from runhistory.app.screens.runs import RunsScreen
from runhistory.app.widgets.compare_chart import CompareChart

from ._pilot import SIZE, choose, fill_download, idle, is_drawn, open_run, runs_table, settle, wait_for
from ._server import Server
from .app_data import BASELINE, DIVERGED, HIGH_LR, LIVE, add_assets, fixed_clock, make_store


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[EmbeddedStore, Store]]:
    """The app's test store, and an HTTP store on a server of it."""
    local = make_store(tmp_path / "store")
    add_assets(local)
    server = Server(tmp_path / "store").start()
    remote = open_store(url=server.url)
    try:
        yield local, remote
    finally:
        remote.close()
        server.stop()
        local.close()


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_app_over_http(served: tuple[EmbeddedStore, Store], tmp_path: Path) -> None:
    local, remote = served
    app = make_app(remote, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.sub_title.startswith("http://127.0.0.1:")
        assert runs_table(app).run_ids == [LIVE, DIVERGED, HIGH_LR, BASELINE]

        # A run's image, read whole through the server and drawn.
        screen = await open_run(pilot, BASELINE)
        await pilot.press("5")
        await settle(pilot)
        preview = await choose(pilot, "outputs/samples.png")
        assert preview.preview is not None and is_drawn(preview.preview)
        assert isinstance(app.screen, RunScreen) and app.screen is screen
        await pilot.press("escape")
        await idle(pilot)

        # Compare two runs: both series read through the server.
        table = runs_table(app)
        for run_id in (BASELINE, HIGH_LR):
            table.move_cursor(row=table.run_ids.index(run_id))
            await pilot.press("space")
        await pilot.press("c")
        await settle(pilot)
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        chart = compare.query_one(CompareChart)
        assert chart.metric == "train/loss"
        assert [line.series.count if line.series else 0 for line in chart.lines] == [300, 300]
        await pilot.press("escape")
        await idle(pilot)
        assert isinstance(app.screen, RunsScreen)

        # The assets, a version downloaded with its hashes checked.
        await pilot.press("a")
        await settle(pilot)
        assets = app.screen
        assert isinstance(assets, AssetsScreen)
        await fill_download(pilot, tmp_path / "dl")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is assets)
        for version_file in local.get_asset("mnist-classifier", 3).files:
            data = (tmp_path / "dl" / version_file.path).read_bytes()
            assert hashlib.sha256(data).hexdigest() == version_file.sha256
        # Enter on the version: the source run, on its files.
        await pilot.press("tab", "enter")
        await settle(pilot)
        opened = app.screen
        assert isinstance(opened, RunScreen) and opened.run_data.id == BASELINE
