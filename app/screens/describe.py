"""Describing runs from the app: tags, a note, a name, and deleting a run.

The runs screen (on the run under the cursor) and the run screen (on its run)
share these keys through ``DescribesRuns``: ``t`` tags (``+new -old``), ``n``
the note, ``R`` renames, ``D`` deletes after a confirmation. Every change is
made by the store in a thread worker, then the screen reads the run again.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar, cast

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from runhistory.api import Run, RunhistoryError, Store
from runhistory.api._limits import MAX_NOTE_LENGTH, MAX_RUN_NAME_LENGTH
from runhistory.api._params import check_tags
from runhistory.api._safe_text import safe_line

from ..human import error_text
from ..messages import RunDescribed

_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 76; max-width: 95%; height: auto; max-height: 90%;
    border: thick $accent; background: $surface; padding: 1 2;
}}
{name} .title {{ text-style: bold; margin-bottom: 1; }}
{name} .why {{ color: $error; height: auto; }}
{name} .hint {{ color: $text-muted; height: auto; }}
{name} Horizontal {{ height: auto; align-horizontal: right; margin-top: 1; }}
{name} TextArea {{ height: 10; }}
"""


def _label(run: Run) -> str:
    return safe_line(f"{run.short_id} · {run.experiment}{' · ' + run.name if run.name else ''}")


_Answer = TypeVar("_Answer")


class _RunModal(ModalScreen[_Answer], Generic[_Answer]):
    """A dialog about one run: Escape (or Cancel) answers ``CANCELLED``."""

    BINDINGS: ClassVar[list[Binding]] = [Binding("escape", "cancel", "Cancel")]  # type: ignore[assignment]
    CANCELLED: ClassVar[Any] = None

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run

    def action_cancel(self) -> None:
        self.dismiss(self.CANCELLED)


class TagsModal(_RunModal[tuple[list[str], list[str]] | None]):
    """Tags to add and remove, typed as ``+new -old`` (a bare word adds)."""

    DEFAULT_CSS = _CSS.format(name="TagsModal")

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Tags of {_label(self.run)}", classes="title", markup=False)
            yield Static(f"now: {' '.join(self.run.tags) or '(none)'}", classes="hint", markup=False)
            yield Input(placeholder="+best -old   (a word adds it, -word removes it)", id="tags-input")
            yield Static("", classes="why", id="tags-why", markup=False)
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Save", variant="primary", id="save")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def _parsed(self) -> tuple[list[str], list[str]] | None:
        add: list[str] = []
        remove: list[str] = []
        for word in self.query_one(Input).value.split():
            (remove if word.startswith("-") else add).append(word[1:] if word[0] in "+-" else word)
        try:
            return check_tags(add), check_tags(remove)
        except RunhistoryError as error:
            self.query_one("#tags-why", Static).update(str(error))
            return None

    def on_input_submitted(self) -> None:
        self._save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self._save()
        else:
            self.dismiss(None)

    def _save(self) -> None:
        parsed = self._parsed()
        if parsed is not None and (parsed[0] or parsed[1]):
            self.dismiss(parsed)


class NoteModal(_RunModal[str | None]):
    """The run's note, edited in place (empty clears it)."""

    DEFAULT_CSS = _CSS.format(name="NoteModal")
    BINDINGS: ClassVar[list[Binding]] = [Binding("ctrl+s", "save", "Save")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Note on {_label(self.run)}", classes="title", markup=False)
            yield TextArea(self.run.note or "", id="note-text", soft_wrap=True)
            yield Static(f"ctrl+s saves · escape cancels · at most {MAX_NOTE_LENGTH:,} characters", classes="hint")
            yield Static("", classes="why", id="note-why", markup=False)
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Save", variant="primary", id="save")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)

    def action_save(self) -> None:
        text = self.query_one(TextArea).text
        if len(text) > MAX_NOTE_LENGTH:
            self.query_one("#note-why", Static).update(f"{len(text):,} characters; at most {MAX_NOTE_LENGTH:,}")
            return
        self.dismiss(text)


class RenameModal(_RunModal[str | None]):
    """A new name for the run (empty clears it)."""

    DEFAULT_CSS = _CSS.format(name="RenameModal")

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Rename {_label(self.run)}", classes="title", markup=False)
            yield Input(
                self.run.name or "", placeholder="a name (empty: none)", max_length=MAX_RUN_NAME_LENGTH, id="name-input"
            )
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Rename", variant="primary", id="save")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self) -> None:
        self.dismiss(self.query_one(Input).value.strip())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(self.query_one(Input).value.strip() if event.button.id == "save" else None)


class DeleteModal(_RunModal[bool]):
    """Deleting a run, confirmed: nothing is deleted unless Delete is pressed."""

    DEFAULT_CSS = _CSS.format(name="DeleteModal").replace("$accent", "$error")
    CANCELLED = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Delete {_label(self.run)}?", classes="title", markup=False)
            yield Static(
                "Its metrics, files, params, tags and note go; stored files no other run or asset refers to "
                "are freed. Asset versions promoted from it stay. This cannot be undone.",
                classes="hint",
            )
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Delete", variant="error", id="delete")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "delete")


class DescribesRuns:
    """The keys that describe (or delete) a run, for a screen that has one in focus.

    The screen gives ``described_run()`` (the run the keys act on, or ``None``)
    and handles ``RunDescribed`` (read the run again; drop it when deleted).
    """

    DESCRIBE_BINDINGS: ClassVar[list[Binding]] = [
        Binding("t", "tag", "Tags", show=False, tooltip="Add (+tag) and remove (-tag) the run's tags"),
        Binding("n", "note", "Note", show=False, tooltip="Write a note on the run"),
        Binding("R", "rename", "Rename", show=False, tooltip="Give the run another name"),
        Binding("D", "delete_run", "Delete", show=False, tooltip="Delete the run (asks first)"),
    ]

    store: Store

    def described_run(self) -> Run | None:
        raise NotImplementedError

    def action_tag(self) -> None:
        run = self.described_run()
        if run is not None:
            self.app.push_screen(TagsModal(run), lambda got: got and self.change_run(run, "tags", got))  # type: ignore[attr-defined]

    def action_note(self) -> None:
        run = self.described_run()
        if run is not None:
            self.app.push_screen(NoteModal(run), lambda got: got is not None and self.change_run(run, "note", got))  # type: ignore[attr-defined]

    def action_rename(self) -> None:
        run = self.described_run()
        if run is not None:
            self.app.push_screen(RenameModal(run), lambda got: got is not None and self.change_run(run, "name", got))  # type: ignore[attr-defined]

    def action_delete_run(self) -> None:
        run = self.described_run()
        if run is not None:
            self.app.push_screen(DeleteModal(run), lambda yes: yes and self.change_run(run, "delete", None))  # type: ignore[attr-defined]

    @work(thread=True, exclusive=False, exit_on_error=False, group="describe")
    def change_run(self, run: Run, what: str, value: object) -> None:
        """Make the change in the store, then tell the screen."""
        try:
            if what == "tags":
                add, remove = cast("tuple[list[str], list[str]]", value)
                self.store.update_tags(run.id, add=add, remove=remove)
                said = f"tags of {run.short_id}: " + " ".join([*(f"+{t}" for t in add), *(f"-{t}" for t in remove)])
            elif what == "note":
                self.store.set_note(run.id, str(value))
                said = f"note on {run.short_id} {'saved' if value else 'cleared'}"
            elif what == "name":
                self.store.rename_run(run.id, str(value) or None)
                said = f"{run.short_id} renamed" if value else f"{run.short_id}'s name cleared"
            else:
                deleted = self.store.delete_run(run.id)
                kept = (
                    f"; asset versions kept: {', '.join(deleted.kept_asset_versions)}"
                    if deleted.kept_asset_versions
                    else ""
                )
                said = f"deleted {run.short_id}: {deleted.blobs_freed} stored files freed{kept}"
        except RunhistoryError as error:
            app = self.app  # type: ignore[attr-defined]
            app.call_from_thread(app.notify, error_text(error), title="Not changed", severity="error", markup=False)
            return
        self.post_message(RunDescribed(run.id, deleted=what == "delete", said=said))  # type: ignore[attr-defined]


class ParamColumnsModal(ModalScreen[list[str] | None]):
    """Which params the runs table shows as columns (space toggles, enter applies)."""

    DEFAULT_CSS = (
        _CSS.format(name="ParamColumnsModal")
        + """
    ParamColumnsModal SelectionList { height: auto; max-height: 20; }
    """
    )
    BINDINGS: ClassVar[list[Binding]] = [Binding("escape", "cancel", "Cancel")]  # type: ignore[assignment]

    def __init__(self, keys: list[str], chosen: list[str], most: int) -> None:
        super().__init__()
        self.keys = keys
        self.chosen = chosen
        self.most = most

    def compose(self) -> ComposeResult:
        from textual.widgets import SelectionList

        with Vertical():
            yield Label("Param columns", classes="title")
            if self.keys:
                yield SelectionList[str](*[(k, k, k in self.chosen) for k in self.keys], id="param-keys")
            else:
                yield Static("No run read so far has params: get_logger(params=config) records them.", classes="hint")
            yield Static(
                f"space picks · enter applies · at most {self.most} · remembered for this store", classes="hint"
            )
            yield Static("", classes="why", id="columns-why", markup=False)
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Apply", variant="primary", id="apply")

    def on_mount(self) -> None:
        if self.keys:
            self.query_one("#param-keys").focus()

    def _picked(self) -> list[str]:
        from textual.widgets import SelectionList

        if not self.keys:
            return []
        picked = set(self.query_one("#param-keys", SelectionList).selected)
        return [k for k in self.keys if k in picked]

    def on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            self._apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "apply":
            self._apply()
        else:
            self.dismiss(None)

    def _apply(self) -> None:
        picked = self._picked()
        if len(picked) > self.most:
            self.query_one("#columns-why", Static).update(f"{len(picked)} picked; at most {self.most}")
            return
        self.dismiss(picked)

    def action_cancel(self) -> None:
        self.dismiss(None)
