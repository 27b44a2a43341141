"""The runs screen's filter: what the user types after ``/``, as a query the store answers.

It takes the query language of ``list --where`` (``params.lr >= 1e-3 and
tag:best``). Plain words keep working: each is a text search of the run's
id, name, experiment, status, tags, note and command line, and all must
match. Three shortcuts read as before: a status word (``failed``),
``status:NAME`` and ``exp:NAME`` (``experiment:NAME``) match exactly.

Text that names a field (``params.…``, ``metrics.…``, ``tag:…``, an
attribute followed by an operator) but does not parse yet is reported, not
searched for, so a half-typed query never empties the table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from runhistory.api import RUN_STATUSES, QueryError
from runhistory.api._query import ATTRIBUTES, format_query, parse_query
from runhistory.api._query import Text as TextTerm

_SHORTCUT = re.compile(r"(?i)(exp|experiment|e|status|s):(\S+)")
_OPERATOR = re.compile(r"[=!<>~]")
_STRUCTURED = re.compile(r"(?i)(params\.|metrics\.|tag:)")


@dataclass(frozen=True)
class RunFilter:
    """A parsed filter.

    Attributes:
        text: What the user typed.
        where: The query the store is asked (``None``: every run).
        error: Why ``text`` is not a query yet (the table keeps the last good filter meanwhile).
    """

    text: str = ""
    where: str | None = None
    error: str | None = None

    @classmethod
    def parse(cls, text: str) -> RunFilter:
        if not text.strip():
            return cls(text=text)
        terms = _shortcuts(text)
        try:
            query = parse_query(" ".join(t for t, _ in terms))
        except QueryError as error:
            if _STRUCTURED.search(text) or _names_a_field(text):
                return cls(text=text, error=str(error).split("\n", 1)[0])
            # Plain words that are not a query (`--seed=3`, `lr=3e-3`): each one a text search.
            parts = [t if shortcut else format_query(TextTerm(t)) for t, shortcut in terms]
            return cls(text=text, where=" and ".join(parts))
        return cls(text=text, where=format_query(query))

    @property
    def active(self) -> bool:
        """Whether it filters anything out."""
        return self.where is not None


def _shortcuts(text: str) -> list[tuple[str, bool]]:
    """The words of ``text``, each shortcut replaced by its query: (text, whether it was a shortcut)."""
    words = text.split()
    out: list[tuple[str, bool]] = []
    for i, word in enumerate(words):
        after_operator = i > 0 and _OPERATOR.fullmatch(words[i - 1][-1:] or "") is not None
        shortcut = _SHORTCUT.fullmatch(word)
        if shortcut and not after_operator:
            key, value = shortcut.group(1).lower(), shortcut.group(2)
            if key in ("status", "s") and value.lower() in RUN_STATUSES:
                out.append((f"status = {value.lower()}", True))
                continue
            if key in ("exp", "experiment", "e"):
                out.append((f'experiment = "{_escape(value)}"', True))
                continue
        if (
            word.lower() in RUN_STATUSES
            and not after_operator
            and (i + 1 == len(words) or not _OPERATOR.match(words[i + 1]))
        ):
            out.append((f"status = {word.lower()}", True))
            continue
        out.append((word, False))
    return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _names_a_field(text: str) -> bool:
    """Whether ``text`` starts a comparison on a run attribute (``status =``, ``name ~``)."""
    words = text.split()
    return any(
        w in ATTRIBUTES and i + 1 < len(words) and _OPERATOR.match(words[i + 1]) for i, w in enumerate(words)
    ) or any(re.match(rf"^({'|'.join(ATTRIBUTES)})[=!<>~]", w) for w in words)
