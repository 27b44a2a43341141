"""The media tab: a run's logged images by name, one step at a time.

``logger.log_image(name, image, step)`` keeps each image as the artifact
``media/<name>/<step>.png`` (``api/_media.py``), so the run's file list, read
every second while the run runs, says every name and step: nothing is opened
but the image shown. That one is read and decoded on a worker, as the
artifacts tab does it (``previews.decode_image``: the same limits), and drawn
in coloured half blocks, a small picture enlarged by whole pixels.

Every logged step is reachable: ← and → go to the previous and next one,
Home and End to the first and last, PageUp and PageDown ten at a time. The
slider shows where the step is among them. Another name keeps the step (the
nearest one it has); at the last step, new steps are followed as they come.

The tab's widgets are built when it is first shown: a run screen opened on its
charts pays nothing for a tab it may never show. Until then the view keeps only
what the run holds (names, steps, the step to show).
"""

from __future__ import annotations

import io
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from PIL import Image
from rich.console import RenderableType
from rich.segment import Segment
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, get_current_worker

from runhistory.api import ArtifactInfo, ArtifactNotFound, Store
from runhistory.api._media import CAPTION_KEY, parse_media_path
from runhistory.api._safe_text import safe_line, safe_text

from ..human import size as human_bytes
from ..previews import IMAGE_BYTES, IMAGE_PIXELS, Picture, decode_image, fit_size, image_info

#: Decoded steps kept, so that going back and forth does not read them again.
CACHED_IMAGES = 64
#: Steps PageUp and PageDown move.
PAGE_STEPS = 10
#: Lines of a caption shown at most.
CAPTION_LINES = 3
#: Most times a small picture is enlarged (each pixel drawn as a block of cells).
MAX_ENLARGE = 8

EMPTY_NOTE = (
    "This run has no images. A training script logs them with\n\n"
    "    logger.log_image(name, image, step=step, caption=None)\n\n"
    "where image is a NumPy array (H×W, H×W×3 or H×W×4; uint8, float in [0, 1] or bool), "
    "a PIL image, or the path of an image file. Each step is kept as the file "
    "media/<name>/<step>.png and shown here, with ← and → to go through the steps."
)


class FittedPicture(Picture):
    """A ``Picture`` fitted to a pane's rows as well as its width; a small one enlarged by whole pixels."""

    def __init__(self, image: Image.Image, rows: int) -> None:
        super().__init__(image)
        self.rows = max(1, rows)

    def size(self, max_width: int) -> tuple[int, int]:
        width, height = self.image.size
        columns = max(1, max_width)
        scale = min(MAX_ENLARGE, columns // width, 2 * self.rows // height)
        if scale >= 2:
            return width * scale, height * scale
        return fit_size(width, height, columns, self.rows)

    def _segments(self, size: tuple[int, int]) -> list[Segment]:
        if size[0] > self.image.width:  # enlarged: each pixel a block, not a blur
            return Picture(self.image.resize(size, Image.Resampling.NEAREST))._segments(size)
        return super()._segments(size)


@dataclass
class Shown:
    """One step's image as read: what is drawn, and what is said about it."""

    info: ArtifactInfo
    picture: Image.Image | None
    about: str
    caption: str


class StepSlider(Widget):
    """One line: the first step, a track with a mark per step (the shown one lit), the last step."""

    DEFAULT_CSS = """
    StepSlider { height: 1; width: 1fr; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.steps: list[int] = []
        self.index = 0

    def show(self, steps: list[int], index: int) -> None:
        self.steps, self.index = steps, index
        self.refresh()

    def render(self) -> RenderableType:
        steps = self.steps
        if not steps:
            return Text("")
        first, last = f"{steps[0]:,}", f"{steps[-1]:,}"
        track = max(3, self.content_size.width - len(first) - len(last) - 2)
        at = 0 if len(steps) == 1 else round(self.index * (track - 1) / (len(steps) - 1))
        marks = ["─"] * track
        if len(steps) <= track:  # a tick where each step is
            for i in range(len(steps)):
                marks[0 if len(steps) == 1 else round(i * (track - 1) / (len(steps) - 1))] = "┴"
        text = Text(first + " ", style="dim")
        text.append("".join(marks[:at]), style="bold")
        text.append("●", style="bold")
        text.append("".join(marks[at + 1 :]), style="dim")
        text.append(" " + last, style="dim")
        return text


class MediaPicture(Widget):
    """The step's picture, fitted to the widget's size as it is drawn (so it follows the pane)."""

    DEFAULT_CSS = """
    MediaPicture { width: 1fr; height: 1fr; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.picture: FittedPicture | None = None

    def show(self, image: Image.Image | None) -> None:
        self.picture = None if image is None else FittedPicture(image, 1)
        self.refresh()

    def render(self) -> RenderableType:
        if self.picture is None:
            return Text("")
        self.picture.rows = max(1, self.content_size.height)
        return self.picture


class MediaNames(OptionList, inherit_bindings=False):
    """The run's image names; ↑ and ↓ only, so that ←, →, Home and End move through the steps."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
    ]


class MediaView(Horizontal):
    """The media tab (see the module docstring). ``show_files`` is given the run's files each time they are read.

    Args:
        store: Where the images are read from.
        run_id: The run.
    """

    DEFAULT_CSS = """
    MediaView { height: 1fr; }
    MediaView #media-names, MediaView #media-names:focus {
        width: 28; height: 1fr; border: none; border-right: solid $panel-lighten-2; padding: 0;
    }
    MediaView > #media-pane { width: 1fr; height: 1fr; background: $surface; }
    MediaView #media-title { width: 1fr; height: 1; background: $panel; color: $text; text-style: bold; padding: 0 1; }
    MediaView StepSlider { color: $accent; }
    MediaView #media-about { width: 1fr; height: 1; color: $text-muted; padding: 0 1; }
    MediaView #media-caption { width: 1fr; height: auto; max-height: 3; padding: 0 1; }
    MediaView #media-note { width: 1fr; height: 1fr; padding: 0 1; color: $text-muted; display: none; }
    MediaView.-note #media-note { display: block; }
    MediaView.-note MediaPicture { display: none; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "step(-1)", "Step", key_display="←→", tooltip="The previous (←) or next (→) logged step"),
        Binding("right", "step(1)", "Next step", show=False),
        Binding("home", "first_step", "First step", show=False),
        Binding("end", "last_step", "Last step", show=False),
        Binding("pageup", f"step({-PAGE_STEPS})", f"{PAGE_STEPS} steps back", show=False),
        Binding("pagedown", f"step({PAGE_STEPS})", f"{PAGE_STEPS} steps on", show=False),
    ]

    @dataclass
    class ImageRead(Message, bubble=False):
        """A step's image, read and decoded on a worker."""

        shown: Shown

    def __init__(self, store: Store, run_id: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self.run_id = run_id
        #: Each image name's steps, in order, with their files.
        self.images: dict[str, list[tuple[int, ArtifactInfo]]] = {}
        #: The name and step shown (None before the files are known, or when there are none).
        self.image_name: str | None = None
        self.step: int | None = None
        #: What is shown of the step: its description and caption, as plain text (for tests and searches).
        self.text = ""
        self.caption = ""
        self._known: list[tuple[str, str]] | None = None
        self._cache: OrderedDict[tuple[str, str], Shown] = OrderedDict()
        self._wanted: ArtifactInfo | None = None
        self._reader: Worker[None] | None = None
        # Whether the tab is on screen: images are read only then (a live run's new steps too).
        self._in_view = False
        # Whether the tab's widgets are there (built when it is first shown), and whether
        # the names list is to take the focus once they are.
        self.built = False
        self._focus_when_built = False

    def compose(self) -> ComposeResult:
        yield from ()  # the widgets come when the tab is first shown (_build)

    async def _build(self) -> None:
        """The tab's widgets, then what the run holds drawn into them."""
        self.built = True
        await self.mount_all(
            [
                MediaNames(id="media-names"),
                Vertical(
                    Static("", id="media-title", markup=False),
                    StepSlider(id="media-slider"),
                    Static("", id="media-about", markup=False),
                    Static("", id="media-caption", markup=False),
                    Static("Reading the run's files…", id="media-note", markup=False),
                    MediaPicture(id="media-picture"),
                    id="media-pane",
                ),
            ]
        )
        if self._focus_when_built:
            self._focus_when_built = False
            self.query_one(MediaNames).focus()
        if self._known is not None:  # else the run's files are not read yet: show_files draws them
            self._draw()

    def focus(self, scroll_visible: bool = True) -> Self:
        """Focus the names list (once the tab's widgets are built, when they are not yet)."""
        names = self.query(MediaNames)
        if names:
            names.first().focus(scroll_visible)
        else:
            self._focus_when_built = True
        return self

    # -- what the run holds ---------------------------------------------------------

    @property
    def steps(self) -> list[int]:
        """The shown name's steps, in order."""
        return [step for step, _ in self.images.get(self.image_name or "", [])]

    def show_files(self, artifacts: list[ArtifactInfo]) -> None:
        """The run's files as just read: list the images among them, and follow new steps."""
        known = [(a.path, a.sha256) for a in artifacts if a.path.startswith("media/")]
        if known == self._known:
            return
        self._known = known
        images: dict[str, list[tuple[int, ArtifactInfo]]] = {}
        for info in artifacts:
            found = parse_media_path(info.path)
            if found is not None:
                images.setdefault(found[0], []).append((found[1], info))
        for found_steps in images.values():
            found_steps.sort(key=lambda pair: pair[0])
        before = self.steps
        at_end = self.step is None or not before or self.step == before[-1]
        self.images = dict(sorted(images.items()))
        if self.image_name not in self.images:
            self.image_name = next(iter(self.images), None)
            at_end = True
        if self.image_name is None:
            self.step = None
        else:
            steps = self.steps
            # At the last step (or nothing shown yet): follow the run to its newest one.
            self.step = steps[-1] if at_end or self.step is None else self._nearest(self.step)
        if self.built:  # else drawn when the tab is first shown (_build)
            self._draw()

    def _draw(self) -> None:
        """What the run holds, into the tab's widgets: the names, then the step shown (or a note)."""
        self._list_names()
        if self.step is None:
            self._note("No images", EMPTY_NOTE)
        else:
            self._go(self.step)

    def _list_names(self) -> None:
        names = self.query_one(MediaNames)
        listed = [str(option.id) for option in names.options]
        if listed != list(self.images):
            names.set_options(Option(safe_line(name, 200), id=name) for name in self.images)
        if self.image_name in self.images:
            names.highlighted = list(self.images).index(self.image_name)

    def _nearest(self, step: int) -> int:
        """The shown name's step nearest ``step`` (the earlier of two as near)."""
        return min(self.steps, key=lambda s: (abs(s - step), s))

    # -- moving -------------------------------------------------------------------

    def action_step(self, move: int) -> None:
        steps = self.steps
        if not steps or self.step is None:
            return
        index = steps.index(self.step) if self.step in steps else 0
        self._go(steps[max(0, min(len(steps) - 1, index + move))])

    def action_first_step(self) -> None:
        if self.steps:
            self._go(self.steps[0])

    def action_last_step(self) -> None:
        if self.steps:
            self._go(self.steps[-1])

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option_index != event.option_list.highlighted:
            return  # an earlier highlight, passed since (the list was just filled)
        name = str(event.option.id)
        if name != self.image_name and name in self.images:
            self.image_name = name
            self._go(self._nearest(self.step) if self.step is not None else self.steps[-1])

    def _go(self, step: int) -> None:
        """Show the shown name's ``step``: at once if it was read before, else once a worker read it."""
        steps = self.steps
        self.step = step
        index = steps.index(step)
        info = self.images[self.image_name or ""][index][1]
        self.query_one(StepSlider).show(steps, index)
        where = f"step {step:,} · {index + 1} of {len(steps)}" + ("" if index < len(steps) - 1 else " (last)")
        self.query_one("#media-title", Static).update(f"{safe_line(self.image_name or '', 120)} · {where}")
        cached = self._cache.get((info.path, info.sha256))
        if cached is not None:
            self._cache.move_to_end((info.path, info.sha256))
            self._show(cached)
            return
        reading = self._reader is not None and self._reader.is_running
        if (
            reading
            and self._wanted is not None
            and (self._wanted.path, self._wanted.sha256) == (info.path, info.sha256)
        ):
            return  # already being read
        self._wanted = info
        self.query_one("#media-about", Static).update("Reading…")
        if not self._in_view:
            return  # read when the tab is shown (on_show)
        self._reader = self.screen.run_worker(
            lambda: self._read(info),
            thread=True,
            exclusive=True,
            exit_on_error=False,
            group="media-image",
            name=f"read {info.path}",
        )

    async def on_show(self) -> None:
        self._in_view = True
        if not self.built:
            await self._build()  # which reads the step shown
            return
        if self.step is not None and self._wanted is not None and not (self._reader and self._reader.is_running):
            self._go(self.step)

    def on_hide(self) -> None:
        self._in_view = False

    # -- reading (on a worker) ------------------------------------------------------

    def _read(self, info: ArtifactInfo) -> None:
        worker = get_current_worker()
        if info.size > IMAGE_BYTES:
            shown = Shown(
                info,
                None,
                f"{human_bytes(info.size)} · not drawn: larger than {human_bytes(IMAGE_BYTES)} (IMAGE_BYTES)",
                "",
            )
            self.post_message(self.ImageRead(shown))
            return
        try:
            with self.store.open_artifact(self.run_id, info.path) as stream:
                data = _read_all(stream, IMAGE_BYTES + 1)
        except ArtifactNotFound:
            self.post_message(self.ImageRead(Shown(info, None, "not found: the file is no longer in the run", "")))
            return
        if worker.is_cancelled:
            return
        self.post_message(self.ImageRead(_decoded(info, data)))

    def on_media_view_image_read(self, message: ImageRead) -> None:
        shown = message.shown
        key = (shown.info.path, shown.info.sha256)
        self._cache[key] = shown
        while len(self._cache) > CACHED_IMAGES:
            self._cache.popitem(last=False)
        if self._wanted is not None and (self._wanted.path, self._wanted.sha256) == key:
            self._wanted = None
        current = self._current()
        if current is not None and (current.path, current.sha256) == key:
            self._show(shown)

    def _current(self) -> ArtifactInfo | None:
        for step, info in self.images.get(self.image_name or "", []):
            if step == self.step:
                return info
        return None

    # -- showing -----------------------------------------------------------------

    def _show(self, shown: Shown) -> None:
        self.text, self.caption = shown.about, shown.caption
        self.remove_class("-note")
        self.query_one("#media-about", Static).update(shown.about)
        caption = self.query_one("#media-caption", Static)
        caption.update(shown.caption)
        caption.display = bool(shown.caption)
        self.query_one(MediaPicture).show(shown.picture)

    def _note(self, title: str, note: str) -> None:
        self.text, self.caption = note, ""
        self.add_class("-note")
        self.query_one("#media-title", Static).update(title)
        self.query_one(StepSlider).show([], 0)
        self.query_one("#media-about", Static).update("")
        self.query_one("#media-caption", Static).display = False
        self.query_one("#media-note", Static).update(note)
        self.query_one(MediaPicture).show(None)


def _read_all(stream: Any, limit: int) -> bytes:
    """The stream's bytes, at most ``limit`` of them."""
    pieces: list[bytes] = []
    left = limit
    while left > 0:
        piece = stream.read(min(left, 1 << 20))
        if not piece:
            break
        pieces.append(piece)
        left -= len(piece)
    return b"".join(pieces)


def _decoded(info: ArtifactInfo, data: bytes) -> Shown:
    """A step's file made into what is shown: the picture (a thumbnail), a line about it, its caption."""
    found = image_info(data)
    size = f"{found[1]}×{found[2]} " if found and found[1] and found[2] else ""
    about = f"{size}{found[0] if found else 'file'} · {human_bytes(info.size)}"
    if found is None:
        return Shown(info, None, f"{about} · not drawn: not an image", "")
    if found[1] and found[2] and found[1] * found[2] > IMAGE_PIXELS:
        return Shown(info, None, f"{about} · not drawn: more than {IMAGE_PIXELS:,} pixels (IMAGE_PIXELS)", "")
    try:
        picture, _ = decode_image(data)
    except Exception as error:  # Pillow raises many kinds for a broken file: each is a note
        return Shown(info, None, f"{about} · not drawn: {safe_line(str(error), 200) or type(error).__name__}", "")
    return Shown(info, picture, about, _caption(data))


def _caption(data: bytes) -> str:
    """The caption ``log_image`` keeps in the PNG (its ``Description`` text), made safe; '' if none."""
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            text = image.info.get(CAPTION_KEY)
    except Exception:
        return ""
    if not isinstance(text, str):
        return ""
    shown, _ = safe_text(text, max_lines=CAPTION_LINES)
    return shown
