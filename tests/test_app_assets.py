"""The assets screen, driven by the Pilot: names, versions, lineage, the jump to the source run, download."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Static

from runhistory.api import AssetNotFound, EmbeddedStore
from runhistory.app.app import RunHistoryApp, make_app
from runhistory.app.screens.assets import AssetsScreen
from runhistory.app.screens.download import DownloadModal
from runhistory.app.screens.error import ErrorModal
from runhistory.app.screens.help import HelpModal
from runhistory.app.screens.run import RunScreen
from runhistory.app.screens.runs import RunsScreen
from runhistory.app.widgets.artifact_tree import ArtifactTree
from runhistory.app.widgets.assets_tables import AssetFiles, AssetLineage, AssetNames, AssetVersions

from ._pilot import SIZE, FlakyStore, fill_download, idle, notifications, settle, wait_for
from .app_data import ARTIFACTS, BASELINE, HIGH_LR, add_assets, fixed_clock, make_store


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    store = make_store(tmp_path / "store")
    add_assets(store)
    return store


async def open_assets(pilot: Any) -> AssetsScreen:
    """From the runs screen, with ``a``."""
    await settle(pilot)
    await pilot.press("a")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, AssetsScreen)
    return screen


def rows(table: Any) -> list[list[str]]:
    """The plain text of a table's rows, top to bottom."""
    return [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]


def lineage(app: RunHistoryApp) -> str:
    return app.screen.query_one(AssetLineage).plain


def highlighted_command(app: RunHistoryApp) -> str | None:
    """The title of the command the open command palette has highlighted, if any."""
    from textual.command import CommandList

    hits = app.screen.query_one(CommandList)
    if hits.highlighted is None:
        return None
    return str(hits.get_option_at_index(hits.highlighted).prompt).split("\n")[0].strip()


@pytest.mark.slow
@pytest.mark.anyio
async def test_assets_open_from_the_runs_screen_and_the_command_palette(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_assets(pilot)
        assert screen.query_one(AssetNames).has_focus
        await pilot.press("escape")
        await idle(pilot)
        assert isinstance(app.screen, RunsScreen)

        # The palette, from the run screen (where a is "All charts").
        app.screen.query_one("#runs").move_cursor(row=0)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RunScreen)
        assert "Assets" in [c.title for c in app.get_system_commands(app.screen)]
        await pilot.press("ctrl+p")
        await idle(pilot)
        await pilot.press(*"assets")
        await wait_for(pilot, lambda: highlighted_command(app) == "Assets")  # the palette shows its hits in batches
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, AssetsScreen)
        await pilot.press("backspace")
        await idle(pilot)
        assert isinstance(app.screen, RunScreen)


@pytest.mark.anyio
async def test_names_versions_files_and_lineage(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_assets(pilot)
        names = screen.query_one(AssetNames)
        assert rows(names) == [
            ["mnist-classifier", "v3", "3", "40m ago"],
            ["mnist-config", "v1", "1", "35m ago"],
        ]
        versions = screen.query_one(AssetVersions)
        assert [r[:4] for r in rows(versions)] == [
            ["v3", "40m ago", BASELINE[:8], "outputs/"],
            ["v2", "1h ago", HIGH_LR[:8], "outputs/"],
            ["v1", "2h ago", BASELINE[:8], "outputs/"],
        ]
        assert [r[4] for r in rows(versions)] == ["3", "1", "3"]
        files = screen.query_one(AssetFiles)
        sha = hashlib.sha256(ARTIFACTS["outputs/confusion.tsv"]).hexdigest()
        assert rows(files)[0] == ["outputs/confusion.tsv", f"{len(ARTIFACTS['outputs/confusion.tsv'])} B", sha[:12]]
        assert [r[0] for r in rows(files)] == ["outputs/confusion.tsv", "outputs/metrics.csv", "outputs/samples.png"]
        text = lineage(app)
        for expected in (
            f"from run {BASELINE[:8]}",
            "completed",
            "mnist-cnn · baseline",
            "prefix outputs/",
            "3 files",
            "promoted 2023-11-14",
            BASELINE,
        ):
            assert expected in text, expected

        # Tab to the versions, down to v2: its lineage is the other run, its one file.
        await pilot.press("tab")
        assert versions.has_focus
        await pilot.press("down")
        await settle(pilot)
        assert screen.version is not None and screen.version.version == 2
        assert f"from run {HIGH_LR[:8]}" in lineage(app) and "high-lr" in lineage(app)
        assert [r[0] for r in rows(files)] == ["outputs/metrics.csv"]

        # Back to the names, down to the config: its versions and its file.
        await pilot.press("shift+tab")
        assert names.has_focus
        await pilot.press("down")
        await settle(pilot)
        assert [r[:4] for r in rows(versions)] == [["v1", "35m ago", BASELINE[:8], "config.json"]]
        assert [r[0] for r in rows(files)] == ["config.json"]
        assert "prefix config.json" in lineage(app)
        # Enter on a name goes to its versions.
        await pilot.press("enter")
        assert versions.has_focus

        # Help names the screen and its keys.
        await pilot.press("question_mark")
        await idle(pilot)
        assert isinstance(app.screen, HelpModal)
        assert app.screen.help_title == "Keys — assets"
        described = {d for _, d in app.screen.rows}
        assert {"Back", "Download", "Reload", "Source run"} <= described


@pytest.mark.slow
@pytest.mark.anyio
async def test_enter_opens_the_source_run_on_its_files(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_assets(pilot)
        # Enter on a version: the run, on its artifacts tab, the promoted folder highlighted.
        await pilot.press("tab", "down", "enter")
        await settle(pilot)
        run_screen = app.screen
        assert isinstance(run_screen, RunScreen) and run_screen.run_data.id == HIGH_LR
        assert run_screen.query_one("TabbedContent").active == "artifacts"  # type: ignore[attr-defined]
        tree = run_screen.query_one(ArtifactTree)
        await wait_for(pilot, lambda: tree.cursor_node is not None and tree.cursor_node.data == "outputs/")
        assert tree.has_focus
        await pilot.press("escape")
        await idle(pilot)
        assert app.screen is screen

        # Enter on a file: that file highlighted.
        await pilot.press("up")
        await settle(pilot)
        screen.query_one(AssetFiles).focus()
        await pilot.press("down", "enter")
        await settle(pilot)
        run_screen = app.screen
        assert isinstance(run_screen, RunScreen) and run_screen.run_data.id == BASELINE
        tree = run_screen.query_one(ArtifactTree)
        await wait_for(
            pilot, lambda: getattr(tree.cursor_node and tree.cursor_node.data, "path", None) == "outputs/metrics.csv"
        )
        await pilot.press("escape")
        await idle(pilot)

        # Enter on the lineage, of a file promoted on its own.
        screen.query_one(AssetNames).focus()
        await pilot.press("down")
        await settle(pilot)
        screen.query_one(AssetLineage).focus()
        await pilot.press("enter")
        await settle(pilot)
        run_screen = app.screen
        assert isinstance(run_screen, RunScreen) and run_screen.run_data.id == BASELINE
        tree = run_screen.query_one(ArtifactTree)
        await wait_for(
            pilot, lambda: getattr(tree.cursor_node and tree.cursor_node.data, "path", None) == "config.json"
        )


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_deleted_source_run_is_said_clearly(store: EmbeddedStore) -> None:
    flaky = FlakyStore(store)
    flaky.deleted.add(HIGH_LR)
    app = make_app(flaky, clock=fixed_clock(), live_interval=None)  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_assets(pilot)
        await pilot.press("tab", "down")
        await settle(pilot)
        assert f"from run {HIGH_LR[:8]}  no longer in the store" in lineage(app)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen  # nothing opened, nothing crashed
        assert any(
            f"Run {HIGH_LR[:8]}, which mnist-classifier v2 was promoted from, is no longer in the store" in n
            for n in notifications(app)
        )
        # Its files still download.
        assert screen.check_action("download", ())


@pytest.mark.slow
@pytest.mark.anyio
async def test_download_a_version(store: EmbeddedStore, tmp_path: Path) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_assets(pilot)
        await pilot.press("d")
        await idle(pilot)
        modal = app.screen
        assert isinstance(modal, DownloadModal)
        assert str(modal.query_one("#download-title", Static).render()) == "Download asset mnist-classifier v3"
        what = str(modal.query_one("#download-what", Static).render())
        assert "Asset mnist-classifier v3: 3 files" in what and "outputs/samples.png" in what
        assert modal.query_one("#download-dest", Input).value == str(Path.cwd())  # the default
        modal.query_one("#download-dest", Input).value = str(tmp_path / "dl")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen)
        out = tmp_path / "dl" / "outputs"
        assert sorted(p.name for p in out.iterdir()) == ["confusion.tsv", "metrics.csv", "samples.png"]
        for version_file in store.get_asset("mnist-classifier", 3).files:
            data = (tmp_path / "dl" / version_file.path).read_bytes()
            assert hashlib.sha256(data).hexdigest() == version_file.sha256
        assert (out / "samples.png").read_bytes() == ARTIFACTS["outputs/samples.png"]
        assert any(f"3 files below {tmp_path / 'dl'}" in n for n in notifications(app))

        # The one-file config: the notification names the file.
        screen.query_one(AssetNames).focus()
        await pilot.press("down")
        await settle(pilot)
        await fill_download(pilot, tmp_path / "cfg")
        await pilot.click("#download")
        await wait_for(pilot, lambda: app.screen is screen)
        assert (tmp_path / "cfg" / "config.json").read_bytes() == ARTIFACTS["config.json"]
        assert any(str(tmp_path / "cfg" / "config.json") in n for n in notifications(app))


@pytest.mark.slow
@pytest.mark.anyio
async def test_download_errors_stay_in_the_modal(store: EmbeddedStore, tmp_path: Path) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await open_assets(pilot)
        real_open = store.open_asset_file

        def tampered(name: str, version: int, path: str) -> Any:
            import io

            real_open(name, version, path).close()
            return io.BytesIO(b"tampered")

        store.open_asset_file = tampered  # type: ignore[method-assign]
        modal = await fill_download(pilot, tmp_path / "dl")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "sha256" in str(modal.query_one("#download-error", Static).render()))
        assert app.screen is modal
        assert not (tmp_path / "dl" / "outputs" / "confusion.tsv").exists()
        await pilot.press("escape")
        assert isinstance(app.screen, AssetsScreen)


@pytest.mark.slow
@pytest.mark.anyio
async def test_an_empty_store_says_how_to_make_an_asset(tmp_path: Path) -> None:
    app = make_app(make_store(tmp_path / "store"), clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_assets(pilot)
        note = str(screen.query_one("#assets-note", Static).render())
        assert "No assets yet" in note and "p on its Artifacts tab" in note and "runhistory promote" in note
        assert not screen.query_one("#assets-body").display
        assert not screen.check_action("download", ())
        await pilot.press("d", "enter")
        assert app.screen is screen

        # A promotion meanwhile: r reads it.
        add_assets(app.store)
        await pilot.press("r")
        await settle(pilot)
        assert screen.query_one("#assets-body").display
        assert screen.query_one(AssetNames).row_count == 2


@pytest.mark.slow
@pytest.mark.anyio
async def test_reload_keeps_the_cursors_and_shows_new_versions(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_assets(pilot)
        await pilot.press("tab", "down")
        await settle(pilot)
        store.promote(HIGH_LR, "outputs/metrics.csv", "mnist-classifier")
        await pilot.press("ctrl+r")
        await settle(pilot)
        versions = screen.query_one(AssetVersions)
        assert [r[0] for r in rows(versions)] == ["v4", "v3", "v2", "v1"]
        assert screen.version is not None and screen.version.version == 2
        assert rows(screen.query_one(AssetNames))[0][:3] == ["mnist-classifier", "v4", "4"]


@pytest.mark.slow
@pytest.mark.anyio
async def test_an_asset_gone_since_the_list_was_read_is_dropped(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_assets(pilot)
        listed = store.list_assets()
        real_versions = store.list_asset_versions

        def versions(name: str) -> Any:
            if name == "mnist-config":
                raise AssetNotFound(f"no asset {name!r}")
            return real_versions(name)

        store.list_assets = lambda: [a for a in listed if a.name != "mnist-config"]  # type: ignore[method-assign]
        store.list_asset_versions = versions  # type: ignore[method-assign]
        await pilot.press("down")
        await settle(pilot)
        assert not isinstance(app.screen, ErrorModal)
        assert rows(screen.query_one(AssetNames)) == [["mnist-classifier", "v3", "3", "40m ago"]]
        assert screen.version is not None and screen.version.name == "mnist-classifier"


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_store_failure_is_reported(store: EmbeddedStore) -> None:
    flaky = FlakyStore(store)
    app = make_app(flaky, clock=fixed_clock(), live_interval=None)  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        flaky.down = True
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, ErrorModal)
        assert "connection refused" in str(app.screen.query_one("#error-message", Static).render())
        await pilot.press("escape")
        await idle(pilot)
        screen = app.screen
        assert isinstance(screen, AssetsScreen)
        assert "could not be read" in str(screen.query_one("#assets-note", Static).render())
        # Back up: r reads them.
        flaky.down = False
        await pilot.press("r")
        await settle(pilot)
        assert screen.query_one(AssetNames).row_count == 2
        assert screen.query_one(AssetVersions).row_count == 3


@pytest.mark.anyio
async def test_usable_at_80_by_24(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_assets(pilot)
        for pane in (AssetNames, AssetVersions, AssetLineage, AssetFiles):
            widget = screen.query_one(pane)
            assert widget.region.width == 80 and widget.region.height >= 4, pane.__name__
            if pane is not AssetLineage:
                table: Any = widget
                assert sum(c.get_render_width(table) for c in table.ordered_columns) <= 80, pane.__name__
        assert screen.query_one(AssetVersions).region.y > screen.query_one(AssetNames).region.y


def test_every_binding_has_a_description_and_a_tooltip() -> None:
    for owner in (AssetsScreen, AssetNames, AssetVersions, AssetFiles, AssetLineage):
        for binding in owner.BINDINGS:
            assert binding.description and binding.tooltip, (owner.__name__, binding.key)  # type: ignore[union-attr]
