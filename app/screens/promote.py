"""The ``p`` modal: promote a run's files (a file or a folder prefix) to the next version of a named asset.

The name is checked as it is typed, with the store's own rule
(``check_asset_name``), so the Promote button is only enabled for a name the
store will take. The files that will go in are read from the store for the
prefix shown; the promotion runs on a thread. Once it succeeds the modal
closes and the new version is shown in a notification (so another Enter
cannot make a second version); an error is shown in the modal.
"""

from __future__ import annotations

from typing import cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static
from textual.worker import Worker, WorkerState

from runhistory.api import ArtifactInfo, AssetVersion, InvalidInput, Store, check_asset_name
from runhistory.api._safe_text import safe_line

from ..human import error_text
from ..human import size as human_bytes

#: Files listed in the modal, at most (the count says how many more).
SHOWN_FILES = 12


class PromoteModal(ModalScreen[AssetVersion | None]):
    """Asset name, prefix, the files that go in; closes once promoted.

    Dismissed with the version promoted (``None`` when closed without promoting).

    Args:
        store: The store the run is in.
        run_id: The run.
        prefix: The prefix offered: the highlighted file's path or folder's prefix.
    """

    DEFAULT_CSS = """
    PromoteModal { align: center middle; }
    PromoteModal > Vertical {
        width: 80; max-width: 95%; height: auto; max-height: 90%;
        border: thick $accent; background: $surface; padding: 1 2;
    }
    PromoteModal #promote-title { text-style: bold; margin-bottom: 1; }
    PromoteModal #promote-name-error { color: $error; height: auto; }
    PromoteModal #promote-files { height: auto; max-height: 14; color: $text-muted; margin-top: 1; }
    PromoteModal #promote-result { height: auto; margin-top: 1; }
    PromoteModal #promote-result.-error { color: $error; }
    PromoteModal Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    PromoteModal Button { margin-left: 1; }
    """

    BINDINGS = [Binding("escape", "close", "Close", tooltip="Close the promote dialog")]

    def __init__(self, store: Store, run_id: str, prefix: str) -> None:
        super().__init__()
        self.store = store
        self.run_id = run_id
        self.prefix = prefix
        #: The files under the prefix, once read (``None`` while reading).
        self.files: list[ArtifactInfo] | None = None
        #: The version promoted from this modal, once it is.
        self.promoted: AssetVersion | None = None
        #: A promotion was started and has not failed: Enter, the button or a click do nothing more.
        self.promoting = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Promote files of run {self.run_id[:8]} to an asset", id="promote-title")
            yield Label("Asset name (letters, digits, . _ -):")
            yield Input(placeholder="model", id="promote-name")
            yield Static("", id="promote-name-error", markup=False)
            yield Label("Prefix (a file's path, a folder ending in /, or empty for every file):")
            yield Input(self.prefix, id="promote-prefix")
            yield Static("Reading the files…", id="promote-files", markup=False)
            yield Static("", id="promote-result", markup=False)
            with Horizontal():
                yield Button("Promote", variant="primary", id="promote", disabled=True)
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        self.query_one("#promote-name", Input).focus()
        self.list_files(self.prefix)

    # -- checking -----------------------------------------------------------------

    def name_error(self) -> str | None:
        """What is wrong with the name typed in; ``None`` when the store will take it."""
        name = self.query_one("#promote-name", Input).value
        if not name:
            return "Type the asset's name."
        try:
            check_asset_name(name)
        except InvalidInput as error:
            return str(error)
        return None

    def _update_button(self) -> None:
        error = self.name_error()
        name = self.query_one("#promote-name", Input).value
        # An empty field is not an error yet: nothing is shown until something is typed.
        self.query_one("#promote-name-error", Static).update(error if error and name else "")
        self.query_one("#promote", Button).disabled = bool(error) or not self.files or self.promoting

    @on(Input.Changed, "#promote-name")
    def _name_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._update_button()

    @on(Input.Changed, "#promote-prefix")
    def _prefix_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.files = None
        self.query_one("#promote-files", Static).update("Reading the files…")
        self._update_button()
        self.list_files(event.value)

    # -- store work -----------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="promote-files")
    def list_files(self, prefix: str) -> tuple[str, list[ArtifactInfo]]:
        """The run's files at or under ``prefix`` (what a promotion would take)."""
        return prefix, self.store.list_artifacts(self.run_id, prefix)

    @work(thread=True, exclusive=True, exit_on_error=False, group="promote")
    def promote(self, prefix: str, name: str) -> AssetVersion:
        """The next version of ``name``, made of the run's files under ``prefix``."""
        return self.store.promote(self.run_id, prefix, name)

    @on(Input.Submitted, "#promote-name")
    @on(Input.Submitted, "#promote-prefix")
    @on(Button.Pressed, "#promote")
    def start(self, event: Input.Submitted | Button.Pressed) -> None:
        """Promote, when the name is valid and the prefix holds files."""
        event.stop()
        if self.promoting or self.query_one("#promote", Button).disabled:
            return
        self.promoting = True
        name = self.query_one("#promote-name", Input).value
        prefix = self.query_one("#promote-prefix", Input).value
        self._show_result("Promoting…", "")
        # Focus leaves the button before it is disabled, so that it does not land on Close.
        self.query_one("#promote-name", Input).focus()
        self.query_one("#promote", Button).disabled = True
        self.promote(prefix, name)

    @on(Button.Pressed, "#close")
    def _close_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_close()

    def action_close(self) -> None:
        self.dismiss(self.promoted)

    # -- showing --------------------------------------------------------------------

    def _show_result(self, text: str, kind: str) -> None:
        result = self.query_one("#promote-result", Static)
        result.update(text)
        result.set_class(kind == "error", "-error")

    def _show_files(self, prefix: str, files: list[ArtifactInfo]) -> None:
        if prefix != self.query_one("#promote-prefix", Input).value:
            return  # the prefix was edited since: its own read follows
        self.files = files
        if not files:
            text = f"No file of the run is at or under {safe_line(prefix, 200)!r}: nothing to promote."
        else:
            total = sum(a.size for a in files)
            lines = [f"{len(files)} file{'s' if len(files) != 1 else ''} will go in ({human_bytes(total)}):"]
            lines += [f"  {safe_line(a.path, 200)}  {human_bytes(a.size)}" for a in files[:SHOWN_FILES]]
            if len(files) > SHOWN_FILES:
                lines.append(f"  … and {len(files) - SHOWN_FILES} more")
            text = "\n".join(lines)
        self.query_one("#promote-files", Static).update(text)
        self._update_button()

    @on(Worker.StateChanged)
    def _work_changed(self, event: Worker.StateChanged) -> None:
        event.stop()  # the modal's own workers: the screen underneath must not report them again
        worker = event.worker
        if event.state == WorkerState.SUCCESS:
            if worker.group == "promote-files":
                listed = cast("tuple[str, list[ArtifactInfo]]", worker.result)
                self._show_files(*listed)
            elif worker.group == "promote":
                version = cast(AssetVersion, worker.result)
                self.promoted = version
                count = len(version.files)
                self.app.notify(
                    f"Promoted {version.name}:{version.version} ({count} file{'s' if count != 1 else ''}, "
                    f"{human_bytes(version.size)})",
                    title="Asset promoted",
                    markup=False,
                )
                self.dismiss(version)
        elif event.state == WorkerState.ERROR and worker.error is not None:
            if worker.group == "promote-files":
                self.files = []
                self.query_one("#promote-files", Static).update(
                    f"The files could not be read: {error_text(worker.error)}"
                )
            else:
                self.promoting = False  # the user may correct the name or prefix and try again
                self._show_result(f"Not promoted: {safe_line(error_text(worker.error))}", "error")
            self._update_button()
