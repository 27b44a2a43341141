"""The ``d`` modal: save a run's file, or a folder of them, below a folder the user names.

The download runs on a thread (``download_artifacts`` checks every file's
sha256 and keeps nothing that does not match); its progress comes back to
the bar through ``call_from_thread``. A failure is shown in the modal, in
words, and the user may pick another folder and try again.
"""

from __future__ import annotations

import os
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, Static
from textual.worker import Worker, WorkerState, get_current_worker

from runhistory.api import ArtifactInfo, Store, download_artifacts

from ..human import size as human_bytes
from ..safe_text import safe_line


class DownloadCancelled(Exception):
    """The user closed the modal while the download ran."""


class DownloadModal(ModalScreen[list[Path] | None]):
    """Where to save the highlighted file or folder; a progress bar while it downloads.

    Args:
        store: The store the run is in.
        run_id: The run.
        files: The files that will be saved (for the summary and the bar's total).
        path: The one file to save, or ``None`` to save everything under ``prefix``.
        prefix: The folder to save (ending in "/"; "" is every file of the run).
        dest: The folder offered (the current directory when not given).
    """

    DEFAULT_CSS = """
    DownloadModal { align: center middle; }
    DownloadModal > Vertical {
        width: 80; max-width: 95%; height: auto; max-height: 90%;
        border: thick $accent; background: $surface; padding: 1 2;
    }
    DownloadModal #download-title { text-style: bold; margin-bottom: 1; }
    DownloadModal #download-what { height: auto; max-height: 8; color: $text-muted; margin-bottom: 1; }
    DownloadModal #download-progress { margin-top: 1; }
    DownloadModal #download-error { color: $error; height: auto; margin-top: 1; }
    DownloadModal Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    DownloadModal Button { margin-left: 1; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", tooltip="Close without downloading")]

    def __init__(
        self,
        store: Store,
        run_id: str,
        files: list[ArtifactInfo],
        *,
        path: str | None,
        prefix: str = "",
        dest: str | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.run_id = run_id
        self.files = files
        self.path = path
        self.prefix = prefix
        self.dest = dest if dest is not None else os.getcwd()
        self.total = sum(a.size for a in files)

    def _what(self) -> str:
        if self.path is not None:
            return f"File {safe_line(self.path, 200)} ({human_bytes(self.total)})"
        where = safe_line(self.prefix, 200) if self.prefix else "every file of the run"
        shown = "\n".join(f"  {safe_line(a.path, 200)}" for a in self.files[:5])
        more = f"\n  … and {len(self.files) - 5} more" if len(self.files) > 5 else ""
        return f"Folder {where}: {len(self.files)} files, {human_bytes(self.total)}\n{shown}{more}"

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Download from run {self.run_id[:8]}", id="download-title")
            yield Static(self._what(), id="download-what", markup=False)
            yield Label("Save below this folder (paths inside the run are kept):")
            yield Input(self.dest, id="download-dest")
            yield ProgressBar(total=max(self.total, 1), show_eta=False, id="download-progress")
            yield Static("", id="download-error", markup=False)
            with Horizontal():
                yield Button("Download", variant="primary", id="download")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#download-dest", Input).focus()

    @on(Input.Submitted, "#download-dest")
    @on(Button.Pressed, "#download")
    def start(self, event: Input.Submitted | Button.Pressed) -> None:
        """Download to the folder typed in (relative to the current directory, ~ expanded)."""
        event.stop()
        text = self.query_one("#download-dest", Input).value.strip()
        if not text:
            self.query_one("#download-error", Static).update("Type the folder to save into.")
            return
        self.query_one("#download-error", Static).update("")
        # Focus leaves the button before it is disabled, so that it does not land on Cancel.
        self.query_one("#download-dest", Input).focus()
        self.query_one("#download", Button).disabled = True
        self.query_one("#download-progress", ProgressBar).update(progress=0)
        self.download(Path(text).expanduser().absolute())

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel()

    def action_cancel(self) -> None:
        # A download under way stops at its next piece; its partial file is removed.
        self.workers.cancel_group(self, "download")
        self.dismiss(None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="download")
    def download(self, dest: Path) -> list[Path]:
        """Save the files below ``dest``, their sha256 checked."""

        worker = get_current_worker()

        def progress(path: str, done: int, total: int) -> None:
            if worker.is_cancelled:
                # Raised inside the download: the half-written file is removed.
                raise DownloadCancelled(path)
            self.app.call_from_thread(self._show_progress, done, total)

        if self.path is not None:
            return download_artifacts(self.store, self.run_id, dest, path=self.path, progress=progress)
        return download_artifacts(self.store, self.run_id, dest, prefix=self.prefix, progress=progress)

    def _show_progress(self, done: int, total: int) -> None:
        for bar in self.query("#download-progress").results(ProgressBar):  # none once the modal is closed
            bar.update(total=max(total, 1), progress=done)

    @on(Worker.StateChanged)
    def _download_changed(self, event: Worker.StateChanged) -> None:
        event.stop()  # the modal's own worker: the screen underneath must not report it again
        worker = event.worker
        if event.state == WorkerState.SUCCESS:
            saved: list[Path] = worker.result or []
            dest = Path(self.query_one("#download-dest", Input).value.strip()).expanduser().absolute()
            shown = str(saved[0]) if len(saved) == 1 else f"{len(saved)} files below {dest}"
            self.app.notify(f"Downloaded {shown}", title="Download done")
            self.dismiss(saved)
        elif event.state == WorkerState.ERROR and worker.error is not None:
            from ..app import error_text  # the app module imports the screens

            self.query_one("#download-error", Static).update(f"Not downloaded: {error_text(worker.error)}")
            self.query_one("#download", Button).disabled = False
