"""The logger in this process, built directly on a real store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from runhistory.api import EmbeddedStore, LoggingError, NewRun, SeriesBatch
from runhistory.logger import Handle, Logger


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    return EmbeddedStore(tmp_path / "store")


@pytest.fixture
def logger(store: EmbeddedStore, tmp_path: Path) -> Iterator[Logger]:
    run = store.create_run(NewRun(experiment="t"))
    lg = Logger(store, run.id, owner=True, cwd=str(tmp_path))
    yield lg
    lg.finish()


def test_values_arrive_in_order_with_their_kinds(logger: Logger, store: EmbeddedStore) -> None:
    logger.log("simple integer value", 7)
    logger.log("simple float value", 3.141592)
    logger.log("simple string value", "this is a string metric")
    logger.log("chart data points", [1, 3, 5, 10, 6, 4])
    for epoch in range(10):
        logger.log("loss", 1 / (epoch + 1))
    handle = logger.log("my metric 1", True)
    assert isinstance(handle, Handle) and handle.seq == 14
    handle.wait()
    metrics = {m.name: m for m in store.list_metrics(logger.run_id)}
    assert metrics["simple integer value"].last_value == 7
    assert metrics["simple string value"].kind == "string"
    assert metrics["chart data points"].kind == "chart"
    assert metrics["chart data points"].last_value == [1, 3, 5, 10, 6, 4]
    assert metrics["my metric 1"].last_value == 1
    loss = store.read_series(logger.run_id, "loss")
    assert loss.values == [1 / (e + 1) for e in range(10)]
    assert loss.steps == list(range(10))
    assert loss.times == sorted(loss.times)


def test_explicit_steps(logger: Logger, store: EmbeddedStore) -> None:
    logger.log("acc", 0.5, step=100)
    logger.log("acc", 0.6, step=200)
    logger.log("acc", 0.7).wait()
    assert store.read_series(logger.run_id, "acc").steps == [100, 200, 201]


def test_many_threads_at_once(logger: Logger, store: EmbeddedStore) -> None:
    def work(n: int) -> None:
        for i in range(5000):
            logger.log(f"thread{n}", i)
            logger.log("shared", n * 100_000 + i)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    logger.flush()
    for n in range(8):
        assert store.read_series(logger.run_id, f"thread{n}").values == list(range(5000))
    shared = store.read_series(logger.run_id, "shared").values
    assert len(shared) == 40_000
    for n in range(8):  # each thread's values keep their order
        mine = [v for v in shared if v // 100_000 == n]  # type: ignore[operator]
        assert mine == [n * 100_000 + i for i in range(5000)]


def test_wait_raises_when_a_value_cannot_be_stored(
    logger: Logger, store: EmbeddedStore, caplog: pytest.LogCaptureFixture
) -> None:
    # Another process made "x" a string series; this logger only knows its own calls.
    store.append_metrics(logger.run_id, {"x": SeriesBatch("string", ["text"], [None], [0.0])})
    bad = logger.log("x", 1.0)
    good = logger.log("y", 2.0)
    with pytest.raises(LoggingError, match="holds string values"):
        bad.wait()
    good.wait()  # the rest of the batch was stored
    assert store.read_series(logger.run_id, "y").values == [2.0]
    assert "could not store values of ['x']" in caplog.text


def test_finish_completes_the_run_and_refuses_later_values(logger: Logger, store: EmbeddedStore) -> None:
    logger.log("loss", 1.0)
    logger.finish()
    run = store.get_run(logger.run_id)
    assert run.status == "completed" and run.ended_at is not None
    assert store.read_series(logger.run_id, "loss").values == [1.0]
    with pytest.raises(LoggingError, match="finished"):
        logger.log("loss", 2.0)


def test_finish_with_a_status(store: EmbeddedStore, tmp_path: Path) -> None:
    run = store.create_run(NewRun())
    lg = Logger(store, run.id, owner=True, cwd=str(tmp_path))
    lg.finish("failed", "diverged")
    assert (store.get_run(run.id).status, store.get_run(run.id).error) == ("failed", "diverged")


def test_a_joined_logger_never_finishes_the_run(store: EmbeddedStore, tmp_path: Path) -> None:
    run = store.create_run(NewRun())
    lg = Logger(store, run.id, owner=False, cwd=str(tmp_path))
    lg.log("loss", 1.0)
    lg.finish()
    assert store.get_run(run.id).status == "running"
    assert store.read_series(run.id, "loss").values == [1.0]


def test_wait_with_a_timeout(logger: Logger) -> None:
    with logger.io_lock:  # hold the writer off the store
        handle = logger.log("loss", 1.0)
        with pytest.raises(TimeoutError):
            handle.wait(timeout=0.2)
    handle.wait(timeout=10)


def test_uploads_and_outputs(logger: Logger, store: EmbeddedStore, tmp_path: Path) -> None:
    logger.upload("notes/readme.txt", "héllo").wait()
    (info,) = store.list_artifacts(logger.run_id, "notes")
    assert info.size == len("héllo".encode())
    local = tmp_path / "model.bin"
    local.write_bytes(b"\x00\x01" * 1000)
    handle = logger.upload_file("model/model.bin", local)
    local.write_bytes(b"changed after the call")  # the file was copied aside at the call
    handle.wait()
    with store.open_artifact(logger.run_id, "model/model.bin") as f:
        assert f.read() == b"\x00\x01" * 1000
    (tmp_path / "outputs" / "plots").mkdir(parents=True)
    (tmp_path / "outputs" / "plots" / "loss.csv").write_text("step,loss\n0,1.0\n")
    (tmp_path / "outputs" / "summary.json").write_text("{}")
    logger.finish()
    paths = [a.path for a in store.list_artifacts(logger.run_id)]
    assert paths == ["model/model.bin", "notes/readme.txt", "outputs/plots/loss.csv", "outputs/summary.json"]
    with store.open_artifact(logger.run_id, "notes/readme.txt") as f:
        assert f.read().decode() == "héllo"
