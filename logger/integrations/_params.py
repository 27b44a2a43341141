"""Params from a framework's configuration, whatever it holds.

``Logger.params()`` refuses a value it cannot keep, which is right for a
script's own config and wrong inside a framework's hook: a Lightning module's
hyperparameters, ``TrainingArguments`` or a Keras model's config hold
enums, dtypes, paths, functions and nested lists, and a tracker must not stop
training over them. ``loose_params`` keeps what a param can hold as it is
(nested mappings joined with ``.``, like ``Logger.params()``) and turns the
rest into text:

- enums become their value; numpy/torch scalars their number;
- a list of mappings is flattened by position (``layers.0.units``);
- a float that is not finite, an integer past 64 bits, a long list, any other
  object become text (``str()``, with memory addresses left out, so that the
  same config gives the same params in every run), cut at
  ``MAX_PARAM_TEXT_LENGTH``;
- functions and classes become their qualified name (``torch.optim.adam.Adam``);
- the text of a key that names a secret (``…token``, ``…password``,
  ``…secret``, ``…api_key``, ``…access_key``) is replaced by ``<hidden>``.

What still cannot be kept (a key that breaks the key limits, params past
``MAX_PARAMS``) is left out and named, never raised.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from typing import Any, cast

from runhistory.api._limits import (
    MAX_INT,
    MAX_PARAM_KEY_LENGTH,
    MAX_PARAM_LIST_LENGTH,
    MAX_PARAM_TEXT_LENGTH,
    MAX_PARAMS,
)
from runhistory.api._models import ParamValue
from runhistory.api._params import _as_mapping as as_mapping
from runhistory.api._validate import has_control_characters

_SCALARS = (str, int, float, bool, type(None))
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_SECRET = re.compile(r"(token|password|passwd|secret|api_?key|access_?key)$", re.IGNORECASE)
#: What a secret's text becomes.
HIDDEN = "<hidden>"


def loose_params(config: Any, prefix: str = "") -> tuple[dict[str, ParamValue], list[str]]:
    """Params from ``config`` (a mapping or a config object), each key under ``prefix``.

    Returns:
        The params, and the keys left out (a key that breaks the limits, or past ``MAX_PARAMS``).
    """
    out: dict[str, ParamValue] = {}
    left_out: list[str] = []
    mapping = as_mapping(config)
    if mapping is None:
        _leaf(out, left_out, prefix.rstrip(".") or "config", config)
    else:
        _walk(out, left_out, prefix, mapping, set())
    return out, left_out


def _walk(
    out: dict[str, ParamValue], left_out: list[str], prefix: str, mapping: Mapping[Any, Any], seen: set[int]
) -> None:
    if id(mapping) in seen:  # a config that holds itself
        return
    seen = seen | {id(mapping)}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        nested = None if isinstance(value, _SCALARS) else as_mapping(value)
        if nested is not None:
            _walk(out, left_out, name + ".", nested, seen)
        elif isinstance(value, (list, tuple)) and value and all(as_mapping(v) is not None for v in value):
            for i, item in enumerate(value):
                _walk(out, left_out, f"{name}.{i}.", as_mapping(item) or {}, seen)
        else:
            _leaf(out, left_out, name, value)


def _leaf(out: dict[str, ParamValue], left_out: list[str], key: str, value: Any) -> None:
    if not key or len(key) > MAX_PARAM_KEY_LENGTH or has_control_characters(key) or len(out) >= MAX_PARAMS:
        left_out.append(key)
        return
    kept = param_value(value)
    if isinstance(kept, str) and _SECRET.search(key):
        kept = HIDDEN
    out[key] = kept


def param_value(value: Any) -> ParamValue:
    """``value`` as a param holds it: itself when it can, else its text (see the module docstring)."""
    scalar = _scalar(value)
    if scalar is not _NOT_SCALAR:
        return cast(ParamValue, scalar)
    if isinstance(value, (list, tuple)) and len(value) <= MAX_PARAM_LIST_LENGTH:
        items = [_scalar(v) for v in value]
        if not any(item is _NOT_SCALAR for item in items):
            return items
    return _text(_describe(value))


class _NotScalar:
    pass


_NOT_SCALAR: Any = _NotScalar()


def _scalar(value: Any) -> Any:
    """``value`` as a scalar param (str, int, float, bool, None), or ``_NOT_SCALAR``."""
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value) if -MAX_INT <= value <= MAX_INT else str(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _text(str(value))
    module = type(value).__module__.split(".", 1)[0]
    if module in ("numpy", "torch") and getattr(value, "ndim", None) == 0:
        try:
            plain = value.item()
        except (TypeError, ValueError):
            return _NOT_SCALAR
        if isinstance(plain, (bool, int, float)):
            return _scalar(plain)
    return _NOT_SCALAR


def _describe(value: Any) -> str:
    if isinstance(value, type) or callable(value) and hasattr(value, "__qualname__"):
        module = getattr(value, "__module__", None)
        return f"{module}.{value.__qualname__}" if module else str(value.__qualname__)
    try:
        text = str(value)
    except Exception:  # a broken __str__ must not stop training
        text = f"<{type(value).__qualname__}>"
    return _ADDRESS.sub("", text)


def _text(text: str) -> str:
    # A lone surrogate cannot be stored as UTF-8: it becomes "?".
    text = text.encode("utf-8", "replace").decode("utf-8") if not text.isascii() else text
    if len(text) > MAX_PARAM_TEXT_LENGTH:
        text = text[: MAX_PARAM_TEXT_LENGTH - 1] + "…"
    return text
