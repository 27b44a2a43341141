"""What the runs screen shows, without the screen: pages of runs read from the
store, merged with live updates, and the runs marked for compare.

The screen's workers read; this model decides what a read means. Every
restart (a new filter, a reload) starts a new *generation*: a page or a
refresh that arrives from an older one is dropped, so a slow read never
undoes a newer one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runhistory.api import Run

#: Runs that can be marked and compared at once (each gets its own colour in the overlay).
MAX_COMPARE = 8


@dataclass
class RunsModel:
    """Runs in store order (newest first), as read so far.

    Attributes:
        runs: The runs read, in store order.
        next_cursor: Where the next page starts; ``None`` before the first page and after the last.
        exhausted: Whether the last page has been read.
        generation: Bumped by every restart.
        reading: Whether a page is being read.
        marked: Runs marked for compare, in the order they were marked.
    """

    runs: list[Run] = field(default_factory=list)
    next_cursor: str | None = None
    exhausted: bool = False
    generation: int = 0
    reading: bool = False
    marked: dict[str, Run] = field(default_factory=dict)
    _index: dict[str, int] = field(default_factory=dict)

    # -- pages ------------------------------------------------------------------

    def restart(self) -> int:
        """Forget the runs read (not the marks); returns the new generation, reading its first page."""
        self.generation += 1
        self.runs, self._index = [], {}
        self.next_cursor, self.exhausted = None, False
        self.reading = True
        return self.generation

    def next_page(self) -> str | None:
        """The cursor of the page to read next, marking it as being read; ``None`` when
        there is none to read (all read, or one is being read)."""
        if self.reading or self.exhausted or self.next_cursor is None:
            return None
        self.reading = True
        return self.next_cursor

    def page_read(self, generation: int, after: str | None, runs: list[Run], next_cursor: str | None) -> bool:
        """A page read from ``after`` arrived; False when it is stale (and was dropped)."""
        expected_after = self.next_cursor if self.runs else None
        if generation != self.generation or after != expected_after:
            return False
        self.reading = False
        for run in runs:
            if run.id not in self._index:
                self._index[run.id] = len(self.runs)
                self.runs.append(run)
        self.next_cursor = next_cursor
        self.exhausted = next_cursor is None
        return True

    def read_failed(self) -> None:
        """The page being read could not be read: the next attempt may try again."""
        self.reading = False

    # -- live ---------------------------------------------------------------------

    def live(self, generation: int, newest: list[Run], changed: list[Run], gone: list[str]) -> bool | None:
        """A live refresh arrived: the newest page, the watched runs read again, the ids gone.

        Returns:
            ``None`` when it is stale (dropped); ``False`` when merged; ``True`` when more
            runs arrived than a page holds and the caller should restart.
        """
        if generation != self.generation:
            return None
        known = self._index
        fresh = [r for r in newest if r.id not in known]
        if fresh and self.runs and not any(r.id in known for r in newest):
            return True
        for run in (*newest, *changed):
            if run.id in known:
                self.runs[known[run.id]] = run
                if run.id in self.marked:
                    self.marked[run.id] = run
        if fresh or gone:
            dropped = set(gone)
            # New runs go on top; the newest page is in store order already.
            self.runs = fresh + [r for r in self.runs if r.id not in dropped]
            self._index = {r.id: i for i, r in enumerate(self.runs)}
            if not self.next_cursor and not self.exhausted and self.runs:
                self.next_cursor = self.runs[-1].id
        return False

    def get(self, run_id: str) -> Run | None:
        """A run read so far, by its full id."""
        at = self._index.get(run_id)
        return None if at is None else self.runs[at]

    def position(self, run_id: str) -> int:
        """Where a run is in store order (0 for the newest; past the end when not read)."""
        return self._index.get(run_id, len(self.runs))

    def running_ids(self) -> list[str]:
        """The runs shown as running, newest first."""
        return [r.id for r in self.runs if r.status == "running"]

    # -- marks ----------------------------------------------------------------------

    def toggle_mark(self, run_id: str) -> bool | None:
        """Mark the run (or unmark it). Returns True when marked, False when unmarked,
        ``None`` when ``MAX_COMPARE`` runs are marked already or the run is not read."""
        if run_id in self.marked:
            del self.marked[run_id]
            return False
        run = self.get(run_id)
        if run is None or len(self.marked) >= MAX_COMPARE:
            return None
        self.marked[run_id] = run
        return True

    def unmark_all(self) -> None:
        self.marked.clear()
