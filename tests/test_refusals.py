"""What a logger does when the store says no.

A refusal that is not about the data (the token, an unavailable server: 401,
403, 429, 5xx) sends the values to the local spool, says so in one line naming
the cause and ``runhistory sync``, and loses nothing. A refusal about the data
(422, 413) fails only the values it is about, and ``flush()`` says how many and why.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from runhistory.api import EmbeddedStore, LoggingError, NewRun, SeriesBatch
from runhistory.logger import Logger

from ._cli import cli
from ._liar import Liar, Request, forward, json_answer
from ._processes import clean_env, write_script
from ._server import Server


def only_run(home: Path) -> str:
    store = EmbeddedStore(home)
    (run,) = store.list_runs().runs
    store.close()
    return run.id


@pytest.mark.slow
def test_a_token_refused_mid_run_keeps_every_value_for_sync(tmp_path: Path) -> None:
    home, client_home = tmp_path / "store", tmp_path / "client"
    server = Server(home, token="first-token").start()
    script = write_script(
        tmp_path,
        """
        import sys
        from runhistory.logger import get_logger
        logger = get_logger(experiment="auth")
        for i in range(8000):
            logger.log("x", float(i))
        logger.flush()
        print("half", flush=True)
        sys.stdin.readline()
        for i in range(8000, 20000):
            logger.log("x", float(i))
        try:
            logger.flush()
            print("flush returned", flush=True)
        except Exception as error:
            print("flush raised", type(error).__name__, error, flush=True)
        try:
            logger.flush()
            print("second flush returned", flush=True)
        except Exception as error:
            print("second flush raised", error, flush=True)
    """,
    )
    env = clean_env(client_home, RUNHISTORY_URL=server.url, RUNHISTORY_TOKEN="first-token")
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    second: Server | None = None
    try:
        assert process.stdout is not None and process.stdout.readline() == "half\n"
        # The token is changed on the server while the run goes on.
        server.stop()
        second = Server(home, port=server.port, token="second-token").start()
        out, err = process.communicate("\n", timeout=120)
        assert process.returncode == 0, err
        raised = next(line for line in out.splitlines() if line.startswith("flush"))
        assert raised.startswith("flush raised LoggingError 12000 values logged before flush() could not be stored")
        assert "401" in raised and "runhistory sync" in raised
        assert "second flush returned" in out  # each failure is raised once
        lines = [line for line in err.splitlines() if "refused" in line]
        assert len(lines) == 2, err  # when it happened, and at exit
        assert "401" in lines[0] and "runhistory sync" in lines[0] and "RUNHISTORY_TOKEN" in lines[0]
        run_id = only_run(home)
        assert EmbeddedStore(home).read_series(run_id, "x").count == 8000
        # Nothing was lost: sync with the new token delivers the rest, once.
        done = cli(client_home, "sync", "--json", RUNHISTORY_URL=second.url, RUNHISTORY_TOKEN="second-token")
        assert done.returncode == 0, done.stderr
        store = EmbeddedStore(home)
        series = store.read_series(run_id, "x")
        assert series.values == [float(i) for i in range(20000)]
        assert series.steps == list(range(20000))
        assert store.get_run(run_id).status == "completed"
    finally:
        process.kill()
        (second or server).stop()


@pytest.mark.slow
@pytest.mark.parametrize("status", [503, 429])
def test_an_unavailable_server_sends_values_to_the_spool_then_delivers_them(tmp_path: Path, status: int) -> None:
    home = tmp_path / "store"
    server = Server(home).start()
    healed = threading.Event()

    def answer(request: Request) -> tuple[int, dict[str, str], bytes]:
        if request.path.endswith("/metrics") and request.method == "POST" and not healed.is_set():
            return json_answer({"error": "Busy", "message": "try later"}, status)
        return forward(request, server.url)

    try:
        with Liar(answer) as liar:
            script = write_script(
                tmp_path,
                """
                from runhistory.logger import get_logger
                logger = get_logger(experiment="busy")
                for i in range(5000):
                    logger.log("x", i)
                logger.flush()
                print("stored", flush=True)
            """,
            )
            env = clean_env(tmp_path / "client", RUNHISTORY_URL=liar.url, RUNHISTORY_SPOOL_AFTER="0.3")
            process = subprocess.Popen(
                [sys.executable, str(script)],
                cwd=tmp_path,
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            assert process.stderr is not None
            line = process.stderr.readline()
            assert f"answered {status}" in line and "runhistory sync" in line and "kept in" in line, line
            healed.set()
            out, err = process.communicate(timeout=120)
        assert process.returncode == 0 and out == "stored\n", err
        series = EmbeddedStore(home).read_series(only_run(home), "x")
        assert series.values == list(range(5000))
    finally:
        server.stop()


def test_a_refusal_about_the_data_fails_only_those_values(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    run = store.create_run(NewRun(experiment="t"))
    # Another process gave "x" string values: numbers for it are refused, "y" is not.
    store.append_metrics(run.id, {"x": SeriesBatch("string", ["text"], [None], [time.time()])})
    logger = Logger(store, run.id, owner=False)
    try:
        handles = []
        for i in range(100):
            handles.append(logger.log("x", float(i)))
            logger.log("y", float(i))
        with pytest.raises(
            LoggingError, match=r"^100 values logged before flush\(\) could not be stored: .*string"
        ) as raised:
            logger.flush()
        assert "metric 'x'" in str(raised.value)
        assert store.read_series(run.id, "y").values == [float(i) for i in range(100)]
        logger.flush()  # raised once
        with pytest.raises(LoggingError, match="could not be stored"):
            handles[0].wait()  # a handle still says what happened to its value
        logger.log("y", 1.0).wait()
    finally:
        logger.finish()


@pytest.mark.slow
def test_a_batch_too_large_for_the_server_is_sent_in_smaller_parts(tmp_path: Path) -> None:
    home = tmp_path / "store"
    server = Server(home).start()
    limit = 200_000

    def answer(request: Request) -> tuple[int, dict[str, str], bytes]:
        if request.path.endswith("/metrics") and len(request.body) > limit:
            return json_answer({"error": "BatchTooLarge", "message": f"at most {limit} bytes"}, 413)
        return forward(request, server.url)

    try:
        with Liar(answer) as liar:
            script = write_script(
                tmp_path,
                """
                from runhistory.logger import get_logger
                logger = get_logger(experiment="big")
                for i in range(1000):
                    logger.log("text", f"{i:04d}" + "x" * 1000)
                    logger.log("n", i)
                logger.flush()
                print("stored", flush=True)
            """,
            )
            done = subprocess.run(
                [sys.executable, str(script)],
                cwd=tmp_path,
                text=True,
                capture_output=True,
                env=clean_env(tmp_path / "client", RUNHISTORY_URL=liar.url),
                timeout=120,
            )
            sizes = [len(r.body) for r in liar.requests if r.path.endswith("/metrics")]
        assert done.returncode == 0 and done.stdout == "stored\n", done.stderr
        assert max(sizes) > limit and len(sizes) > 5
        store = EmbeddedStore(home)
        run_id = only_run(home)
        assert store.read_series(run_id, "text").values == [f"{i:04d}" + "x" * 1000 for i in range(1000)]
        assert store.read_series(run_id, "n").values == list(range(1000))
    finally:
        server.stop()
