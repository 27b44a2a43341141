"""The app on what describes runs: the overview, tags, note, rename and delete keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from runhistory.api import EmbeddedStore, Environment, RunNotFound
from runhistory.app.screens.describe import DeleteModal, NoteModal, RenameModal, TagsModal
from runhistory.app.screens.run import RunScreen
from runhistory.app.screens.runs import RunsScreen
from runhistory.app.widgets.overview import OverviewPane

from ._pilot import fixed_app, open_run, runs_table, settle, wait_for
from .app_data import BASELINE, DIVERGED, HIGH_LR, LIVE, make_store

WIDE = (140, 40)


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    store = make_store(tmp_path / "store")
    store.set_environment(
        BASELINE, Environment({"torch": "2.13.0", "numpy": "2.1.0"}, "--- a/x\n+++ b/x\n+lr = 3e-3\n")
    )
    return store


def _overview_text(screen: RunScreen) -> str:
    from rich.console import Console

    console = Console(width=60, record=True)
    console.print(screen.query_one(OverviewPane).content or "")
    return console.export_text()


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_overview_beside_the_charts_shows_what_describes_the_run(store: EmbeddedStore) -> None:
    app = fixed_app(store)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        screen = await open_run(pilot, BASELINE)
        await wait_for(pilot, lambda: "torch 2.13.0" in _overview_text(screen))
        text = _overview_text(screen)
        for expected in (
            "baseline  best",
            "params (4)",
            "lr",
            "0.001",
            "optimizer.name",
            "adam",
            "packages (2)",
            "git diff (3 lines)",
            "+lr = 3e-3",
        ):
            assert expected in text, expected
        pane = screen.query_one(OverviewPane)
        assert pane.display
        await pilot.press("o")
        assert not pane.display
        await pilot.press("o")
        assert pane.display


@pytest.mark.slow
@pytest.mark.anyio
async def test_tags_note_and_name_from_the_run_screen(store: EmbeddedStore) -> None:
    app = fixed_app(store)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        screen = await open_run(pilot, DIVERGED)
        await pilot.press("t")
        assert isinstance(app.screen, TagsModal)
        await pilot.press(*"+nan -unstable", "enter")
        await wait_for(pilot, lambda: store.get_run(DIVERGED).tags == ["nan"])
        await pilot.press("n")
        assert isinstance(app.screen, NoteModal)
        app.screen.query_one("#note-text").text = "gradient clipping off"  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: store.get_run(DIVERGED).note == "gradient clipping off")
        await pilot.press("R")
        assert isinstance(app.screen, RenameModal)
        app.screen.query_one("#name-input").value = "diverged-lr0.1"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(pilot, lambda: store.get_run(DIVERGED).name == "diverged-lr0.1")
        await wait_for(pilot, lambda: "gradient clipping off" in _overview_text(screen))
        await pilot.press("t")
        await pilot.press(*"ok +", "enter")  # "+" alone names no tag: said in the dialog, nothing stored
        await settle(pilot)
        assert isinstance(app.screen, TagsModal) and store.get_run(DIVERGED).tags == ["nan"]
        assert "1 to 128 characters" in str(app.screen.query_one("#tags-why").render())
        await pilot.press("escape")


@pytest.mark.slow
@pytest.mark.anyio
async def test_delete_asks_then_the_run_leaves_the_table(store: EmbeddedStore) -> None:
    app = fixed_app(store)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        table = runs_table(app)
        table.move_cursor(row=table.run_ids.index(HIGH_LR))
        await pilot.press("D")
        assert isinstance(app.screen, DeleteModal)
        await pilot.press("escape")  # cancel: nothing happens
        await settle(pilot)
        assert store.get_run(HIGH_LR).id == HIGH_LR
        await pilot.press("D")
        await pilot.click("#delete")
        await wait_for(pilot, lambda: HIGH_LR not in runs_table(app).run_ids)
        with pytest.raises(RunNotFound):
            store.get_run(HIGH_LR)
        # From the run screen: back to the runs, without it.
        await open_run(pilot, BASELINE)
        await pilot.press("D")
        await pilot.click("#delete")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        await wait_for(pilot, lambda: runs_table(app).run_ids == [LIVE, DIVERGED])
        # A running run is not deleted: the store says why.
        runs_table(app).move_cursor(row=0)
        await pilot.press("D")
        await pilot.click("#delete")
        await settle(pilot)
        assert store.get_run(LIVE).status == "running"


@pytest.mark.anyio
async def test_param_columns_are_picked_sorted_by_the_store_and_remembered(
    store: EmbeddedStore, tmp_path: Path
) -> None:
    from runhistory.app.app import make_app
    from runhistory.app.preferences import Preferences
    from runhistory.app.screens.describe import ParamColumnsModal

    from .app_data import fixed_clock

    preferences = Preferences(tmp_path / "config" / "app.json")
    app = make_app(store, clock=fixed_clock(), live_interval=None, preferences=preferences)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        await pilot.press("P")
        assert isinstance(app.screen, ParamColumnsModal)
        assert app.screen.keys == ["batch_size", "lr", "optimizer.name", "seed"]
        await pilot.press("down", "space", "enter")  # lr
        await settle(pilot)
        table = runs_table(app)
        assert "param:lr" in [str(c.key.value) for c in table.ordered_columns]
        assert table.cells_of(BASELINE)[-1] == "0.001"
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        screen.sort_by("param:lr")  # lowest lr first: the store sorts
        await settle(pilot)
        assert table.run_ids == [BASELINE, HIGH_LR, LIVE, DIVERGED]
    assert preferences.param_columns(store.location) == ["lr"]
    again = make_app(store, clock=fixed_clock(), live_interval=None, preferences=preferences)
    async with again.run_test(size=WIDE) as pilot:
        await settle(pilot)
        assert "param:lr" in [str(c.key.value) for c in runs_table(again).ordered_columns]
