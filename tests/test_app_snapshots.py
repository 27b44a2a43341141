"""One snapshot per screen at a fixed size (pytest-textual-snapshot).

Fixed run ids and times in the store, a fixed clock in the app, live refresh
off, and UTC: the pictures are the same on every machine. After an intended
change, look at the report and accept with ``pytest --snapshot-update``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from runhistory.api import EmbeddedStore
from runhistory.app.widgets.artifact_tree import ArtifactTree
from runhistory.app.widgets.metric_picker import MetricPicker

from ._pilot import SNAPSHOT_SIZE, FlakyStore, fixed_app, idle, open_run, settle
from .app_data import BASELINE, LIVE, add_assets, add_media, make_store

# The screens show times of day: in UTC, so that a snapshot is the same in every time zone.
pytestmark = pytest.mark.usefixtures("utc")


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    return make_store(tmp_path / "store")


def test_runs_screen(snap_compare: Any, store: EmbeddedStore) -> None:
    app = fixed_app(store)
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=settle)


@pytest.mark.slow
def test_run_screen_charts(snap_compare: Any, store: EmbeddedStore) -> None:
    async def open_baseline(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await open_run(pilot, BASELINE)
        await settle(pilot)

    app = fixed_app(store)
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=open_baseline)


@pytest.mark.slow
def test_run_screen_console(snap_compare: Any, store: EmbeddedStore) -> None:
    async def open_console(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await open_run(pilot, LIVE)
        await pilot.press("4")
        await settle(pilot)

    app = fixed_app(store)
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=open_console)


@pytest.mark.slow
def test_run_screen_artifacts(snap_compare: Any, store: EmbeddedStore) -> None:
    async def open_artifacts(pilot: Pilot[Any]) -> None:
        await on_artifacts_of_baseline(pilot, "config.json")

    app = fixed_app(store)
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=open_artifacts)


@pytest.mark.slow
def test_run_screen_artifacts_image(snap_compare: Any, store: EmbeddedStore) -> None:
    async def open_image(pilot: Pilot[Any]) -> None:
        await on_artifacts_of_baseline(pilot, "outputs/samples.png")

    app = fixed_app(store)
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=open_image)


@pytest.mark.slow
def test_run_screen_media(snap_compare: Any, store: EmbeddedStore) -> None:
    add_media(store)

    async def open_media(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await open_run(pilot, BASELINE)
        await pilot.press("6")
        await settle(pilot)
        await pilot.press("left")  # a step before the last: the slider's mark in the middle
        await settle(pilot)

    app = fixed_app(store)
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=open_media)


def test_help_modal(snap_compare: Any, store: EmbeddedStore) -> None:
    async def ask_for_help(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    app = fixed_app(store)
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=ask_for_help)


def test_error_modal(snap_compare: Any, store: EmbeddedStore) -> None:
    flaky = FlakyStore(store)
    flaky.down = True
    app = fixed_app(flaky)
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=settle)


def steady_cursors(pilot: Pilot[Any]) -> None:
    """Text fields' cursors shown without blinking: the picture does not depend on when it is taken."""
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False


async def on_artifacts_of_baseline(pilot: Pilot[Any], path: str) -> None:
    await settle(pilot)
    await open_run(pilot, BASELINE)
    await pilot.press("5")
    await settle(pilot)
    pilot.app.screen.query_one(ArtifactTree).select_path(path)
    await settle(pilot)


@pytest.mark.slow
def test_download_modal(snap_compare: Any, store: EmbeddedStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")  # the folder offered is the current directory

    async def download_outputs(pilot: Pilot[Any]) -> None:
        await on_artifacts_of_baseline(pilot, "outputs/")
        await pilot.press("d")
        await settle(pilot)
        steady_cursors(pilot)
        await idle(pilot)

    app = fixed_app(store)
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=download_outputs)


@pytest.mark.slow
def test_promote_modal(snap_compare: Any, store: EmbeddedStore) -> None:
    async def promote_outputs(pilot: Pilot[Any]) -> None:
        await on_artifacts_of_baseline(pilot, "outputs/")
        await pilot.press("p")
        await settle(pilot)
        await pilot.press(*"mnist-classifier")
        await settle(pilot)
        steady_cursors(pilot)
        await idle(pilot)

    app = fixed_app(store)
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=promote_outputs)


async def open_assets(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("a")
    await settle(pilot)


@pytest.mark.slow
def test_assets_screen(snap_compare: Any, store: EmbeddedStore) -> None:
    add_assets(store)
    app = fixed_app(store)
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=open_assets)


@pytest.mark.slow
def test_assets_screen_80x24(snap_compare: Any, store: EmbeddedStore) -> None:
    async def second_version(pilot: Pilot[Any]) -> None:
        await open_assets(pilot)
        await pilot.press("tab", "down")
        await settle(pilot)

    add_assets(store)
    app = fixed_app(store)
    assert snap_compare(app, terminal_size=(80, 24), run_before=second_version)


@pytest.mark.slow
def test_assets_screen_empty(snap_compare: Any, store: EmbeddedStore) -> None:
    app = fixed_app(store)
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=open_assets)


@pytest.mark.slow
def test_download_modal_for_an_asset(snap_compare: Any, store: EmbeddedStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")  # the folder offered is the current directory

    async def download_version(pilot: Pilot[Any]) -> None:
        await open_assets(pilot)
        await pilot.press("d")
        await settle(pilot)
        steady_cursors(pilot)
        await idle(pilot)

    add_assets(store)
    app = fixed_app(store)
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=download_version)


@pytest.mark.slow
def test_chart_full_size_zoomed_smoothed_with_the_cursor(snap_compare: Any, store: EmbeddedStore, utc: None) -> None:
    async def zoom_in(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        screen = await open_run(pilot, BASELINE)
        picker = screen.query_one(MetricPicker)
        picker.highlight("train/loss")
        await pilot.press("z")
        await settle(pilot)
        await pilot.press("i", "plus", "plus", "S")
        await settle(pilot)

    app = fixed_app(store)
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=zoom_in)


@pytest.mark.slow
def test_run_screen_smoothed_and_filtered(snap_compare: Any, store: EmbeddedStore) -> None:
    async def smooth_and_filter(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await open_run(pilot, BASELINE)
        await pilot.press("S", "slash", "v", "a", "l")
        await settle(pilot)

    app = fixed_app(store)
    assert snap_compare(app, terminal_size=SNAPSHOT_SIZE, run_before=smooth_and_filter)
