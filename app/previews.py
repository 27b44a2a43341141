"""What the artifacts tab shows of a file, made from the file's head on a worker thread.

Text is highlighted by its extension, JSON pretty-printed, CSV and TSV laid out
as a table, other binary files described (never dumped). Everything taken from
the file passes through ``safe_text`` first.

Images (PNG, JPEG, GIF, BMP, WebP) are read whole, up to ``IMAGE_BYTES``, and
decoded with Pillow on the worker when their header claims at most
``IMAGE_PIXELS`` pixels; what is kept is a thumbnail of at most ``THUMBNAIL``
pixels, drawn in the terminal as coloured half blocks (``Picture``).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import mimetypes
import struct
import warnings
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import cast

from PIL import Image
from rich.color import Color
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from runhistory.api import ArtifactInfo
from runhistory.api._safe_text import decode, safe_line, safe_text

from .human import size as human_bytes

#: Bytes of a file read for its preview (its head).
HEAD_BYTES = 256 * 1024
#: Rows and columns of a CSV or TSV shown.
TABLE_ROWS = 50
TABLE_COLUMNS = 20
#: Characters of a table cell shown.
CELL_CHARS = 40
#: Bytes looked at to tell text from binary.
_SNIFF_BYTES = 8 * 1024
#: Syntax colours that follow the terminal's palette.
_THEME = "ansi_dark"

#: Bytes of an image file read to draw it: the whole file, up to this. A larger
#: image is described from its head, not drawn.
IMAGE_BYTES = 32 * 1024 * 1024
#: Pixels (width × height, as its header says) of the largest image decoded: a
#: 5000×5000 picture, up to 100 MB once decoded. A few KiB of PNG can claim
#: billions of pixels, so the header is checked before decoding; a larger image
#: is described, not drawn. Well below Pillow's own limit (``MAX_IMAGE_PIXELS``),
#: so Pillow never warns of a decompression bomb.
IMAGE_PIXELS = 25_000_000
#: Pixels (width, height) a decoded image is reduced to fit on the worker, its
#: aspect ratio kept: wider than most panes, and ``IMAGE_ROWS`` tall or more.
THUMBNAIL = (200, 120)
#: Terminal rows a picture takes at most (two of its pixels a row).
IMAGE_ROWS = 30
#: The colour under an image's transparent parts: a dark grey, like the pane.
MATTE = (30, 30, 30)
#: What Pillow is allowed to decode: the formats ``image_info`` recognises.
_IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
#: The upper half block: its colour is a cell's upper pixel, its background the lower one.
_HALF_BLOCK = "\u2580"


@dataclass
class Preview:
    """A file as the preview pane shows it.

    Attributes:
        kind: ``text``, ``json``, ``table``, ``image``, ``binary`` or ``folder``.
        title: One line about the file: path, size, what it is.
        body: What is drawn under the title.
        text: The body as plain text (what a test or a search looks at).
        cut: Only the head of the file is shown.
    """

    kind: str
    title: str
    body: RenderableType
    text: str
    cut: bool = False


def image_info(head: bytes) -> tuple[str, int | None, int | None] | None:
    """The image format and size (width, height) read from a file's first bytes; None if not an image."""
    if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
        return "PNG", width, height
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        return ("GIF", *_gif_size(head))
    if head.startswith(b"\xff\xd8\xff"):
        return ("JPEG", *_jpeg_size(head))
    if head.startswith(b"BM") and len(head) >= 26:
        width, height = struct.unpack("<ii", head[18:26])
        return "BMP", width, abs(height)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ("WebP", *_webp_size(head))
    return None


def _gif_size(head: bytes) -> tuple[int, int]:
    """A GIF's size as Pillow takes it: its logical screen, grown to hold any frame that overhangs it."""
    width, height = struct.unpack("<HH", head[6:10])
    at = 13 + _colour_table_bytes(head[10]) if len(head) > 10 else len(head)
    while at < len(head):
        if head[at] == 0x21:  # an extension: a label, then sub-blocks
            at = _after_sub_blocks(head, at + 2)
        elif head[at] == 0x2C and at + 10 <= len(head):  # a frame: where it is, its size, then its pixels
            left, top, frame_width, frame_height, flags = struct.unpack("<HHHHB", head[at + 1 : at + 10])
            width, height = max(width, left + frame_width), max(height, top + frame_height)
            at = _after_sub_blocks(head, at + 10 + _colour_table_bytes(flags) + 1)
        else:
            break  # the end, or bytes Pillow stops at too
    return width, height


def _colour_table_bytes(flags: int) -> int:
    return 3 << ((flags & 7) + 1) if flags & 0x80 else 0


def _after_sub_blocks(data: bytes, at: int) -> int:
    while at < len(data) and data[at]:
        at += data[at] + 1
    return at + 1


def _webp_size(head: bytes) -> tuple[int | None, int | None]:
    chunk = head[12:16]
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(head) >= 30:
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None, None


def _jpeg_size(head: bytes) -> tuple[int | None, int | None]:
    at = 2
    while at + 9 < len(head):
        if head[at] != 0xFF:
            return None, None
        marker = head[at + 1]
        length = struct.unpack(">H", head[at + 2 : at + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", head[at + 5 : at + 9])
            return width, height
        at += 2 + length
    return None, None


_MAGIC = (
    (b"\x1f\x8b", "gzip data"),
    (b"PK\x03\x04", "zip archive"),
    (b"%PDF", "PDF document"),
    (b"\x93NUMPY", "NumPy array"),
    (b"\x80\x02", "Python pickle"),
    (b"\x80\x03", "Python pickle"),
    (b"\x80\x04", "Python pickle"),
    (b"\x80\x05", "Python pickle"),
    (b"\x89HDF\r\n\x1a\n", "HDF5 data"),
    (b"SQLite format 3\x00", "SQLite database"),
    (b"\x7fELF", "ELF executable"),
    (b"PAR1", "Parquet data"),
    (b"ARROW1", "Arrow data"),
    (b"(\xb5/\xfd", "zstd data"),
)


def binary_kind(path: str, head: bytes) -> str:
    """What a binary file probably is, in words: from its first bytes, else its extension."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in (".pt", ".pth", ".ckpt"):
        return "PyTorch checkpoint"
    if suffix == ".safetensors":
        return "safetensors weights"
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or "binary data"


def looks_binary(head: bytes) -> bool:
    """A NUL byte, or mostly bytes that are not UTF-8 text, in the first few KiB."""
    sample = head[:_SNIFF_BYTES]
    if b"\x00" in sample:
        return True
    if not sample:
        return False
    text = sample.decode("utf-8", errors="replace")
    # A multi-byte character cut at the sample's end is not a sign of binary.
    bad = text.rstrip("\ufffd").count("\ufffd")
    return bad > max(8, len(text) // 10)


def preview_bytes(info: ArtifactInfo, head: bytes) -> int:
    """Bytes of a file its preview needs, given its head: an image whole (up to ``IMAGE_BYTES``), else the head."""
    if image_info(head) is not None and info.size <= IMAGE_BYTES:
        return max(info.size, len(head))
    return HEAD_BYTES


def fit_size(width: int, height: int, columns: int, rows: int) -> tuple[int, int]:
    """The size in pixels at which a ``width``×``height`` picture is drawn in at most ``columns``×``rows`` cells.

    A cell is one pixel wide and two tall. The aspect ratio is kept, and a picture
    is never drawn larger than it is.
    """
    scale = min(1.0, columns / width, 2 * rows / height)
    return max(1, min(columns, round(width * scale))), max(1, min(2 * rows, round(height * scale)))


class Picture:
    """A picture drawn with half blocks: in each cell "▀", coloured as its upper pixel over its lower one.

    It takes the width it is given, at most ``IMAGE_ROWS`` rows and never more
    cells than it has pixels, its aspect ratio kept; the scaling is done when it
    is drawn, so it follows the pane's width.
    """

    def __init__(self, image: Image.Image) -> None:
        self.image = image.convert("RGB") if image.mode != "RGB" else image
        self._drawn: tuple[tuple[int, int], list[Segment]] | None = None

    def size(self, max_width: int) -> tuple[int, int]:
        """Its size in pixels when drawn at most ``max_width`` cells wide (one cell: 1×2 pixels)."""
        return fit_size(self.image.width, self.image.height, max(1, max_width), IMAGE_ROWS)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(1, self.size(options.max_width)[0])

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        size = self.size(options.max_width)
        if self._drawn is None or self._drawn[0] != size:
            self._drawn = size, self._segments(size)
        yield from self._drawn[1]

    def _segments(self, size: tuple[int, int]) -> list[Segment]:
        image = self.image if size == self.image.size else self.image.resize(size, Image.Resampling.LANCZOS)
        width, height = size
        data = image.tobytes()
        colours: dict[bytes, Color] = {}

        def colour(y: int, x: int) -> Color:
            at = 3 * (y * width + x)
            rgb = data[at : at + 3]
            found = colours.get(rgb)
            if found is None:
                found = colours[rgb] = Color.from_rgb(rgb[0], rgb[1], rgb[2])
            return found

        segments: list[Segment] = []
        for y in range(0, height, 2):
            cells: list[tuple[str, Style]] = []
            for x in range(width):
                upper = colour(y, x)
                # An odd last row has no lower pixels: the pane shows through.
                lower = colour(y + 1, x) if y + 1 < height else None
                if upper == lower:  # one colour: a blank cell on it, drawn exactly by any terminal
                    cells.append((" ", Style(bgcolor=upper)))
                else:
                    cells.append((_HALF_BLOCK, Style(color=upper, bgcolor=lower)))
            # Neighbouring cells alike go out as one segment.
            for (char, style), run in itertools.groupby(cells):
                segments.append(Segment(char * len(list(run)), style))
            segments.append(Segment.line())
        return segments


def decode_image(data: bytes) -> tuple[Image.Image, int]:
    """The picture in an image file, reduced to fit ``THUMBNAIL``, in RGB over ``MATTE``; and its frame count.

    Only the first frame is decoded. Raises ``ValueError`` for a picture of more
    than ``IMAGE_PIXELS`` pixels (checked before decoding), and what Pillow raises
    for a file it cannot read (``OSError``, ``SyntaxError``, ``ValueError`` …).
    """
    with warnings.catch_warnings():
        # A file whose header says less than Pillow finds (a JPEG with a second, larger size
        # marker) is refused here as an error rather than decoded with a warning.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        opened = Image.open(io.BytesIO(data), formats=_IMAGE_FORMATS)
    with opened as image:
        width, height = image.size
        if width * height > IMAGE_PIXELS:
            raise ValueError(f"{width}×{height} pixels, more than {IMAGE_PIXELS:,}")
        frames = int(getattr(image, "n_frames", 1))
        picture: Image.Image = image
        if image.mode == "1":
            picture = image.convert("L")  # 1-bit and palette pictures are only ever resampled by nearest pixel
        elif image.mode in ("P", "PA"):
            picture = image.convert("RGBA")
        # A JPEG is decoded straight to a fraction of its size here (Pillow's draft mode).
        picture.thumbnail(THUMBNAIL, Image.Resampling.LANCZOS)
        if picture.mode in ("I", "F") or picture.mode.startswith("I;"):
            picture = _stretched(picture)
        if picture.mode in ("RGBA", "LA", "RGBa", "La"):
            matte = Image.new("RGBA", picture.size, (*MATTE, 255))
            matte.alpha_composite(picture.convert("RGBA"))
            picture = matte
        return picture.convert("RGB"), frames


def _stretched(picture: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit or float picture (a depth map, a mask) in 8-bit grey, its darkest value black, its lightest white."""
    values = picture.convert("F")
    low, high = cast("tuple[float, float]", values.getextrema())
    scale = 255 / (high - low) if high > low else 0.0
    return values.point(lambda value: (value - low) * scale).convert("L")


def _title(info: ArtifactInfo, what: str) -> str:
    return f"{safe_line(info.path, 200)} · {human_bytes(info.size)} · {what}"


def _lexer(path: str) -> str:
    try:
        return Syntax.guess_lexer(path)
    except Exception:  # pygments may fail on odd names: plain text then
        return "text"


def highlighted(text: str, lexer: str) -> Text:
    """``text`` (already safe) coloured as ``lexer``; lexed once here, not on every repaint."""
    code = Syntax(text, lexer, theme=_THEME)
    coloured = code.highlight(text)
    # Foreground colours only: the pane's own background shows through.
    result = Text(coloured.plain, no_wrap=True, end="")
    for span in coloured.spans:
        style = span.style if isinstance(span.style, Style) else Style.parse(span.style)
        result.stylize(
            Style(color=style.color, bold=style.bold, italic=style.italic, underline=style.underline),
            span.start,
            span.end,
        )
    result.rstrip()
    return result


def make_preview(info: ArtifactInfo, head: bytes) -> Preview:
    """The preview of one file from its first bytes (``head``: as many as ``preview_bytes`` asks for)."""
    cut = info.size > len(head)
    image = image_info(head)
    if image is not None:
        return _image_preview(info, head, *image)
    if looks_binary(head):
        kind = safe_line(binary_kind(info.path, head), 80)
        lines = [
            f"Binary file: {kind}",
            f"{human_bytes(info.size)} ({info.size:,} bytes)",
            f"sha256 {info.sha256}",
            "",
            "Not shown: binary content.",
        ]
        text = "\n".join(lines)
        return Preview("binary", _title(info, kind), Text(text), text)
    suffix = PurePosixPath(info.path).suffix.lower()
    if suffix == ".json" and not cut:
        try:
            value = json.loads(decode(head))
        except ValueError:
            pass
        else:
            text, shortened = safe_text(json.dumps(value, indent=2, ensure_ascii=False))
            return Preview("json", _title(info, "JSON"), highlighted(text, "json"), text, shortened)
    if suffix in (".csv", ".tsv"):
        return _table_preview(info, head, "\t" if suffix == ".tsv" else ",", cut)
    text, shortened = safe_text(head)
    lexer = _lexer(info.path)
    what = "text" if lexer in ("text", "default") else f"text ({lexer})"
    note = " · head shown" if cut else ""
    return Preview("text", _title(info, what) + note, highlighted(text, lexer), text, cut or shortened)


def _image_preview(info: ArtifactInfo, data: bytes, kind: str, width: int | None, height: int | None) -> Preview:
    """An image described (type, size, sha256) and, when it may be decoded, drawn under that."""
    size = f", {width}×{height} pixels" if width and height else ""
    lines = [f"{kind} image{size}", f"{human_bytes(info.size)} ({info.size:,} bytes)", f"sha256 {info.sha256}"]
    title = _title(info, f"{kind} image" + (f" {width}×{height}" if width and height else ""))
    picture: Picture | None = None
    if info.size > IMAGE_BYTES:
        lines += ["", f"Not drawn: the file is larger than {human_bytes(IMAGE_BYTES)} (IMAGE_BYTES)."]
    elif width is None or height is None:
        lines += ["", "Not drawn: its header does not say its size."]
    elif width * height > IMAGE_PIXELS:
        lines += ["", f"Not drawn: {width * height:,} pixels, more than {IMAGE_PIXELS:,} (IMAGE_PIXELS)."]
    else:
        try:
            thumbnail, frames = decode_image(data)
        except Exception as error:  # Pillow raises many kinds for a broken file: each is a note
            reason = safe_line(str(error), 200) or type(error).__name__
            lines += ["", f"Not drawn: could not decode: {reason}"]
        else:
            picture = Picture(thumbnail)
            if frames > 1:
                lines[0] += f", first of {frames} frames"
    text = "\n".join(lines)
    body: RenderableType = Text(text) if picture is None else Group(Text(text), Text(""), picture)
    return Preview("image", title, body, text)


def _table_preview(info: ArtifactInfo, head: bytes, delimiter: str, cut: bool) -> Preview:
    # Split and cut the raw lines (a tab must stay a tab until the cells are known); each
    # cell is made safe below.
    lines = decode(head).split("\n", TABLE_ROWS + 2)[: TABLE_ROWS + 2]
    lines = [line.rstrip("\r")[: 4 * TABLE_COLUMNS * CELL_CHARS] for line in lines if line.strip()]
    rows = list(csv.reader(lines, delimiter=delimiter))
    if cut and rows and len(rows) <= TABLE_ROWS:
        rows.pop()  # the last line read may be cut short
    header, body = (rows[0], rows[1:]) if rows else ([], [])
    width = min(TABLE_COLUMNS, max((len(r) for r in rows), default=0))
    table = Table(show_lines=False, box=None, header_style="bold", pad_edge=False, padding=(0, 1))
    # Each cell made safe once, for the table and its plain text alike.
    header = [safe_line(v, CELL_CHARS) for v in header[:width]]
    shown = [[safe_line(v, CELL_CHARS) for v in row[:width]] for row in body[:TABLE_ROWS]]
    for i in range(width):
        table.add_column(Text(header[i] if i < len(header) else ""), no_wrap=True, overflow="ellipsis")
    for row in shown:
        table.add_row(*map(Text, row))
    plain = "\n".join("\t".join(row) for row in [header, *shown])
    more = len(body) > TABLE_ROWS or cut
    what = "TSV" if delimiter == "\t" else "CSV"
    summary = f"{len(shown)} rows shown" + (" (the first)" if more else "")
    return Preview("table", f"{_title(info, what)} · {summary}", table, plain, more)


def folder_preview(prefix: str, files: list[ArtifactInfo]) -> Preview:
    """What a folder holds: its file count and total size."""
    total = sum(f.size for f in files)
    lines = [f"{len(files)} file{'s' if len(files) != 1 else ''}, {human_bytes(total)} in all"]
    lines += [f"  {safe_line(f.path[len(prefix) :], 200)}  {human_bytes(f.size)}" for f in files[:200]]
    if len(files) > 200:
        lines.append(f"  … and {len(files) - 200} more")
    text = "\n".join(lines)
    return Preview("folder", f"{safe_line(prefix, 200) or '/'} · folder", Text(text), text)
