"""Metric names as a list a person reads: grouped by prefix, in natural order, filtered, shortened apart.

Runs with hundreds of metrics (per-layer norms, per-class scores, system
series) need the list ordered the way the names are meant: ``layer2`` before
``layer10``, ``train/…`` together, and two long names never shortened to the
same text.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

_NUMBER = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sorts ``layer2`` before ``layer10``: digit runs compare as numbers, the rest case-insensitively."""
    key: list[tuple[int, int | str]] = []
    for index, part in enumerate(_NUMBER.split(name)):
        if index % 2:
            key.append((0, int(part)))
        elif part:
            key.append((1, part.lower()))
    return tuple(key)


def group_of(name: str) -> str:
    """The group a metric is listed under: its first path part with the slash (``train/``), or ``""``."""
    head, slash, _ = name.partition("/")
    return head + "/" if slash and head else ""


def grouped(names: Iterable[str]) -> list[tuple[str, list[str]]]:
    """``names`` by group, in natural order: names without a prefix first, then each group."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(group_of(name), []).append(name)
    return [
        (group, sorted(members, key=natural_key))
        for group, members in sorted(groups.items(), key=lambda item: (item[0] != "", natural_key(item[0])))
    ]


def matches(name: str, pattern: str) -> bool:
    """Whether ``name`` is what a filter asks for: a glob when it holds ``*``, ``?`` or ``[``, a
    substring otherwise; case-insensitive either way."""
    pattern = pattern.strip()
    if not pattern:
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(name.lower(), pattern.lower())
    return pattern.lower() in name.lower()


def shorten(name: str, width: int, keep_head: int) -> str:
    """``name`` in ``width`` cells: its first ``keep_head`` characters, ``…``, and as much of its end as fits."""
    if len(name) <= width:
        return name
    if width <= 1:
        return "…"[:width]
    head = min(keep_head, width - 1)
    tail = width - 1 - head
    return name[:head] + "…" + (name[-tail:] if tail else "")


def distinct_labels(names: list[str], width: int) -> dict[str, str]:
    """Each name shortened to ``width`` cells, no two the same where the names differ.

    A long name keeps its head and its end (``train/enc…/layer10/grad_norm``); names that
    would still read the same show the part where they first differ instead
    (``…layer10/attention/q…`` and ``…layer11/attention/q…``).
    """
    labels = {name: shorten(name, width, max(1, width // 3)) for name in names}
    for _ in range(4):
        seen: dict[str, list[str]] = {}
        for name, label in labels.items():
            seen.setdefault(label, []).append(name)
        clashes = [group for group in seen.values() if len(group) > 1]
        if not clashes:
            break
        for group in clashes:
            for name in group:
                differ = min(_first_difference(name, other) for other in group if other != name)
                start = max(0, min(differ - width // 3, len(name) - width + 1))
                room = width - (1 if start else 0)
                cut = len(name) - start > room
                window = name[start : start + room - (1 if cut else 0)]
                labels[name] = ("…" if start else "") + window + ("…" if cut else "")
    return labels


def _first_difference(a: str, b: str) -> int:
    for index, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return index
    return min(len(a), len(b))
