"""Checks on names and paths, shared by every store and the logger."""

from __future__ import annotations

import re

from ._errors import InvalidInput, InvalidPath
from ._limits import (
    MAX_ARTIFACT_PATH_LENGTH,
    MAX_ASSET_NAME_LENGTH,
    MAX_EXPERIMENT_NAME_LENGTH,
    MAX_METRIC_NAME_LENGTH,
    MAX_PATH_COMPONENT_BYTES,
)

# C0 and C1 control characters and DEL: they would rewrite a terminal's state
# when a name or path is printed.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ASSET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_RUN_ID = re.compile(r"[0-9a-f]{32}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a C0 or C1 control character, or DEL."""
    return _CONTROL.search(text) is not None


def check_name(name: object, what: str, max_length: int) -> str:
    """A non-empty, printable name of at most ``max_length`` characters."""
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, not {type(name).__name__}")
    if not name:
        raise InvalidInput(f"{what} is empty")
    if len(name) > max_length:
        raise InvalidInput(f"{what} is {len(name)} characters long; the limit is {max_length}: {name[:40]!r}…")
    if _CONTROL.search(name):
        raise InvalidInput(f"{what} holds a control character: {name!r}")
    _check_encodable(name, what, InvalidInput)
    return name


def _check_encodable(text: str, what: str, error: type[InvalidInput]) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"{what} is not valid Unicode (it holds a lone surrogate): {text!r}") from None


def check_metric_name(name: object) -> str:
    """A metric name (see ``MAX_METRIC_NAME_LENGTH``)."""
    return check_name(name, "metric name", MAX_METRIC_NAME_LENGTH)


def check_experiment(name: object) -> str:
    """An experiment name (see ``MAX_EXPERIMENT_NAME_LENGTH``)."""
    return check_name(name, "experiment name", MAX_EXPERIMENT_NAME_LENGTH)


def check_asset_name(name: object) -> str:
    """Letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit."""
    check_name(name, "asset name", MAX_ASSET_NAME_LENGTH)
    assert isinstance(name, str)
    if not _ASSET_NAME.fullmatch(name):
        raise InvalidInput(
            f"asset name {name!r} may hold only letters, digits, '.', '_' and '-', "
            "and must start with a letter or digit"
        )
    return name


def check_run_id(run_id: object) -> str:
    """A full run id: 32 lowercase hex digits."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise InvalidInput(f"run id must be 32 lowercase hex digits, got {run_id!r}")
    return run_id


def is_sha256(text: str) -> bool:
    """Whether ``text`` is a sha256 as blobs are named: 64 lowercase hex digits."""
    return _SHA256.fullmatch(text) is not None


def check_sha256(sha256: object) -> str:
    """A file's sha256: 64 lowercase hex digits."""
    if not isinstance(sha256, str) or not is_sha256(sha256):
        raise InvalidInput(f"{sha256!r} is not a sha256 (64 lowercase hex digits)")
    return sha256


def check_artifact_path(path: object) -> str:
    """A relative POSIX path that stays inside its run.

    Refused: non-strings, empty paths, absolute paths, backslashes, ``.`` or
    ``..`` components, empty components (``a//b``), control characters, a
    path over ``MAX_ARTIFACT_PATH_LENGTH`` characters, or a component over
    ``MAX_PATH_COMPONENT_BYTES`` bytes.
    """
    if not isinstance(path, str):
        raise TypeError(f"artifact path must be a str, not {type(path).__name__}")
    if not path:
        raise InvalidPath("artifact path is empty")
    if len(path) > MAX_ARTIFACT_PATH_LENGTH:
        raise InvalidPath(f"artifact path is {len(path)} characters long; the limit is {MAX_ARTIFACT_PATH_LENGTH}")
    if _CONTROL.search(path):
        raise InvalidPath(f"artifact path holds a control character: {path!r}")
    _check_encodable(path, "artifact path", InvalidPath)
    if path.startswith("/"):
        raise InvalidPath(f"artifact path must be relative, not absolute: {path!r}")
    if "\\" in path:
        raise InvalidPath(f"artifact path must use '/', not '\\': {path!r}")
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise InvalidPath(f"artifact path may not hold a {part!r} component: {path!r}")
        if len(part.encode("utf-8")) > MAX_PATH_COMPONENT_BYTES:
            raise InvalidPath(
                f"artifact path component is longer than {MAX_PATH_COMPONENT_BYTES} bytes: {part[:40]!r}…"
            )
    return path


def check_prefix(prefix: object) -> str:
    """An artifact prefix: a valid path, or empty (everything); a trailing '/' is dropped."""
    if not isinstance(prefix, str):
        raise TypeError(f"artifact prefix must be a str, not {type(prefix).__name__}")
    prefix = prefix.rstrip("/")
    if prefix in ("", "."):
        return ""
    return check_artifact_path(prefix)
