"""``runhistory run -- CMD``: a command as a tracked run, its console captured."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

from runhistory.api import Store
from runhistory.api._settings import RUN_ID_ENV, Settings
from runhistory.logger import Logger
from runhistory.logger._process import describe_process

#: Where the captured console goes in the run.
CONSOLE_PATH = "logs/console.txt"
#: Seconds between uploads of the console while the command runs.
CONSOLE_UPLOAD_INTERVAL = 2.0


class _Console:
    """Copies the child's output to our terminal and to a local file, uploaded as it grows."""

    def __init__(self, logger: Logger) -> None:
        self._logger = logger
        self._lock = threading.Lock()
        fd, name = tempfile.mkstemp(prefix="runhistory-console-", suffix=".txt")
        self._path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._written = 0
        self._uploaded = -1
        self._done = threading.Event()
        self._uploader = threading.Thread(target=self._upload_now_and_then, daemon=True)
        self._uploader.start()

    def pump(self, source: IO[bytes], sink: IO[bytes]) -> threading.Thread:
        def copy() -> None:
            for piece in iter(lambda: source.read1(65536), b""):  # type: ignore[attr-defined]
                try:
                    sink.write(piece)
                    sink.flush()
                except (BrokenPipeError, OSError):
                    pass  # our terminal went away; keep capturing
                with self._lock:
                    self._file.write(piece)
                    self._file.flush()
                    self._written += len(piece)

        thread = threading.Thread(target=copy, daemon=True)
        thread.start()
        return thread

    def _upload(self) -> None:
        with self._lock:
            written = self._written
        if written == self._uploaded:
            return
        try:
            self._logger.upload_file(CONSOLE_PATH, self._path)
            self._uploaded = written
        except Exception as error:  # the command goes on; the next upload may work
            print(f"runhistory: could not upload the console log: {error}", file=sys.stderr)

    def _upload_now_and_then(self) -> None:
        while not self._done.wait(CONSOLE_UPLOAD_INTERVAL):
            self._upload()

    def close(self) -> None:
        self._done.set()
        self._uploader.join()
        self._upload()
        self._file.close()
        self._path.unlink(missing_ok=True)


def _terminal_sent_it_to_the_child() -> bool:
    """True when we are in the terminal's foreground group: its Ctrl-C reached the child too."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError):
        return False


def run_tracked(
    store: Store, command: list[str], *, experiment: str | None, name: str | None, json_output: bool
) -> int:
    """Run ``command`` as a tracked run and return its exit code (128 + N for signal N)."""
    settings = Settings.from_environ()
    run = store.create_run(describe_process(experiment or settings.experiment or "default", name, command))
    logger = Logger(store, run.id, owner=True, settings=settings)
    print(f"runhistory: run {run.id[:8]} started: {' '.join(command)}", file=sys.stderr)
    env = {**os.environ, RUN_ID_ENV: run.id, "PYTHONUNBUFFERED": "1"}
    console = _Console(logger)
    try:
        child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as error:
        console.close()
        logger.finish("failed", f"could not start {command[0]}: {error}", exit_code=127)
        print(f"runhistory: error: could not start {command[0]}: {error}", file=sys.stderr)
        return 127
    if settings.system_metrics:
        # The command's machine figures, sampled here: the run is this process's, so a logger
        # in the command joins it and leaves the sampling to its owner.
        logger._start_system_metrics(settings.system_metrics, pid=child.pid)
    assert child.stdout is not None and child.stderr is not None
    # With --json, stdout carries only the JSON document: the command's output goes to stderr.
    out = sys.stderr.buffer if json_output else sys.stdout.buffer
    pumps = [console.pump(child.stdout, out), console.pump(child.stderr, sys.stderr.buffer)]

    def forward(signum: int, frame: Any) -> None:
        if signum == signal.SIGINT and _terminal_sent_it_to_the_child():
            return
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        while True:
            try:
                code = child.wait()
                break
            except InterruptedError:
                continue
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    for pump in pumps:
        pump.join(timeout=10)
    console.close()
    why: str | None
    if code == 0:
        status, why, exit_code = "completed", None, 0
    elif code < 0:
        signame = signal.Signals(-code).name
        status, why, exit_code = "killed", f"killed by {signame}", 128 - code
    else:
        status, why, exit_code = "failed", f"exited with code {code}", code
    logger.finish(status, why, exit_code=exit_code)
    message = f"runhistory: run {run.id[:8]} {status}" + (f" ({why})" if why else "")
    if json_output:
        from .contract import dumps, run_doc

        sys.stdout.write(dumps(run_doc(store.get_run(run.id))) + "\n")
    print(message, file=sys.stderr)
    return exit_code
