"""The runs screen's model, without Textual: pages, live merges, marks."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from runhistory.api import Run
from runhistory.app.runs_model import MAX_COMPARE, RunsModel


def run(n: int, status: str = "completed") -> Run:
    return Run(
        id=f"{n:032x}",
        experiment="e",
        name=None,
        status=status,  # type: ignore[arg-type]
        started_at=datetime.fromtimestamp(1_700_000_000 + n, tz=timezone.utc),
        ended_at=None,
        heartbeat_at=None,
        command=[],
        cwd="",
        host="",
        user="",
        python="",
        pid=None,
        git_commit=None,
        git_dirty=None,
        error=None,
        exit_code=None,
        skipped_files=[],
    )


def test_pages_arrive_in_order_and_stale_ones_are_dropped() -> None:
    model = RunsModel()
    first = model.restart()
    assert model.reading and model.next_page() is None  # one read at a time
    assert model.page_read(first, None, [run(9), run(8)], run(8).id)
    assert [r.id for r in model.runs] == [run(9).id, run(8).id] and not model.exhausted
    cursor = model.next_page()
    assert cursor == run(8).id
    second = model.restart()  # a new filter while that page was being read
    assert not model.page_read(first, cursor, [run(7)], None)  # stale generation
    assert model.runs == [] and model.reading
    assert not model.page_read(second, "somewhere-else", [run(7)], None)  # not the page asked for
    assert model.page_read(second, None, [run(9), run(9)], None)  # duplicates kept once
    assert len(model.runs) == 1 and model.exhausted and model.next_page() is None


def test_live_updates_replace_add_and_drop_runs() -> None:
    model = RunsModel()
    generation = model.restart()
    model.page_read(generation, None, [run(3, "running"), run(2), run(1)], None)
    model.toggle_mark(run(3).id)
    finished = replace(run(3), status="completed")
    assert model.live(generation, [run(4), finished, run(2)], [], [run(1).id]) is False
    assert [r.id for r in model.runs] == [run(4).id, run(3).id, run(2).id]
    assert model.get(run(3).id).status == "completed"  # type: ignore[union-attr]
    assert model.marked[run(3).id].status == "completed"  # a marked run follows too
    assert model.position(run(4).id) == 0 and model.position("unknown") == 3
    assert model.live(generation - 1, [run(5)], [], []) is None  # stale
    # More new runs than a page: nothing known is on the newest page, so start again.
    assert model.live(generation, [run(n) for n in range(20, 10, -1)], [], []) is True


def test_marks_stop_at_the_most_that_compare() -> None:
    model = RunsModel()
    generation = model.restart()
    model.page_read(generation, None, [run(n) for n in range(MAX_COMPARE + 1)], None)
    for n in range(MAX_COMPARE):
        assert model.toggle_mark(run(n).id) is True
    assert model.toggle_mark(run(MAX_COMPARE).id) is None
    assert model.toggle_mark(run(0).id) is False and len(model.marked) == MAX_COMPARE - 1
    assert model.toggle_mark("not-read") is None
    model.restart()
    assert len(model.marked) == MAX_COMPARE - 1  # marks outlive a new filter
    model.unmark_all()
    assert model.marked == {}
