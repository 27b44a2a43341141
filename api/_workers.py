"""Several server processes on one listening socket (``runhistory serve --workers N``).

The parent binds the socket, then forks the workers; each runs the same server
on the socket it inherited, and the kernel hands each new connection to one of
them. The workers share nothing but the store, which each opens anew after the
fork (the stores are fork-safe), so any of them can answer any request. The
parent only watches: a worker that dies is started again, and SIGTERM or SIGINT
stops them all, each finishing its requests first.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable

#: The most worker processes ``runhistory serve`` starts.
MAX_WORKERS = 64

#: A worker that dies is started again, but not more often than this (seconds).
RESTART_PAUSE = 1.0


def check_workers(workers: int) -> int:
    """``workers`` when it is 1 … ``MAX_WORKERS``.

    Raises:
        ValueError: it is not; the message says the range.
    """
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be 1 to {MAX_WORKERS}, not {workers}")
    return workers


def run_workers(work: Callable[[], None], workers: int) -> int:
    """Run ``work`` in ``workers`` forked processes until SIGTERM or SIGINT; returns when all
    have stopped, with 0 if each ended cleanly, else 1.

    ``work`` runs in the child with the default signal handlers (the server installs its own).
    """
    check_workers(workers)
    stopping = False
    running: dict[int, float] = {}  # pid -> when it started

    def start() -> None:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 0
            try:
                work()
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            except BaseException:  # a worker's failure is told, and ends only that worker
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
        running[pid] = time.monotonic()
        if stopping:  # the signal came while it was being started
            os.kill(pid, signal.SIGTERM)

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(running):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    failed = False
    try:
        for _ in range(workers):
            start()
        while running:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            started = running.pop(pid, None)
            if started is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            if stopping:
                # the server ends by raising the signal it stopped for again, once its requests are done
                failed = failed or code not in (0, -signal.SIGTERM, -signal.SIGINT)
                continue
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            print(f"runhistory: worker {pid} stopped ({how}); starting another", file=sys.stderr, flush=True)
            time.sleep(max(0.0, started + RESTART_PAUSE - time.monotonic()))
            if not stopping:
                start()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1 if failed else 0
