"""The assets screen: named, versioned assets, each version's files and its lineage back to a run.

At the top, the asset names and beside them the highlighted asset's
versions, newest first (below ``WIDE`` columns the versions go under the
names); then the highlighted version's lineage (the run it was promoted
from, read from the store for its experiment, name and status) and its
files. Enter on a version, its lineage or one of its files opens the source
run on its artifacts tab with the promoted prefix (or that file)
highlighted; ``d`` downloads the version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Header, Static

from runhistory.api import AssetNotFound, AssetVersion, Run, RunNotFound, Store
from runhistory.api._safe_text import safe_line

from ..human import error_text
from ..messages import AssetsListed, AssetVersionsLoaded, LineageRunRead, SourceRunRead
from ..widgets.assets_tables import AssetFiles, AssetLineage, AssetNames, AssetVersions, promoted_path, version_label
from ..widgets.key_footer import KeyFooter
from .download import DownloadModal, asset_download
from .store_screen import StoreScreen

#: Columns from which the names and the versions sit side by side.
WIDE = 110

#: What the screen says when the store holds no asset.
EMPTY_TEXT = Text.assemble(
    ("No assets yet", "bold"),
    ": promote a run's files with p on its Artifacts tab, or `runhistory promote -r RUN -ap PREFIX -n NAME`.\n\n",
    "An asset is a name (a model, a dataset, a config) whose versions are files promoted from runs: "
    "each version is immutable and remembers the run, the prefix and the time it came from.",
)


class AssetsScreen(StoreScreen):
    """Asset names, the versions of the highlighted one, and the highlighted version's lineage and files.

    Args:
        store: Where the assets are read from.
        clock: The current time (epoch seconds), for relative times.
    """

    HELP_TITLE = "assets"
    HELP_TEXT = (
        "Assets are named and versioned: each `p` on a run's Artifacts tab (or `runhistory promote`) makes "
        "the next version of a name from the run's files at or under a prefix. A version never changes.\n\n"
        "Top: the asset names with their latest version, how many versions they have and when the last "
        "was made, and the highlighted asset's versions, newest first. Below: the highlighted "
        "version's lineage (its run, with the run's experiment, name and status, the prefix and the time) "
        "and its files with their size and sha256.\n\n"
        "Tab moves between the panes. Enter on a name goes to its versions; Enter on a version, its "
        "lineage or a file opens the source run on its Artifacts tab with the prefix or the file "
        "highlighted. d saves the version's files below a folder you name, every file's sha256 checked."
    )

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE, "-wide")]

    BINDINGS: ClassVar[list[Binding]] = [  # type: ignore[assignment]
        Binding("escape", "back", "Back", tooltip="Back to the previous screen"),
        Binding("backspace", "back", "Back", show=False, tooltip="Back to the previous screen"),
        Binding("d", "download", "Download", tooltip="Save the highlighted version's files below a folder you name"),
        Binding("r", "reload", "Reload", tooltip="Read the assets again"),
        Binding("ctrl+r", "reload", "Reload", show=False, tooltip="Read the assets again"),
    ]

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        super().__init__()
        self.store = store
        self.clock = clock
        #: The asset whose versions are shown (``None`` before they are read).
        self.asset_name: str | None = None
        #: Its versions, newest first.
        self.versions: list[AssetVersion] = []
        #: The highlighted version.
        self.version: AssetVersion | None = None
        #: Source runs read for the lineage, by id; ``None``: no longer in the store.
        self._runs: dict[str, Run | None] = {}
        #: Where the cursors go when the next read arrives (after a reload).
        self._keep_name: str | None = None
        self._keep_version: int | None = None
        #: An asset listed whose versions were not found (the list is read again once).
        self._vanished: str | None = None
        self.sub_title = "assets"

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield Static("Reading the assets…", id="assets-note", markup=False)
        with Vertical(id="assets-body"):
            with Horizontal(id="assets-top"):
                yield AssetNames(id="asset-names")
                yield AssetVersions(id="asset-versions")
            yield AssetLineage(id="asset-lineage")
            yield AssetFiles(id="asset-files")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#assets-body").display = False
        self.query_one(AssetNames).border_title = "assets"
        self.query_one(AssetVersions).border_title = "versions"
        self.query_one(AssetLineage).border_title = "lineage"
        self.query_one(AssetFiles).border_title = "files"
        self.query_one(AssetNames).focus()
        self.load_assets()

    # -- reading ------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="assets-list")
    def load_assets(self) -> None:
        """Every asset name with its latest version."""
        self.post_message(AssetsListed(self.store.list_assets()))

    @work(thread=True, exclusive=True, exit_on_error=False, group="asset-versions")
    def load_versions(self, name: str) -> None:
        """The versions of ``name``, with their files and lineage."""
        self.post_message(AssetVersionsLoaded(name, self.store.list_asset_versions(name)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="asset-lineage")
    def load_lineage(self, run_id: str) -> None:
        """The source run of a version, for its experiment, name and status."""
        self.post_message(LineageRunRead(run_id, self._read_run(run_id)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="asset-source")
    def load_source_run(self, run_id: str, select: str) -> None:
        """The source run of a version, read again to be opened."""
        self.post_message(SourceRunRead(run_id, self._read_run(run_id), select))

    def _read_run(self, run_id: str) -> Run | None:
        """The run (on a worker's thread); ``None`` when it is no longer in the store."""
        try:
            return self.store.get_run(run_id)
        except RunNotFound:
            return None

    # -- showing ------------------------------------------------------------------

    def _show_note(self, text: str | Text | None) -> None:
        """The note instead of the panes (``None``: the panes)."""
        note = self.query_one("#assets-note", Static)
        body = self.query_one("#assets-body")
        if text is None:
            note.display = False
            body.display = True
            return
        note.update(text)
        note.display = True
        body.display = False
        self.set_focus(None)  # nothing to act on: the keys of the panes must not either

    def on_assets_listed(self, message: AssetsListed) -> None:
        names = self.query_one(AssetNames)
        keep = self._keep_name or names.cursor_key
        if not message.assets:
            self.asset_name, self.versions = None, []
            names.clear()
            self.query_one(AssetVersions).clear()
            self._show_version(None)
            self._show_note(EMPTY_TEXT)
            return
        self._show_note(None)
        names.show(message.assets, self.clock(), keep)
        names.border_title = f"assets ({len(message.assets)})"
        if self.focused is None:
            names.focus()
        self._keep_name = None
        self._pick_asset(names.cursor_key)

    def _pick_asset(self, name: str | None) -> None:
        if name is None or name == self.asset_name:
            return
        self.asset_name = name
        self.query_one(AssetVersions).border_title = f"versions of {safe_line(name, 60)} · reading…"
        self.load_versions(name)

    def on_asset_versions_loaded(self, message: AssetVersionsLoaded) -> None:
        if message.name != self.asset_name:
            return  # another asset was highlighted since: its own read follows
        self._vanished = None
        self.versions = sorted(message.versions, key=lambda v: v.version, reverse=True)
        table = self.query_one(AssetVersions)
        keep = self._keep_version
        if keep is None and self.version is not None and self.version.name == message.name:
            keep = self.version.version  # the same asset read again: the cursor stays on its version
        self._keep_version = None
        table.show(self.versions, self.clock(), keep)
        count = len(self.versions)
        table.border_title = f"versions of {safe_line(message.name, 60)} ({count})"
        self._pick_version(table.cursor_key)

    def _pick_version(self, key: str | None) -> None:
        version = next((v for v in self.versions if str(v.version) == key), None)
        if version is self.version:
            return
        self._show_version(version)

    def _show_version(self, version: AssetVersion | None) -> None:
        self.version = version
        files = self.query_one(AssetFiles)
        if version is None:
            files.clear()
            files.border_title = "files"
        else:
            files.show(version.files)
            files.border_title = f"files of {safe_line(version.name, 60)} {version_label(version.version)}"
        self._show_lineage()
        self.refresh_bindings()
        if version is not None and version.run_id not in self._runs:
            self.load_lineage(version.run_id)

    def _show_lineage(self) -> None:
        version = self.version
        lineage = self.query_one(AssetLineage)
        if version is None:
            lineage.show(None, None, False, self.clock())
            return
        lineage.show(version, self._runs.get(version.run_id), version.run_id in self._runs, self.clock())

    def on_lineage_run_read(self, message: LineageRunRead) -> None:
        self._runs[message.run_id] = message.run
        if self.version is not None and self.version.run_id == message.run_id:
            self._show_lineage()

    @on(DataTable.RowHighlighted, "#asset-names")
    def _name_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._pick_asset(None if event.row_key.value is None else str(event.row_key.value))

    @on(DataTable.RowHighlighted, "#asset-versions")
    def _version_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._pick_version(None if event.row_key.value is None else str(event.row_key.value))

    # -- acting -------------------------------------------------------------------

    @on(DataTable.RowSelected, "#asset-names")
    def _name_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.query_one(AssetVersions).focus()

    @on(DataTable.RowSelected, "#asset-versions")
    def _version_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.open_source_run()

    @on(DataTable.RowSelected, "#asset-files")
    def _file_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.open_source_run(None if event.row_key.value is None else str(event.row_key.value))

    @on(AssetLineage.OpenRun)
    def _lineage_selected(self, event: AssetLineage.OpenRun) -> None:
        event.stop()
        self.open_source_run()

    def open_source_run(self, path: str | None = None) -> None:
        """Open the highlighted version's source run on its artifacts, ``path`` (or the prefix) highlighted."""
        version = self.version
        if version is None:
            return
        self.load_source_run(version.run_id, path if path is not None else promoted_path(version))

    def on_source_run_read(self, message: SourceRunRead) -> None:
        if message.run is None:
            self._runs[message.run_id] = None
            self._show_lineage()
            version = self.version
            what = (
                f"{safe_line(version.name, 60)} {version_label(version.version)}"
                if version is not None
                else "the version"
            )
            self.notify(
                f"Run {message.run_id[:8]}, which {what} was promoted from, is no longer in the store.",
                title="Source run not found",
                severity="error",
                timeout=6,
            )
            return
        if self.in_view:
            self.history.open_run(message.run, tab="artifacts", select=message.select)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Download acts on the highlighted version: only offered (and in the footer) when there is one.
        if action == "download":
            return self.version is not None
        return True

    def action_download(self) -> None:
        if self.version is not None:
            self.app.push_screen(DownloadModal(asset_download(self.store, self.version)))

    def action_reload(self) -> None:
        self._keep_name = self.asset_name
        self._keep_version = self.version.version if self.version is not None else None
        self.asset_name = None  # read its versions again, even when the cursor stays
        self._runs.clear()
        self.load_assets()

    def action_back(self) -> None:
        self.app.pop_screen()

    def store_failed(self, group: str, error: BaseException) -> bool:
        if group == "asset-versions" and isinstance(error, AssetNotFound) and self._vanished != self.asset_name:
            # Gone since the list was read: read the list again (once: a store that lists it still is reported).
            self._vanished = self.asset_name
            self.action_reload()
            return True
        if group == "assets-list" and not self.query_one("#assets-body").display:
            self._show_note(f"The assets could not be read: {error_text(error)}\n\nr reads them again.")
        elif group == "asset-versions":
            self.asset_name = None  # highlighting it again, or r, reads its versions again
        return False
