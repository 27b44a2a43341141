"""Where a logged image is kept among a run's files, and how the app finds it again.

``logger.log_image(name, image, step)`` stores the image as the artifact
``media/<name>/<step>.png``: the step zero-padded to ``STEP_DIGITS`` digits,
so a folder's files sort by step (a larger step just has more digits), and a
name with ``/`` nests as folders (``val/samples`` → ``media/val/samples/…``).
The path is the record: listing a run's files under ``media/`` gives every
image name and every step without opening a file, on every store, and a step
logged again replaces its image.

A name is a metric name (any printable text), so the parts of it that cannot
be a folder of an artifact path are escaped, reversibly: ``%`` as ``%25`` and
``\\`` as ``%5C`` everywhere; a part that is ``.`` or ``..``, or would look
like a step's file, has its dots as ``%2E``; an empty part (``a//b``) is ``%``.
"""

from __future__ import annotations

import re

from ._errors import InvalidInput, InvalidPath
from ._validate import check_artifact_path

#: The folder of a run's files that holds its logged images.
MEDIA_FOLDER = "media"
#: The PNG text chunk (iTXt) that holds an image's caption: the keyword PNG defines for it.
CAPTION_KEY = "Description"
#: Digits a step is padded to in its file name (``00001200.png``).
STEP_DIGITS = 8

_STEP_FILE = re.compile(r"(\d+)\.png")
_ESCAPED = re.compile(r"%(25|5C|2E)")
_UNESCAPE = {"25": "%", "5C": "\\", "2E": "."}


def _escape_part(part: str) -> str:
    if not part:
        return "%"
    part = part.replace("%", "%25").replace("\\", "%5C")
    if part in (".", "..") or _STEP_FILE.fullmatch(part):
        part = part.replace(".", "%2E")
    return part


def _unescape_part(part: str) -> str:
    if part == "%":
        return ""
    return _ESCAPED.sub(lambda m: _UNESCAPE[m.group(1)], part)


def media_folder(name: str) -> str:
    """The folder (with a trailing ``/``) that holds the images logged as ``name``, and those of names under it."""
    return "/".join([MEDIA_FOLDER, *map(_escape_part, name.split("/"))]) + "/"


def step_file(step: int) -> str:
    """The file name of one step's image."""
    return f"{step:0{STEP_DIGITS}d}.png"


def media_path(name: str, step: int) -> str:
    """The artifact path of the image logged as ``name`` at ``step`` (a valid metric name, a step of 0 or more).

    Raises:
        InvalidInput: a ``/``-separated part of the name is longer than an
            artifact path's component may be (``MAX_PATH_COMPONENT_BYTES``, once escaped).
    """
    path = media_folder(name) + step_file(step)
    try:
        return check_artifact_path(path)
    except InvalidPath as error:
        raise InvalidInput(
            f"image name {name!r} cannot be a folder of the run's files: {error} "
            "(each '/'-separated part of an image name is a folder name)"
        ) from None


def parse_media_path(path: str) -> tuple[str, int] | None:
    """The image name and step an artifact path was stored under by ``log_image``; None for other files."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != MEDIA_FOLDER:
        return None
    found = _STEP_FILE.fullmatch(parts[-1])
    if found is None:
        return None
    name = "/".join(_unescape_part(p) for p in parts[1:-1])
    step = int(found.group(1))
    if media_folder(name) + step_file(step) != path:  # not as log_image writes it (a file put there by hand)
        return None
    return name, step
