"""The run screen's media tab, driven through Textual's Pilot on a real store."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from textual.pilot import Pilot
from textual.widgets import Static

from runhistory.api import EmbeddedStore
from runhistory.api._media import media_path
from runhistory.app.app import make_app
from runhistory.app.widgets.artifact_tree import ArtifactTree
from runhistory.app.widgets.media_view import EMPTY_NOTE, MediaNames, MediaPicture, MediaView, StepSlider
from runhistory.logger import Logger

from ._inprocess import in_process
from ._pilot import SIZE, fixed_app, open_run, settle, wait_for
from .app_data import (
    BASELINE,
    CONFUSION_STEPS,
    HIGH_LR,
    LIVE,
    SAMPLE_STEPS,
    add_media,
    confusion_png,
    fixed_clock,
    make_store,
    media_png,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    s = make_store(tmp_path / "store")
    add_media(s)
    return s


async def open_media(pilot: Pilot[Any], run_id: str = BASELINE) -> MediaView:
    await settle(pilot)
    await open_run(pilot, run_id)
    await pilot.press("6")
    await settle(pilot)
    return pilot.app.screen.query_one(MediaView)


def drawn(view: MediaView) -> np.ndarray | None:
    """The pixels of the picture shown (before it is fitted to the pane)."""
    picture = view.query_one(MediaPicture).picture
    return None if picture is None else np.asarray(picture.image)


def rgb(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def title(view: MediaView) -> str:
    return str(view.query_one("#media-title", Static).render())


async def test_the_media_tab_lists_the_images_and_opens_on_the_last_step(store: EmbeddedStore) -> None:
    async with fixed_app(store).run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_run(pilot, BASELINE)
        view = screen.query_one(MediaView)
        # Listed with the run's files; neither built nor read while hidden.
        assert view.step == 300 and not view.built and not view.query(MediaPicture)
        await pilot.press("6")
        await settle(pilot)
        assert pilot.app.focused is view.query_one(MediaNames)
        assert list(view.images) == ["samples", "val/confusion"]
        assert (view.image_name, view.steps, view.step) == ("samples", list(SAMPLE_STEPS), 300)
        assert title(view) == "samples · step 300 · 4 of 4 (last)"
        assert view.caption == "epoch 3 · val loss 0.311"
        assert view.text.startswith("48×32 PNG · ")
        assert np.array_equal(drawn(view), rgb(media_png(300)))  # exactly the logged pixels
        slider = view.query_one(StepSlider)
        assert (slider.steps, slider.index) == (list(SAMPLE_STEPS), 3)


@pytest.mark.slow
async def test_arrows_home_end_and_pages_go_through_the_logged_steps(store: EmbeddedStore) -> None:
    async with fixed_app(store).run_test(size=SIZE) as pilot:
        view = await open_media(pilot)
        seen = []
        for key in ("left", "left", "left", "left", "right", "end", "home", "pagedown", "pageup"):
            await pilot.press(key)
            await settle(pilot)
            seen.append(view.step)
            assert np.array_equal(drawn(view), rgb(media_png(view.step or 0)))
            assert view.caption.startswith(f"epoch {(view.step or 0) // 100} ")
        assert seen == [200, 100, 0, 0, 100, 300, 0, 300, 0]
        assert title(view) == "samples · step 0 · 1 of 4"


@pytest.mark.slow
async def test_another_name_keeps_the_nearest_step(store: EmbeddedStore) -> None:
    async with fixed_app(store).run_test(size=SIZE) as pilot:
        view = await open_media(pilot)
        await pilot.press("left", "left")  # samples at step 100
        await settle(pilot)
        await pilot.press("down")
        await settle(pilot)
        assert (view.image_name, view.step, view.steps) == ("val/confusion", 99, list(CONFUSION_STEPS))
        assert np.array_equal(drawn(view), rgb(confusion_png(99)))
        assert view.caption == ""
        await pilot.press("right", "up")
        await settle(pilot)
        assert (view.image_name, view.step) == ("samples", 200)


async def test_a_running_run_shows_new_steps_as_they_come_and_stays_where_the_user_went(
    store: EmbeddedStore, tmp_path: Path
) -> None:
    logger = Logger(store, LIVE, owner=False, cwd=str(tmp_path))
    ramp = np.arange(24, dtype=np.uint8).reshape(4, 6) * 10
    for step in (0, 1):
        logger.log_image("live/frames", ramp + step, step=step)
    logger.flush()
    app = make_app(store, clock=fixed_clock(), live_interval=0.1)
    try:
        async with app.run_test(size=SIZE) as pilot:
            view = await open_media(pilot, LIVE)
            assert view.step == 1
            logger.log_image("live/frames", ramp + 2).wait()  # the next step, logged while the app looks
            await wait_for(pilot, lambda: view.step == 2 and drawn(view) is not None and drawn(view)[0, 0, 0] == 2)
            await pilot.press("home")
            await settle(pilot)
            logger.log_image("live/frames", ramp + 3).wait()
            await wait_for(pilot, lambda: view.steps == [0, 1, 2, 3])
            assert view.step == 0  # the user went back: the view stays there
            assert np.array_equal(drawn(view)[:, :, 0], ramp)  # type: ignore[index]
    finally:
        logger.finish()


@pytest.mark.slow
async def test_a_run_without_images_says_how_to_log_them(store: EmbeddedStore) -> None:
    async with fixed_app(store).run_test(size=SIZE) as pilot:
        view = await open_media(pilot, HIGH_LR)
        assert view.image_name is None and view.images == {}
        assert view.text == EMPTY_NOTE
        assert "logger.log_image(name, image, step=step" in str(view.query_one("#media-note", Static).render())
        await pilot.press("left", "home", "end")  # nothing to move through: nothing happens
        await settle(pilot)


@pytest.mark.slow
async def test_broken_and_hostile_files_are_notes_not_crashes(store: EmbeddedStore) -> None:
    store.put_artifact(BASELINE, media_path("broken", 1), b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    store.put_artifact(
        BASELINE, media_path("evil\u202etxt.exe", 1), media_png(0, caption="\x1b[2Jwiped\x1b]0;title\x07")
    )
    store.put_artifact(BASELINE, "media/notes.txt", b"not an image: not listed")
    async with fixed_app(store).run_test(size=SIZE) as pilot:
        view = await open_media(pilot)
        assert list(view.images) == ["broken", "evil\u202etxt.exe", "samples", "val/confusion"]
        prompts = [str(option.prompt) for option in view.query_one(MediaNames).options]
        assert prompts[1] == "eviltxt.exe"  # the bidi override never reaches the terminal
        await pilot.press("home")
        await settle(pilot)
        assert view.image_name == "broken"
        assert "not drawn" in view.text and drawn(view) is None
        await pilot.press("down")
        await settle(pilot)
        assert view.caption == "wiped"
        assert drawn(view) is not None


@pytest.mark.slow
async def test_the_media_tab_over_http(store: EmbeddedStore) -> None:
    async with fixed_app(in_process(store)).run_test(size=SIZE) as pilot:
        view = await open_media(pilot)
        assert (view.image_name, view.step) == ("samples", 300)
        assert np.array_equal(drawn(view), rgb(media_png(300)))


@pytest.mark.slow
async def test_the_artifacts_tab_keeps_the_images_folded(store: EmbeddedStore) -> None:
    async with fixed_app(store).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_run(pilot, BASELINE)
        await pilot.press("5")
        await settle(pilot)
        tree = pilot.app.screen.query_one(ArtifactTree)
        folded = {str(n.data): n.is_expanded for n in tree._walk() if isinstance(n.data, str) and n.data}
        assert folded["media/"] is False and folded["outputs/"] is True
        assert tree.select_path(media_path("samples", 100))  # still there, one key away
