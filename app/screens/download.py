"""The ``d`` modal: save a run's file, a folder of them or an asset version below a folder the user names.

The download runs on a thread (``download_artifacts`` and ``download_asset``
check every file's sha256 and keep nothing that does not match); its
progress comes back to the bar through ``call_from_thread``. Files already
there with the same sha256 are skipped; files already there with other
contents stop the download before anything is written, and the modal names
them and asks: they are replaced only when the user presses Replace. A
failure is shown in the modal, in words, and the user may pick another
folder and try again.
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

from runhistory.api import (
    ArtifactInfo,
    AssetVersion,
    DownloadConflict,
    DownloadedFile,
    Store,
    download_artifacts,
    download_asset,
)
from runhistory.api._safe_text import safe_line

from ..human import error_text
from ..human import size as human_bytes

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
        save: Saves the files below a folder, reporting progress, replacing files
            already there with other contents only when told to; returns what became of each file.
    """

    title: str
    what: str
    hint: str
    total: int
    save: Callable[[Path, Progress, bool], list[DownloadedFile]]


def _listing(paths: list[str]) -> str:
    shown = "\n".join(f"  {safe_line(p, 200)}" for p in paths[:SHOWN_FILES])
    more = f"\n  … and {len(paths) - SHOWN_FILES} more" if len(paths) > SHOWN_FILES else ""
    return f"{shown}{more}"


def run_files_download(
    store: Store, run_id: str, files: list[ArtifactInfo], *, path: str | None, prefix: str
) -> Download:
    """A run's one file ``path``, or its files under ``prefix`` (``files`` are those, for the summary)."""
    total = sum(a.size for a in files)
    if path is not None:
        what = f"File {safe_line(path, 200)} ({human_bytes(total)})"
    else:
        where = safe_line(prefix, 200) if prefix else "every file of the run"
        count = f"{len(files)} file{'s' if len(files) != 1 else ''}"
        what = f"Folder {where}: {count}, {human_bytes(total)}\n{_listing([a.path for a in files])}"

    def save(dest: Path, progress: Progress, overwrite: bool) -> list[DownloadedFile]:
        if path is not None:
            return download_artifacts(store, run_id, dest, path=path, overwrite=overwrite, progress=progress)
        return download_artifacts(store, run_id, dest, prefix=prefix, overwrite=overwrite, progress=progress)

    hint = "Save below this folder (paths inside the run are kept):"
    return Download(f"Download from run {run_id[:8]}", what, hint, total, save)


def asset_download(store: Store, version: AssetVersion) -> Download:
    """Every file of an asset version."""
    count = len(version.files)
    what = (
        f"Asset {safe_line(version.name, 100)} v{version.version}: {count} file{'s' if count != 1 else ''}, "
        f"{human_bytes(version.size)}, from run {version.run_id[:8]}\n{_listing([f.path for f in version.files])}"
    )

    def save(dest: Path, progress: Progress, overwrite: bool) -> list[DownloadedFile]:
        return download_asset(store, version.name, version.version, dest, overwrite=overwrite, progress=progress)

    hint = "Save below this folder (the files' paths are kept):"
    return Download(f"Download asset {safe_line(version.name, 100)} v{version.version}", what, hint, version.size, save)


class DownloadModal(ModalScreen[list[DownloadedFile] | None]):
    """Where to save ``job``'s files; a progress bar while it downloads.

    Files already there with other contents are named, and replaced only
    when the user presses Replace. Dismissed with what became of each file
    (``None`` when closed without downloading).

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
    DownloadModal #download-question { color: $warning; height: auto; max-height: 9; margin-top: 1; display: none; }
    DownloadModal #replace { display: none; }
    DownloadModal.-asking #download-question { display: block; }
    DownloadModal.-asking #replace { display: block; }
    DownloadModal.-asking #download { display: none; }
    DownloadModal Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    DownloadModal Button { margin-left: 1; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", tooltip="Close without downloading")]

    def __init__(self, job: Download, *, dest: str | None = None) -> None:
        super().__init__()
        #: What is saved, and how.
        self.job = job
        self.dest = dest if dest is not None else os.getcwd()
        #: Files already there with other contents that the modal is asking about (empty when not asking).
        self.asking: list[Path] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.job.title, id="download-title", markup=False)
            yield Static(self.job.what, id="download-what", markup=False)
            yield Label(self.job.hint)
            yield Input(self.dest, id="download-dest")
            yield ProgressBar(total=max(self.job.total, 1), show_eta=False, id="download-progress")
            yield Static("", id="download-error", markup=False)
            yield Static("", id="download-question", markup=False)
            with Horizontal():
                yield Button("Download", variant="primary", id="download")
                yield Button("Replace", variant="error", id="replace")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#download-dest", Input).focus()

    def _folder(self) -> Path | None:
        text = self.query_one("#download-dest", Input).value.strip()
        return Path(text).expanduser().absolute() if text else None

    @on(Input.Submitted, "#download-dest")
    @on(Button.Pressed, "#download")
    def start(self, event: Input.Submitted | Button.Pressed) -> None:
        """Download to the folder typed in (relative to the current directory, ~ expanded); replace nothing."""
        event.stop()
        self._start(overwrite=False)

    @on(Button.Pressed, "#replace")
    def replace(self, event: Button.Pressed) -> None:
        """Download, replacing the files the modal named."""
        event.stop()
        self._start(overwrite=True)

    def _start(self, *, overwrite: bool) -> None:
        folder = self._folder()
        if folder is None:
            self.query_one("#download-error", Static).update("Type the folder to save into.")
            return
        if any(w.is_running for w in self.workers if w.node is self and w.group == "download"):
            return  # one download at a time: a second Enter does not start another
        self._ask([])
        self.query_one("#download-error", Static).update("")
        # Focus leaves the button before it is disabled, so that it does not land on Cancel.
        self.query_one("#download-dest", Input).focus()
        self.query_one("#download", Button).disabled = True
        bar = self.query_one("#download-progress", ProgressBar)
        bar.update(progress=0)
        bar.add_class("-started")  # the bar takes its place from the start: the modal does not move
        self.download(folder, overwrite)

    @on(Input.Changed, "#download-dest")
    def _folder_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._ask([])  # the question was about the other folder

    def _ask(self, differing: list[Path]) -> None:
        """Name the files already there with other contents and offer to replace them (or stop asking)."""
        self.asking = differing
        self.set_class(bool(differing), "-asking")
        if not differing:
            return
        count = len(differing)
        files = "1 file is" if count == 1 else f"{count} files are"
        self.query_one("#download-question", Static).update(
            f"{files} already there with other contents:\n{_listing([str(p) for p in differing])}\n"
            "Replace them with the downloaded ones, or type another folder."
        )
        self.query_one("#replace", Button).label = "Replace" if count == 1 else f"Replace {count} files"

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel()

    def action_cancel(self) -> None:
        # A download under way stops at its next piece; its partial file is removed.
        self.workers.cancel_group(self, "download")
        self.dismiss(None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="download")
    def download(self, dest: Path, overwrite: bool) -> list[DownloadedFile]:
        """Save the files below ``dest``, their sha256 checked; replace files already there only when ``overwrite``."""

        worker = get_current_worker()

        def progress(path: str, done: int, total: int) -> None:
            if worker.is_cancelled:
                # Raised inside the download: the half-written file is removed.
                raise DownloadCancelled(path)
            self.app.call_from_thread(self._show_progress, done, total)

        return self.job.save(dest, progress, overwrite)

    def _show_progress(self, done: int, total: int) -> None:
        for bar in self.query("#download-progress").results(ProgressBar):  # none once the modal is closed
            bar.update(total=max(total, 1), progress=done)

    @on(Worker.StateChanged)
    def _download_changed(self, event: Worker.StateChanged) -> None:
        event.stop()  # the modal's own worker: the screen underneath must not report it again
        worker = event.worker
        if event.state == WorkerState.SUCCESS:
            files: list[DownloadedFile] = worker.result or []
            self.app.notify(_summary(files, self._folder()), title="Download done", markup=False)
            self.dismiss(files)
        elif event.state == WorkerState.ERROR and worker.error is not None:
            self.query_one("#download", Button).disabled = False
            error = worker.error
            if isinstance(error, DownloadConflict) and error.differing and not error.blocked:
                self.query_one("#download-progress", ProgressBar).remove_class("-started")  # nothing was downloaded
                self._ask(error.differing)
                return
            self.query_one("#download-error", Static).update(f"Not downloaded: {safe_line(error_text(error))}")


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
