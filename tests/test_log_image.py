"""``logger.log_image()``: every accepted input stored as PNG pixels that read back exactly,
every bad one refused at the call with nothing stored; on a real embedded store and
through the HTTP store (the server's routes in this process)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from runhistory.api import EmbeddedStore, InvalidInput, LoggingError, NewRun, Store
from runhistory.api._media import media_folder, media_path, parse_media_path
from runhistory.logger import Logger

from ._inprocess import in_process

_RNG = np.random.default_rng(7)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    s = EmbeddedStore(tmp_path / "store")
    yield s
    s.close()


@pytest.fixture(params=["embedded", "http"])
def any_store(request: pytest.FixtureRequest, store: EmbeddedStore) -> Store:
    """The embedded store, or an HTTP store in front of it."""
    return store if request.param == "embedded" else in_process(store)


@pytest.fixture
def make_logger(store: EmbeddedStore, tmp_path: Path) -> Iterator[Callable[..., Logger]]:
    made: list[Logger] = []

    def make(on: Store | None = None, *, run_id: str | None = None, owner: bool = True, **options: Any) -> Logger:
        target = on or store
        rid = run_id or target.create_run(NewRun(experiment="images")).id
        logger = Logger(target, rid, owner=owner, cwd=str(tmp_path), **options)
        made.append(logger)
        return logger

    yield make
    for logger in made:
        logger.finish()


@pytest.fixture
def logger(make_logger: Callable[..., Logger]) -> Logger:
    return make_logger()


def png_of(store: Store, run_id: str, path: str) -> Image.Image:
    with store.open_artifact(run_id, path) as stream:
        data = stream.read()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def pixels(store: Store, run_id: str, path: str) -> np.ndarray:
    return np.asarray(png_of(store, run_id, path))


def media_files(store: Store, run_id: str) -> list[str]:
    return [a.path for a in store.list_artifacts(run_id, "media")]


# -- what is accepted, read back exactly ------------------------------------------------------


ARRAYS: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _case(name: str, given: np.ndarray, stored: np.ndarray | None = None) -> None:
    ARRAYS[name] = (given, given if stored is None else stored)


_u8 = _RNG.integers(0, 256, size=(7, 5, 4), dtype=np.uint8)
_case("uint8 H×W", _u8[:, :, 0])
_case("uint8 H×W×1", _u8[:, :, :1], _u8[:, :, 0])
_case("uint8 H×W×3", _u8[:, :, :3])
_case("uint8 H×W×4", _u8)
_f = _RNG.random((6, 9, 3))
_f[0, 0], _f[0, 1] = [0.0, 1.0, 0.5], [1 / 510, 0.999, 0.25]  # the ends, and values that round each way
_case("float64 H×W×3 in [0, 1]", _f, np.rint(_f * 255).astype(np.uint8))
_case(
    "float32 H×W in [0, 1]",
    _f[:, :, 0].astype(np.float32),
    np.rint(_f[:, :, 0].astype(np.float32) * 255).astype(np.uint8),
)
_case(
    "float16 H×W×4",
    _f[:, :, [0, 1, 2, 0]].astype(np.float16),
    np.rint(_f[:, :, [0, 1, 2, 0]].astype(np.float16) * 255).astype(np.uint8),
)
_b = _RNG.random((5, 11)) > 0.5
_case("bool H×W", _b)
_case("bool H×W×1", _b[:, :, None], _b)
_i = _RNG.integers(0, 256, size=(4, 4, 3))
_case("int64 H×W×3 in 0 … 255", _i, _i.astype(np.uint8))
_g16 = np.array([[0, 1, 255, 256], [4095, 30000, 65534, 65535]], dtype=np.uint16)
_case("uint16 H×W (16-bit grey)", _g16)
_case("non-contiguous uint8", _u8[::2, ::-1, :3], np.ascontiguousarray(_u8[::2, ::-1, :3]))


@pytest.mark.parametrize("case", list(ARRAYS))
def test_arrays_of_each_shape_and_dtype_round_trip_exactly(
    case: str, any_store: Store, make_logger: Callable[..., Logger]
) -> None:
    given, stored = ARRAYS[case]
    logger = make_logger(any_store)
    logger.log_image("sample", given, step=3).wait()
    got = pixels(any_store, logger.run_id, "media/sample/00000003.png")
    assert got.shape == stored.shape and got.dtype == stored.dtype
    assert np.array_equal(got, stored)


def test_the_caller_may_change_its_array_once_the_call_returns(logger: Logger, store: EmbeddedStore) -> None:
    array = np.zeros((8, 8, 3), dtype=np.uint8)
    handle = logger.log_image("buffer", array)
    array[:] = 255  # a training loop reusing its buffer
    handle.wait()
    assert not pixels(store, logger.run_id, "media/buffer/00000000.png").any()


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
def test_pil_images_are_stored_in_their_own_mode(mode: str, logger: Logger, store: EmbeddedStore) -> None:
    image = Image.fromarray(_u8[:, :, :3]).convert(mode) if mode != "I;16" else Image.fromarray(_g16)
    logger.log_image("pil", image).wait()
    back = png_of(store, logger.run_id, "media/pil/00000000.png")
    assert back.mode == mode
    assert np.array_equal(np.asarray(back), np.asarray(image))
    if mode == "P":
        assert back.getpalette() == image.getpalette()


def test_a_32_bit_integer_picture_in_16_bit_range_is_kept_in_16_bits(logger: Logger, store: EmbeddedStore) -> None:
    image = Image.fromarray(_g16.astype(np.int32))
    assert image.mode == "I"
    logger.log_image("depth", image).wait()
    assert np.array_equal(pixels(store, logger.run_id, "media/depth/00000000.png"), _g16)
    with pytest.raises(InvalidInput, match=r"values -1 … 65535; PNG keeps 0 … 65535"):
        logger.log_image("depth", Image.fromarray(np.array([[-1, 65535]], np.int32)))


@pytest.mark.parametrize("mode", ["CMYK", "YCbCr", "PA"])
def test_pil_images_png_cannot_hold_become_rgb(mode: str, logger: Logger, store: EmbeddedStore) -> None:
    image = Image.fromarray(_u8[:, :, :3]).convert(mode)
    logger.log_image("converted", image).wait()
    back = png_of(store, logger.run_id, "media/converted/00000000.png")
    wanted = "RGBA" if mode == "PA" else "RGB"
    assert back.mode == wanted
    assert np.array_equal(np.asarray(back), np.asarray(image.convert(wanted)))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF"])
def test_an_image_file_is_stored_as_png_of_its_pixels(
    fmt: str, logger: Logger, store: EmbeddedStore, tmp_path: Path
) -> None:
    file = tmp_path / f"picture.{fmt.lower()}"
    Image.fromarray(_u8[:, :, :3]).save(file, fmt)
    logger.log_image("files", file, step=0)
    logger.log_image("files", str(file), step=1).wait()
    with Image.open(file) as source:
        wanted = np.asarray(source.convert(source.mode if source.mode in ("P", "RGB", "L") else "RGB"))
    for step in (0, 1):
        assert np.array_equal(pixels(store, logger.run_id, f"media/files/0000000{step}.png"), wanted)


def test_the_caption_is_kept_in_the_png(logger: Logger, store: EmbeddedStore) -> None:
    caption = "a cat on a mat, 猫\nsecond line"
    logger.log_image("captioned", np.zeros((2, 2), np.uint8), caption=caption).wait()
    assert png_of(store, logger.run_id, "media/captioned/00000000.png").info["Description"] == caption


# -- steps and names -----------------------------------------------------------------------


def test_steps_count_on_from_the_highest_logged(logger: Logger, store: EmbeddedStore) -> None:
    image = np.zeros((2, 2), np.uint8)
    for _ in range(3):
        logger.log_image("a", image)
    logger.log_image("a", image, step=np.int64(20))
    logger.log_image("a", image, step=10)  # an earlier step fills in
    logger.log_image("a", image)  # one past the highest
    logger.log_image("b", image).wait()  # each name counts on its own
    steps = sorted(
        found[1] for p in media_files(store, logger.run_id) if (found := parse_media_path(p)) and found[0] == "a"
    )
    assert steps == [0, 1, 2, 10, 20, 21]
    assert "media/b/00000000.png" in media_files(store, logger.run_id)


def test_a_step_logged_again_replaces_its_image(logger: Logger, store: EmbeddedStore) -> None:
    logger.log_image("again", np.zeros((2, 2), np.uint8), step=5)
    logger.log_image("again", np.full((2, 2), 9, np.uint8), step=5).wait()
    assert media_files(store, logger.run_id) == ["media/again/00000005.png"]
    assert (pixels(store, logger.run_id, "media/again/00000005.png") == 9).all()


def test_a_process_that_joins_the_run_counts_on_from_the_stored_steps(
    make_logger: Callable[..., Logger], store: EmbeddedStore
) -> None:
    owner = make_logger()
    owner.log_image("samples", np.zeros((2, 2), np.uint8), step=41)
    owner.log_image("samples/deeper", np.zeros((2, 2), np.uint8), step=99).wait()  # another name, under it
    joined = make_logger(run_id=owner.run_id, owner=False)
    joined.log_image("samples", np.ones((2, 2), np.uint8)).wait()
    assert "media/samples/00000042.png" in media_files(store, owner.run_id)


def test_names_with_slashes_nest_and_odd_names_survive(logger: Logger, store: EmbeddedStore) -> None:
    names = [
        "val/samples",
        "a//b",
        "/lead",
        "trail/",
        ".",
        "..",
        "x/../y",
        "100%",
        "back\\slash",
        "00000001.png",
        "日本/ß",
    ]
    for name in names:
        logger.log_image(name, np.zeros((1, 1), np.uint8), step=1)
    logger.flush()
    found = {parse_media_path(p) for p in media_files(store, logger.run_id)}
    assert found == {(name, 1) for name in names}
    assert media_path("val/samples", 12) == "media/val/samples/00000012.png"


def test_paths_sort_by_step_and_other_files_under_media_are_not_images() -> None:
    paths = [media_path("s", step) for step in (0, 9, 10, 99_999_999, 100_000_000)]
    assert sorted(paths[:4]) == paths[:4]  # up to 8 digits, by name as by step
    assert [parse_media_path(p) for p in paths] == [("s", s) for s in (0, 9, 10, 99_999_999, 100_000_000)]
    for other in (
        "media/s.png",
        "media/s/notes.txt",
        "media/s/012.png",
        "other/s/00000001.png",
        "media/s/00000001.PNG",
    ):
        assert parse_media_path(other) is None
    assert media_folder("a/b") == "media/a/b/"


# -- refused at the call, nothing stored -------------------------------------------------------


class _Thing:
    pass


REFUSALS: list[tuple[Any, type[BaseException], str]] = [
    (np.zeros((3, 8, 8), np.uint8), InvalidInput, r"channels-first.*transpose\(1, 2, 0\)"),
    (np.zeros((2, 8, 8, 3), np.uint8), InvalidInput, "a batch of images"),
    (np.zeros((8, 8, 2), np.uint8), InvalidInput, "is not an image; give H×W"),
    (np.zeros(8, np.uint8), InvalidInput, "is not an image"),
    (np.zeros((0, 8), np.uint8), InvalidInput, "is empty"),
    (np.full((2, 2), 1.5), InvalidInput, r"values 1\.5 … 1\.5; a float image must lie in \[0, 1\]"),
    (np.full((2, 2), -0.25, np.float32), InvalidInput, r"must lie in \[0, 1\]"),
    (np.array([[0.5, np.nan]]), InvalidInput, "NaN or infinite"),
    (np.array([[0, 256]]), InvalidInput, r"values 0 … 256; an integer image must lie in 0 … 255"),
    (np.array([[-1, 3]], np.int8), InvalidInput, "must lie in 0 … 255"),
    (np.full((2, 2, 3), 300, np.uint16), InvalidInput, r"must lie in 0 … 255 \(uint16 only as H×W grey\)"),
    (np.zeros((2, 2), np.complex64), TypeError, "complex64 array as an image"),
    (np.array([["a", "b"]]), TypeError, "as an image"),
    ([[0, 1], [1, 0]], TypeError, "cannot log a list as an image"),
    (b"\x89PNG....", TypeError, "cannot log bytes as an image"),
    (_Thing(), TypeError, "cannot log a _Thing as an image"),
    (Image.new("F", (2, 2)), InvalidInput, "mode 'F'"),
]


@pytest.mark.parametrize(("image", "error", "match"), REFUSALS, ids=[str(i) for i in range(len(REFUSALS))])
def test_bad_images_are_refused_at_the_call_and_nothing_is_stored(
    image: Any, error: type[BaseException], match: str, logger: Logger, store: EmbeddedStore
) -> None:
    logger.log_image("kept", np.zeros((2, 2), np.uint8)).wait()
    with pytest.raises(error, match=match):
        logger.log_image("refused", image)
    logger.flush()
    assert media_files(store, logger.run_id) == ["media/kept/00000000.png"]
    logger.log_image("refused", np.zeros((2, 2), np.uint8)).wait()  # the name is still free, from step 0
    assert "media/refused/00000000.png" in media_files(store, logger.run_id)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ({"name": ""}, InvalidInput, "metric name is empty"),
        ({"name": "a\x1bb"}, InvalidInput, "control character"),
        ({"name": 3}, TypeError, "must be a str"),
        ({"step": -1}, InvalidInput, "step must be 0 or more"),
        ({"step": 1.0}, TypeError, "step must be an int"),
        ({"caption": 3}, TypeError, "caption must be a str"),
        ({"caption": "\ud800"}, InvalidInput, "lone surrogate"),
    ],
)
def test_bad_names_steps_and_captions_are_refused(
    args: dict[str, Any], error: type[BaseException], match: str, logger: Logger, store: EmbeddedStore
) -> None:
    call = {"name": "ok", "image": np.zeros((2, 2), np.uint8), **args}
    with pytest.raises(error, match=match):
        logger.log_image(call.pop("name"), call.pop("image"), **call)
    logger.flush()
    assert media_files(store, logger.run_id) == []


def test_files_that_are_not_images_are_refused(logger: Logger, store: EmbeddedStore, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a picture")
    with pytest.raises(InvalidInput, match="notes.txt is not an image file"):
        logger.log_image("file", tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError):
        logger.log_image("file", tmp_path / "missing.png")
    good = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(good, "PNG")
    (tmp_path / "cut.png").write_bytes(good.getvalue()[:60])
    with pytest.raises(InvalidInput, match="cut.png could not be decoded"):
        logger.log_image("file", tmp_path / "cut.png")
    logger.flush()
    assert media_files(store, logger.run_id) == []


def test_after_finish_an_image_is_refused(make_logger: Callable[..., Logger]) -> None:
    logger = make_logger()
    logger.finish()
    with pytest.raises(LoggingError, match="finished"):
        logger.log_image("late", np.zeros((2, 2), np.uint8))
