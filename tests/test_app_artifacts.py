"""The artifacts tab, driven by the Pilot: the tree, each kind of preview, and hostile files."""

from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, features
from rich.color import Color
from rich.console import Console, Group
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from textual.geometry import Region
from textual.widgets import Static

from runhistory.api import ArtifactInfo, EmbeddedStore, NewRun
from runhistory.app.app import RunHistoryApp, make_app
from runhistory.app.previews import (
    HEAD_BYTES,
    IMAGE_BYTES,
    IMAGE_PIXELS,
    IMAGE_ROWS,
    MATTE,
    THUMBNAIL,
    Picture,
    decode_image,
    fit_size,
    image_info,
    make_preview,
    preview_bytes,
)
from runhistory.app.widgets.artifact_tree import ArtifactTree
from runhistory.app.widgets.console_log import ConsoleLog

from ._pilot import SIZE, choose, idle, is_drawn, open_artifacts, open_run, preview_of, settle, title_of, wait_for
from .app_data import BASELINE, DIVERGED, LIVE, NOW, batch, fixed_clock, make_store

#: Bytes a terminal would act on, in what the app draws (its SVG export keeps the text).
ESCAPE = "\x1b"


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    return make_store(tmp_path / "store")


@pytest.mark.slow
@pytest.mark.anyio
async def test_artifacts_tab_shows_the_tree_and_previews_each_kind(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await open_artifacts(pilot)
        tree = app.screen.query_one(ArtifactTree)
        assert tree.has_focus
        assert [a.path for a in tree.artifacts] == [
            "checkpoints/model.pt",
            "config.json",
            "outputs/confusion.tsv",
            "outputs/metrics.csv",
            "outputs/samples.png",
            "train.py",
        ]
        folder = tree.node_for("outputs/")
        assert folder is not None and folder.is_expanded
        assert str(folder.label).startswith("outputs/") and "B" in str(folder.label)
        # A folder closes and opens from the keyboard.
        tree.select_path("outputs/")
        await pilot.press("space")
        assert not folder.is_expanded
        await pilot.press("space")
        assert folder.is_expanded

        text = await choose(pilot, "train.py")
        assert text.preview is not None and text.preview.kind == "text"
        assert "python" in title_of(app).lower()
        assert 'print(f"training with lr={lr}")' in text.text

        data = await choose(pilot, "config.json")
        assert data.preview is not None and data.preview.kind == "json"
        assert data.text.splitlines()[:3] == ["{", '  "lr": 0.001,', '  "epochs": 30,']

        table = await choose(pilot, "outputs/metrics.csv")
        assert table.preview is not None and table.preview.kind == "table"
        assert isinstance(table.preview.body, Table)
        assert [str(c.header) for c in table.preview.body.columns] == ["epoch", "loss"]
        assert table.text == "epoch\tloss\n1\t0.5"

        tsv = await choose(pilot, "outputs/confusion.tsv")
        assert tsv.preview is not None and tsv.preview.kind == "table"
        assert tsv.text.splitlines()[1] == "cat\t91\t9"

        image = await choose(pilot, "outputs/samples.png")
        assert image.preview is not None and image.preview.kind == "image"
        assert "PNG image, 64×32 pixels" in image.text and "Not drawn" not in image.text
        assert title_of(app).endswith("PNG image 64×32")
        assert isinstance(image.preview.body, Group) and isinstance(image.preview.body.renderables[-1], Picture)

        binary = await choose(pilot, "checkpoints/model.pt")
        assert binary.preview is not None and binary.preview.kind == "binary"
        info = next(a for a in tree.artifacts if a.path == "checkpoints/model.pt")
        assert "zip archive" in binary.text and f"sha256 {info.sha256}" in binary.text
        assert "4.0 KiB" in binary.text and "\x00" not in binary.text

        # A folder is summed up, without reading a file.
        tree.select_path("outputs/")
        await wait_for(pilot, lambda: preview_of(app).preview is not None and preview_of(app).preview.kind == "folder")  # type: ignore[union-attr]
        assert preview_of(app).text.startswith("3 files")


@pytest.mark.anyio
async def test_a_run_without_artifacts_says_so(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await open_artifacts(pilot, DIVERGED)
        assert "no files" in preview_of(app).text


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_hostile_artifact_cannot_reach_the_terminal(store: EmbeddedStore) -> None:
    hostile = (
        b"title \x1b]0;owned\x07 clear \x1b[2J\x1b[H red \x1b[31mRED\x1b[0m bell \x07 c1 \xc2\x9b31m\n"
        b"invalid \xff\xfe\xc3 utf-8\n" + b"A" * (10 * 1024 * 1024) + b"\n"
        b"after\n"
    )
    store.put_artifact(BASELINE, "logs/hostile.txt", hostile)
    store.put_artifact(BASELINE, "logs/console.txt", hostile[:400] + b"\nend\n")
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await open_artifacts(pilot)
        preview = await choose(pilot, "logs/hostile.txt")
        assert preview.preview is not None and preview.preview.kind == "text" and preview.preview.cut
        assert "head shown" in title_of(app)
        lines = preview.text.splitlines()
        assert lines[0].startswith("title  clear  red RED bell  c1")
        assert lines[1] == "invalid \ufffd\ufffd\ufffd utf-8"
        assert len(lines[2]) <= 1000 and lines[2].endswith("…")
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", preview.text)
        await idle(pilot)
        screen = app.export_screenshot()
        assert ESCAPE + "]0;owned" not in screen and "owned" not in screen and "\x07" not in screen
        assert "\x9b" not in screen
        # The console shows the same bytes harmlessly.
        await pilot.press("4")
        await settle(pilot)
        assert app.screen.query_one(ConsoleLog).text.startswith("title  clear  red RED bell  c1")
        screen = app.export_screenshot()
        assert "owned" not in screen and "\x07" not in screen


@pytest.mark.slow
@pytest.mark.anyio
async def test_hostile_text_in_a_runs_command_error_and_string_metrics_is_harmless(store: EmbeddedStore) -> None:
    hostile = "\x1b]0;owned\x07\x1b[2J"
    run = store.create_run(NewRun(experiment="hostile", command=["python", f"{hostile}train.py"]))
    store.append_metrics(run.id, {"note": batch("string", [f"{hostile}plain"], NOW)})
    store.finish_run(run.id, "failed", error=f"Traceback\nRuntimeError: {hostile}boom")
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_run(pilot, run.id)
        for tab in ("1", "2", "3"):  # the header on each; the scalars and text tabs show the string
            await pilot.press(tab)
            await settle(pilot)
            screen = app.export_screenshot()
            assert "owned" not in screen and "\x07" not in screen and ESCAPE not in screen
        assert "boom" in screen and "plain" in screen


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_running_runs_files_update_in_place(store: EmbeddedStore) -> None:
    app = make_app(store, clock=fixed_clock(), live_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_run(pilot, LIVE)
        await pilot.press("5")
        preview = await choose(pilot, "logs/console.txt")
        assert preview.text.endswith("epoch 1/90 loss 2.31")
        tree = app.screen.query_one(ArtifactTree)
        # The console grows: the preview follows, the cursor stays on the file.
        store.put_artifact(
            LIVE, "logs/console.txt", b"training resnet on cifar-10\nepoch 1/90 loss 2.31\nepoch 2/90 loss 1.20\n"
        )
        await wait_for(pilot, lambda: preview.text.endswith("epoch 2/90 loss 1.20"))
        assert tree.cursor_node is not None and tree.cursor_node.data.path == "logs/console.txt"  # type: ignore[union-attr]
        # A new file appears in the tree.
        store.put_artifact(LIVE, "outputs/notes.md", b"# notes\n")
        await wait_for(pilot, lambda: tree.node_for("outputs/notes.md") is not None)
        assert tree.cursor_node is not None and tree.cursor_node.data.path == "logs/console.txt"  # type: ignore[union-attr]


# -- images ------------------------------------------------------------------

RED, BLUE = (255, 0, 0), (0, 0, 255)


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def encoded(image: Image.Image, format: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format, **options)
    return out.getvalue()


def red_over_blue(width: int = 16, height: int = 7) -> Image.Image:
    """Red rows over blue ones, the boundary inside a row of cells (row 3 is red, row 4 blue)."""
    image = Image.new("RGB", (width, height), BLUE)
    image.paste(RED, (0, 0, width, height // 2))
    return image


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int) -> bytes:
    """The start of a PNG claiming ``width``×``height`` pixels, and no pixels."""
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width``×``height`` pixels, with (almost) none in it: Pillow opens it."""
    return png_header(width, height) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def png_of_size(size: int) -> bytes:
    """A valid red-over-blue PNG of exactly ``size`` bytes: padded with a private chunk before its end."""
    data = png(red_over_blue())
    end = data[-12:]  # the IEND chunk
    padding = size - len(data) - 12
    assert padding >= 0
    return data[:-12] + chunk(b"paDd", bytes(padding)) + end


def info_of(data: bytes, path: str = "outputs/picture.png", size: int | None = None) -> ArtifactInfo:
    return ArtifactInfo(path, len(data) if size is None else size, "0" * 64, 0.0)


def lines_of(picture: Picture, width: int) -> list[list[Segment]]:
    console = Console(width=width, color_system="truecolor")
    return console.render_lines(picture, console.options.update_width(width), pad=False, new_lines=False)


def cells_of(lines: list[list[Segment]]) -> list[list[tuple[str, Style | None]]]:
    """Each line as its cells: a character and its style."""
    return [[(char, segment.style) for segment in line for char in segment.text] for line in lines]


def test_fit_size_keeps_within_the_cells_and_the_aspect_ratio() -> None:
    # Never larger than the picture is.
    assert fit_size(64, 32, 100, 30) == (64, 32)
    # As wide as the columns allow: half the width, half the height.
    assert fit_size(64, 32, 32, 30) == (32, 16)
    assert fit_size(200, 100, 50, 30) == (50, 25)
    # A tall picture is bounded by the rows (two pixels a row).
    assert fit_size(40, 200, 100, 30) == (12, 60)
    # Even a picture far wider than the cells keeps at least a pixel each way.
    assert fit_size(10_000, 1, 80, 30) == (80, 1)
    assert fit_size(1, 10_000, 80, 30) == (1, 60)


@pytest.mark.parametrize("columns", [10, 33, 64, 80, 200])
def test_a_picture_fits_the_width_it_is_given(columns: int) -> None:
    picture = Picture(Image.new("RGB", (100, 40), RED))
    lines = lines_of(picture, columns)
    width = min(columns, 100)
    assert {Segment.get_line_length(line) for line in lines} == {width}
    # One cell is one pixel wide and two tall: 5:2 kept, the last row of cells maybe half full.
    assert len(lines) == -(-round(width * 0.4) // 2)


def test_a_tall_picture_takes_at_most_image_rows() -> None:
    picture = Picture(Image.new("RGB", (50, 200), RED))
    lines = lines_of(picture, 100)
    assert len(lines) == IMAGE_ROWS
    assert Segment.get_line_length(lines[0]) == round(50 * 2 * IMAGE_ROWS / 200)


def test_a_picture_is_drawn_in_half_blocks_of_its_colours() -> None:
    red, blue = Color.from_rgb(*RED), Color.from_rgb(*BLUE)
    cells = cells_of(lines_of(Picture(red_over_blue(4, 7)), 40))
    assert len(cells) == 4 and all(len(line) == 4 for line in cells)
    # Rows 0-1 and 2-3 are red; the row of cells holding pixel rows 2 and 3 is red all through.
    assert cells[0] == [(" ", Style(bgcolor=red))] * 4
    assert cells[1] == [("▀", Style(color=red, bgcolor=blue))] * 4
    assert cells[2] == [(" ", Style(bgcolor=blue))] * 4
    # An odd last pixel row: upper halves only, the pane under them.
    assert cells[3] == [("▀", Style(color=blue))] * 4


def test_decoding_makes_a_bounded_rgb_thumbnail_over_the_matte() -> None:
    big, frames = decode_image(png(Image.new("RGB", (1000, 300), RED)))
    assert big.size == (THUMBNAIL[0], 60) and big.mode == "RGB" and frames == 1
    clear = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    clear.putpixel((0, 0), (*RED, 255))
    small, _ = decode_image(png(clear))
    assert small.size == (4, 4) and small.getpixel((0, 0)) == RED and small.getpixel((3, 3)) == MATTE
    # A palette picture with a transparent colour, and a 16-bit one (a depth map) stretched to grey.
    palette = clear.convert("P")
    palette.info["transparency"] = palette.getpixel((3, 3))
    assert decode_image(png(palette))[0].getpixel((3, 3)) == MATTE
    depth = Image.new("I;16", (2, 1))
    depth.putpixel((1, 0), 1000)
    stretched, _ = decode_image(png(depth))
    assert stretched.getpixel((0, 0)) == (0, 0, 0) and stretched.getpixel((1, 0)) == (255, 255, 255)


@pytest.mark.parametrize("format", ["PNG", "JPEG", "GIF", "BMP", "WEBP"])
def test_each_image_format_is_described_and_drawn(format: str) -> None:
    if format == "WEBP" and not features.check("webp"):
        pytest.skip("Pillow built without WebP")
    data = encoded(red_over_blue(37, 21), format)
    kind, width, height = image_info(data) or ("", None, None)
    assert (width, height) == (37, 21)
    preview = make_preview(info_of(data, f"picture.{format.lower()}"), data)
    assert preview.kind == "image" and is_drawn(preview)
    assert f"{kind} image, 37×21 pixels" in preview.text


@pytest.mark.parametrize("options", [{"lossless": True}, {"lossless": False}, {"exif": b"Exif\x00\x00"}])
def test_webp_sizes_are_read_from_each_kind_of_header(options: dict[str, object]) -> None:
    if not features.check("webp"):
        pytest.skip("Pillow built without WebP")
    data = encoded(Image.new("RGBA", (301, 7), (*RED, 128)), "WEBP", **options)
    assert image_info(data) == ("WebP", 301, 7)


def test_an_animation_shows_its_first_frame() -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in (RED, BLUE, RED)]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    preview = make_preview(info_of(data, "outputs/anim.gif"), data)
    assert is_drawn(preview) and "first of 3 frames" in preview.text


def test_image_bytes_is_the_largest_image_file_drawn() -> None:
    head = png(red_over_blue())
    assert preview_bytes(info_of(head, size=IMAGE_BYTES), head) == IMAGE_BYTES
    assert preview_bytes(info_of(head, size=IMAGE_BYTES + 1), head) == HEAD_BYTES
    assert preview_bytes(info_of(b"text", size=IMAGE_BYTES), b"text") == HEAD_BYTES
    at_the_limit = png_of_size(IMAGE_BYTES)
    preview = make_preview(info_of(at_the_limit), at_the_limit)
    assert is_drawn(preview) and "Not drawn" not in preview.text
    # Past it only the head is read, and the image described.
    past = make_preview(info_of(head, size=IMAGE_BYTES + 1), png_of_size(IMAGE_BYTES + 1)[:HEAD_BYTES])
    assert not is_drawn(past) and "PNG image, 16×7 pixels" in past.text
    assert "Not drawn: the file is larger than 32.0 MiB (IMAGE_BYTES)." in past.text


def test_image_pixels_is_the_largest_picture_decoded() -> None:
    # A 1-bit picture of exactly IMAGE_PIXELS pixels (5000×5000) is decoded: a few KiB of PNG.
    side = int(IMAGE_PIXELS**0.5)
    assert side * side == IMAGE_PIXELS
    data = encoded(Image.new("1", (side, side), 1), "PNG")
    preview = make_preview(info_of(data), data)
    assert is_drawn(preview) and f"{side}×{side} pixels" in preview.text
    # One pixel more is only described: the header is not even given to Pillow.
    for width, height in ((IMAGE_PIXELS + 1, 1), (side + 1, side)):
        header = png_claiming(width, height)
        past = make_preview(info_of(header), header)
        assert not is_drawn(past)
        assert f"Not drawn: {width * height:,} pixels, more than {IMAGE_PIXELS:,} (IMAGE_PIXELS)." in past.text
        with pytest.raises(ValueError, match="IMAGE_PIXELS|more than"):
            decode_image(header)


def gif_overhanging(width: int, height: int) -> bytes:
    """A GIF of a 10×10 screen whose one frame is ``width``×``height``: Pillow grows the image to hold it."""
    screen = b"GIF89a" + struct.pack("<HHBBB", 10, 10, 0, 0, 0)
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x4c\x01\x00"
    return screen + frame + b"\x3b"


@pytest.mark.parametrize("kind", ["PNG", "GIF"])
def test_a_decompression_bomb_is_described_without_a_warning(kind: str) -> None:
    # Past Pillow's own limit, where it warns (an error under this project's pytest settings).
    side = 10_000
    assert side * side > Image.MAX_IMAGE_PIXELS
    if kind == "PNG":
        data = png_header(side, side) + chunk(b"IDAT", zlib.compress(bytes(1 << 20))) + chunk(b"IEND", b"")
    else:
        data = gif_overhanging(side, side)
    with pytest.warns(Image.DecompressionBombWarning):
        Image.open(io.BytesIO(data)).close()
    assert image_info(data) == (kind, side, side)
    preview = make_preview(info_of(data), data)
    assert "Not drawn: 100,000,000 pixels, more than" in preview.text and not is_drawn(preview)


def test_a_jpeg_whose_second_size_marker_is_a_bomb_is_refused_without_a_warning() -> None:
    # The header check reads the first size marker (16×16); Pillow goes by the last (10000×10000).
    out = io.BytesIO()
    Image.new("RGB", (16, 16), RED).save(out, "JPEG")
    data = out.getvalue()
    at = data.index(b"\xff\xc0")
    sof = data[at : at + 2 + struct.unpack(">H", data[at + 2 : at + 4])[0]]
    big = sof[:5] + struct.pack(">HH", 10_000, 10_000) + sof[9:]
    crafted = data[:at] + sof + big + data[at + len(sof) :]
    assert image_info(crafted) == ("JPEG", 16, 16)
    with pytest.warns(Image.DecompressionBombWarning):
        Image.open(io.BytesIO(crafted)).close()
    preview = make_preview(info_of(crafted), crafted)
    assert "Not drawn: could not decode" in preview.text and "decompression bomb" in preview.text
    assert not is_drawn(preview)


@pytest.mark.parametrize("damage", ["truncated", "garbled", "header only", "no size"])
def test_a_broken_image_gives_a_note(damage: str) -> None:
    data = png(Image.new("RGB", (300, 200), RED))
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "garbled":
        data = data[:41] + bytes(range(256)) * 4 + data[-12:]
    elif damage == "header only":
        data = png_header(64, 32)
    else:
        data = b"\xff\xd8\xff\xe0" + bytes(64)  # a JPEG start without a frame header
    preview = make_preview(info_of(data), data)
    assert preview.kind == "image" and not is_drawn(preview)
    if damage == "no size":  # not given to Pillow: it could not be checked against IMAGE_PIXELS
        assert preview.text.endswith("Not drawn: its header does not say its size.")
    else:
        assert "Not drawn: could not decode: " in preview.text


def picture_cells(app: RunHistoryApp) -> list[list[tuple[str, Style | None]]]:
    """The cells the preview's body draws (all its lines), with their styles."""
    body = preview_of(app).query_one("#preview-body", Static)
    strips = body.render_lines(Region(0, 0, body.size.width, body.size.height))
    return [[(char, segment.style) for segment in strip for char in segment.text] for strip in strips]


def in_picture(style: Style | None) -> bool:
    """A cell of a red-over-blue picture: its background red or blue, or nearly (not the pane's grey)."""
    if style is None or style.bgcolor is None:
        return False
    colour = style.bgcolor.get_truecolor()
    return abs(colour.red - colour.blue) > 150 and colour.green < 60


@pytest.mark.slow
@pytest.mark.anyio
async def test_an_image_is_drawn_in_the_pane(store: EmbeddedStore) -> None:
    store.put_artifact(BASELINE, "outputs/small.png", png(red_over_blue(16, 7)))
    store.put_artifact(BASELINE, "outputs/wide.png", png(red_over_blue(400, 80)))
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await open_artifacts(pilot)
        preview = await choose(pilot, "outputs/small.png")
        assert preview.preview is not None and is_drawn(preview.preview)
        assert preview.text.startswith("PNG image, 16×7 pixels")
        await idle(pilot)
        # Drawn as it is: red cells, then red over blue in half blocks, then blue; the last row half full.
        red, blue = Color.from_rgb(*RED), Color.from_rgb(*BLUE)
        # (A blank cell's foreground is the pane's: only its background counts.)
        drawn = [
            [
                (char, style.color if char == "▀" else None, style.bgcolor)
                for char, style in line
                if style is not None and (in_picture(style) or char == "▀")
            ]
            for line in picture_cells(app)
        ]
        drawn = [line for line in drawn if line]
        assert [len(line) for line in drawn] == [16] * 4
        assert set(drawn[0]) == {(" ", None, red)}
        assert set(drawn[1]) == {("▀", red, blue)}
        assert set(drawn[2]) == {(" ", None, blue)}
        assert {(char, colour) for char, colour, _ in drawn[3]} == {("▀", blue)}

        # A wide picture is scaled to the pane's width: no horizontal scrolling.
        preview = await choose(pilot, "outputs/wide.png")
        assert preview.preview is not None and is_drawn(preview.preview)
        await idle(pilot)
        body = preview.query_one("#preview-body", Static)
        widths = [sum(in_picture(style) for _, style in line) for line in picture_cells(app)]
        width = max(widths)
        assert body.content_region.width - 2 <= width <= body.content_region.width
        # 5:1, one cell two pixels tall: a tenth as many rows as columns.
        assert abs(sum(1 for w in widths if w) - width / 10) <= 1
        assert preview.query_one("#preview-scroll").max_scroll_x == 0


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_corrupt_image_in_the_pane_gives_a_note(store: EmbeddedStore) -> None:
    data = png(Image.new("RGB", (64, 32), RED))
    store.put_artifact(BASELINE, "outputs/broken.png", data[:41] + bytes(200) + data[-12:])
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await open_artifacts(pilot)
        preview = await choose(pilot, "outputs/broken.png")
        assert preview.preview is not None and not is_drawn(preview.preview)
        assert "Not drawn: could not decode: " in preview.text


@pytest.mark.slow
@pytest.mark.anyio
async def test_images_at_and_past_the_limits_in_the_pane(store: EmbeddedStore) -> None:
    store.put_artifact(BASELINE, "outputs/at-limit.png", png_of_size(IMAGE_BYTES))
    store.put_artifact(BASELINE, "outputs/past-limit.png", png_of_size(IMAGE_BYTES + 1))
    store.put_artifact(BASELINE, "outputs/huge.png", png_claiming(IMAGE_PIXELS + 1, 1))
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await open_artifacts(pilot)
        # The whole 32 MiB is read, so the picture (its pixels after the padding) is drawn.
        preview = await choose(pilot, "outputs/at-limit.png")
        assert preview.preview is not None and is_drawn(preview.preview)
        preview = await choose(pilot, "outputs/past-limit.png")
        assert preview.preview is not None and not is_drawn(preview.preview)
        assert "larger than 32.0 MiB (IMAGE_BYTES)" in preview.text
        preview = await choose(pilot, "outputs/huge.png")
        assert preview.preview is not None and not is_drawn(preview.preview)
        assert f"more than {IMAGE_PIXELS:,} (IMAGE_PIXELS)" in preview.text
