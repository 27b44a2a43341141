"""A run as a row, column by column, named after the fields of ``Run``.

Stores and the wire format map runs by field name, from ``Run``'s own type
hints, so that a new field is one edit of the model (plus a migration that
adds its column), not an edit of every query and every encoder. Each field
has a *kind* that says how it travels:

- ``time``: an aware datetime in the model, epoch seconds in a row or on the wire;
- ``json``: a list or mapping, JSON text in a row, itself on the wire;
- ``bool``: an integer 0/1 in a row;
- ``plain``: as it is (text, integers).
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import fields
from datetime import datetime
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from ._models import Run, utc

FieldKind = Literal["time", "json", "bool", "plain"]

#: The fields of ``Run``, in their order: a store's ``runs`` table has one column each.
RUN_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Run))


def _parts(hint: Any) -> tuple[Any, bool]:
    """The type without ``None``, and whether ``None`` is allowed."""
    if get_origin(hint) in (Union, types.UnionType):
        parts = [a for a in get_args(hint) if a is not type(None)]
        base = parts[0] if len(parts) == 1 else Union[tuple(parts)]  # noqa: UP007 (built at run time)
        return base, len(parts) < len(get_args(hint))
    return hint, False


def _kind(hint: Any) -> FieldKind:
    base, _ = _parts(hint)
    origin = get_origin(base) or base
    if base is datetime:
        return "time"
    if origin in (list, dict, tuple):
        return "json"
    if base is bool:
        return "bool"
    return "plain"


_HINTS = get_type_hints(Run)
#: How each field of ``Run`` travels (see the module docstring).
RUN_FIELD_KINDS: dict[str, FieldKind] = {name: _kind(_HINTS[name]) for name in RUN_FIELDS}


def run_to_row(run: Run) -> dict[str, Any]:
    """A run as a row: epoch seconds for times, JSON text for lists and mappings, 0/1 for booleans."""
    row: dict[str, Any] = {}
    for name, kind in RUN_FIELD_KINDS.items():
        value = getattr(run, name)
        if value is None:
            row[name] = None
        elif kind == "time":
            row[name] = value.timestamp()
        elif kind == "json":
            row[name] = json.dumps(value)
        elif kind == "bool":
            row[name] = int(value)
        else:
            row[name] = value
    return row


def run_from_row(row: typing.Mapping[str, Any], status: str | None = None) -> Run:
    """A run from a row written by ``run_to_row`` (``status``, when given, replaces the stored one)."""
    values: dict[str, Any] = {}
    for name, kind in RUN_FIELD_KINDS.items():
        value = row[name]
        if value is None:
            values[name] = None
        elif kind == "time":
            values[name] = utc(value)
        elif kind == "json":
            values[name] = json.loads(value)
        elif kind == "bool":
            values[name] = bool(value)
        else:
            values[name] = value
    if status is not None:
        values["status"] = status
    return Run(**values)


def wire_types(name: str) -> tuple[type, ...]:
    """The JSON types a run's field may have on the wire (``None`` included when the field allows it)."""
    base, optional = _parts(_HINTS[name])
    kind = RUN_FIELD_KINDS[name]
    origin = get_origin(base) or base
    if kind == "time":
        found: tuple[type, ...] = (int, float)
    elif origin is Literal:
        found = (str,)
    elif kind == "json":
        found = (origin,)
    else:
        found = (base,)
    return (*found, type(None)) if optional else found


def wire_item_type(name: str) -> type | None:
    """The type of each item of a list field (``list[str]`` → ``str``), else ``None``."""
    base, _ = _parts(_HINTS[name])
    if get_origin(base) is list:
        (item,) = get_args(base)
        return item if isinstance(item, type) else None
    return None
