"""What the app's tests share: driving the real app through Textual's Pilot and
waiting on what it shows (never on fixed pauses)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Group
from textual.pilot import Pilot
from textual.widgets import Input, Static
from textual.worker import WorkerCancelled, WorkerFailed

from runhistory.api import EmbeddedStore, RunNotFound, StoreUnavailable
from runhistory.app.app import RunHistoryApp, make_app
from runhistory.app.previews import Picture, Preview
from runhistory.app.screens.download import DownloadModal
from runhistory.app.screens.run import RunScreen
from runhistory.app.widgets.artifact_preview import ArtifactPreview
from runhistory.app.widgets.artifact_tree import ArtifactTree
from runhistory.app.widgets.runs_table import RunsTable

from .app_data import BASELINE, fixed_clock

#: The terminal the app's tests run in.
SIZE = (120, 36)
#: The terminal the snapshots are taken in.
SNAPSHOT_SIZE = (110, 32)


def fixed_app(store: Any) -> RunHistoryApp:
    """The app on ``store`` with a fixed clock, no live refresh and a fixed subtitle (for snapshots)."""
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    app.sub_title = "~/.local/share/runhistory"  # not the temporary folder's name
    return app


async def idle(pilot: Pilot[Any]) -> None:
    """Let what is queued be handled and painted: a barrier through every widget's queue.

    Unlike ``Pilot.pause()``, which sleeps until the process's CPU time stops
    moving (up to a second, and the store's worker threads keep it moving),
    this waits for exactly the messages posted so far.
    """
    await pilot._wait_for_screen()
    await asyncio.sleep(0)
    pilot.app.screen._on_timer_update()


async def settle(pilot: Pilot[Any]) -> None:
    """Wait until the workers are done and what they read is shown (a read may start another)."""
    quiet = 0
    for _ in range(50):
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerCancelled:  # an exclusive read replaced another: wait for the new one
            continue
        except WorkerFailed:  # a failed read is the app's to show; the tests look at what it shows
            continue
        await idle(pilot)
        # A live refresh starts again every tick: what matters is the reads the screen asked for.
        live = getattr(pilot.app.screen, "LIVE_GROUPS", frozenset())
        busy = any(w.is_running and w.group not in live for w in pilot.app.workers)
        quiet = 0 if busy else quiet + 1
        if quiet == 3:
            return


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the screen did not change in time")
        await pilot.pause(0.05)


def runs_table(app: RunHistoryApp) -> RunsTable:
    return app.screen.query_one(RunsTable)


def notifications(app: RunHistoryApp) -> list[str]:
    """The messages of the notifications the app has shown."""
    return [n.message for n in app._notifications]


async def open_run(pilot: Pilot[Any], run_id: str) -> RunScreen:
    table = runs_table(pilot.app)  # type: ignore[arg-type]
    table.move_cursor(row=table.run_ids.index(run_id))
    await pilot.press("enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, RunScreen)
    return screen


def preview_of(app: RunHistoryApp) -> ArtifactPreview:
    return app.screen.query_one(ArtifactPreview)


def title_of(app: RunHistoryApp) -> str:
    return str(preview_of(app).query_one("#preview-title", Static).render())


async def open_artifacts(pilot: Any, run_id: str = BASELINE) -> None:
    """From the runs screen, open ``run_id`` on its artifacts tab, its files read."""
    await settle(pilot)
    await open_run(pilot, run_id)
    await pilot.press("5")
    await settle(pilot)


async def choose(pilot: object, path: str) -> ArtifactPreview:
    """Highlight ``path`` in the tree and wait for its preview."""
    app: RunHistoryApp = pilot.app  # type: ignore[attr-defined]
    tree = app.screen.query_one(ArtifactTree)
    assert tree.select_path(path)
    preview = preview_of(app)
    await wait_for(pilot, lambda: preview.preview is not None and title_of(app).startswith(path + " ·"))  # type: ignore[arg-type]
    return preview


def is_drawn(preview: Preview) -> bool:
    return isinstance(preview.body, Group) and isinstance(preview.body.renderables[-1], Picture)


async def on_artifacts(pilot: Any, path: str) -> None:
    """Open the baseline run's artifacts tab with ``path`` highlighted."""
    await open_artifacts(pilot)
    assert pilot.app.screen.query_one(ArtifactTree).select_path(path)
    await idle(pilot)


def text_of(app: RunHistoryApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def fill_download(pilot: Any, dest: Path, what: str = "") -> DownloadModal:
    """Open the download modal with ``d``, check it offers ``what``, and fill in ``dest`` (not yet submitted)."""
    await pilot.press("d")
    await idle(pilot)
    modal = pilot.app.screen
    assert isinstance(modal, DownloadModal)
    assert what in text_of(pilot.app, "#download-what")
    modal.query_one("#download-dest", Input).value = str(dest)
    return modal


class FlakyStore:
    """A store whose reads fail on demand, like a server that went away."""

    def __init__(self, store: EmbeddedStore) -> None:
        self.store = store
        self.down = False
        self.deleted: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)
        if not callable(method):  # what the store says of itself (location, is_local …)
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise StoreUnavailable("cannot reach http://127.0.0.1:5100: connection refused")
            if args and args[0] in self.deleted:
                raise RunNotFound(f"no run {args[0]!r}")
            return method(*args, **kwargs)

        return call
