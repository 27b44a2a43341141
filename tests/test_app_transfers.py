"""Download (``d``) and promote (``p``) on the artifacts tab, driven by the Pilot."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button, Input, ProgressBar

from runhistory.api import EmbeddedStore, RunNotFound
from runhistory.app.app import make_app
from runhistory.app.screens.download import DownloadModal
from runhistory.app.screens.promote import PromoteModal

from ._pilot import SIZE, fill_download, idle, notifications, on_artifacts, open_run, settle, text_of, wait_for
from .app_data import ARTIFACTS, BASELINE, fixed_clock, make_store


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    return make_store(tmp_path / "store")


@pytest.mark.anyio
async def test_download_a_file(store: EmbeddedStore, tmp_path: Path) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await on_artifacts(pilot, "checkpoints/model.pt")
        await pilot.press("d")
        await idle(pilot)
        modal = app.screen
        assert isinstance(modal, DownloadModal)
        assert "checkpoints/model.pt" in text_of(app, "#download-what")
        assert modal.query_one("#download-dest", Input).value == str(Path.cwd())  # the default
        modal.query_one("#download-dest", Input).value = str(tmp_path / "dl")
        bar = modal.query_one(ProgressBar)
        assert bar.styles.visibility == "hidden"  # no bar before there is something to show
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is not modal)
        assert bar.progress == len(ARTIFACTS["checkpoints/model.pt"]) and bar.styles.visibility == "visible"
        saved = tmp_path / "dl" / "checkpoints" / "model.pt"
        assert saved.read_bytes() == ARTIFACTS["checkpoints/model.pt"]
        assert any(str(saved) in n for n in notifications(app))


@pytest.mark.slow
@pytest.mark.anyio
async def test_download_a_folder(store: EmbeddedStore, tmp_path: Path) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await on_artifacts(pilot, "outputs/")
        modal = await fill_download(pilot, tmp_path / "dl", "Folder outputs/: 3 files")
        await pilot.click("#download")
        await wait_for(pilot, lambda: app.screen is not modal)
        out = tmp_path / "dl" / "outputs"
        assert sorted(p.name for p in out.iterdir()) == ["confusion.tsv", "metrics.csv", "samples.png"]
        assert (out / "confusion.tsv").read_bytes() == ARTIFACTS["outputs/confusion.tsv"]
        assert (out / "metrics.csv").read_bytes() == b"epoch,loss\n1,0.5\n"
        assert any(f"3 files below {tmp_path / 'dl'}" in n for n in notifications(app))
        assert not (tmp_path / "dl" / "train.py").exists()


@pytest.mark.slow
@pytest.mark.anyio
async def test_download_errors_are_shown_in_the_modal(store: EmbeddedStore, tmp_path: Path) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await on_artifacts(pilot, "train.py")
        # A folder where the file should go: said in words, the folder named, nothing offered to replace.
        (tmp_path / "blocked" / "train.py").mkdir(parents=True)
        modal = await fill_download(pilot, tmp_path / "blocked")
        await pilot.click("#download")
        await wait_for(pilot, lambda: "Not downloaded" in text_of(app, "#download-error"))
        error = text_of(app, "#download-error")
        assert str(tmp_path / "blocked" / "train.py") in error and "a folder is there" in error
        assert app.screen is modal and not modal.query_one("#download", Button).disabled
        assert not modal.has_class("-asking")

        # Bytes that do not match their sha256: nothing kept.
        real_open = store.open_artifact

        def tampered(run_id: str, path: str) -> Any:
            import io

            real_open(run_id, path).close()
            return io.BytesIO(b"tampered")

        store.open_artifact = tampered  # type: ignore[method-assign]
        modal.query_one("#download-dest", Input).value = str(tmp_path / "dl")
        await pilot.press("enter")  # the field kept the focus
        await wait_for(pilot, lambda: "sha256" in text_of(app, "#download-error"))
        assert not (tmp_path / "dl" / "train.py").exists()
        assert not (tmp_path / "dl" / "train.py.part").exists()
        await pilot.press("escape")
        assert not isinstance(app.screen, DownloadModal)


@pytest.mark.slow
@pytest.mark.anyio
async def test_download_asks_before_replacing_a_file_with_other_contents(store: EmbeddedStore, tmp_path: Path) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    mine = tmp_path / "dl" / "outputs" / "confusion.tsv"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"my own table")
    async with app.run_test(size=SIZE) as pilot:
        await on_artifacts(pilot, "outputs/")
        modal = await fill_download(pilot, tmp_path / "dl")
        await pilot.press("enter")
        await wait_for(pilot, lambda: modal.has_class("-asking"))
        question = text_of(app, "#download-question")
        assert "1 file is already there with other contents" in question and str(mine) in question
        replace = modal.query_one("#replace", Button)
        assert replace.display and not modal.query_one("#download", Button).display
        # Nothing written yet: not the file asked about, nor the others.
        assert [p.name for p in mine.parent.iterdir()] == ["confusion.tsv"] and mine.read_bytes() == b"my own table"
        # Enter again only asks again: replacing takes the Replace button.
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is modal and modal.has_class("-asking") and mine.read_bytes() == b"my own table"
        await pilot.click("#replace")
        await wait_for(pilot, lambda: app.screen is not modal)
        assert mine.read_bytes() == ARTIFACTS["outputs/confusion.tsv"]
        assert sorted(p.name for p in mine.parent.iterdir()) == ["confusion.tsv", "metrics.csv", "samples.png"]
        assert any(f"Downloaded 3 files below {tmp_path / 'dl'}" in n for n in notifications(app))


@pytest.mark.slow
@pytest.mark.anyio
async def test_download_asks_again_for_another_folder_and_cancel_keeps_the_file(
    store: EmbeddedStore, tmp_path: Path
) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    mine = tmp_path / "dl" / "train.py"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"my own script")
    async with app.run_test(size=SIZE) as pilot:
        await on_artifacts(pilot, "train.py")
        modal = await fill_download(pilot, tmp_path / "dl")
        await pilot.press("enter")
        await wait_for(pilot, lambda: modal.has_class("-asking"))
        # Another folder: the question was about the first one.
        modal.query_one("#download-dest", Input).value = str(tmp_path / "other")
        await idle(pilot)
        assert not modal.has_class("-asking") and modal.query_one("#download", Button).display
        modal.query_one("#download-dest", Input).value = str(tmp_path / "dl")
        await pilot.press("enter")
        await wait_for(pilot, lambda: modal.has_class("-asking"))
        await pilot.press("escape")
        assert app.screen is not modal
        assert mine.read_bytes() == b"my own script" and not (tmp_path / "other").exists()


@pytest.mark.slow
@pytest.mark.anyio
async def test_download_skips_a_file_already_there(store: EmbeddedStore, tmp_path: Path) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    same = tmp_path / "dl" / "checkpoints" / "model.pt"
    same.parent.mkdir(parents=True)
    same.write_bytes(ARTIFACTS["checkpoints/model.pt"])
    os.utime(same, (1_000_000, 1_000_000))
    async with app.run_test(size=SIZE) as pilot:
        await on_artifacts(pilot, "checkpoints/model.pt")
        modal = await fill_download(pilot, tmp_path / "dl")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is not modal)
        assert same.stat().st_mtime == 1_000_000  # left as it was
        assert f"Already there (same sha256): {same}" in notifications(app)


@pytest.mark.slow
@pytest.mark.anyio
async def test_promote_checks_the_name_then_makes_versions(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await on_artifacts(pilot, "outputs/")
        await pilot.press("p")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, PromoteModal)
        assert modal.query_one("#promote-prefix", Input).value == "outputs/"
        files = text_of(app, "#promote-files")
        assert "3 files will go in" in files and "outputs/samples.png" in files
        button = modal.query_one("#promote", Button)
        assert button.disabled  # no name yet

        await pilot.press(*"bad name!")
        assert "may hold only letters" in text_of(app, "#promote-name-error")
        assert button.disabled
        await pilot.press("enter")  # refused: nothing promoted
        await settle(pilot)
        assert store.list_assets() == []

        modal.query_one("#promote-name", Input).value = ""
        await pilot.press(*"model")
        await idle(pilot)
        assert text_of(app, "#promote-name-error") == ""
        assert not button.disabled
        await pilot.click("#promote")
        await wait_for(pilot, lambda: app.screen is not modal)  # closed once promoted
        assert "Promoted model:1 (3 files, 6.1 KiB)" in notifications(app)
        # The next version, from the dialog opened again.
        await pilot.press("p")
        await settle(pilot)
        again = app.screen
        assert isinstance(again, PromoteModal)
        await pilot.press(*"model", "enter")
        await wait_for(pilot, lambda: app.screen is not again)
        assert [f.path for f in store.get_asset("model", 2).files] == [
            "outputs/confusion.tsv",
            "outputs/metrics.csv",
            "outputs/samples.png",
        ]
        assert any("model:2" in n for n in notifications(app))
        assert not isinstance(app.screen, PromoteModal)


@pytest.mark.slow
@pytest.mark.anyio
async def test_promote_closes_after_success_so_enter_twice_makes_one_version(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await on_artifacts(pilot, "config.json")
        await pilot.press("p")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, PromoteModal)
        await pilot.press(*"cfg")
        await pilot.press("enter", "enter")  # quickly: the second while the first promotes
        await wait_for(pilot, lambda: app.screen is not modal)
        await settle(pilot)
        # Enter again once the version exists (what made a duplicate :2): the dialog is gone.
        await pilot.press("enter")
        await settle(pilot)
        assert [v.version for v in store.list_asset_versions("cfg")] == [1]
        assert "Promoted cfg:1 (1 file, 75 B)" in notifications(app)
        assert not isinstance(app.screen, PromoteModal)


@pytest.mark.slow
@pytest.mark.anyio
async def test_promote_a_file_and_errors_shown_in_the_modal(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await on_artifacts(pilot, "config.json")
        await pilot.press("p")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, PromoteModal)
        assert modal.query_one("#promote-prefix", Input).value == "config.json"
        assert "1 file will go in" in text_of(app, "#promote-files")

        # A prefix with no files: said so, and nothing to promote.
        modal.query_one("#promote-prefix", Input).value = "nothing/"
        await settle(pilot)
        assert "nothing to promote" in text_of(app, "#promote-files")
        await pilot.press(*"cfg")
        assert modal.query_one("#promote", Button).disabled

        modal.query_one("#promote-prefix", Input).value = "config.json"
        await settle(pilot)
        assert not modal.query_one("#promote", Button).disabled

        def gone(run_id: str, prefix: str, name: str) -> Any:
            raise RunNotFound(f"no run {run_id[:8]}")

        store.promote = gone  # type: ignore[method-assign]
        await pilot.click("#promote")
        await wait_for(pilot, lambda: "Not promoted: no run a1a1a1a1" in text_of(app, "#promote-result"))
        assert app.screen is modal  # no error modal on top, no traceback


@pytest.mark.slow
@pytest.mark.anyio
async def test_download_and_promote_belong_to_the_artifacts_tab(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_run(pilot, BASELINE)
        await pilot.press("d", "p")
        assert app.screen is screen  # on the charts tab the keys do nothing
        assert "download" not in {
            b.binding.action for b in screen.active_bindings.values() if screen.check_action(b.binding.action, ())
        }
        await pilot.press("5")
        await settle(pilot)
        await pilot.press("d")
        assert isinstance(app.screen, DownloadModal)
        await pilot.press("escape")
        assert app.screen is screen
