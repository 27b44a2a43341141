"""One snapshot per screen at a fixed size (pytest-textual-snapshot).

Fixed run ids and times in the store, a fixed clock in the app, live refresh
off, and UTC: the pictures are the same on every machine. After an intended
change, look at the report and accept with ``pytest --snapshot-update``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from runhistory.api import EmbeddedStore
from runhistory.app.app import RunHistoryApp, make_app
from runhistory.app.widgets.artifact_tree import ArtifactTree

from .app_data import BASELINE, LIVE, fixed_clock, make_store
from .test_app import FlakyStore, open_run, settle

SIZE = (110, 32)


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    return make_store(tmp_path / "store")


def fixed_app(store: Any) -> RunHistoryApp:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    app.sub_title = "~/.local/share/runhistory"  # not the temporary folder's name
    return app


def test_runs_screen(snap_compare: Any, store: EmbeddedStore) -> None:
    app = fixed_app(store)
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_run_screen_charts(snap_compare: Any, store: EmbeddedStore) -> None:
    async def open_baseline(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await open_run(pilot, BASELINE)
        await settle(pilot)

    app = fixed_app(store)
    assert snap_compare(app, terminal_size=SIZE, run_before=open_baseline)


def test_run_screen_console(snap_compare: Any, store: EmbeddedStore) -> None:
    async def open_console(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await open_run(pilot, LIVE)
        await pilot.press("4")
        await settle(pilot)

    app = fixed_app(store)
    assert snap_compare(app, terminal_size=SIZE, run_before=open_console)


def test_run_screen_artifacts(snap_compare: Any, store: EmbeddedStore) -> None:
    async def open_artifacts(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await open_run(pilot, BASELINE)
        await pilot.press("5")
        await settle(pilot)
        pilot.app.screen.query_one(ArtifactTree).select_path("config.json")
        await settle(pilot)

    app = fixed_app(store)
    assert snap_compare(app, terminal_size=SIZE, run_before=open_artifacts)


def test_help_modal(snap_compare: Any, store: EmbeddedStore) -> None:
    async def ask_for_help(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    app = fixed_app(store)
    assert snap_compare(app, terminal_size=SIZE, run_before=ask_for_help)


def test_error_modal(snap_compare: Any, store: EmbeddedStore) -> None:
    flaky = FlakyStore(store)
    flaky.down = True
    app = fixed_app(flaky)
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)
