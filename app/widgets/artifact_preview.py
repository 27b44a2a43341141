"""The preview of one artifact: a title line over what the file holds, scrollable both ways."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import ScrollableContainer, Vertical
from textual.widgets import Static

from ..previews import Preview


class ArtifactPreview(Vertical):
    """Shows a ``Preview``, or a line saying what is going on (reading, nothing chosen)."""

    DEFAULT_CSS = """
    ArtifactPreview { background: $surface; }
    ArtifactPreview > #preview-title { width: 1fr; height: 1; background: $panel; color: $text; text-style: bold; padding: 0 1; }
    ArtifactPreview > #preview-scroll { height: 1fr; }
    ArtifactPreview #preview-body { width: auto; min-width: 100%; height: auto; padding: 0 1; }
    ArtifactPreview.-note #preview-body { color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.preview: Preview | None = None
        #: The body as plain text: what the pane shows, without colours.
        self.text = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="preview-title", markup=False)
        with ScrollableContainer(id="preview-scroll", can_focus=True):
            yield Static("Choose a file on the left.", id="preview-body", markup=False)

    def show(self, preview: Preview) -> None:
        """Show a file's preview from the top."""
        self.preview, self.text = preview, preview.text
        self.remove_class("-note")
        self.query_one("#preview-title", Static).update(preview.title)
        self.query_one("#preview-body", Static).update(preview.body)
        self.query_one("#preview-scroll").scroll_home(animate=False)

    def show_note(self, title: str, note: str) -> None:
        """Show a line of explanation instead of a file."""
        self.preview, self.text = None, note
        self.add_class("-note")
        self.query_one("#preview-title", Static).update(title)
        self.query_one("#preview-body", Static).update(note)
        self.query_one("#preview-scroll").scroll_home(animate=False)
