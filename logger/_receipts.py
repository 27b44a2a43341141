"""Which logged values are stored, which failed, and waiting for them.

Every value gets a sequence number on the caller's thread; the writer settles
numbers (stored, or failed with an error) as it goes. ``wait(seq)`` returns
once ``seq`` is settled and raises its error; ``wait(seq, everything_before=True)``
(a flush) returns once every number below ``seq`` is, and raises for failures
no one has been told of yet, each once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from runhistory.api import LoggingError


class Receipts:
    """The settled sequence numbers of one logger (see the module docstring)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._below = 0  # every number below this is settled
        self._above: set[int] = set()  # settled numbers beyond a gap
        self._failed: dict[int, BaseException] = {}
        # Failures no wait() or flush() has raised yet: a flush raises for those before it.
        self._unreported: dict[int, BaseException] = {}

    def stored_run(self, first: int, last: int) -> bool:
        """Settle ``first`` … ``last`` as stored when they follow on from what is settled
        (the usual case, without listing the numbers); False when they do not."""
        with self._cond:
            if first != self._below or self._above:
                return False
            self._below = last + 1
            self._cond.notify_all()
            return True

    def stored(self, seqs: list[int]) -> None:
        """Settle ``seqs`` (in increasing order) as stored."""
        if not seqs:
            return
        with self._cond:
            low, high = seqs[0], seqs[-1]
            if low == self._below and high - low + 1 == len(seqs) and not self._above:
                self._below = high + 1
            else:  # a gap: another thread took a number and has not queued it yet, or it is spooled
                self._above.update(s for s in seqs if s >= self._below)
                while self._below in self._above:
                    self._above.remove(self._below)
                    self._below += 1
            self._cond.notify_all()

    def failed(self, seqs: list[int], error: BaseException) -> None:
        """Settle ``seqs`` as failed with ``error`` (their wait() raises it, and so does the next flush)."""
        with self._cond:
            for seq in seqs:
                self._failed[seq] = error
                self._unreported[seq] = error
        self.stored(seqs)

    def wait(
        self,
        seq: int,
        timeout: float | None,
        *,
        everything_before: bool = False,
        nudge: Callable[[], None],
        alive: Callable[[], bool],
    ) -> None:
        """Block until ``seq`` is settled (or every number below it, for a flush).

        Args:
            seq: The sequence number.
            timeout: Seconds to wait at most; ``None`` waits as long as it takes.
            everything_before: Wait for every number below ``seq`` too, and raise for
                their failures not reported yet.
            nudge: Called while waiting, to wake the writer.
            alive: Whether the writer still runs (a stopped writer settles nothing).

        Raises:
            TimeoutError: not settled within ``timeout``.
            LoggingError: the value (or, for a flush, values before it) could not be stored.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while seq >= self._below and (everything_before or seq not in self._above):
                nudge()
                if not alive():
                    raise LoggingError(f"value {seq} cannot be stored: the logger's writer has stopped")
                remaining = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
                if remaining <= 0:
                    raise TimeoutError(f"value {seq} was not stored within {timeout} s")
                self._cond.wait(remaining)
            error = self._failed.get(seq)
            self._unreported.pop(seq, None)
            earlier: list[BaseException] = []
            if everything_before and self._unreported:
                for failed_seq in [s for s in self._unreported if s < seq]:
                    earlier.append(self._unreported.pop(failed_seq))
        if earlier:
            reasons = list(dict.fromkeys(str(e) for e in earlier))
            more = (
                f" (and {len(reasons) - 1} other reason{'s' if len(reasons) > 2 else ''})" if len(reasons) > 1 else ""
            )
            n = len(earlier)
            raise LoggingError(
                f"{n} value{'s' if n != 1 else ''} logged before flush() could not be stored: {reasons[0]}{more}"
            ) from earlier[0]
        if error is not None and not everything_before:
            raise LoggingError(f"value {seq} could not be stored: {error}") from error
