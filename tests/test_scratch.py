"""Partial files left by killed processes are swept; a live process's never are.

Real processes write into a real home and are killed with SIGKILL mid-write;
the next store open (or server start, or the server's periodic sweep) must
leave nothing of them, while a process that is still alive keeps its files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runhistory.api import EmbeddedStore
from runhistory.api._limits import STALE_TEMP_AGE
from runhistory.api._scratch import scratch_folder, sweep

from ._processes import partial_files, start
from ._server import Server

MIB = 1 << 20

# A store upload whose source stops after 8 MiB until told to go on (a line on stdin).
SLOW_UPLOAD = """
    import sys
    from runhistory.api import EmbeddedStore, NewRun

    class Source:
        sent = 0
        def read(self, n=-1):
            if self.sent == 8 << 20:
                print("mid-upload", flush=True)
                sys.stdin.readline()
            if self.sent >= 12 << 20:
                return b""
            self.sent += 1 << 20
            return b"x" * (1 << 20)

    store = EmbeddedStore(__import__("os").environ["RUNHISTORY_HOME"])
    run = store.create_run(NewRun())
    info = store.put_artifact(run.id, "big.bin", Source())
    print(run.id, info.size, flush=True)
"""


def wait_for(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_store_upload_killed_mid_write_leaves_nothing_after_the_next_open(tmp_path: Path) -> None:
    home = tmp_path / "home"
    process = start(tmp_path, home, SLOW_UPLOAD, stdin=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline().strip() == "mid-upload"
    (partial,) = partial_files(home)
    assert partial.stat().st_size >= 4 * MIB
    process.kill()
    process.communicate(timeout=10)
    assert partial_files(home) == [partial]  # the kernel dropped its lock, the file stays until a sweep
    EmbeddedStore(home).close()
    assert partial_files(home) == []
    assert list((home / "tmp").iterdir()) == []  # its scratch folder went too


def test_a_live_process_keeps_its_partial_file_through_a_sweep(tmp_path: Path) -> None:
    home = tmp_path / "home"
    process = start(tmp_path, home, SLOW_UPLOAD, stdin=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline().strip() == "mid-upload"
    (partial,) = partial_files(home)
    assert sweep(home / "tmp") == 0
    EmbeddedStore(home).close()  # opening a store sweeps too
    assert partial_files(home) == [partial]
    out, err = process.communicate("go\n", timeout=30)
    assert process.returncode == 0, err
    run_id, size = out.split()
    assert int(size) == 12 * MIB
    assert EmbeddedStore(home).list_artifacts(run_id)[0].size == 12 * MIB


def test_a_staged_upload_of_a_killed_logger_is_swept(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "weights.bin").write_bytes(b"w" * MIB)
    process = start(
        tmp_path,
        home,
        """
        import time
        from runhistory.api import EmbeddedStore, NewRun
        from runhistory.logger._logger import Logger

        store = EmbeddedStore(__import__("os").environ["RUNHISTORY_HOME"])
        logger = Logger(store, store.create_run(NewRun()).id, owner=True)
        logger.io_lock.acquire()  # the writer cannot store it: the staged copy waits
        logger.upload_file("weights.bin", "weights.bin")
        print("staged", flush=True)
        time.sleep(60)
        """,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "staged"
    (staged,) = partial_files(home)
    assert staged.stat().st_size == MIB
    process.kill()
    process.communicate(timeout=10)

    def swept() -> bool:
        # A git the logger started may hold the folder's lock for a moment after its parent died.
        EmbeddedStore(home).close()
        return partial_files(home) == []

    wait_for(swept)


def test_a_forked_child_keeps_its_parents_folder_until_both_are_gone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    process = start(
        tmp_path,
        home,
        """
        import os, sys, time
        from pathlib import Path
        from runhistory.api._scratch import scratch_folder

        folder = scratch_folder(Path(os.environ["RUNHISTORY_HOME"]) / "tmp")
        if os.fork() == 0:  # the child writes into the folder it inherited, and lives on
            (folder / "child-part").write_bytes(b"c")
            print(os.getpid(), flush=True)
            quiet = os.open(os.devnull, os.O_WRONLY)
            os.dup2(quiet, 1)  # let the test's pipes close with the parent
            os.dup2(quiet, 2)
            time.sleep(60)
            os._exit(0)
        time.sleep(60)
        """,
    )
    assert process.stdout is not None
    child = int(process.stdout.readline())
    process.kill()  # the parent dies; the child holds the lock it inherited
    process.communicate(timeout=10)
    assert sweep(home / "tmp") == 0
    assert [p.name for p in partial_files(home)] == ["child-part"]
    os.kill(child, signal.SIGKILL)
    wait_for(lambda: sweep(home / "tmp") == 1)
    assert partial_files(home) == []


def test_flat_partial_files_are_swept_once_an_hour_old(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    now = time.time()
    for name in ("upload-old", "receive-old", "staged-old", "upload-new", "keep-me"):
        (tmp / name).write_bytes(b"x")
        age = STALE_TEMP_AGE + 1 if name.endswith("old") or name == "keep-me" else STALE_TEMP_AGE - 60
        os.utime(tmp / name, (now - age, now - age))
    assert sweep(tmp, now=now) == 3
    assert sorted(p.name for p in tmp.iterdir()) == ["keep-me", "upload-new"]


def test_each_process_gets_one_folder_per_tmp_and_a_new_one_if_it_is_removed(tmp_path: Path) -> None:
    first = scratch_folder(tmp_path / "tmp")
    assert scratch_folder(tmp_path / "tmp") == first
    assert first.parent == tmp_path / "tmp" and (first / "lock").is_file()
    assert sweep(tmp_path / "tmp") == 0  # this process is alive
    for p in sorted(first.iterdir()):
        p.unlink()
    first.rmdir()  # someone cleared tmp/ by hand
    again = scratch_folder(tmp_path / "tmp")
    assert again != first and again.is_dir()


# -- the server ---------------------------------------------------------------------


@pytest.fixture
def fast_sweeping_server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "server", settings={"sweep_interval": 0.3}).start()
    yield srv
    srv.stop()


@pytest.mark.slow
def test_a_server_killed_mid_upload_leaves_nothing_after_its_restart(tmp_path: Path) -> None:
    srv = Server(tmp_path / "server").start()
    try:
        run_id = httpx.post(f"{srv.url}/api/v1/runs", json={}).json()["id"]
        release = threading.Event()

        def body() -> Iterator[bytes]:
            for _ in range(8):
                yield b"x" * MIB
            release.wait(30)

        def upload() -> None:
            try:
                httpx.put(f"{srv.url}/api/v1/runs/{run_id}/artifacts/big.bin", content=body(), timeout=30)
            except httpx.TransportError:
                pass  # the server is killed under it

        client = threading.Thread(target=upload)
        client.start()
        # The body is in (all but what the server's file object may still buffer, under 8 KiB)
        # and the client holds the request open.
        wait_for(lambda: sum(p.stat().st_size for p in partial_files(srv.home)) >= 8 * MIB - 64 * 1024)
        srv.kill()
        srv.stop()
        release.set()
        client.join(30)
        assert len(partial_files(srv.home)) == 1
        restarted = Server(srv.home, port=srv.port).start()
        restarted.stop()
        assert partial_files(srv.home) == []
    finally:
        srv.stop()


@pytest.mark.slow
def test_the_server_sweeps_what_dead_processes_leave_while_it_runs(
    fast_sweeping_server: Server, tmp_path: Path
) -> None:
    home = fast_sweeping_server.home  # a store shared with the server
    process = start(tmp_path, home, SLOW_UPLOAD, stdin=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline().strip() == "mid-upload"
    time.sleep(1.0)  # several sweeps while the writer lives
    assert len(partial_files(home)) == 1
    process.kill()
    process.communicate(timeout=10)
    wait_for(lambda: partial_files(home) == [], timeout=10)
    assert httpx.get(fast_sweeping_server.url + "/health").status_code == 200
