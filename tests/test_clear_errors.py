"""A damaged store, a read-only store and a server that answers nonsense give
clear errors, never a traceback; a read-only store can still be read."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from runhistory.api import EmbeddedStore, NewRun, SeriesBatch
from runhistory.app.app import make_app
from runhistory.app.screens.error import ErrorModal

from ._cli import cli
from ._liar import Liar, Request
from ._pilot import wait_for
from ._processes import clean_env
from .app_data import fixed_clock

LOGGER = "from runhistory.logger import get_logger\nget_logger(experiment='x').log('a', 1)\n"


def filled_store(home: Path, runs: int = 200) -> list[str]:
    store = EmbeddedStore(home)
    ids = []
    for i in range(runs):
        run = store.create_run(NewRun(experiment=f"exp{i % 7}", name=f"run-{i}", command=["python", "train.py"]))
        store.append_metrics(
            run.id,
            {"loss": SeriesBatch("number", [1.0 / (k + 1) for k in range(500)], [None] * 500, [time.time()] * 500)},
        )
        store.put_artifact(run.id, "notes.txt", f"run {i}".encode())
        store.finish_run(run.id, "completed")
        ids.append(run.id)
    store.close()
    return ids


def no_traceback(done: subprocess.CompletedProcess[bytes]) -> str:
    err = done.stderr.decode()
    assert "Traceback" not in err, err
    return err


def python(home: Path, code: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-c", code], env=clean_env(home, **env), capture_output=True, timeout=60)


# -- a damaged store ----------------------------------------------------------------------


def test_a_store_that_is_not_a_database_is_named_as_damaged(tmp_path: Path) -> None:
    home = tmp_path / "store"
    home.mkdir()
    (home / "runhistory.sqlite3").write_bytes(b"this was overwritten by something else\n" * 200)
    for args in (["list"], ["last"], ["info", "-r", "abcd"], ["tui"], ["assets"]):
        done = cli(home, *args)
        assert done.returncode == 1, args
        assert "is damaged (file is not a database)" in no_traceback(done), args
    as_json = json.loads(cli(home, "list", "--json").stderr)
    assert as_json["kind"] == "StoreCorrupt" and str(home / "runhistory.sqlite3") in as_json["error"]
    logged = python(home, LOGGER)
    assert logged.returncode == 1
    err = logged.stderr.decode()
    assert err.strip().splitlines()[-1].startswith("runhistory.api._errors.StoreCorrupt: the store's database")
    assert "sqlite3.DatabaseError" not in err  # the cause is said in words, without SQLite's own traceback


def test_a_truncated_store_gives_clear_errors_for_every_command(tmp_path: Path) -> None:
    home = tmp_path / "store"
    ids = filled_store(home)
    db = home / "runhistory.sqlite3"
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 3])
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    damaged = 0
    for args in (
        ["list", "-n", "1000"],
        ["info", "-r", ids[-1]],
        ["info", "-r", ids[0]],
        ["info", "-r", ids[0], "-m", "loss"],
        ["assets"],
    ):
        done = cli(home, *args)
        err = no_traceback(done)
        assert done.returncode in (0, 1), args
        damaged += "is damaged" in err
    assert damaged >= 1


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_app_says_a_store_went_bad_in_a_dialog(tmp_path: Path) -> None:
    home = tmp_path / "store"
    filled_store(home, runs=5)
    store = EmbeddedStore(home)
    app = make_app(store, clock=fixed_clock(), live_interval=None)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("#runs").row_count == 5)  # type: ignore[attr-defined]
        store.close()
        (home / "runhistory.sqlite3").write_bytes(b"garbage" * 10000)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert isinstance(app.screen, ErrorModal)
        assert "is damaged" in app.screen.message


# -- a read-only store ------------------------------------------------------------------


@contextmanager
def read_only(home: Path) -> Iterator[list[str]]:
    """A prefix for commands that see ``home`` read-only: a read-only bind mount of their own
    when running as root (which permissions do not stop), else the folder's permissions."""
    if os.geteuid() == 0:
        quoted = shlex.quote(str(home))
        yield [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            f'mount --bind {quoted} {quoted} && mount -o remount,ro,bind {quoted} && exec "$@"',
            "sh",
        ]
        return
    modes = {p: p.stat().st_mode for p in (home, *home.rglob("*"))}
    for p in modes:
        p.chmod(modes[p] & ~0o222)
    try:
        yield []
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


@pytest.mark.slow
def test_a_read_only_store_is_read_and_refuses_writes_at_once(tmp_path: Path) -> None:
    home = tmp_path / "store"
    (run_id, *_) = filled_store(home, runs=3)
    with read_only(home) as prefix:

        def command(*args: str) -> subprocess.CompletedProcess[bytes]:
            return subprocess.run(
                [*prefix, sys.executable, *args], env=clean_env(home), capture_output=True, timeout=60, cwd=tmp_path
            )

        cli_args = ("-m", "runhistory.app.cli")
        listed = command(*cli_args, "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert len(json.loads(listed.stdout)) == 3
        info = command(*cli_args, "info", "-r", run_id, "-m", "loss", "--json")
        assert info.returncode == 0 and len(json.loads(info.stdout)["points"]) == 500
        assert command(*cli_args, "info", "-r", run_id, "-a", "notes.txt").stdout == b"run 0"
        saved = command(*cli_args, "download", "-r", run_id, "-o", str(tmp_path / "out"))
        assert saved.returncode == 0 and (tmp_path / "out" / "notes.txt").read_bytes() == b"run 0"
        started = time.monotonic()
        promoted = command(*cli_args, "promote", "-r", run_id, "-ap", "notes.txt", "-n", "model")
        logged = command("-c", LOGGER)
        took = time.monotonic() - started
        assert promoted.returncode == 1 and "is read-only" in no_traceback(promoted)
        assert logged.returncode == 1
        assert logged.stderr.decode().strip().splitlines()[-1].startswith("runhistory.api._errors.StoreReadOnly")
        assert took < 8  # at once: no ten-second wait for a lock that is not the problem


# -- a server that answers nonsense --------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<html><body>Welcome to the proxy</body></html>", id="html"),
        # Each also waits out a logger's exit timeout in a process of its own: the quick run has one.
        pytest.param(b'{"runs": "not a list", "next_cursor": null}', id="wrong-shape", marks=pytest.mark.slow),
        pytest.param(b'{"runs": [{"id": 5}], "next_cursor": null}', id="wrong-types", marks=pytest.mark.slow),
        pytest.param(b'{"runs": [', id="truncated", marks=pytest.mark.slow),
    ],
)
def test_an_answer_that_is_not_runhistorys_is_a_clear_error(tmp_path: Path, body: bytes) -> None:
    def answer(request: Request) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "application/json"}, body

    with Liar(answer) as liar:
        for args in (["list"], ["last"], ["info", "-r", "abcd"], ["assets"]):
            done = cli(tmp_path, "--url", liar.url, *args)
            assert done.returncode == 1, args
            assert "is not runhistory's answer" in no_traceback(done), args
        as_json = cli(tmp_path, "--url", liar.url, "list", "--json")
        assert json.loads(as_json.stderr)["kind"] == "BadResponse"
        # A logger takes it for a server that is not there: its values wait in the spool.
        logged = python(tmp_path / "client", LOGGER, RUNHISTORY_URL=liar.url, RUNHISTORY_EXIT_TIMEOUT="0.5")
    assert logged.returncode == 0, logged.stderr
    assert "runhistory sync" in no_traceback(logged)
    assert len(list((tmp_path / "client" / "spool").iterdir())) == 1
