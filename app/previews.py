"""What the artifacts tab shows of a file, made from the file's head on a worker thread.

Text is highlighted by its extension, JSON pretty-printed, CSV and TSV laid out
as a table, images and other binary files described (never dumped). Everything
taken from the file passes through ``safe_text`` first.
"""

from __future__ import annotations

import csv
import json
import mimetypes
import struct
from dataclasses import dataclass
from pathlib import PurePosixPath

from rich.console import RenderableType
from rich.style import Style
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from runhistory.api import ArtifactInfo

from .human import size as human_bytes
from .safe_text import decode, safe_line, safe_text

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
        width, height = struct.unpack("<HH", head[6:10])
        return "GIF", width, height
    if head.startswith(b"\xff\xd8\xff"):
        return ("JPEG", *_jpeg_size(head))
    if head.startswith(b"BM") and len(head) >= 26:
        width, height = struct.unpack("<ii", head[18:26])
        return "BMP", width, abs(height)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP", None, None
    return None


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
        result.stylize(Style(color=style.color, bold=style.bold, italic=style.italic, underline=style.underline),
                       span.start, span.end)  # fmt: skip
    result.rstrip()
    return result


def make_preview(info: ArtifactInfo, head: bytes) -> Preview:
    """The preview of one file from its first bytes (``head``, at most ``HEAD_BYTES``)."""
    cut = info.size > len(head)
    image = image_info(head)
    if image is not None:
        kind, width, height = image
        size = f", {width}×{height} pixels" if width and height else ""
        lines = [f"{kind} image{size}", f"{human_bytes(info.size)} ({info.size:,} bytes)", f"sha256 {info.sha256}"]
        text = "\n".join(lines)
        return Preview("image", _title(info, f"{kind} image"), Text(text), text)
    if looks_binary(head):
        kind = safe_line(binary_kind(info.path, head), 80)
        lines = [f"Binary file: {kind}", f"{human_bytes(info.size)} ({info.size:,} bytes)", f"sha256 {info.sha256}",
                 "", "Not shown: binary content."]  # fmt: skip
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

    def cell(value: str) -> str:
        return safe_line(value, CELL_CHARS)

    for i in range(width):
        table.add_column(Text(cell(header[i]) if i < len(header) else ""), no_wrap=True, overflow="ellipsis")
    shown = body[:TABLE_ROWS]
    for row in shown:
        table.add_row(*(Text(cell(v)) for v in row[:width]))
    plain = "\n".join("\t".join(cell(v) for v in row[:width]) for row in [header, *shown])
    more = len(body) > TABLE_ROWS or cut
    what = "TSV" if delimiter == "\t" else "CSV"
    summary = f"{len(shown)} rows shown" + (" (the first)" if more else "")
    return Preview("table", f"{_title(info, what)} · {summary}", table, plain, more)


def folder_preview(prefix: str, files: list[ArtifactInfo]) -> Preview:
    """What a folder holds: its file count and total size."""
    total = sum(f.size for f in files)
    lines = [f"{len(files)} file{'s' if len(files) != 1 else ''}, {human_bytes(total)} in all"]
    lines += [f"  {safe_line(f.path[len(prefix):], 200)}  {human_bytes(f.size)}" for f in files[:200]]
    if len(files) > 200:
        lines.append(f"  … and {len(files) - 200} more")
    text = "\n".join(lines)
    return Preview("folder", f"{safe_line(prefix, 200) or '/'} · folder", Text(text), text)
