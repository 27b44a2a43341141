"""The logger: ``log()`` on the caller's thread, storing on a background writer.

``log()`` checks the value, takes a sequence number and appends a tuple to a
deque: nothing else happens on the caller's thread. A writer thread drains the
deque every ``FLUSH_INTERVAL`` seconds (at once when someone waits), sorts the
points by sequence number, groups them by metric and stores each group as one
transaction. A handle's ``wait()`` returns when the writer has stored its
sequence number.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from itertools import count, repeat, starmap
from operator import itemgetter
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from runhistory.api import (
    ArtifactTooLarge,
    InvalidInput,
    InvalidPath,
    LoggingError,
    MetricKindMismatch,
    NewRun,
    RunNotFound,
    SeriesBatch,
    Store,
    StoreUnavailable,
    default_home,
    open_store,
)
from runhistory.api import _wire as wire
from runhistory.api._limits import HEARTBEAT_INTERVAL, MAX_ARTIFACT_SIZE, MAX_ERROR_LENGTH
from runhistory.api._scratch import scratch_folder
from runhistory.api._validate import check_artifact_path, check_metric_name

from ._spool import Spool
from ._values import NUMBER, coerce_step, coerce_value

#: Environment variable: join this run instead of starting one.
RUN_ID_ENV = "RUNHISTORY_RUN_ID"
#: Environment variable: the experiment of a new run.
EXPERIMENT_ENV = "RUNHISTORY_EXPERIMENT"
#: Environment variable: the per-file limit for uploads, in bytes.
MAX_FILE_SIZE_ENV = "RUNHISTORY_MAX_FILE_SIZE"

#: Seconds the writer sleeps when nobody waits.
FLUSH_INTERVAL = 0.05
#: Most points the writer stores in one transaction.
MAX_BATCH_POINTS = 200_000
#: Most points in one request to a server (about 2.5 MB of JSON).
REMOTE_BATCH_POINTS = 50_000
#: Most points queued before ``log()`` waits for the writer to catch up.
MAX_QUEUED_POINTS = 2_000_000
#: Attempts at storing a batch before its values are given up as failed.
STORE_ATTEMPTS = 5
#: Environment variable: seconds a server may stay away before values go to the spool.
SPOOL_AFTER_ENV = "RUNHISTORY_SPOOL_AFTER"
SPOOL_AFTER = 10.0
#: Environment variable: seconds to wait at exit for a server that is away.
EXIT_TIMEOUT_ENV = "RUNHISTORY_EXIT_TIMEOUT"
EXIT_TIMEOUT = 30.0
#: Seconds between attempts at delivering the spool while the run goes on.
SPOOL_RETRY_INTERVAL = 2.0

_UNSEEN = object()
_OP = object()  # marks a queued operation (an upload, a run update) in the name's place
# Errors that storing the same batch again would repeat.
_REFUSALS = (InvalidInput, RunNotFound, TypeError, ValueError, OverflowError)
_FAST_KINDS = {float: NUMBER}  # types that skip every check but the name's
_now = time.time
_SEQ, _NAME, _VALUE, _STEP, _TIME = (itemgetter(i) for i in range(5))


class Handle(int):
    """The receipt for one logged value: its sequence number, with ``wait()``.

    Each logger has its own subclass, which knows the logger.
    """

    __slots__ = ()
    _logger: Logger

    def wait(self, timeout: float | None = None) -> None:
        """Block until the value is durably stored.

        Args:
            timeout: Seconds to wait at most; ``None`` waits as long as it takes.

        Raises:
            TimeoutError: not stored within ``timeout``.
            LoggingError: the value could not be stored.
        """
        self._logger._wait(int(self), timeout)

    @property
    def seq(self) -> int:
        """The sequence number ``log()`` gave the value."""
        return int(self)

    def __repr__(self) -> str:
        return f"<Handle seq={int(self)}>"


class Logger:
    """Logs metrics and files into one run. Use ``get_logger()`` to get one.

    Safe to call from many threads. In a forked child (a DataLoader worker, a
    ``multiprocessing`` process) it keeps logging into the same run through a
    writer of the child's own; only the process that started the run finishes it.
    """

    def __init__(
        self,
        store: Store,
        run_id: str,
        *,
        owner: bool,
        cwd: str | None = None,
        max_file_size: int | None = None,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        unsent_run: NewRun | None = None,
    ) -> None:
        self.run_id = run_id
        self.store = store
        local = hasattr(store, "home")
        self._spool_after = float(os.environ.get(SPOOL_AFTER_ENV) or SPOOL_AFTER)
        self._exit_timeout = None if local else float(os.environ.get(EXIT_TIMEOUT_ENV) or EXIT_TIMEOUT)
        self._max_batch = MAX_BATCH_POINTS if local else REMOTE_BATCH_POINTS
        self.max_file_size = MAX_ARTIFACT_SIZE if max_file_size is None else max_file_size
        self._heartbeat_interval = heartbeat_interval
        self._cwd = cwd or os.getcwd()
        # Files given to upload_file() wait here for the writer; beside the
        # store when it is local, so that copying them in is cheap.
        self._staging = scratch_folder(Path(getattr(store, "home", None) or default_home()) / "tmp")
        self._staging.mkdir(parents=True, exist_ok=True)
        self._owner = owner
        self._kinds: dict[str, str] = {}
        self._handle_type: type[Handle] = type("Handle", (Handle,), {"__slots__": (), "_logger": self})
        self._new_handle: Callable[[type[Handle], int], Handle] = int.__new__
        self._exit_status: tuple[str, str | None] = ("completed", None)
        self._finished = False
        self._fresh_state()
        if unsent_run is not None:  # the server was away when the run started
            self._start_spool(None)
            assert self._spool is not None
            spec = {f: getattr(unsent_run, f) for f in NewRun.__dataclass_fields__}
            self._spool.append({"op": "create_run", "spec": spec})
            print(f"runhistory: the server did not answer; run {run_id[:8]} starts in {self._spool.folder}", file=sys.stderr)
        self._start_writer()

    # -- state that a forked child replaces ----------------------------------

    def _fresh_state(self) -> None:
        self._pid = os.getpid()
        self._queue: deque[tuple[Any, ...]] = deque()
        self._append: Callable[[tuple[Any, ...]], None] = self._queue.append
        self._seq = count().__next__
        self._cond = threading.Condition()
        self._stored_below = 0  # every sequence number below this is stored (or failed)
        self._stored_above: set[int] = set()  # stored numbers beyond a gap
        self._failed: dict[int, BaseException] = {}
        self._wake = threading.Event()
        self._stop = False
        self._io_lock = threading.Lock()  # held around store calls; fork() waits for it
        self._start_lock = threading.Lock()
        self._writer: threading.Thread | None = None
        # Delivery: each batch carries an idempotency key; what the server
        # cannot take goes to a spool of this process's own.
        self._key_prefix = f"{self.run_id}-{self._pid}-{uuid.uuid4().hex[:8]}"
        self._batch_no = 0
        self._spool: Spool | None = None
        self._spooled_seqs: dict[int, list[int]] = {}
        self._giving_up = False

    def _start_writer(self) -> None:
        self._writer = threading.Thread(target=self._write_loop, name="runhistory-writer", daemon=True)
        self._writer.start()

    def _append_starting_writer(self, item: tuple[Any, ...]) -> None:
        # A forked child's first value starts the child's writer.
        with self._start_lock:
            if self._writer is None:
                self._start_writer()
            self._append = self._queue.append
        self._queue.append(item)

    def _after_fork_in_child(self) -> None:
        self._fresh_state()
        self._owner = False
        self._append = self._append_starting_writer
        if "multiprocessing" in sys.modules:
            # A multiprocessing child leaves through os._exit(), skipping atexit,
            # but runs its finalizers first. It clears the finalizers it
            # inherited before running the after-fork callbacks, so the
            # finalizer that flushes is registered from one of those.
            from multiprocessing import util

            util.register_after_fork(self, Logger._register_flush_finalizer)

    def _register_flush_finalizer(self) -> None:
        from multiprocessing import util

        util.Finalize(self, self._flush_quietly, exitpriority=100)

    # -- logging --------------------------------------------------------------

    def log(self, name: str, value: Any, step: int | None = None) -> Handle:
        """Log one value; returns at once.

        Args:
            name: Metric name (1 … 256 characters, no control characters). The
                same name again appends to its series.
            value: An int, float (NaN and ±inf kept), bool, str, a list/tuple
                of numbers (a chart), or a numpy/torch scalar or 1-D array.
            step: The step; by default the series' previous step + 1, from 0.

        Returns:
            A handle whose ``wait()`` blocks until the value is stored.

        Raises:
            TypeError: the value (or step) is of a type that cannot be logged,
                or differs in kind from the series' earlier values.
            ValueError: the name is empty or too long, or the value breaks a limit.
        """
        try:
            fast = step is None and self._kinds.get(name, _UNSEEN) is _FAST_KINDS.get(type(value))
        except TypeError:  # an unhashable name: let the checks say what is wrong
            fast = False
        if fast:
            seq = self._seq()
            self._append((seq, name, value, None, _now()))
            if not seq & 0x3FFF:
                self._hold_back()
            return self._new_handle(self._handle_type, seq)
        return self._log_checked(name, value, step)

    def _log_checked(self, name: str, value: Any, step: Any) -> Handle:
        kind = self._kinds.get(name) if isinstance(name, str) else None
        if kind is None:
            check_metric_name(name)
        value, value_kind = coerce_value(value)
        if kind is not None and kind != value_kind:
            raise MetricKindMismatch(f"metric {name!r} holds {kind} values; cannot log a {value_kind} value")
        if step is not None:
            step = coerce_step(step)
        if kind is None:
            self._kinds[name] = value_kind
        seq = self._seq()
        self._append((seq, name, value, step, _now()))
        if not seq & 0x3FFF:
            self._hold_back()
        return self._new_handle(self._handle_type, seq)

    def _hold_back(self) -> None:
        """Let the writer catch up when the queue is very long (called every 16384 values)."""
        if len(self._queue) > MAX_QUEUED_POINTS and self._writer is not None:
            self._wake.set()
            while len(self._queue) > MAX_QUEUED_POINTS // 2 and self._writer.is_alive():
                time.sleep(0.005)

    def flush(self, timeout: float | None = None) -> None:
        """Block until every value logged so far (by any thread) is stored.

        Raises:
            TimeoutError: not all stored within ``timeout`` seconds.
        """
        barrier = self._seq()
        self._append((barrier, None, None, None, None))
        self._wait(barrier, timeout, everything_before=True)

    def _flush_quietly(self) -> None:
        try:
            self.flush(timeout=60)
        except Exception as error:  # at exit there is nobody left to raise to
            print(f"runhistory: could not flush logged values: {error}", file=sys.stderr)

    def _wait(self, seq: int, timeout: float | None, everything_before: bool = False) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while seq >= self._stored_below and (everything_before or seq not in self._stored_above):
                self._wake.set()
                if self._writer is None or not self._writer.is_alive():
                    raise LoggingError(f"value {seq} cannot be stored: the logger's writer has stopped")
                remaining = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
                if remaining <= 0:
                    raise TimeoutError(f"value {seq} was not stored within {timeout} s")
                self._cond.wait(remaining)
            error = self._failed.get(seq)
        if error is not None:
            raise LoggingError(f"value {seq} could not be stored: {error}") from error

    # -- the writer -----------------------------------------------------------

    def _write_loop(self) -> None:
        if self._owner and self._spool is None:
            self._record_git()
        next_beat = time.monotonic() + self._heartbeat_interval
        next_delivery = 0.0
        while True:
            self._wake.wait(FLUSH_INTERVAL)
            self._wake.clear()
            stopping = self._stop
            self._drain()
            now = time.monotonic()
            if self._spool is not None and now >= next_delivery and not self._giving_up:
                next_delivery = now + SPOOL_RETRY_INTERVAL
                self._deliver_spool()
            if now >= next_beat and self._spool is None:
                next_beat = now + self._heartbeat_interval
                try:
                    with self._io_lock:
                        self.store.heartbeat(self.run_id)
                except Exception as error:
                    print(f"runhistory: heartbeat failed: {error}", file=sys.stderr)
            if stopping and not self._queue:
                return

    def _drain(self) -> None:
        queue = self._queue
        popleft = queue.popleft
        while queue:
            # Only this thread takes from the left, so len() items are there.
            batch = list(starmap(popleft, repeat((), min(len(queue), self._max_batch))))
            self._store_batch(batch)

    def _store_batch(self, batch: list[tuple[Any, ...]]) -> None:
        batch.sort()  # by sequence number: the order of the log() calls
        names = tuple(map(_NAME, batch))
        others: list[tuple[Any, ...]] = []
        first = names[0]
        if type(first) is str and names.count(first) == len(names):
            points = batch  # the usual case: one metric, no barriers or uploads
        elif names.count(None) or names.count(_OP):  # flush() barriers and uploads carry no value
            points = [item for item in batch if type(item[1]) is str]
            others = [item for item in batch if type(item[1]) is not str]
            names = tuple(map(_NAME, points))
        else:
            points = batch
        if points:
            groups = self._group(
                names, list(map(_VALUE, points)), list(map(_STEP, points)), list(map(_TIME, points))
            )
            self._batch_no += 1
            key = f"{self._key_prefix}-{self._batch_no}"
            self._deliver(("metrics", key, groups), points)
        for item in others:
            if item[1] is _OP:
                self._deliver(item[2], [item])
            else:  # a barrier: stored once everything before it is
                self._mark_stored([item[0]])

    def _group(
        self, names: tuple[str, ...], values: list[Any], steps: list[Any], times: list[Any]
    ) -> dict[str, SeriesBatch]:
        first = names[0]
        if names.count(first) == len(names):
            return {first: SeriesBatch(self._kinds[first], values, steps, times)}  # type: ignore[arg-type]
        where: dict[str, list[int]] = {}
        for i, name in enumerate(names):
            slots = where.get(name)
            if slots is None:
                where[name] = [i]
            else:
                slots.append(i)
        groups = {}
        for name, slots in where.items():
            if len(slots) == 1:
                i = slots[0]
                groups[name] = SeriesBatch(self._kinds[name], [values[i]], [steps[i]], [times[i]])  # type: ignore[arg-type]
            else:
                pick = itemgetter(*slots)
                groups[name] = SeriesBatch(
                    self._kinds[name], list(pick(values)), list(pick(steps)), list(pick(times))  # type: ignore[arg-type]
                )
        return groups

    def _deliver(self, op: tuple[Any, ...], items: list[tuple[Any, ...]]) -> None:
        """Store one operation now, or spool it when the server is away."""
        if self._spool is None:
            deadline = time.monotonic() + self._spool_after
            attempt = 0
            while True:
                try:
                    self._send(op)
                    self._forget_staged(op)
                    self._mark_items_stored(items)
                    return
                except StoreUnavailable as away:
                    if time.monotonic() >= deadline or self._giving_up:
                        self._start_spool(away)
                        break
                except _REFUSALS as refused:  # trying again would give the same answer
                    self._refused(op, items, refused)
                    return
                except Exception as failure:  # e.g. a disk error: try again, then give up
                    if attempt >= STORE_ATTEMPTS:
                        self._refused(op, items, failure)
                        return
                time.sleep(min(2.0, 0.1 * 2**attempt))
                attempt += 1
        assert self._spool is not None
        index = self._spool.append(self._spooled(op))
        self._spooled_seqs[index] = list(map(_SEQ, items))

    def _send(self, op: tuple[Any, ...]) -> None:
        with self._io_lock:
            if op[0] == "metrics":
                self.store.append_metrics(self.run_id, op[2], key=op[1])
            elif op[0] == "artifact":
                with open(op[2], "rb") as stream:
                    self.store.put_artifact(self.run_id, op[1], stream, max_size=self.max_file_size)
            elif op[0] == "update_run":
                self.store.update_run(self.run_id, **op[1])
            elif op[0] == "finish":
                self.store.finish_run(self.run_id, op[1], error=op[2], exit_code=op[3])

    @staticmethod
    def _forget_staged(op: tuple[Any, ...]) -> None:
        if op[0] == "artifact":
            Path(op[2]).unlink(missing_ok=True)

    def _spooled(self, op: tuple[Any, ...]) -> dict[str, Any]:
        assert self._spool is not None
        if op[0] == "metrics":
            return {"op": "metrics", "key": op[1], "series": wire.batch_to_wire(op[2])}
        if op[0] == "artifact":
            return {"op": "artifact", "path": op[1], "file": self._spool.add_file(op[2]), "max_size": self.max_file_size}
        if op[0] == "update_run":
            return {"op": "update_run", "changes": op[1]}
        return {"op": "finish", "status": op[1], "error": op[2], "exit_code": op[3]}

    def _start_spool(self, why: BaseException | None) -> None:
        from ._spool import Spool, spool_root

        self._spool = Spool.create(spool_root(), self.run_id, getattr(self.store, "url", repr(self.store)))
        if why is not None:
            print(
                f"runhistory: {why}; keeping run {self.run_id[:8]}'s values in {self._spool.folder} "
                "until the server answers again",
                file=sys.stderr,
            )

    def _deliver_spool(self) -> None:
        from ._spool import deliver

        assert self._spool is not None
        spooled = self._spooled_seqs

        def delivered(index: int) -> None:
            seqs = spooled.pop(index, None)
            if seqs:
                self._mark_stored(seqs)

        def refused(index: int, error: Exception) -> None:
            seqs = spooled.pop(index, None) or []
            print(f"runhistory: the server refused spooled values: {error}", file=sys.stderr)
            with self._cond:
                for seq in seqs:
                    self._failed[seq] = error

        try:
            with self._io_lock:
                left = deliver(self.store, self._spool.folder, delivered, refused)
        except (StoreUnavailable, RunNotFound):
            return
        if left == 0:
            import shutil

            folder = self._spool.folder
            self._spool.close()
            shutil.rmtree(folder, ignore_errors=True)
            self._spool = None
            print(f"runhistory: the server answers again; run {self.run_id[:8]} is up to date", file=sys.stderr)

    def _refused(self, op: tuple[Any, ...], items: list[tuple[Any, ...]], error: BaseException) -> None:
        failed_names: set[str] = set()
        if op[0] == "metrics":
            groups: dict[str, SeriesBatch] = op[2]
            failed_names = set(groups)
            if len(groups) > 1:
                # Store each series on its own, so that one refused series (another
                # process gave it another kind) does not take the others with it.
                for name, points in groups.items():
                    try:
                        with self._io_lock:
                            self.store.append_metrics(self.run_id, {name: points}, key=f"{op[1]}-{name}")
                        failed_names.discard(name)
                    except Exception as refused:
                        error = refused
            print(f"runhistory: could not store values of {sorted(failed_names)}: {error}", file=sys.stderr)
        else:
            self._forget_staged(op)
            print(f"runhistory: could not store {op[1]}: {error}", file=sys.stderr)
        with self._cond:
            for item in items:
                if op[0] != "metrics" or item[1] in failed_names:
                    self._failed[item[0]] = error
        self._mark_stored(list(map(_SEQ, items)))

    def _mark_items_stored(self, items: list[tuple[Any, ...]]) -> None:
        if items and items[0][0] == self._stored_below and items[-1][0] - items[0][0] + 1 == len(items):
            with self._cond:  # the usual case, without listing the numbers
                if items[0][0] == self._stored_below and not self._stored_above:
                    self._stored_below = items[-1][0] + 1
                    self._cond.notify_all()
                    return
        self._mark_stored(list(map(_SEQ, items)))

    def _mark_stored(self, seqs: list[int]) -> None:
        if not seqs:
            return
        with self._cond:
            low, high = seqs[0], seqs[-1]
            if low == self._stored_below and high - low + 1 == len(seqs) and not self._stored_above:
                self._stored_below = high + 1
            else:  # a gap: another thread took a number and has not queued it yet, or it is spooled
                self._stored_above.update(seqs)
                while self._stored_below in self._stored_above:
                    self._stored_above.remove(self._stored_below)
                    self._stored_below += 1
            self._cond.notify_all()

    def _record_git(self) -> None:
        import subprocess

        def git(*args: str) -> str | None:
            try:
                done = subprocess.run(
                    ["git", *args], cwd=self._cwd, capture_output=True, text=True, timeout=10
                )
            except (OSError, subprocess.SubprocessError):
                return None
            return done.stdout if done.returncode == 0 else None

        commit = git("rev-parse", "HEAD")
        if commit is None:
            return
        status = git("status", "--porcelain", "--untracked-files=no")
        try:
            with self._io_lock:
                self.store.update_run(
                    self.run_id,
                    git_commit=commit.strip(),
                    git_dirty=None if status is None else bool(status.strip()),
                )
        except Exception as error:
            print(f"runhistory: could not record the git commit: {error}", file=sys.stderr)

    # -- files ----------------------------------------------------------------

    def upload(self, path: str, data: str | bytes) -> Handle:
        """Store ``data`` as the run's file ``path`` (a relative POSIX path); returns at once.

        Returns:
            A handle whose ``wait()`` blocks until the file is stored.

        Raises:
            InvalidPath: the path is absolute, climbs with ``..``, or holds control characters.
            ArtifactTooLarge: the data is larger than the per-file limit.
            TypeError: ``data`` is neither str nor bytes.
        """
        check_artifact_path(path)
        if isinstance(data, str):
            data = data.encode("utf-8")
        elif not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"upload() takes str or bytes, not {type(data).__name__}; use upload_file() for files")
        if len(data) > self.max_file_size:
            raise ArtifactTooLarge(
                f"artifact {path!r} is {len(data)} bytes; the per-file limit is {self.max_file_size} bytes"
            )
        fd, staged = tempfile.mkstemp(dir=self._staging, prefix="staged-")
        with open(fd, "wb") as out:
            out.write(data)
        return self._queue_op(("artifact", path, staged))

    def upload_file(self, path: str, local_file: str | os.PathLike[str]) -> Handle:
        """Store a local file as the run's file ``path``; returns once the file is copied.

        The file is copied aside at once (so it may change or go away after the
        call), then hashed and stored by the writer, like a logged value. The
        file is streamed, never read whole into memory.

        Returns:
            A handle whose ``wait()`` blocks until the file is stored.

        Raises:
            InvalidPath: the run path is not acceptable.
            ArtifactTooLarge: the file is larger than the per-file limit.
            OSError: the local file cannot be read.
        """
        check_artifact_path(path)
        staged = _stage_copy(local_file, self._staging, self.max_file_size)
        return self._queue_op(("artifact", path, staged))

    def _queue_op(self, op: tuple[Any, ...]) -> Handle:
        seq = self._seq()
        self._append((seq, _OP, op, None, _now()))
        return self._new_handle(self._handle_type, seq)

    def _upload_outputs(self) -> None:
        """Queue ``./outputs`` as ``outputs/…``; skip (and record) what cannot go."""
        root = Path(self._cwd) / "outputs"
        if not root.is_dir():
            return
        real_root = root.resolve()
        skipped: list[str] = []

        def skip(rel: str, why: str) -> None:
            skipped.append(f"{rel}: {why}")
            print(f"runhistory: not uploading {rel}: {why}", file=sys.stderr)

        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for entry in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
                local = os.path.join(folder, entry)
                rel = "outputs/" + Path(local).relative_to(root).as_posix()
                if os.path.islink(local):
                    target = Path(os.path.realpath(local))
                    if not target.is_relative_to(real_root):
                        skip(rel, f"a symlink leading out of outputs/ (to {target})")
                        continue
                    if target.is_dir():
                        continue  # its files are uploaded from inside outputs/ already
                try:
                    size = os.stat(local).st_size
                    if size > self.max_file_size:
                        skip(rel, f"{size} bytes, over the per-file limit of {self.max_file_size} bytes")
                        continue
                    self.upload_file(rel, local)
                except (InvalidPath, ArtifactTooLarge, OSError) as error:
                    skip(rel, str(error))
        if skipped:
            self._queue_op(("update_run", {"skipped_files": skipped}))

    # -- the end --------------------------------------------------------------

    def finish(self, status: str | None = None, error: str | None = None, exit_code: int | None = None) -> None:
        """Store everything logged, upload ``./outputs`` and finish the run.

        Called at exit on its own; call it to end a run earlier. In a process
        that joined a run (or a forked child), it only flushes. When a server
        cannot be reached, it waits ``RUNHISTORY_EXIT_TIMEOUT`` seconds for
        it, then leaves what is left in the local spool for ``runhistory sync``.

        Args:
            status: ``completed`` (the default), ``failed`` or ``killed``.
            error: Why it failed or was killed.
            exit_code: The exit code of the process the run tracked, if known.
        """
        if self._finished:
            return
        self._finished = True
        if status is not None:
            self._exit_status = (status, error)
        owner = self._owner and self._pid == os.getpid()
        if owner:
            try:
                self._upload_outputs()
            except Exception as failure:
                print(f"runhistory: could not upload outputs/: {failure}", file=sys.stderr)
        try:
            self.flush(timeout=self._exit_timeout)
        except TimeoutError:
            self._giving_up = True  # spool the rest without waiting for the server
        except Exception as failure:
            print(f"runhistory: could not flush logged values: {failure}", file=sys.stderr)
        self._stop = True
        self._wake.set()
        if self._writer is not None:
            self._writer.join()
        self._append = self._refuse
        if owner:
            final, why = self._exit_status
            self._giving_up = True
            self._deliver(("finish", final, why, exit_code), [])
        if self._spool is not None:
            folder = self._spool.folder
            self._spool.close()
            print(
                f"runhistory: the server at {getattr(self.store, 'url', self.store)} did not answer; run "
                f"{self.run_id[:8]} is kept in {folder}. Send it with `runhistory sync`.",
                file=sys.stderr,
            )

    @staticmethod
    def _refuse(item: tuple[Any, ...]) -> None:
        raise LoggingError("this run is finished; values can no longer be logged")

    def _at_exit(self) -> None:
        if self._pid != os.getpid() or self._finished:
            return
        try:
            self.finish()
        except Exception as failure:
            print(f"runhistory: could not finish run {self.run_id[:8]}: {failure}", file=sys.stderr)

    def _note_exception(self, kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if self._pid != os.getpid():
            return
        if issubclass(kind, KeyboardInterrupt):
            self._exit_status = ("killed", "interrupted (SIGINT)")
        else:
            import traceback

            text = "".join(traceback.format_exception(kind, value, tb))
            self._exit_status = ("failed", text[-MAX_ERROR_LENGTH:])

    def _on_signal(self, signum: int) -> None:
        if self._pid == os.getpid() and not self._finished:
            name = signal.Signals(signum).name
            try:
                self.finish("killed", f"killed by {name}")
            except Exception as failure:
                print(f"runhistory: could not finish run {self.run_id[:8]}: {failure}", file=sys.stderr)


def _stage_copy(local_file: str | os.PathLike[str], folder: Path, limit: int) -> str:
    """Copy ``local_file`` into ``folder``; refuse it past ``limit`` bytes (also when fstat cannot tell)."""
    with open(local_file, "rb") as source:
        size = os.fstat(source.fileno()).st_size
        if size > limit:
            raise ArtifactTooLarge(f"{local_file} is {size} bytes; the per-file limit is {limit} bytes")
        fd, staged = tempfile.mkstemp(dir=folder, prefix="staged-")
        try:
            with open(fd, "wb") as out:
                copied = _kernel_copy(source.fileno(), out.fileno(), size)
                source.seek(copied)
                out.seek(copied)
                # What fstat did not announce (a growing file, a device) streams on, up to the limit.
                while piece := source.read(1 << 20):
                    copied += len(piece)
                    if copied > limit:
                        raise ArtifactTooLarge(
                            f"{local_file} is more than {limit} bytes; the per-file limit is {limit} bytes"
                        )
                    out.write(piece)
        except BaseException:
            os.unlink(staged)
            raise
    return staged


def _kernel_copy(source: int, target: int, size: int) -> int:
    """Copy up to ``size`` bytes inside the kernel; returns how many were copied."""
    copied = 0
    try:
        while copied < size:
            n = os.copy_file_range(source, target, size - copied)
            if n == 0:
                break
            copied += n
    except OSError:  # not on this file system or kernel: the caller's read loop copies the rest
        pass
    return copied


# -- the process's logger ---------------------------------------------------------

_LOGGER: Logger | None = None
_LOCK = threading.Lock()


def get_logger(
    *,
    experiment: str | None = None,
    name: str | None = None,
    store: Store | None = None,
) -> Logger:
    """This process's logger: starts a run on the first call, or joins one.

    A process with ``RUNHISTORY_RUN_ID`` set (by ``runhistory run``, or by a
    parent that started a run) joins that run; otherwise a new run starts,
    and its id is put in ``RUNHISTORY_RUN_ID`` so that subprocesses join it.

    Args:
        experiment: Experiment of a new run (default ``RUNHISTORY_EXPERIMENT``, else ``default``).
        name: Optional name of a new run.
        store: Where to log (default: ``open_store()``, from the environment).

    Raises:
        RunNotFound: ``RUNHISTORY_RUN_ID`` names a run the store does not have.
    """
    global _LOGGER
    with _LOCK:
        if _LOGGER is not None and not _LOGGER._finished:
            return _LOGGER
        store = store if store is not None else open_store()
        max_file_size = int(os.environ.get(MAX_FILE_SIZE_ENV) or MAX_ARTIFACT_SIZE)
        joined = os.environ.get(RUN_ID_ENV)
        if joined:
            try:
                run_id = store.get_run(joined).id
            except RunNotFound:
                raise RunNotFound(f"{RUN_ID_ENV}={joined} names no run in {store!r}") from None
            except StoreUnavailable:  # the server is away: trust the id, spool what comes
                run_id = joined
            logger = Logger(store, run_id, owner=False, max_file_size=max_file_size)
        else:
            import getpass
            import platform
            import socket

            try:
                user = getpass.getuser()
            except Exception:  # no user name in a bare container
                user = str(os.getuid())
            spec = NewRun(
                experiment=experiment or os.environ.get(EXPERIMENT_ENV) or "default",
                name=name,
                command=list(getattr(sys, "orig_argv", sys.argv)),
                cwd=os.getcwd(),
                host=socket.gethostname(),
                user=user,
                python=platform.python_version(),
                pid=os.getpid(),
                run_id=uuid.uuid4().hex,  # chosen here, so that a spooled run keeps it
            )
            try:
                run_id = store.create_run(spec).id
                unsent = None
            except StoreUnavailable:
                run_id, unsent = str(spec.run_id), spec
            os.environ[RUN_ID_ENV] = run_id
            logger = Logger(store, run_id, owner=True, max_file_size=max_file_size, unsent_run=unsent)
        if not hasattr(store, "home"):
            threading.Thread(target=_sync_other_spools, args=(store,), daemon=True).start()
        _LOGGER = logger
        _install_exit_hooks()
        return logger


def _sync_other_spools(store: Store) -> None:
    """Deliver spools earlier runs left behind (quietly, in the background)."""
    from ._spool import sync_all

    try:
        sync_all(store, url=getattr(store, "url", None), report=lambda line: print(f"runhistory: {line}", file=sys.stderr))
    except Exception:  # the server is still away: the next run, or `runhistory sync`, tries again
        pass


_HOOKS_INSTALLED = False


def _install_exit_hooks() -> None:
    global _HOOKS_INSTALLED
    if _HOOKS_INSTALLED:
        return
    _HOOKS_INSTALLED = True
    atexit.register(_at_exit)
    previous_hook = sys.excepthook

    def excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if _LOGGER is not None:
            _LOGGER._note_exception(kind, value, tb)
        previous_hook(kind, value, tb)

    sys.excepthook = excepthook
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(signum) is signal.SIG_DFL:
                signal.signal(signum, _on_signal)


def _at_exit() -> None:
    if _LOGGER is not None:
        _LOGGER._at_exit()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _LOGGER is not None:
        _LOGGER._on_signal(signum)
    # Die of the signal as if nobody had caught it, so the parent sees it.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _before_fork() -> None:
    if _LOGGER is not None:
        _LOGGER._io_lock.acquire()


def _after_fork_in_parent() -> None:
    if _LOGGER is not None:
        _LOGGER._io_lock.release()


def _after_fork_in_child() -> None:
    if _LOGGER is not None:
        _LOGGER._after_fork_in_child()


os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
)
