"""The ``d`` modal: save a run's file, a folder of them or an asset version below a folder the user names.

The download runs on a thread (``download_artifacts`` and ``download_asset``
check every file's sha256 and keep nothing that does not match); its
progress comes back to the bar through ``call_from_thread``. Files already
there with the same sha256 are skipped; files or folders in the way stop the
download before anything is written. A failure is shown in the modal, in
words, and the user may pick another folder and try again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, Static
from textual.worker import Worker, WorkerState, get_current_worker

from runhistory.api import ArtifactInfo, AssetVersion, DownloadedFile, Store, download_artifacts, download_asset

from ..human import size as human_bytes
from ..safe_text import safe_line


#: Files named in the modal's summary, at most (the count says how many more).
SHOWN_FILES = 5

#: Reports a download's progress: the file being saved, bytes done and bytes in all.
Progress = Callable[[str, int, int], None]


class DownloadCancelled(Exception):
    """The user closed the modal while the download ran."""


@dataclass(frozen=True)
class Download:
    """What a download modal saves, and how.

    Attributes:
        title: The modal's title.
        what: What will be saved, in a few lines.
        hint: The label of the folder field.
        total: Bytes that will be saved.
        save: Saves the files below a folder, reporting progress; returns what became of each file.
    """

    title: str
    what: str
    hint: str
    total: int
    save: Callable[[Path, Progress], list[DownloadedFile]]


def _listing(paths: list[str]) -> str:
    shown = "\n".join(f"  {safe_line(p, 200)}" for p in paths[:SHOWN_FILES])
    more = f"\n  … and {len(paths) - SHOWN_FILES} more" if len(paths) > SHOWN_FILES else ""
    return f"{shown}{more}"


def run_files_download(store: Store, run_id: str, files: list[ArtifactInfo], *, path: str | None, prefix: str) -> Download:
    """A run's one file ``path``, or its files under ``prefix`` (``files`` are those, for the summary)."""
    total = sum(a.size for a in files)
    if path is not None:
        what = f"File {safe_line(path, 200)} ({human_bytes(total)})"
    else:
        where = safe_line(prefix, 200) if prefix else "every file of the run"
        count = f"{len(files)} file{'s' if len(files) != 1 else ''}"
        what = f"Folder {where}: {count}, {human_bytes(total)}\n{_listing([a.path for a in files])}"

    def save(dest: Path, progress: Progress) -> list[DownloadedFile]:
        if path is not None:
            return download_artifacts(store, run_id, dest, path=path, progress=progress)
        return download_artifacts(store, run_id, dest, prefix=prefix, progress=progress)

    hint = "Save below this folder (paths inside the run are kept):"
    return Download(f"Download from run {run_id[:8]}", what, hint, total, save)


def asset_download(store: Store, version: AssetVersion) -> Download:
    """Every file of an asset version."""
    count = len(version.files)
    what = (
        f"Asset {safe_line(version.name, 100)} v{version.version}: {count} file{'s' if count != 1 else ''}, "
        f"{human_bytes(version.size)}, from run {version.run_id[:8]}\n{_listing([f.path for f in version.files])}"
    )

    def save(dest: Path, progress: Progress) -> list[DownloadedFile]:
        return download_asset(store, version.name, version.version, dest, progress=progress)

    hint = "Save below this folder (the files' paths are kept):"
    return Download(f"Download asset {safe_line(version.name, 100)} v{version.version}", what, hint, version.size, save)


class DownloadModal(ModalScreen[list[DownloadedFile] | None]):
    """Where to save ``job``'s files; a progress bar while it downloads.

    Args:
        job: What is saved, and how (``run_files_download``, ``asset_download``).
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
    DownloadModal #download-progress { margin-top: 1; visibility: hidden; }
    DownloadModal #download-progress.-started { visibility: visible; }
    DownloadModal #download-error { color: $error; height: auto; margin-top: 1; }
    DownloadModal Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    DownloadModal Button { margin-left: 1; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", tooltip="Close without downloading")]

    def __init__(self, job: Download, *, dest: str | None = None) -> None:
        super().__init__()
        #: What is saved, and how.
        self.job = job
        self.dest = dest if dest is not None else os.getcwd()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.job.title, id="download-title", markup=False)
            yield Static(self.job.what, id="download-what", markup=False)
            yield Label(self.job.hint)
            yield Input(self.dest, id="download-dest")
            yield ProgressBar(total=max(self.job.total, 1), show_eta=False, id="download-progress")
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
        bar = self.query_one("#download-progress", ProgressBar)
        bar.update(progress=0)
        bar.add_class("-started")  # the bar takes its place from the start: the modal does not move
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
    def download(self, dest: Path) -> list[DownloadedFile]:
        """Save the files below ``dest``, their sha256 checked."""

        worker = get_current_worker()

        def progress(path: str, done: int, total: int) -> None:
            if worker.is_cancelled:
                # Raised inside the download: the half-written file is removed.
                raise DownloadCancelled(path)
            self.app.call_from_thread(self._show_progress, done, total)

        return self.job.save(dest, progress)

    def _show_progress(self, done: int, total: int) -> None:
        for bar in self.query("#download-progress").results(ProgressBar):  # none once the modal is closed
            bar.update(total=max(total, 1), progress=done)

    @on(Worker.StateChanged)
    def _download_changed(self, event: Worker.StateChanged) -> None:
        event.stop()  # the modal's own worker: the screen underneath must not report it again
        worker = event.worker
        if event.state == WorkerState.SUCCESS:
            files: list[DownloadedFile] = worker.result or []
            dest = Path(self.query_one("#download-dest", Input).value.strip()).expanduser().absolute()
            self.app.notify(_summary(files, dest), title="Download done", markup=False)
            self.dismiss(files)
        elif event.state == WorkerState.ERROR and worker.error is not None:
            from ..app import error_text  # the app module imports the screens

            self.query_one("#download-error", Static).update(f"Not downloaded: {safe_line(error_text(worker.error))}")
            self.query_one("#download", Button).disabled = False


def _summary(files: list[DownloadedFile], folder: Path | None) -> str:
    """What became of the files, in a line or two."""
    written = [f for f in files if f.status != "skipped"]
    skipped = len(files) - len(written)
    if len(files) == 1:
        place = safe_line(str(files[0].saved_to))
        return f"Downloaded {place}" if written else f"Already there (same sha256): {place}"
    below = f" below {safe_line(str(folder))}" if folder is not None else ""
    if not written:
        return f"All {len(files)} files were already there (same sha256){below}"
    text = f"Downloaded {len(written)} file{'s' if len(written) != 1 else ''}{below}"
    return text + (f"; {skipped} already there (same sha256), skipped" if skipped else "")
