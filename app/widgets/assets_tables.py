"""The assets screen's panes: the asset names, one asset's versions, a version's lineage and its files.

Every name and path shown passes through ``safe_line``: asset names are
checked by the store, but paths come from whatever a training script wrote.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.console import Group
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Static

from runhistory.api import AssetFile, AssetSummary, AssetVersion, Run
from runhistory.api._safe_text import safe_line

from ..human import ago
from ..human import size as human_bytes
from .cells import fit
from .run_status import status_text

#: Characters of an asset name or a prefix shown in a table cell (longer ones are cut with "…").
NAME_CHARS = 24
#: Characters of a file's path shown in the files table.
PATH_CHARS = 60
#: Hex digits of a file's sha256 shown.
SHA_CHARS = 12


def version_label(version: int) -> str:
    """``v3``."""
    return f"v{version}"


def promoted_path(version: AssetVersion) -> str:
    """What the version's prefix named among the run's files: a file's path, a folder ending in "/", or ""."""
    prefix = version.prefix
    if not prefix or any(f.path == prefix for f in version.files):
        return prefix
    return prefix + "/"


class _PaneTable(DataTable[Text]):
    """A table of rows keyed by a string, with a cursor on whole rows."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor."""
        if not self.row_count or not 0 <= self.cursor_row < self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return None if key is None else str(key)

    def _refill(self, rows: list[tuple[str, list[Text]]], keep: str | None) -> None:
        """Show ``rows`` (key, cells); the cursor goes back to ``keep`` when it is among them, else to the top."""
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        keys = [key for key, _ in rows]
        self.move_cursor(row=keys.index(keep) if keep in keys else 0, animate=False)


class AssetNames(_PaneTable):
    """One row per asset name: its latest version, how many versions it has, when it was last promoted."""

    BINDINGS: ClassVar[list[Binding]] = [  # type: ignore[assignment]
        Binding("enter", "select_cursor", "Versions", tooltip="Go to the versions of the highlighted asset"),
    ]

    def on_mount(self) -> None:
        self.add_column("asset", key="name")
        self.add_column(Text("latest", justify="right"), key="latest")
        self.add_column(Text("versions", justify="right"), key="versions")
        self.add_column(Text("updated", justify="right"), key="updated")

    def show(self, assets: list[AssetSummary], now: float, keep: str | None) -> None:
        """Show ``assets`` as of clock time ``now``, the cursor on the name ``keep`` when it is still there."""
        rows = [
            (
                a.name,
                [
                    Text(fit(a.name, NAME_CHARS), style="bold"),
                    Text(version_label(a.latest_version), justify="right"),
                    Text(str(a.versions), justify="right"),
                    Text(ago(a.updated_at, now), style="dim", justify="right"),
                ],
            )
            for a in assets
        ]
        self._refill(rows, keep)


class AssetVersions(_PaneTable):
    """One asset's versions, newest first: when, from which run and prefix, how many files, how big."""

    BINDINGS: ClassVar[list[Binding]] = [  # type: ignore[assignment]
        Binding(
            "enter", "select_cursor", "Source run", tooltip="Open the run this version was promoted from, on its files"
        ),
    ]

    def on_mount(self) -> None:
        self.add_column("version", key="version")
        self.add_column(Text("promoted", justify="right"), key="promoted")
        self.add_column("run", key="run")
        self.add_column("prefix", key="prefix")
        self.add_column(Text("files", justify="right"), key="files")
        self.add_column(Text("size", justify="right"), key="size")

    def show(self, versions: list[AssetVersion], now: float, keep: int | None) -> None:
        """Show ``versions`` in the order given, the cursor on version ``keep`` when it is among them."""
        rows = [
            (
                str(v.version),
                [
                    Text(version_label(v.version), style="bold"),
                    Text(ago(v.created_at, now), style="dim", justify="right"),
                    Text(v.run_id[:8], style="#e5c07b"),
                    Text(fit(promoted_path(v), NAME_CHARS)) if v.prefix else Text("(every file)", style="dim"),
                    Text(str(len(v.files)), justify="right"),
                    Text(human_bytes(v.size), justify="right"),
                ],
            )
            for v in versions
        ]
        self._refill(rows, None if keep is None else str(keep))


class AssetFiles(_PaneTable):
    """The files of one asset version: path, size and the head of its sha256."""

    BINDINGS: ClassVar[list[Binding]] = [  # type: ignore[assignment]
        Binding("enter", "select_cursor", "Source run", tooltip="Open the source run with this file highlighted"),
    ]

    def on_mount(self) -> None:
        self.add_column("file", key="path")
        self.add_column(Text("size", justify="right"), key="size")
        self.add_column("sha256", key="sha256")

    def show(self, files: list[AssetFile]) -> None:
        """Show ``files`` (sorted by path), the cursor on the first."""
        rows = [
            (
                f.path,
                [
                    Text(fit(f.path, PATH_CHARS)),
                    Text(human_bytes(f.size), justify="right"),
                    Text(f.sha256[:SHA_CHARS], style="dim"),
                ],
            )
            for f in sorted(files, key=lambda f: f.path)
        ]
        self._refill(rows, None)


class AssetLineage(Static, can_focus=True):
    """Where a version came from: the run (with its experiment, name and status), the prefix, the time.

    Enter or a click asks to open the run (``AssetLineage.OpenRun``).
    """

    BINDINGS: ClassVar[list[Binding]] = [  # type: ignore[assignment]
        Binding("enter", "open_run", "Source run", tooltip="Open the run this version was promoted from, on its files"),
    ]

    class OpenRun(Message):
        """The user asked for the source run of the version shown."""

    #: What the pane says, as plain text.
    plain = ""

    def show(self, version: AssetVersion | None, run: Run | None, known: bool, now: float) -> None:
        """Show the lineage of ``version``.

        Args:
            version: The version; ``None`` shows nothing.
            run: Its source run when read.
            known: Whether the run was read; ``run`` ``None`` then means it is no longer in the store.
            now: Clock time, for relative times.
        """
        if version is None:
            self.plain = ""
            self.update("")
            return
        head = Text("from run ", style="dim")
        head.append(version.run_id[:8], style="bold #e5c07b")
        head.append("  ")
        if run is not None:
            head.append_text(status_text(run.status, now))
            head.append(f"  {safe_line(run.experiment, 80)}", style="bold #61afef")
            if run.name:
                head.append(f" · {safe_line(run.name, 80)}")
        elif known:
            head.append("no longer in the store", style="bold #ff6b6b")
        else:
            head.append("reading…", style="dim")
        files = len(version.files)
        what = Text("prefix ", style="dim")
        what.append(safe_line(promoted_path(version), 200) if version.prefix else "(every file of the run)")
        what.append(f"  {files} file{'s' if files != 1 else ''}, {human_bytes(version.size)}", style="dim")
        when = Text("promoted ", style="dim")
        when.append(datetime.fromtimestamp(version.created_at).astimezone().strftime("%Y-%m-%d %H:%M:%S"))
        when.append(f" ({ago(version.created_at, now)})", style="dim")
        ident = Text("run id ", style="dim")
        ident.append(version.run_id)
        if run is not None:
            ident.append("  ⏎ opens it", style="dim")
        lines = [head, what, when, ident]
        for line in lines:
            line.no_wrap = True
            line.overflow = "ellipsis"
        self.plain = "\n".join(line.plain for line in lines)
        self.update(Group(*lines))

    def action_open_run(self) -> None:
        self.post_message(self.OpenRun())

    def on_click(self) -> None:
        self.post_message(self.OpenRun())
