"""A run's params, tags and note: how a configuration becomes params, and what every store accepts.

``flatten_params`` turns what a training script has (a dict, possibly nested,
an ``argparse.Namespace``, a dataclass, an OmegaConf/Hydra config, a Pydantic
model, anything with ``to_container()``, ``model_dump()`` or ``to_dict()``)
into flat, typed params: nested keys are joined with ``.``::

    {"optimizer": {"lr": 1e-3, "name": "adam"}, "layers": [64, 64]}
    → {"optimizer.lr": 0.001, "optimizer.name": "adam", "layers": [64, 64]}

Values are kept with their type (a number stays a number, so that runs can
be filtered and sorted by it): str, int, float, bool, None, and lists of
those of at most ``MAX_PARAM_LIST_LENGTH`` items. Anything else is a
``TypeError`` naming the key, at the call, before anything is stored.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from ._errors import InvalidInput
from ._limits import (
    MAX_GIT_DIFF_BYTES,
    MAX_NOTE_LENGTH,
    MAX_PACKAGES,
    MAX_PARAM_KEY_LENGTH,
    MAX_PARAM_LIST_LENGTH,
    MAX_PARAM_TEXT_LENGTH,
    MAX_PARAMS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
)
from ._models import ParamValue
from ._validate import has_control_characters

_SCALARS = (str, int, float, bool, type(None))


def _as_mapping(config: Any) -> Mapping[str, Any] | None:
    """``config`` as a mapping, when it is one of the configuration objects we know."""
    if isinstance(config, Mapping):
        return config
    argparse = sys.modules.get("argparse")  # a Namespace exists only once argparse is imported
    if argparse is not None and isinstance(config, argparse.Namespace):
        found: dict[str, Any] = vars(config)
        return found
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    for method in ("to_container", "model_dump", "to_dict"):  # OmegaConf / Hydra, Pydantic 2, others
        convert = getattr(config, method, None)
        if callable(convert):
            try:
                converted = convert(resolve=True) if method == "to_container" else convert()
            except TypeError:
                converted = convert()
            if isinstance(converted, Mapping):
                return converted
    # OmegaConf's DictConfig has no to_container method of its own: OmegaConf.to_container does it.
    if type(config).__name__ == "DictConfig":
        from omegaconf import OmegaConf  # type: ignore[import-not-found]

        converted = OmegaConf.to_container(config, resolve=True)
        if isinstance(converted, Mapping):
            return converted
    return None


def flatten_params(config: Any) -> dict[str, ParamValue]:
    """Flat, typed params from a configuration (see the module docstring).

    Raises:
        TypeError: ``config`` is not a configuration, or a value is of a type a param cannot hold.
        ValueError: a key or value breaks a limit, or a float is not finite.
    """
    mapping = _as_mapping(config)
    if mapping is None:
        raise TypeError(
            f"params must be a mapping, an argparse.Namespace, a dataclass or a config object, not {type(config).__name__}"
        )
    out: dict[str, ParamValue] = {}
    _flatten_into(out, "", mapping)
    check_params(out)
    return out


def _flatten_into(out: dict[str, ParamValue], prefix: str, mapping: Mapping[Any, Any]) -> None:
    for key, value in mapping.items():
        if not isinstance(key, (str, int)) or isinstance(key, bool):
            raise TypeError(
                f"param keys must be strings, got {key!r} ({type(key).__name__}) under {prefix or 'the top'!r}"
            )
        name = f"{prefix}{key}"
        nested = None if isinstance(value, _SCALARS) else _as_mapping(value)
        if nested is not None:
            if not nested:
                continue  # an empty section holds no params
            _flatten_into(out, name + ".", nested)
            continue
        out[name] = _param_value(name, value)


def _param_value(key: str, value: Any) -> ParamValue:
    if isinstance(value, _SCALARS):
        return _scalar(key, value)
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_PARAM_LIST_LENGTH:
            raise ValueError(f"param {key!r} is a list of {len(value)} items; at most {MAX_PARAM_LIST_LENGTH} are kept")
        items = []
        for item in value:
            if not isinstance(item, _SCALARS):
                raise TypeError(
                    f"param {key!r}: list items must be str, int, float, bool or None, not {type(item).__name__}"
                )
            items.append(_scalar(key, item))
        return items  # type: ignore[return-value]
    item = getattr(value, "item", None)  # a numpy or torch scalar
    if callable(item) and getattr(value, "ndim", getattr(value, "dim", lambda: None)) in (0, None):
        try:
            plain = item()
        except (TypeError, ValueError):
            plain = None
        if isinstance(plain, (int, float, bool)):
            return _scalar(key, plain)
    raise TypeError(
        f"param {key!r} is a {type(value).__name__}; params are str, int, float, bool, None or short lists of those"
    )


def _scalar(key: str, value: Any) -> ParamValue:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"param {key!r} is {value}; params hold finite numbers (log it as text: str(value))")
    if isinstance(value, str):
        if len(value) > MAX_PARAM_TEXT_LENGTH:
            raise ValueError(f"param {key!r} is {len(value)} characters long; at most {MAX_PARAM_TEXT_LENGTH} are kept")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"param {key!r} is not valid Unicode (it holds a lone surrogate)") from None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63 - 1:
        raise ValueError(f"param {key!r} does not fit in 64 bits")
    return value  # type: ignore[no-any-return]


def check_params(params: Mapping[str, Any]) -> dict[str, ParamValue]:
    """Params as a store takes them: flat, good keys, typed values within the limits.

    Raises:
        InvalidInput: a key or value is not acceptable (also a ``TypeError`` or ``ValueError``
            where the caller is the logger: ``flatten_params`` raises those first).
    """
    if not isinstance(params, Mapping):
        raise InvalidInput(f"params must be an object of key → value, not {type(params).__name__}")
    if len(params) > MAX_PARAMS:
        raise InvalidInput(f"{len(params)} params; a run holds at most {MAX_PARAMS}")
    checked: dict[str, ParamValue] = {}
    for key, value in params.items():
        if not isinstance(key, str) or not key or len(key) > MAX_PARAM_KEY_LENGTH:
            raise InvalidInput(f"param key {key!r}: 1 to {MAX_PARAM_KEY_LENGTH} characters expected")
        if has_control_characters(key):
            raise InvalidInput(f"param key {key!r} holds control characters")
        try:
            checked[key] = _param_value(key, value)
        except (TypeError, ValueError) as error:
            raise InvalidInput(str(error)) from None
    return checked


def check_tag(tag: Any) -> str:
    """A tag as stored: 1 … ``MAX_TAG_LENGTH`` characters, no spaces or control characters.

    Raises:
        InvalidInput: it is not.
    """
    if not isinstance(tag, str) or not tag or len(tag) > MAX_TAG_LENGTH:
        raise InvalidInput(f"tag {tag!r}: 1 to {MAX_TAG_LENGTH} characters expected")
    if has_control_characters(tag) or any(c.isspace() for c in tag):
        raise InvalidInput(f"tag {tag!r} holds spaces or control characters")
    if tag[0] in "+-":
        raise InvalidInput(f"tag {tag!r} starts with {tag[0]!r}, which adds or removes a tag on the command line")
    return tag


def check_tags(tags: Iterable[Any], existing: int = 0) -> list[str]:
    """Tags to add, each checked; with ``existing`` ones, at most ``MAX_TAGS``.

    Raises:
        InvalidInput: a tag is not acceptable, or there would be too many.
    """
    checked = list(dict.fromkeys(check_tag(t) for t in tags))
    if existing + len(checked) > MAX_TAGS:
        raise InvalidInput(f"a run holds at most {MAX_TAGS} tags")
    return checked


def check_note(note: Any) -> str | None:
    """A note as stored (``None`` or empty clears it).

    Raises:
        InvalidInput: it is not text or is longer than ``MAX_NOTE_LENGTH``.
    """
    if note is None or note == "":
        return None
    if not isinstance(note, str):
        raise InvalidInput(f"a note is text, not {type(note).__name__}")
    if len(note) > MAX_NOTE_LENGTH:
        raise InvalidInput(f"the note is {len(note)} characters long; at most {MAX_NOTE_LENGTH} are kept")
    return note


def param_columns(value: ParamValue) -> tuple[str, float | None, str | None]:
    """A param as a store's query table keeps it: (kind, number, text).

    ``kind`` is ``number``, ``bool``, ``text``, ``null`` or ``list`` (JSON in ``text``).
    """
    if value is None:
        return "null", None, None
    if isinstance(value, bool):
        return "bool", float(value), None
    if isinstance(value, (int, float)):
        return "number", float(value), None
    if isinstance(value, str):
        return "text", None, value
    return "list", None, json.dumps(value)


def check_environment(environment: Any) -> tuple[dict[str, str], str | None, bool]:
    """An environment as a store keeps it: (packages, git diff, whether the diff was cut).

    Raises:
        InvalidInput: it is malformed or breaks a limit.
    """
    packages = getattr(environment, "packages", None)
    diff = getattr(environment, "git_diff", None)
    truncated = getattr(environment, "git_diff_truncated", False)
    if not isinstance(packages, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in packages.items()
    ):
        raise InvalidInput("an environment's packages are an object of name → version text")
    if len(packages) > MAX_PACKAGES:
        raise InvalidInput(f"{len(packages)} packages; at most {MAX_PACKAGES} are kept")
    if diff is not None and not isinstance(diff, str):
        raise InvalidInput("an environment's git diff is text")
    if diff is not None and len(diff.encode("utf-8", "surrogatepass")) > MAX_GIT_DIFF_BYTES:
        raise InvalidInput(f"the git diff is longer than {MAX_GIT_DIFF_BYTES} bytes; cut it there (and mark it so)")
    return dict(packages), diff, bool(truncated)


def same_param(a: object, b: object) -> bool:
    """Whether two param values are the same value of the same type (1 is neither 1.0 nor True)."""
    return json.dumps(a) == json.dumps(b)
