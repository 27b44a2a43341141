"""Real processes that log and then exit, raise, get signalled or killed;
each test reads back exactly what the store kept."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from runhistory.api import EmbeddedStore, Run

from ._processes import run, start


def only_run(home: Path, lost_after: float = 60.0) -> Run:
    runs = EmbeddedStore(home, lost_after=lost_after).list_runs().runs
    assert len(runs) == 1, runs
    return runs[0]


@pytest.mark.slow
def test_eight_processes_log_at_once_and_nothing_is_lost(tmp_path: Path) -> None:
    home = tmp_path / "store"
    code = """
        import sys
        from runhistory.logger import get_logger
        logger = get_logger(experiment="concurrent")
        for i in range(20_000):
            logger.log("x", i)
            if i % 1000 == 0:
                logger.log("progress", i / 20_000)
        logger.flush()
        print(logger.run_id)
    """
    folders = []
    for n in range(8):
        folder = tmp_path / f"p{n}"
        folder.mkdir()
        folders.append(folder)
    processes = [start(folder, home, code) for folder in folders]
    outputs = [p.communicate(timeout=240) for p in processes]
    for process, (_out, err) in zip(processes, outputs):
        assert process.returncode == 0, err
        assert "locked" not in err, err
    store = EmbeddedStore(home)
    runs = store.list_runs(experiment="concurrent").runs
    assert len(runs) == 8
    for r in runs:
        assert r.status == "completed"
        series = store.read_series(r.id, "x")
        assert series.values == list(range(20_000))
        assert series.steps == list(range(20_000))
        assert store.read_series(r.id, "progress").count == 20


def test_uncaught_exception_fails_the_run_and_keeps_every_point(tmp_path: Path) -> None:
    home = tmp_path / "store"
    done = run(
        tmp_path,
        home,
        """
        from runhistory.logger import get_logger
        logger = get_logger()
        for i in range(500):
            logger.log("loss", 1.0 / (i + 1))
        raise RuntimeError("exploding gradient at step 500")
        """,
    )
    assert done.returncode == 1
    assert "exploding gradient" in done.stderr  # the usual traceback still prints
    r = only_run(home)
    assert r.status == "failed"
    assert r.error is not None and "RuntimeError: exploding gradient at step 500" in r.error
    assert "Traceback" in r.error
    series = EmbeddedStore(home).read_series(r.id, "loss")
    assert series.count == 500
    assert series.values == [1.0 / (i + 1) for i in range(500)]
    assert r.ended_at is not None


def test_sigterm_while_idle_kills_the_run_and_keeps_every_point(tmp_path: Path) -> None:
    home = tmp_path / "store"
    process = start(
        tmp_path,
        home,
        """
        import time
        from runhistory.logger import get_logger
        logger = get_logger()
        for i in range(5000):
            logger.log("loss", float(i))
        print("ready", flush=True)
        while True:  # idle in short naps: a signal that lands just before a long sleep starts
            time.sleep(0.05)  # would have its Python handler wait for the sleep's end
        """,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGTERM, err
    r = only_run(home)
    assert r.status == "killed"
    assert r.error == "killed by SIGTERM"
    series = EmbeddedStore(home).read_series(r.id, "loss")
    assert series.values == [float(i) for i in range(5000)]


def test_sigint_marks_the_run_killed(tmp_path: Path) -> None:
    home = tmp_path / "store"
    process = start(
        tmp_path,
        home,
        """
        import signal, time
        # Ctrl-C raises KeyboardInterrupt, as in a script started from a shell (a job started in
        # the background of a non-interactive shell inherits SIGINT ignored, and Python keeps that).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from runhistory.logger import get_logger
        logger = get_logger()
        for i in range(100):
            logger.log("loss", float(i))
        # One write, unbuffered: a Ctrl-C that lands in a buffered print's flush leaves stdout
        # half written, and the exit's own flush then fails with status 1.
        import os
        os.write(1, b"ready\\n")
        while True:  # idle in short naps: a signal that lands just before a long sleep starts
            time.sleep(0.05)  # would have its Python handler wait for the sleep's end
        """,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGINT, err  # Python dies of an uncaught Ctrl-C's signal
    r = only_run(home)
    assert r.status == "killed"
    assert EmbeddedStore(home).read_series(r.id, "loss").count == 100


def test_os_exit_right_after_wait_keeps_every_acknowledged_point(tmp_path: Path) -> None:
    home = tmp_path / "store"
    done = run(
        tmp_path,
        home,
        """
        import os
        from runhistory.logger import get_logger
        logger = get_logger()
        for i in range(12_345):
            handle = logger.log("loss", i * 0.5)
        handle.wait()
        os._exit(0)
        """,
    )
    assert done.returncode == 0, done.stderr
    r = only_run(home, lost_after=0.0)
    assert r.status == "lost"  # nobody finished it, and nobody beats its heart
    series = EmbeddedStore(home).read_series(r.id, "loss")
    assert series.values == [i * 0.5 for i in range(12_345)]


@pytest.mark.slow
def test_sigkill_keeps_acknowledged_points_and_the_run_goes_lost(tmp_path: Path) -> None:
    home = tmp_path / "store"
    process = start(
        tmp_path,
        home,
        """
        import itertools
        from runhistory.logger import get_logger
        logger = get_logger()
        for i in itertools.count():
            handle = logger.log("loss", float(i))
            if i % 5000 == 4999:
                handle.wait()
                print(i + 1, flush=True)
        """,
    )
    assert process.stdout is not None
    acknowledged = 0
    while acknowledged < 50_000:
        acknowledged = int(process.stdout.readline())
    process.kill()
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    store = EmbeddedStore(home, lost_after=1.0)
    r = store.list_runs().runs[0]
    series = store.read_series(r.id, "loss")
    assert series.count >= acknowledged
    assert series.values == [float(i) for i in range(series.count)]  # a prefix, in order, no holes
    time.sleep(1.2)
    assert store.get_run(r.id).status == "lost"
    assert [x.id for x in store.list_runs(status="lost").runs] == [r.id]
    assert store.list_runs(status="running").runs == []


def test_forked_children_log_into_the_run_and_never_finish_it(tmp_path: Path) -> None:
    home = tmp_path / "store"
    done = run(
        tmp_path,
        home,
        """
        import multiprocessing as mp
        import os, sys
        from runhistory.api import EmbeddedStore
        from runhistory.logger import get_logger

        logger = get_logger()
        for i in range(1000):
            logger.log("parent", float(i))

        def worker(n):
            lg = get_logger()
            assert lg is logger  # the same object, with the child's own writer
            for i in range(2000):
                lg.log(f"worker{n}", float(i))
            lg.log("shared", n)

        ctx = mp.get_context("fork")
        children = [ctx.Process(target=worker, args=(n,)) for n in range(3)]
        for c in children:
            c.start()
        for c in children:
            c.join()
            assert c.exitcode == 0
        # a raw fork() child that leaves through sys.exit() flushes at exit
        pid = os.fork()
        if pid == 0:
            logger.log("raw", 1.0)
            sys.exit(0)
        os.waitpid(pid, 0)
        store = EmbeddedStore(os.environ["RUNHISTORY_HOME"])
        assert store.get_run(logger.run_id).status == "running", "a child finished the run"
        for i in range(1000):
            logger.log("parent", float(1000 + i))
        print(logger.run_id)
        """,
    )
    assert done.returncode == 0, done.stderr
    store = EmbeddedStore(home)
    r = only_run(home)
    assert r.status == "completed"
    assert store.read_series(r.id, "parent").values == [float(i) for i in range(2000)]
    for n in range(3):
        assert store.read_series(r.id, f"worker{n}").values == [float(i) for i in range(2000)]
    assert sorted(store.read_series(r.id, "shared").values) == [0, 1, 2]  # type: ignore[type-var]
    assert store.read_series(r.id, "raw").values == [1.0]


def test_subprocess_joins_the_run_through_the_environment(tmp_path: Path) -> None:
    home = tmp_path / "store"
    done = run(
        tmp_path,
        home,
        """
        import subprocess, sys
        from runhistory.logger import get_logger
        logger = get_logger(experiment="joined")
        logger.log("loss", 1.0)
        code = "from runhistory.logger import get_logger; get_logger().log('from_child', 2.0)"
        subprocess.run([sys.executable, "-c", code], check=True)
        logger.log("loss", 0.5)
        """,
    )
    assert done.returncode == 0, done.stderr
    store = EmbeddedStore(home)
    r = only_run(home)
    assert r.experiment == "joined" and r.status == "completed"
    assert store.read_series(r.id, "from_child").values == [2.0]
    assert store.read_series(r.id, "loss").values == [1.0, 0.5]


def test_after_finish_the_next_get_logger_starts_a_new_run(tmp_path: Path) -> None:
    home = tmp_path / "store"
    done = run(
        tmp_path,
        home,
        """
        import os
        from runhistory.logger import get_logger
        first = get_logger(name="first")
        first.log("loss", 1.0)
        first.finish()
        assert "RUNHISTORY_RUN_ID" not in os.environ
        second = get_logger(name="second")
        second.log("loss", 2.0)
        assert second.run_id != first.run_id and os.environ["RUNHISTORY_RUN_ID"] == second.run_id
        """,
    )
    assert done.returncode == 0, done.stderr
    store = EmbeddedStore(home)
    runs = {r.name: r for r in store.list_runs().runs}
    assert {name: r.status for name, r in runs.items()} == {"first": "completed", "second": "completed"}
    assert store.read_series(runs["first"].id, "loss").values == [1.0]
    assert store.read_series(runs["second"].id, "loss").values == [2.0]


def test_joining_a_missing_run_is_a_clear_error(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        tmp_path / "store",
        "from runhistory.logger import get_logger\nget_logger()\n",
        RUNHISTORY_RUN_ID="0" * 32,
    )
    assert done.returncode == 1
    assert "RUNHISTORY_RUN_ID=" + "0" * 32 + " names no run" in done.stderr
