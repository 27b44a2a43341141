"""Getting operations into the store: now, after retries, or through the spool.

A refusal about the data (422, 413) fails only the values it is about. A
refusal about the server (unreachable, 5xx, 429: after ``spool_after``
seconds of retries; 401/403: at once) sends operations to the spool, which is
delivered in order when the server answers again (or by ``runhistory sync``).
Values spooled because the token was refused fail their handles at once with
"kept in …": a process's token does not mend itself.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Sequence

from runhistory.api import (
    BatchTooLarge,
    InvalidInput,
    LoggingError,
    NewRun,
    RunNotFound,
    Store,
    StoreUnavailable,
    Unauthorized,
)

from ._diagnostics import say
from ._ops import AppendMetrics, CreateRun, Op, PutImage
from ._receipts import Receipts
from ._spool import Spool, deliver, spool_root

#: Attempts at storing an operation that failed for an unknown reason (a disk error) before giving up.
STORE_ATTEMPTS = 5
#: Seconds between attempts at delivering the spool while the run goes on.
SPOOL_RETRY_INTERVAL = 2.0

# Errors that storing the same operation again would repeat.
_REFUSALS = (InvalidInput, RunNotFound, TypeError, ValueError, OverflowError)


class Delivery:
    """Sends one run's operations to its store (see the module docstring).

    Args:
        store: The store.
        run_id: The run.
        receipts: Where what becomes of each value is settled.
        spool_after: Seconds of outage before operations go to the spool.
        io_lock: Held around every store call (``fork()`` waits for it).
    """

    def __init__(
        self, store: Store, run_id: str, receipts: Receipts, spool_after: float, io_lock: threading.Lock
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.receipts = receipts
        self.spool_after = spool_after
        self.io_lock = io_lock
        self.spool: Spool | None = None
        #: Once set, nothing waits for the server: what is left goes to the spool at once.
        self.giving_up = False
        # Set while the server refuses this run's token.
        self.refusal: Unauthorized | None = None
        self._spooled: dict[int, list[int]] = {}  # spool index -> the seqs it settles once delivered
        self._next_retry = 0.0

    def start_unsent(self, spec: NewRun) -> None:
        """The run could not be created (the server was away): spool from its start."""
        self._start_spool(None)
        assert self.spool is not None
        self.spool.append(CreateRun(spec))
        say(f"the server did not answer; run {self.run_id[:8]} starts in {self.spool.folder}")

    def send(self, op: Op) -> None:
        """Store ``op`` now, or spool it; settles its values either way (a spooled one when delivered)."""
        if isinstance(op, PutImage):
            try:
                op.encode()  # before the lock: a fork does not wait for an image to be encoded
            except Exception as failure:
                self._refused(op, failure)
                return
        if self.spool is None:
            deadline = time.monotonic() + self.spool_after
            attempt = 0
            while True:
                try:
                    with self.io_lock:
                        op.apply(self.store, self.run_id)
                    op.forget()
                    self._stored(op.seqs)
                    return
                except StoreUnavailable as away:
                    if time.monotonic() >= deadline or self.giving_up:
                        self._start_spool(away)
                        break
                except Unauthorized as refused:  # not about the data: keep it for a valid token
                    self.refusal = refused
                    self._start_spool(refused)
                    break
                except BatchTooLarge as too_large:
                    halves = op.halves() if isinstance(op, AppendMetrics) else []
                    if not halves:
                        self._refused(op, too_large)
                    for half in halves:
                        self.send(half)
                    return
                except _REFUSALS as refused:  # trying again would give the same answer
                    self._refused(op, refused)
                    return
                except Exception as failure:  # e.g. a disk error: try again, then give up
                    if attempt >= STORE_ATTEMPTS:
                        self._refused(op, failure)
                        return
                time.sleep(min(2.0, 0.1 * 2**attempt))
                attempt += 1
        assert self.spool is not None
        index = self.spool.append(op)
        if self.refusal is not None:
            self.receipts.failed(list(op.seqs), self._kept_error())
        else:
            self._spooled[index] = list(op.seqs)

    def _stored(self, seqs: Sequence[int]) -> None:
        if not seqs:
            return
        first, last = seqs[0], seqs[-1]
        if last - first + 1 == len(seqs) and self.receipts.stored_run(first, last):
            return  # the usual case, without listing the numbers
        self.receipts.stored(list(seqs))

    def _kept_error(self) -> LoggingError:
        folder = self.spool.folder if self.spool is not None else "the spool"
        return LoggingError(
            f"{self.refusal}: kept in {folder}, not on the server; fix the token, then run `runhistory sync` to send them"
        )

    def _refused(self, op: Op, error: BaseException) -> None:
        """``op`` will not be stored: fail what it is about (one refused series does not take the others)."""
        failed = list(op.seqs)
        what = op.describe()
        if isinstance(op, AppendMetrics) and len(op.series) > 1:
            failed = []
            names: list[str] = []
            for part in op.per_series():
                try:
                    with self.io_lock:
                        part.apply(self.store, self.run_id)
                    self._stored(part.seqs)
                except Exception as refused:
                    error = refused
                    failed += part.seqs
                    names += part.series
            what = f"values of {sorted(names)}"
        else:
            op.forget()
        say(f"could not store {what}: {error}")
        self.receipts.failed(sorted(failed), error)

    def _start_spool(self, why: BaseException | None) -> None:
        where = self.store.location
        self.spool = Spool.create(spool_root(), self.run_id, where)
        if isinstance(why, Unauthorized):
            say(
                f"{where} refused run {self.run_id[:8]}'s token ({why}); its values are kept in "
                f"{self.spool.folder}: fix RUNHISTORY_TOKEN, then run `runhistory sync`"
            )
        elif why is not None:
            say(
                f"{where} is unavailable ({why}); run {self.run_id[:8]}'s values are kept in "
                f"{self.spool.folder} and sent when it answers again (or by `runhistory sync`)"
            )

    def retry_spool(self) -> None:
        """Deliver the spool if it is time to try again (the writer calls this every tick)."""
        now = time.monotonic()
        if self.spool is None or self.giving_up or now < self._next_retry:
            return
        self._next_retry = now + SPOOL_RETRY_INTERVAL
        spooled = self._spooled

        def delivered(index: int) -> None:
            seqs = spooled.pop(index, None)
            if seqs:
                self.receipts.stored(seqs)

        def refused(index: int, error: Exception) -> None:
            say(f"the server refused spooled values: {error}")
            self.receipts.failed(spooled.pop(index, []), error)

        try:
            with self.io_lock:
                left = deliver(self.store, self.spool.folder, delivered, refused)
        except Unauthorized as still_refused:
            self.refusal = still_refused
            return
        except (StoreUnavailable, RunNotFound):
            return
        if left == 0:
            folder = self.spool.folder
            self.spool.close()
            shutil.rmtree(folder, ignore_errors=True)
            self.spool = None
            self.refusal = None
            say(f"the server answers again; run {self.run_id[:8]} is up to date")

    def close(self) -> None:
        """Leave what is still spooled for ``runhistory sync``, and say so."""
        if self.spool is None:
            return
        folder = self.spool.folder
        self.spool.close()
        if self.refusal is not None:
            say(
                f"{self.store.location} refused the token; run {self.run_id[:8]} is kept in {folder}. "
                "Fix RUNHISTORY_TOKEN and send it with `runhistory sync`."
            )
        else:
            say(
                f"the server at {self.store.location} did not answer; run {self.run_id[:8]} is kept in {folder}. "
                "Send it with `runhistory sync`."
            )
