"""The runs screen's filter: what the user types after ``/``.

Words separated by spaces must all match (case-insensitive substrings) the
run's id, experiment, name, status or command line, or one of its metrics'
names or latest values. Two kinds of words narrow the store's own query, so that a filter over
100,000 runs does not read them all: a status (``failed``, ``status:running``)
and ``experiment:NAME`` (``exp:NAME``), which match exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from runhistory.api import RUN_STATUSES, MetricInfo, Run, RunStatus

from .human import value_text


@dataclass(frozen=True)
class RunFilter:
    """A parsed filter.

    Attributes:
        text: What the user typed.
        terms: Lowercase words matched as substrings.
        status: A status the store filters by.
        experiment: An experiment the store filters by.
    """

    text: str = ""
    terms: tuple[str, ...] = ()
    status: RunStatus | None = None
    experiment: str | None = None

    @classmethod
    def parse(cls, text: str) -> RunFilter:
        terms: list[str] = []
        status: RunStatus | None = None
        experiment: str | None = None
        for word in text.split():
            key, sep, value = word.partition(":")
            if sep and key.lower() in ("status", "s") and value.lower() in RUN_STATUSES:
                status = value.lower()  # type: ignore[assignment]
            elif sep and key.lower() in ("experiment", "exp", "e") and value:
                experiment = value
            elif word.lower() in RUN_STATUSES:
                status = word.lower()  # type: ignore[assignment]
            else:
                terms.append(word.lower())
        return cls(text=text, terms=tuple(terms), status=status, experiment=experiment)

    @property
    def active(self) -> bool:
        """Whether it filters anything out."""
        return bool(self.terms or self.status or self.experiment)

    @property
    def store_query(self) -> tuple[str | None, RunStatus | None]:
        """The (experiment, status) the store is asked for."""
        return self.experiment, self.status

    def unmatched_by_run(self, run: Run) -> list[str]:
        """The terms the run's own fields do not match (its metrics may)."""
        fields = " ".join((run.id, run.experiment, run.name or "", run.status, *run.command)).lower()
        return [t for t in self.terms if t not in fields]

    def matches(self, run: Run, metrics: Iterable[MetricInfo] | None) -> bool:
        """Whether the run matches; ``metrics=None`` when they are not known (they then do not match)."""
        if self.status is not None and run.status != self.status:
            return False
        if self.experiment is not None and run.experiment != self.experiment:
            return False
        rest = self.unmatched_by_run(run)
        if not rest:
            return True
        if metrics is None:
            return False
        text = " ".join(f"{m.name} {value_text(m.last_value)}" for m in metrics).lower()
        return all(t in text for t in rest)
