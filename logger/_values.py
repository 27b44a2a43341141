"""What ``log()`` accepts, checked on the caller's thread."""

from __future__ import annotations

from typing import Any

from runhistory.api._limits import MAX_CHART_LENGTH, MAX_INT, MAX_STRING_LENGTH

# The kinds as module constants: the logger's fast path compares them by identity.
NUMBER = "number"
STRING = "string"
CHART = "chart"

_SUPPORTED = "an int, float, bool, str, a list/tuple of numbers, or a numpy/torch scalar or 1-D array"


def _check_int(value: int, what: str) -> int:
    if not -MAX_INT <= value <= MAX_INT:
        raise ValueError(f"{what} {value} does not fit in 64 bits")
    return value


def coerce_value(value: Any) -> tuple[Any, str]:
    """The value as stored, and its kind; ``TypeError``/``ValueError`` when it cannot be logged."""
    t = type(value)
    if t is float:
        return value, NUMBER
    if t is int or t is bool:
        return _check_int(int(value), "integer"), NUMBER
    if t is str:
        if len(value) > MAX_STRING_LENGTH:
            raise ValueError(f"string value is {len(value)} characters long; the limit is {MAX_STRING_LENGTH}")
        return value, STRING
    if t is list or t is tuple:
        return _chart(value), CHART
    module = t.__module__
    if module.split(".", 1)[0] in ("numpy", "torch"):
        return _coerce_array(value)
    # Subclasses of the plain types (IntEnum, a float subclass) log as their base.
    if isinstance(value, bool) or isinstance(value, int):
        return _check_int(int(value), "integer"), NUMBER
    if isinstance(value, float):
        return float(value), NUMBER
    if isinstance(value, str):
        return coerce_value(str(value))
    raise TypeError(f"cannot log a {t.__name__}; log {_SUPPORTED}")


def _coerce_array(value: Any) -> tuple[Any, str]:
    ndim = getattr(value, "ndim", None)
    if ndim == 0:
        item = value.item()
        if type(item) in (float, int, bool):
            return coerce_value(item)
        raise TypeError(f"cannot log a {type(value).__name__} holding a {type(item).__name__}; log {_SUPPORTED}")
    if ndim == 1:
        return _chart(value.tolist()), CHART
    raise TypeError(f"cannot log a {ndim}-D {type(value).__name__}; log {_SUPPORTED} (log each row as its own chart)")


def _chart(items: Any) -> list[Any]:
    if len(items) > MAX_CHART_LENGTH:
        raise ValueError(f"chart has {len(items)} numbers; the limit is {MAX_CHART_LENGTH}")
    out = list(items)
    for i, item in enumerate(out):
        t = type(item)
        if t is float:
            continue
        if t is int or t is bool:
            out[i] = _check_int(int(item), "chart integer")
        elif t.__module__.split(".", 1)[0] in ("numpy", "torch") and getattr(item, "ndim", None) == 0:
            out[i] = coerce_value(item)[0]
        else:
            raise TypeError(f"chart item {i} is a {t.__name__}; a chart is a flat list of numbers")
    return out


def coerce_step(step: Any) -> int:
    """A step: an integer (numpy/torch integers accepted), not a bool or float."""
    t = type(step)
    if t is int:
        return _check_int(step, "step")
    if t.__module__.split(".", 1)[0] in ("numpy", "torch") and getattr(step, "ndim", None) == 0:
        item = step.item()
        if type(item) is int:
            return _check_int(item, "step")
    raise TypeError(f"step must be an int, not {t.__name__}")
