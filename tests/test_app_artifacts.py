"""The artifacts tab, driven by the Pilot: the tree, each kind of preview, and hostile files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.table import Table
from textual.widgets import Static

from runhistory.api import EmbeddedStore
from runhistory.app.app import RunHistoryApp, make_app
from runhistory.app.widgets.artifact_preview import ArtifactPreview
from runhistory.app.widgets.artifact_tree import ArtifactTree
from runhistory.app.widgets.console_log import ConsoleLog

from .app_data import BASELINE, DIVERGED, LIVE, fixed_clock, make_store
from .test_app import SIZE, open_run, pilot_test, settle, wait_for

#: Bytes a terminal would act on, in what the app draws (its SVG export keeps the text).
ESCAPE = "\x1b"


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    return make_store(tmp_path / "store")


def preview_of(app: RunHistoryApp) -> ArtifactPreview:
    return app.screen.query_one(ArtifactPreview)


def title_of(app: RunHistoryApp) -> str:
    return str(preview_of(app).query_one("#preview-title", Static).render())


async def choose(pilot: object, path: str) -> ArtifactPreview:
    """Highlight ``path`` in the tree and wait for its preview."""
    app: RunHistoryApp = pilot.app  # type: ignore[attr-defined]
    tree = app.screen.query_one(ArtifactTree)
    assert tree.select_path(path)
    preview = preview_of(app)
    await wait_for(pilot, lambda: preview.preview is not None and title_of(app).startswith(path + " ·"))  # type: ignore[arg-type]
    return preview


@pilot_test
async def test_artifacts_tab_shows_the_tree_and_previews_each_kind(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_run(pilot, BASELINE)
        await pilot.press("5")
        await settle(pilot)
        tree = app.screen.query_one(ArtifactTree)
        assert tree.has_focus
        assert [a.path for a in tree.artifacts] == [
            "checkpoints/model.pt", "config.json", "outputs/confusion.tsv", "outputs/metrics.csv",
            "outputs/samples.png", "train.py",
        ]  # fmt: skip
        folder = tree.node_for("outputs/")
        assert folder is not None and folder.is_expanded
        assert str(folder.label).startswith("outputs/") and "B" in str(folder.label)
        # A folder closes and opens from the keyboard.
        tree.select_path("outputs/")
        await pilot.press("space")
        assert not folder.is_expanded
        await pilot.press("space")
        assert folder.is_expanded

        text = await choose(pilot, "train.py")
        assert text.preview is not None and text.preview.kind == "text"
        assert "python" in title_of(app).lower()
        assert 'print(f"training with lr={lr}")' in text.text

        data = await choose(pilot, "config.json")
        assert data.preview is not None and data.preview.kind == "json"
        assert data.text.splitlines()[:3] == ["{", '  "lr": 0.001,', '  "epochs": 30,']

        table = await choose(pilot, "outputs/metrics.csv")
        assert table.preview is not None and table.preview.kind == "table"
        assert isinstance(table.preview.body, Table)
        assert [str(c.header) for c in table.preview.body.columns] == ["epoch", "loss"]
        assert table.text == "epoch\tloss\n1\t0.5"

        tsv = await choose(pilot, "outputs/confusion.tsv")
        assert tsv.preview is not None and tsv.preview.kind == "table"
        assert tsv.text.splitlines()[1] == "cat\t91\t9"

        image = await choose(pilot, "outputs/samples.png")
        assert image.preview is not None and image.preview.kind == "image"
        assert "PNG image, 64×32 pixels" in image.text

        binary = await choose(pilot, "checkpoints/model.pt")
        assert binary.preview is not None and binary.preview.kind == "binary"
        info = next(a for a in tree.artifacts if a.path == "checkpoints/model.pt")
        assert "zip archive" in binary.text and f"sha256 {info.sha256}" in binary.text
        assert "4.0 KiB" in binary.text and "\x00" not in binary.text

        # A folder is summed up, without reading a file.
        tree.select_path("outputs/")
        await wait_for(pilot, lambda: preview_of(app).preview is not None and preview_of(app).preview.kind == "folder")  # type: ignore[union-attr]
        assert preview_of(app).text.startswith("3 files")


@pilot_test
async def test_a_run_without_artifacts_says_so(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_run(pilot, DIVERGED)
        await pilot.press("5")
        await settle(pilot)
        assert "no files" in preview_of(app).text


@pilot_test
async def test_a_hostile_artifact_cannot_reach_the_terminal(store: EmbeddedStore) -> None:
    hostile = (
        b"title \x1b]0;owned\x07 clear \x1b[2J\x1b[H red \x1b[31mRED\x1b[0m bell \x07 c1 \xc2\x9b31m\n"
        b"invalid \xff\xfe\xc3 utf-8\n"
        + b"A" * (10 * 1024 * 1024) + b"\n"
        b"after\n"
    )  # fmt: skip
    store.put_artifact(BASELINE, "logs/hostile.txt", hostile)
    store.put_artifact(BASELINE, "logs/console.txt", hostile[:400] + b"\nend\n")
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_run(pilot, BASELINE)
        await pilot.press("5")
        await settle(pilot)
        preview = await choose(pilot, "logs/hostile.txt")
        assert preview.preview is not None and preview.preview.kind == "text" and preview.preview.cut
        assert "head shown" in title_of(app)
        lines = preview.text.splitlines()
        assert lines[0].startswith("title  clear  red RED bell  c1")
        assert lines[1] == "invalid \ufffd\ufffd\ufffd utf-8"
        assert len(lines[2]) <= 1000 and lines[2].endswith("…")
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", preview.text)
        await pilot.pause()
        screen = app.export_screenshot()
        assert ESCAPE + "]0;owned" not in screen and "owned" not in screen and "\x07" not in screen
        assert "\x9b" not in screen
        # The console shows the same bytes harmlessly.
        await pilot.press("4")
        await settle(pilot)
        assert app.screen.query_one(ConsoleLog).text.startswith("title  clear  red RED bell  c1")
        screen = app.export_screenshot()
        assert "owned" not in screen and "\x07" not in screen


@pilot_test
async def test_a_running_runs_files_update_in_place(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_run(pilot, LIVE)
        await pilot.press("5")
        preview = await choose(pilot, "logs/console.txt")
        assert preview.text.endswith("epoch 1/90 loss 2.31")
        tree = app.screen.query_one(ArtifactTree)
        # The console grows: the preview follows, the cursor stays on the file.
        store.put_artifact(LIVE, "logs/console.txt", b"training resnet on cifar-10\nepoch 1/90 loss 2.31\nepoch 2/90 loss 1.20\n")
        await wait_for(pilot, lambda: preview.text.endswith("epoch 2/90 loss 1.20"))
        assert tree.cursor_node is not None and tree.cursor_node.data.path == "logs/console.txt"  # type: ignore[union-attr]
        # A new file appears in the tree.
        store.put_artifact(LIVE, "outputs/notes.md", b"# notes\n")
        await wait_for(pilot, lambda: tree.node_for("outputs/notes.md") is not None)
        assert tree.cursor_node is not None and tree.cursor_node.data.path == "logs/console.txt"  # type: ignore[union-attr]
