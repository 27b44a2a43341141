"""What ``log_image()`` accepts, made into a picture of its own on the caller's thread.

Everything here runs at the call, so that a bad image is refused there with an
error that names the problem, and so that the caller may change or reuse its
array as soon as the call returns (the picture is a copy). Encoding the PNG,
the costly part, is left to the writer (``_ops.PutImage``).

Pixels are never guessed at: uint8 is stored as it is, a float must already
lie in [0, 1] (scaled by 255 and rounded), a bool is black or white, uint16
grey is kept in 16 bits. Nothing is rescaled to its own minimum and maximum,
so the same array always gives the same picture.

Pillow is imported here, when the first image is logged (never by ``import
runhistory.logger``); numpy only when the image is an array, which means the
caller has it already.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from runhistory.api._errors import InvalidInput
from runhistory.api._limits import MAX_CAPTION_LENGTH, MAX_IMAGE_PIXELS

if TYPE_CHECKING:
    from PIL.Image import Image

_ACCEPTED = (
    "a NumPy array (H×W, H×W×1, H×W×3 or H×W×4; uint8, float in [0, 1], bool, or uint16 grey), "
    "a PIL image, or the path of an image file"
)
#: PIL modes stored as they are (PNG holds each exactly).
_PNG_MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "I;16")
#: PIL modes converted first: to the PNG mode that holds them without loss of what they show.
_CONVERTED = {
    "PA": "RGBA",
    "La": "LA",
    "RGBa": "RGBA",
    "RGBX": "RGB",
    "CMYK": "RGB",
    "YCbCr": "RGB",
    "LAB": "RGB",
    "HSV": "RGB",
}
#: Channels of an H×W×C array, and the PIL mode each makes.
_ARRAY_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def check_caption(caption: object) -> str | None:
    """A caption: None, or text of at most ``MAX_CAPTION_LENGTH`` characters."""
    if caption is None:
        return None
    if not isinstance(caption, str):
        raise TypeError(f"caption must be a str, not {type(caption).__name__}")
    if len(caption) > MAX_CAPTION_LENGTH:
        raise InvalidInput(f"caption is {len(caption)} characters long; the limit is {MAX_CAPTION_LENGTH}")
    try:
        caption.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"caption is not valid Unicode (it holds a lone surrogate): {caption[:40]!r}") from None
    return caption


def _check_pixels(width: int, height: int, what: str) -> None:
    if width < 1 or height < 1:
        raise InvalidInput(f"{what} is empty ({width}×{height} pixels)")
    if width * height > MAX_IMAGE_PIXELS:
        raise InvalidInput(
            f"{what} has {width}×{height} = {width * height:,} pixels; the limit is {MAX_IMAGE_PIXELS:,} "
            "(MAX_IMAGE_PIXELS): log a smaller image (resize or crop it)"
        )


def picture_of(image: Any) -> Image:
    """``image`` as a PIL image of its own in a mode PNG keeps, its pixels exactly as they will be stored.

    Raises:
        TypeError: ``image`` is none of the accepted kinds, or an array of an unsupported dtype.
        ValueError (``InvalidInput``): a wrong shape, values out of range, too many pixels,
            or a file that is not an image.
        OSError: the file cannot be read.
    """
    from PIL import Image

    if isinstance(image, Image.Image):
        return _own_picture(image, "image")
    if isinstance(image, (str, os.PathLike)):
        return _picture_from_file(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"cannot log {type(image).__name__} as an image; give {_ACCEPTED} (Image.open(io.BytesIO(data)) reads encoded bytes)"
        )
    if hasattr(image, "__array_interface__") or hasattr(image, "__array__"):
        return _picture_from_array(image)
    raise TypeError(f"cannot log a {type(image).__name__} as an image; give {_ACCEPTED}")


def _own_picture(picture: Image, what: str) -> Image:
    """A copy of a PIL image (loaded, in a PNG mode), after its size is checked."""
    _check_pixels(picture.width, picture.height, what)
    mode = picture.mode
    if mode in _PNG_MODES:
        return picture.copy()  # loads it, and the caller may change its own afterwards
    if mode in _CONVERTED:
        return picture.convert(_CONVERTED[mode])
    if mode in ("I", "I;16B", "I;16L", "I;16N"):
        low, high = cast("tuple[int, int]", picture.getextrema())
        if 0 <= low and high <= 65535:
            return picture.convert("I;16") if mode == "I" else picture.convert("I").convert("I;16")
        raise InvalidInput(f"{what} is a 32-bit integer picture with values {low} … {high}; PNG keeps 0 … 65535")
    raise InvalidInput(
        f"{what} is a PIL image of mode {mode!r}, which PNG cannot hold; convert it to 'L', 'RGB' or 'RGBA'"
    )


def _picture_from_file(path: str | os.PathLike[str]) -> Image:
    from PIL import Image, UnidentifiedImageError

    shown = os.fspath(path)
    with warnings.catch_warnings():
        # Pillow warns of (and past twice its limit refuses) a huge picture at open; the limit here is lower.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            opened = Image.open(path)
        except UnidentifiedImageError:
            raise InvalidInput(f"{shown} is not an image file Pillow can read") from None
        except Image.DecompressionBombError as error:
            raise InvalidInput(
                f"{shown}: {error}; the limit is {MAX_IMAGE_PIXELS:,} pixels (MAX_IMAGE_PIXELS)"
            ) from None
    with opened:
        _check_pixels(opened.width, opened.height, shown)  # from its header, before it is decoded
        try:
            opened.load()
        except (OSError, SyntaxError, ValueError) as error:  # a truncated or damaged file
            raise InvalidInput(f"{shown} could not be decoded: {error}") from None
        return _own_picture(opened, shown)


def _picture_from_array(value: Any) -> Image:
    try:
        import numpy as np
    except ImportError:  # an object that only looks like an array, without numpy installed
        raise TypeError(f"cannot log a {type(value).__name__} as an image without numpy; give {_ACCEPTED}") from None
    from PIL import Image

    try:
        array = np.asarray(value)
    except Exception as error:  # e.g. a tensor on a GPU
        raise TypeError(
            f"cannot read a {type(value).__name__} as an array ({error}); move it to the CPU as a NumPy array first"
        ) from None
    shape = array.shape
    what = f"a {'×'.join(map(str, shape)) or 'scalar'} {array.dtype} array"
    if array.ndim == 3 and shape[2] not in _ARRAY_MODES and shape[0] in _ARRAY_MODES:
        raise InvalidInput(
            f"{what} looks channels-first (C×H×W); give H×W×C: array.transpose(1, 2, 0) (a tensor: .permute(1, 2, 0))"
        )
    if array.ndim == 4:
        raise InvalidInput(f"{what} holds a batch of images; log one H×W×C image at a time, or tile them into one")
    if not (array.ndim == 2 or array.ndim == 3 and shape[2] in _ARRAY_MODES):
        raise InvalidInput(f"{what} is not an image; give H×W (grey), H×W×1, H×W×3 (RGB) or H×W×4 (RGBA)")
    _check_pixels(shape[1], shape[0], what)
    if array.ndim == 3 and shape[2] == 1:
        array = array[:, :, 0]
    kind = array.dtype.kind
    if kind == "b":
        return Image.fromarray(np.array(array, dtype=bool, order="C"))  # mode "1": a copy of its own
    if kind == "f":
        if not np.isfinite(array).all():
            raise InvalidInput(f"{what} holds NaN or infinite values")
        low, high = float(array.min()), float(array.max())
        if low < 0 or high > 1:
            raise InvalidInput(
                f"{what} has values {low:g} … {high:g}; a float image must lie in [0, 1] "
                "(nothing is rescaled: np.clip(image, 0, 1), or divide by 255 if it is 0 … 255)"
            )
        return Image.fromarray(np.rint(array * 255).astype(np.uint8))
    if array.dtype == np.uint16 and array.ndim == 2:
        return _grey16(array, np)
    if kind in "iu":
        if array.dtype != np.uint8:
            low, high = int(array.min()), int(array.max())
            if low < 0 or high > 255:
                raise InvalidInput(
                    f"{what} has values {low} … {high}; an integer image must lie in 0 … 255 "
                    "(uint16 only as H×W grey), or give floats in [0, 1]"
                )
        return Image.fromarray(np.array(array, dtype=np.uint8, order="C"))  # a copy, always
    raise TypeError(f"cannot log {what} as an image: give uint8, float in [0, 1], bool, or uint16 grey")


def _grey16(array: Any, np: Any) -> Image:
    """A 16-bit grey picture of a 2-D uint16 array (a depth map, a mask of many labels)."""
    from PIL import Image

    data = np.ascontiguousarray(array, dtype="<u2")
    return Image.frombytes("I;16", (data.shape[1], data.shape[0]), data.tobytes())


def raw_bytes(picture: Image) -> int:
    """What a picture holds in memory while it waits for the writer, roughly: its pixels' bytes."""
    bands = len(picture.getbands())
    depth = 2 if picture.mode == "I;16" else 1
    return max(1, picture.width * picture.height * bands * depth // (8 if picture.mode == "1" else 1))


class ImageBudget:
    """Bytes of pictures queued for the writer and not yet encoded, at most ``limit`` of them.

    ``take()`` waits while the queue holds more than the limit would allow
    (one picture larger than the limit alone still goes), so a training loop
    that logs images faster than they can be encoded slows down rather than
    fill the memory.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._changed = threading.Condition()

    def take(self, count: int, nudge: Callable[[], None], alive: Callable[[], bool]) -> None:
        with self._changed:
            while self.used and self.used + count > self.limit and alive():
                nudge()
                self._changed.wait(0.1)
            self.used += count

    def give(self, count: int) -> None:
        with self._changed:
            self.used -= count
            self._changed.notify_all()
