"""The writer's batches: one metric, one metric with a few strangers, many metrics.

A batch that one metric nearly fills goes to the store with that metric's points
taken by slicing and the few other items (another thread's points, barriers,
operations) picked out; any other batch is sorted and grouped point by point.
Whichever way a batch goes, each metric's points are stored in the order of their
numbers, steps are filled as if the points had come one by one, every number is
settled exactly once, and nothing is lost or stored twice. These tests hand the
writer queues laid out as ``log()`` lays them out (the interleavings two threads
make when one takes its number and the other queues first), on a real store.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from runhistory.api import EmbeddedStore, LoggingError, NewRun, SeriesBatch, Store
from runhistory.logger import Logger
from runhistory.logger._delivery import Delivery
from runhistory.logger._ops import ITEM_WIDTH, SetNote
from runhistory.logger._receipts import Receipts
from runhistory.logger._spool import deliver
from runhistory.logger._writer import _FEW_RUNS, MOSTLY, OP, Writer, _cut, _dominant, _runs, _strangers

SYSTEM = ["sys/cpu", "sys/memory", "sys/rss", "sys/disk_io", "sys/net"]
Item = list[Any]  # seq, name, value, step, time: one item of the queue


class CountedReceipts(Receipts):
    """Receipts that also count how often each number was settled."""

    def __init__(self) -> None:
        super().__init__()
        self.settled: Counter[int] = Counter()

    def stored_run(self, first: int, last: int) -> bool:
        done = super().stored_run(first, last)
        if done:
            self.settled.update(range(first, last + 1))
        return done

    def stored(self, seqs: list[int]) -> None:
        self.settled.update(seqs)
        super().stored(seqs)


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    return EmbeddedStore(tmp_path / "store")


@pytest.fixture
def run_id(store: EmbeddedStore) -> str:
    return store.create_run(NewRun(experiment="t")).id


def point(seq: int, name: Any, value: Any, step: int | None = None) -> Item:
    return [seq, name, value, step, 1000.0 + seq]


def write(
    store: Store,
    run_id: str,
    items: list[Item],
    kinds: dict[str, str],
    batch_points: int = 1_000_000,
    delivery: Delivery | None = None,
) -> CountedReceipts:
    """Run a writer over ``items`` (queued in this order) until it has stored them all."""
    if delivery is None:
        delivery = Delivery(store, run_id, CountedReceipts(), 5.0, threading.Lock())
    receipts = delivery.receipts
    assert isinstance(receipts, CountedReceipts)
    queue: list[Any] = []
    for item in items:
        queue.extend(item)
    writer = Writer(queue, delivery, kinds, "k-test", batch_points, lambda: None, 3600.0)
    writer.start()
    writer.stop()
    assert not queue
    return receipts


def expected(items: list[Item]) -> dict[str, tuple[list, list, list]]:
    """Each metric's (values, steps, times) as storing the values one by one in number order gives them."""
    last: dict[str, int] = {}
    series: dict[str, tuple[list, list, list]] = {}
    for _, name, value, step, at in sorted(items, key=lambda item: item[0]):
        if type(name) is not str:
            continue
        values, steps, times = series.setdefault(name, ([], [], []))
        step = last.get(name, -1) + 1 if step is None else step
        last[name] = step
        values.append(value)
        steps.append(step)
        times.append(at)
    return series


def assert_stored(store: Store, run_id: str, items: list[Item], receipts: CountedReceipts) -> None:
    want = expected(items)
    assert {m.name for m in store.list_metrics(run_id)} == set(want)
    for name, (values, steps, times) in want.items():
        got = store.read_series(run_id, name)
        assert (got.values, got.steps, got.times) == (values, steps, times), name
    # Every number settled, each once: values, operations and barriers alike.
    assert receipts.settled == Counter(item[0] for item in items)


def interleaved(rng: random.Random, plan: dict[str, list[Item]]) -> list[Item]:
    """The queue that threads make: each thread (a key of ``plan``, its items without numbers)
    takes a number, then queues its item, in its own order; between the two the others run."""
    pending: dict[str, Item | None] = dict.fromkeys(plan)
    left = {thread: list(items) for thread, items in plan.items()}
    queue: list[Item] = []
    seq = 0
    while any(left.values()) or any(pending.values()):
        thread = rng.choice([t for t in plan if left[t] or pending[t]])
        item = pending[thread]
        if item is None:  # takes its number
            item = left[thread].pop(0)
            item[0] = seq
            item[4] = 1000.0 + seq
            seq += 1
            pending[thread] = item
        else:  # queues it
            queue.append(item)
            pending[thread] = None
    return queue


# -- one metric with strangers ----------------------------------------------------------


def test_another_threads_points_inside_a_batch_are_stored_in_their_order(store: EmbeddedStore, run_id: str) -> None:
    # The loop's point 500 waits while the sampler takes 501-505 and queues them first:
    # the numbers are out of order around the strangers, the loop's own are not.
    items = [point(i, "x", float(i)) for i in range(500)]
    items += [point(501 + k, name, float(k)) for k, name in enumerate(SYSTEM)]
    items += [point(500, "x", 500.0)]
    items += [point(i, "x", float(i - 5)) for i in range(506, 1000)]
    kinds = dict.fromkeys(["x", *SYSTEM], "number")
    receipts = write(store, run_id, items, kinds)
    assert_stored(store, run_id, items, receipts)
    x = store.read_series(run_id, "x")
    assert x.steps == list(range(995)) and x.values == [float(i) for i in range(995)]


@pytest.mark.parametrize("where", ["first", "middle", "last", "where the metric is looked for", "scattered"])
def test_strangers_anywhere_in_a_batch(store: EmbeddedStore, run_id: str, where: str) -> None:
    n = 2000
    at = {
        "first": [0, 1, 2],
        "middle": [999, 1000, 1001],
        "last": [n - 3, n - 2, n - 1],
        "where the metric is looked for": [0, n // 2, n - 1],  # grouped point by point: the same result
    }.get(
        where,
        list(range(7, n, n // (_FEW_RUNS + 3))),  # more runs than are cut in place
    )
    items = []
    for i in range(n):
        name = SYSTEM[i % len(SYSTEM)] if i in at else "x"
        items.append(point(i, name, float(i)))
    receipts = write(store, run_id, items, dict.fromkeys(["x", *SYSTEM], "number"))
    assert_stored(store, run_id, items, receipts)


def test_steps_of_a_metric_split_around_strangers_carry_on(store: EmbeddedStore, run_id: str) -> None:
    # Steps given and left to the store, before and after the strangers, across two batches.
    kinds = {"loss": "number", "lr": "number", "note": "string"}
    first = [point(i, "loss", i / 10) for i in range(300)]
    first[100][3] = 1000  # an explicit step in the middle of the run
    first[150] = point(150, "lr", 0.1, step=7)
    first[151] = point(151, "note", "warm-up over")
    first[250][3] = 2000
    second = [point(300 + i, "loss", i / 10) for i in range(300)]
    second[0] = point(300, "lr", 0.01)
    receipts = write(store, run_id, first + second, kinds, batch_points=300)
    assert_stored(store, run_id, first + second, receipts)
    loss = store.read_series(run_id, "loss")
    assert loss.steps[:101] == list(range(100)) + [1000]
    assert loss.steps[149:151] == [1049, 1050]  # the two strangers between them took no step of "loss"
    assert store.read_series(run_id, "lr").steps == [7, 8]


def test_barriers_and_operations_among_the_points(store: EmbeddedStore, run_id: str) -> None:
    items = [point(i, "x", float(i)) for i in range(1000)]
    items[400] = [400, OP, SetNote("half way"), None, 1400.0]
    items[401] = [401, None, None, None, None]  # a flush's barrier
    items[700] = point(700, "sys/cpu", 12.5)
    items[900] = [900, None, None, None, None]
    receipts = write(store, run_id, items, {"x": "number", "sys/cpu": "number"})
    assert_stored(store, run_id, items, receipts)
    assert store.get_run(run_id).note == "half way"
    assert store.read_series(run_id, "x").count == 996


def test_one_metric_logged_from_two_threads_keeps_the_order_of_its_numbers(store: EmbeddedStore, run_id: str) -> None:
    # "x" from two threads, its numbers out of order in the queue: sorted before storing.
    rng = random.Random(7)
    plan = {
        "a": [point(0, "x", f"a{i}") for i in range(800)],
        "b": [point(0, "x", f"b{i}") for i in range(800)],
        "sampler": [point(0, name, 1.0) for name in SYSTEM],
    }
    items = interleaved(rng, plan)
    assert [item[0] for item in items] != sorted(item[0] for item in items)
    receipts = write(store, run_id, items, {"x": "string", **dict.fromkeys(SYSTEM, "number")})
    assert_stored(store, run_id, items, receipts)


@pytest.mark.parametrize("seed", range(6))
def test_threads_interleaved_at_random_lose_and_repeat_nothing(store: EmbeddedStore, run_id: str, seed: int) -> None:
    rng = random.Random(seed)
    n = 3000
    loop = [point(0, "loss", float(i)) for i in range(n)]
    for i in rng.sample(range(n), 20):
        loop[i][3] = rng.randrange(10_000)  # a few steps given
    sampler = [point(0, SYSTEM[i % 5], float(i)) for i in range(rng.randrange(5, 40))]
    other = [point(0, "eval/acc", rng.random()) for _ in range(rng.randrange(0, 30))]
    flusher: list[Item] = [[0, None, None, None, None] for _ in range(rng.randrange(0, 5))]
    flusher += [[0, OP, SetNote(f"note {seed}"), None, None]]
    items = interleaved(rng, {"loop": loop, "sampler": sampler, "other": other, "flusher": flusher})
    kinds = dict.fromkeys(["loss", "eval/acc", *SYSTEM], "number")
    receipts = write(store, run_id, items, kinds, batch_points=rng.choice([500, 1000, 4000]))
    assert_stored(store, run_id, items, receipts)


def test_a_batch_at_the_edge_of_mostly_one_metric_and_just_past_it(tmp_path: Path) -> None:
    n = 64 * MOSTLY
    for strangers in (n // MOSTLY, n // MOSTLY + 1):
        names: list[Any] = ["x"] * n
        for i in range(strangers):
            names[5 + i * 60] = SYSTEM[i % 5]
        name, found = _dominant(names)
        # At the edge the strangers are picked out; past it the batch is grouped point by point.
        assert (name, found) == (
            ("x", [5 + i * 60 for i in range(strangers)]) if strangers * MOSTLY <= n else (None, [])
        )
        store = EmbeddedStore(tmp_path / f"store-{strangers}")
        run_id = store.create_run(NewRun(experiment="t")).id
        items = [point(i, names[i], float(i)) for i in range(n)]
        receipts = write(store, run_id, items, dict.fromkeys(["x", *SYSTEM], "number"))
        assert_stored(store, run_id, items, receipts)


def test_strangers_are_found_wherever_they_are() -> None:
    rng = random.Random(3)
    other = object()
    for _ in range(300):
        n = rng.randrange(1, 3000)
        names: list[Any] = ["loss"] * n
        for i in rng.sample(range(n), rng.randrange(0, min(n, 80))):
            names[i] = rng.choice(["lr", None, other, "".join(["lo", "ss"])])
        # An equal name that is another object ("".join makes a new one) is the same metric.
        at = [i for i, name in enumerate(names) if name != "loss"]
        assert _strangers(names, "loss", len(at)) == at
        runs = _runs(at)
        assert [i for a, b in runs for i in range(a, b)] == at
        flat = list(range(n * ITEM_WIDTH))  # item i's slots hold i * ITEM_WIDTH …
        gone = set(at)
        assert _cut(flat, runs, ITEM_WIDTH) == [
            slot for slot in range(n * ITEM_WIDTH) if slot // ITEM_WIDTH not in gone
        ]


# -- what is around the writer: refusals, the spool, real threads -------------------------


def test_a_stranger_the_store_refuses_fails_alone(store: EmbeddedStore, run_id: str) -> None:
    # "sys/cpu" holds text in the store: its number is refused, the loop's points are stored.
    store.append_metrics(run_id, {"sys/cpu": _text_batch()})
    items = [point(i, "x", float(i)) for i in range(1000)]
    items[500] = point(500, "sys/cpu", 3.0)
    receipts = write(store, run_id, items, {"x": "number", "sys/cpu": "number"})
    assert store.read_series(run_id, "x").values == [float(i) for i in range(1000) if i != 500]
    assert store.read_series(run_id, "sys/cpu").values == ["busy"]
    assert receipts.settled == Counter(range(1000))

    def wait(seq: int) -> None:
        receipts.wait(seq, 1.0, nudge=lambda: None, alive=lambda: True)

    with pytest.raises(LoggingError, match="value 500 could not be stored: .*string"):
        wait(500)
    for seq in (499, 501, 999):
        wait(seq)


def _text_batch() -> SeriesBatch:
    return SeriesBatch("string", ["busy"], [None], [1.0])


def test_a_batch_with_strangers_goes_through_the_spool_unchanged(
    store: EmbeddedStore, run_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNHISTORY_HOME", str(tmp_path / "home"))
    delivery = Delivery(store, run_id, CountedReceipts(), 5.0, threading.Lock())
    delivery.start_unsent(NewRun(experiment="t", run_id=run_id))  # everything goes to the spool,
    delivery.giving_up = True  # and stays there (as at exit) until it is delivered below
    items = interleaved(
        random.Random(11),
        {"loop": [point(0, "x", float(i)) for i in range(1500)], "sampler": [point(0, n, 1.0) for n in SYSTEM]},
    )
    receipts = write(
        store, run_id, items, dict.fromkeys(["x", *SYSTEM], "number"), batch_points=1000, delivery=delivery
    )
    assert receipts.settled == Counter()  # settled once delivered
    assert delivery.spool is not None
    folder = delivery.spool.folder
    lines = [json.loads(line) for line in (folder / "ops.jsonl").read_text().splitlines()]
    assert [line["op"] for line in lines] == ["create_run", "metrics", "metrics"]
    assert set(lines[1]) == {"op", "key", "series"}
    assert lines[1]["series"]["x"][0] == "number"
    assert store.list_metrics(run_id) == []
    assert deliver(store, folder) == 0
    delivery.close()
    want = expected(items)
    for name, (values, steps, times) in want.items():
        got = store.read_series(run_id, name)
        assert (got.values, got.steps, got.times) == (values, steps, times)


def test_a_loop_and_the_system_sampler_together(store: EmbeddedStore, run_id: str, tmp_path: Path) -> None:
    # The real thing: a busy loop on this thread, the sampler on its own every 0.1 s.
    logger = Logger(store, run_id, owner=True, cwd=str(tmp_path))
    logger._start_system_metrics(0.1)
    try:
        n = 0
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            for _ in range(1000):
                logger.log("x", float(n))
                n += 1
        logger.flush()
    finally:
        logger.finish()
    x = store.read_series(run_id, "x")
    assert x.values == [float(i) for i in range(n)] and x.steps == list(range(n))
    sampled = {m.name: m.count for m in store.list_metrics(run_id) if m.name.startswith("sys/")}
    assert sampled and min(sampled.values()) >= 2
    for name, count in sampled.items():
        assert store.read_series(run_id, name).steps == list(range(count))
