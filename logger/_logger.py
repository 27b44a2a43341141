"""The logger: ``log()`` on the caller's thread, storing on a background writer.

``log()`` checks the value, takes a sequence number and puts the item on the
queue (a flat list, see ``_writer``): nothing else happens on the caller's thread. The writer (``_writer``)
stores sorted batches through the delivery (``_delivery``: retries, the
spool), and the receipts (``_receipts``) tell a handle's ``wait()`` when its
value is stored. The process's life (exit, signals, fork, ``outputs/``) is
followed by ``_process``. The run's owner samples system metrics on a thread
of its own (``_system``), which logs them like any caller.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from itertools import count
from pathlib import Path
from types import TracebackType
from typing import Any

from runhistory.api import (
    ArtifactTooLarge,
    InvalidInput,
    InvalidPath,
    LoggingError,
    MetricKindMismatch,
    NewRun,
    RunNotFound,
    Store,
    StoreUnavailable,
    open_store,
)
from runhistory.api._errors import ParamConflict
from runhistory.api._limits import HEARTBEAT_INTERVAL, MAX_ERROR_LENGTH, MAX_IMAGE_BYTES
from runhistory.api._media import media_folder, media_path, parse_media_path
from runhistory.api._models import Environment
from runhistory.api._params import check_note, check_tags, flatten_params, same_param
from runhistory.api._settings import (
    EXPERIMENT_ENV,
    MAX_FILE_SIZE_ENV,
    MIN_SYSTEM_METRICS_INTERVAL,
    RUN_ID_ENV,
    SYSTEM_METRICS_INTERVAL,
    Settings,
)
from runhistory.api._validate import check_artifact_path, check_metric_name

from ._delivery import Delivery
from ._diagnostics import say
from ._images import ImageBudget, check_caption, picture_of, raw_bytes
from ._ops import ITEM_WIDTH, FinishRun, Item, Op, PutArtifact, PutImage, SetNote, SetParams, UpdateRun, UpdateTags
from ._process import (
    describe_process,
    git_diff,
    git_state,
    install_hooks,
    installed_packages,
    outputs_files,
    outputs_snapshot,
    signature,
)
from ._receipts import Receipts
from ._system import SystemSampler
from ._values import NUMBER, coerce_step, coerce_value
from ._writer import OP, Writer

__all__ = ["EXPERIMENT_ENV", "MAX_FILE_SIZE_ENV", "RUN_ID_ENV", "Handle", "Logger", "get_logger"]

#: Most points queued before ``log()`` waits for the writer to catch up.
MAX_QUEUED_POINTS = 2_000_000
#: ``log()`` looks at the queue's length once every this many values.
HOLD_BACK_EVERY = 16_384
#: Bytes of logged images (their pixels) waiting to be encoded before ``log_image()``
#: waits for the writer to catch up (256 MiB: sixteen 4096×4096 RGBA images).
MAX_QUEUED_IMAGE_BYTES = 256 * 1024 * 1024

_now = time.time


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

    Args:
        store: Where the run is.
        run_id: The run.
        owner: Whether this process started the run (it uploads ``outputs/`` and finishes it).
        cwd: The folder whose ``outputs/`` is the run's (default: the current one).
        max_file_size: The per-file upload limit (default ``RUNHISTORY_MAX_FILE_SIZE``).
        heartbeat_interval: Seconds between the owner's signs of life.
        unsent_run: The run as it should be created, when the server was away at the start.
        settings: The environment's settings (default: read now).
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
        settings: Settings | None = None,
    ) -> None:
        settings = settings or Settings.from_environ()
        self.run_id = run_id
        self.store = store
        self._settings = settings
        self._exit_timeout = None if store.is_local else settings.exit_timeout
        self.max_file_size = settings.max_file_size if max_file_size is None else max_file_size
        self._heartbeat_interval = heartbeat_interval
        self._cwd = cwd or os.getcwd()
        self._owner = owner
        # What ./outputs held when the run started: only what the run creates or
        # changes there is uploaded at its end, never an earlier run's leftovers.
        self._outputs_before = outputs_snapshot(Path(self._cwd) / "outputs") if owner else {}
        self._kinds: dict[str, str] = {}
        # The number series' names, each with ``float``: a float logged to one of them
        # without a step needs no check but this one lookup (``log()``'s fast path).
        self._fast: dict[str, type] = {}
        self._params: dict[str, Any] = {}  # what this process set: a changed value is refused at the call
        self._params_lock = threading.Lock()
        # The highest step each image name was logged at by this process (a forked child goes on from its parent's).
        self._image_steps: dict[str, int] = {}
        self._image_lock = threading.Lock()
        self._handle_type: type[Handle] = type("Handle", (Handle,), {"__slots__": (), "_logger": self})
        self._exit_status: tuple[str, str | None] = ("completed", None)
        self._finished = False
        self._sampler: SystemSampler | None = None
        self._fresh_state()
        if unsent_run is not None:  # the server was away when the run started
            self._delivery.start_unsent(unsent_run)
        self._start_writer()

    # -- state that a forked child replaces ----------------------------------

    def _fresh_state(self) -> None:
        self._pid = os.getpid()
        self._queue: list[Any] = []  # items, ITEM_WIDTH slots each (see _writer)
        self._append: Callable[[Item], None] = self._queue.extend
        self._counter = count()  # next() of it is atomic: sequence numbers from any thread
        self._check_at = HOLD_BACK_EVERY  # the sequence number at which log() next looks at the queue
        self._receipts = Receipts()
        self.io_lock = threading.Lock()  # held around store calls; fork() waits for it
        self._start_lock = threading.Lock()
        self._writer: Writer | None = None
        self._image_budget = ImageBudget(MAX_QUEUED_IMAGE_BYTES)
        self._delivery = Delivery(self.store, self.run_id, self._receipts, self._settings.spool_after, self.io_lock)

    def _start_writer(self) -> None:
        record_git = self._record_git if self._owner and self._delivery.spool is None else None
        self._writer = Writer(
            self._queue,
            self._delivery,
            self._kinds,
            key_prefix=f"{self.run_id}-{self._pid}-{uuid.uuid4().hex[:8]}",
            batch_points=self.store.batch_points,
            heartbeat=self._heartbeat,
            heartbeat_interval=self._heartbeat_interval,
            first=record_git,
        )
        self._writer.start()

    def _append_starting_writer(self, item: Item) -> None:
        # A forked child's first value starts the child's writer.
        with self._start_lock:
            if self._writer is None:
                self._start_writer()
            self._append = self._queue.extend
        self._queue.extend(item)

    def after_fork_in_child(self) -> None:
        """In a forked child: a queue, a writer and a delivery of its own; it never finishes the run."""
        self._fresh_state()
        self._owner = False
        self._sampler = None  # the parent's thread is not in the child: the parent samples the machine
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
        # The fast path, for a float logged to a number series without a step: no
        # call but the clock and the handle (every instruction here costs each point;
        # callables are read into locals, which Python calls faster than attributes).
        try:
            fast = step is None and self._fast[name] is type(value)
        except (KeyError, TypeError):  # a new name, or an unhashable one the checks will refuse
            fast = False
        if fast:
            seq = next(self._counter)
            append = self._append
            append((seq, name, value, None, _now()))
            if seq >= self._check_at:
                self._hold_back(seq)
            handle = self._handle_type
            return handle(seq)
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
            if value_kind == NUMBER:
                self._fast[name] = float
        seq = next(self._counter)
        self._append((seq, name, value, step, _now()))
        if seq >= self._check_at:
            self._hold_back(seq)
        return self._handle_type(seq)

    def _hold_back(self, seq: int) -> None:
        """Let the writer catch up when the queue is very long (called every ``HOLD_BACK_EVERY`` values)."""
        self._check_at = seq + HOLD_BACK_EVERY
        writer = self._writer
        if len(self._queue) > MAX_QUEUED_POINTS * ITEM_WIDTH and writer is not None:
            writer.wake.set()
            while len(self._queue) > MAX_QUEUED_POINTS * ITEM_WIDTH // 2 and writer.is_alive():
                time.sleep(0.005)

    def flush(self, timeout: float | None = None) -> None:
        """Block until every value logged so far (by any thread) is stored.

        Raises:
            TimeoutError: not all stored within ``timeout`` seconds.
            LoggingError: values logged before it could not be stored (refused
                by the store, or kept in the local spool because the server
                refused the token); it says how many and why. Each failure is
                raised once, by a value's ``wait()`` or by the first ``flush()``
                after it.
        """
        barrier = next(self._counter)
        self._append((barrier, None, None, None, None))
        self._wait(barrier, timeout, everything_before=True)

    def _flush_quietly(self) -> None:
        try:
            self.flush(timeout=60)
        except Exception as error:  # at exit there is nobody left to raise to
            say(f"could not flush logged values: {error}")

    def _wait(self, seq: int, timeout: float | None, everything_before: bool = False) -> None:
        writer = self._writer

        def nudge() -> None:
            if writer is not None:
                writer.wake.set()

        def alive() -> bool:
            return writer is not None and writer.is_alive()

        self._receipts.wait(seq, timeout, everything_before=everything_before, nudge=nudge, alive=alive)

    def _start_system_metrics(self, interval: float, pid: int | None = None) -> None:
        """Log the system metrics every ``interval`` seconds until the run finishes (see ``_system``);
        with ``pid``, of that process and those under it."""
        self._sampler = SystemSampler(self.log, interval, pid)
        self._sampler.start()

    # -- what the writer calls ------------------------------------------------

    def _heartbeat(self) -> None:
        with self.io_lock:
            self.store.heartbeat(self.run_id)

    def _record_git(self) -> None:
        """Record the git commit and the environment (packages, the diff of a dirty tree)."""
        state = git_state(self._cwd)
        if state is not None:
            try:
                with self.io_lock:
                    self.store.update_run(self.run_id, git_commit=state[0], git_dirty=state[1])
            except Exception as error:
                say(f"could not record the git commit: {error}")
        diff = git_diff(self._cwd) if state is not None and state[1] else None
        environment = Environment(installed_packages(), *(diff or (None, False)))
        try:
            with self.io_lock:
                self.store.set_environment(self.run_id, environment)
        except Exception as error:
            say(f"could not record the environment: {error}")

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
        fd, staged = tempfile.mkstemp(dir=self.store.staging_dir(), prefix="staged-")
        with open(fd, "wb") as out:
            out.write(data)
        return self._queue_op(PutArtifact(path, staged, self.max_file_size))

    def log_image(self, name: str, image: Any, step: int | None = None, *, caption: str | None = None) -> Handle:
        """Log an image at a step; returns once the image is checked and copied.

        The image is stored as a PNG among the run's files, as
        ``media/<name>/<step>.png`` (the step zero-padded to 8 digits, a name
        with ``/`` as folders), and shown in the app's media tab with a slider
        over its steps. Pixels are stored exactly as given, never rescaled.
        Encoding the PNG happens on the logger's writer thread, not the caller's.

        Args:
            name: Image name: like a metric name (1 … 256 characters, no control
                characters); each ``/``-separated part becomes a folder, of at
                most 255 bytes.
            image: A NumPy array (or anything ``numpy.asarray`` takes, on the
                CPU) of shape H×W, H×W×1 (grey), H×W×3 (RGB) or H×W×4 (RGBA):
                uint8 as is; float in [0, 1], scaled by 255 and rounded; bool,
                black and white; other integers in 0 … 255; uint16 H×W kept as
                16-bit grey. Or a PIL image (any mode PNG holds; CMYK, YCbCr
                and the like become RGB), or the path of an image file Pillow
                reads (its first frame). At most ``MAX_IMAGE_PIXELS`` pixels.
            step: The step, 0 or more. By default one past the highest step
                this process logged ``name`` at, from 0 (a process that joined
                the run asks the store for the highest stored one first). The
                same name and step again replaces the image.
            caption: Text shown with the image (``MAX_CAPTION_LENGTH``
                characters); kept in the PNG itself (its ``Description``).

        Returns:
            A handle whose ``wait()`` blocks until the image is stored; it raises
            ``LoggingError`` if the PNG is larger than ``MAX_IMAGE_BYTES`` (or
            the per-file limit), which is known only once it is encoded.

        Raises:
            TypeError: the image (or step, or caption) is of a type that cannot
                be logged, or an array of an unsupported dtype.
            ValueError: the name is not acceptable, the step is negative, the
                array's shape or values are not an image's (each error names
                the problem and the fix), or a limit is broken. Nothing is stored.
            OSError: the image file cannot be read.
        """
        check_metric_name(name)
        if step is not None:
            step = coerce_step(step)
            if step < 0:
                raise InvalidInput(f"image step must be 0 or more, not {step}")
        caption = check_caption(caption)
        picture = picture_of(image)  # Pillow (and numpy for an array) imported here, not before
        if self._finished:
            raise LoggingError("this run is finished; values can no longer be logged")
        with self._image_lock:
            if step is None:
                step = self._next_image_step(name)
            path = media_path(name, step)
            self._image_steps[name] = max(step, self._image_steps.get(name, -1))
        size = raw_bytes(picture)
        writer = self._writer

        def nudge() -> None:
            if writer is not None:
                writer.wake.set()

        self._image_budget.take(size, nudge, lambda: writer is None or writer.is_alive())
        limit = min(MAX_IMAGE_BYTES, self.max_file_size)
        op = PutImage(path, picture, caption, limit, self.store.staging_dir(), partial(self._image_budget.give, size))
        return self._queue_op(op)

    def _next_image_step(self, name: str) -> int:
        """One past the highest step of image ``name`` this process logged (or, joining a run, the store holds)."""
        last = self._image_steps.get(name)
        if last is None and not self._owner:
            last = self._stored_image_step(name)
        return 0 if last is None else last + 1

    def _stored_image_step(self, name: str) -> int | None:
        try:
            with self.io_lock:
                files = self.store.list_artifacts(self.run_id, media_folder(name))
        except Exception as error:  # the server is away: count from this process's own steps
            say(f"could not read the steps of image {name!r} already stored ({error}); counting from 0")
            return None
        steps = [found[1] for f in files if (found := parse_media_path(f.path)) is not None and found[0] == name]
        return max(steps, default=None)

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
        staged = _stage_copy(local_file, self.store.staging_dir(), self.max_file_size)
        return self._queue_op(PutArtifact(path, staged, self.max_file_size))

    # -- what describes the run ------------------------------------------------

    def params(self, config: Any = None, /, *, overwrite: bool = False, **values: Any) -> Handle:
        """Record the run's configuration; returns at once.

        Takes a mapping (nested ones flatten with ``.``: ``optimizer.lr``), an
        ``argparse.Namespace``, a dataclass, an OmegaConf/Hydra config, a
        Pydantic model, or keywords. Values keep their type: str, int, float,
        bool, None, or short lists of those.

        Params are set, not appended: a key set again to the same value is
        fine; to another value it is refused unless ``overwrite=True`` (the
        value a run ran with is not silently rewritten).

        Returns:
            A handle whose ``wait()`` blocks until the params are stored.

        Raises:
            TypeError: a value (or ``config``) is of a type a param cannot hold.
            ValueError: a key or value breaks a limit (``MAX_PARAM_*``), or a
                float is not finite.
            ParamConflict: a key was set to another value before (by this process).
        """
        flat = flatten_params({} if config is None else config)
        if values:
            flat.update(flatten_params(values))
        with self._params_lock:
            if not overwrite:
                differ = [k for k, v in flat.items() if k in self._params and not same_param(self._params[k], v)]
                if differ:
                    shown = ", ".join(f"{k} = {self._params[k]!r} (now {flat[k]!r})" for k in differ[:5])
                    raise ParamConflict(
                        f"run {self.run_id[:8]} was given other values before: {shown}; pass overwrite=True to replace them",
                        differ,
                    )
            self._params.update(flat)
        return self._queue_op(SetParams(flat, overwrite))

    def tag(self, *tags: str) -> Handle:
        """Add tags (short labels without spaces: ``baseline``, ``best``); returns at once.

        Raises:
            ValueError: a tag is empty, too long (``MAX_TAG_LENGTH``) or holds spaces.
        """
        return self._queue_op(UpdateTags(check_tags(tags)))

    def untag(self, *tags: str) -> Handle:
        """Remove tags; returns at once."""
        return self._queue_op(UpdateTags([], check_tags(tags)))

    def note(self, text: str | None) -> Handle:
        """Replace the run's note (free text; ``None`` clears it); returns at once.

        Raises:
            ValueError: longer than ``MAX_NOTE_LENGTH`` characters.
        """
        return self._queue_op(SetNote(check_note(text)))

    def _queue_op(self, op: Op) -> Handle:
        seq = next(self._counter)
        self._append((seq, OP, op, None, _now()))
        return self._handle_type(seq)

    def _upload_outputs(self) -> None:
        """Queue what this run wrote in ``./outputs`` as ``outputs/…``; skip (and record)
        what cannot go, and files left there from before the run that it did not change."""
        root = Path(self._cwd) / "outputs"
        if not root.is_dir():
            return
        skipped: list[str] = []

        def skip(rel: str, why: str) -> None:
            skipped.append(f"{rel}: {why}")
            say(f"not uploading {rel}: {why}")

        left_from_before = 0
        for local, rel, why in outputs_files(root):
            if why is not None:
                skip(rel, why)
                continue
            try:
                st = os.stat(local)
                if self._outputs_before.get(rel) == signature(st):
                    left_from_before += 1
                    continue
                if st.st_size > self.max_file_size:
                    skip(rel, f"{st.st_size} bytes, over the per-file limit of {self.max_file_size} bytes")
                    continue
                self.upload_file(rel, local)
            except (InvalidPath, ArtifactTooLarge, OSError) as error:
                skip(rel, str(error))
        if left_from_before:
            files = f"{left_from_before} file{'s' if left_from_before != 1 else ''}"
            skipped.append(f"outputs/: {files} left from before this run started, unchanged since, not uploaded")
            say(f"not uploading {files} of outputs/ left from before run {self.run_id[:8]} started (unchanged)")
        if skipped:
            self._queue_op(UpdateRun({"skipped_files": skipped}))

    # -- the end --------------------------------------------------------------

    def finish(self, status: str | None = None, error: str | None = None, exit_code: int | None = None) -> None:
        """Store everything logged, upload ``./outputs`` and finish the run.

        Called at exit on its own; call it to end a run earlier (the next
        ``get_logger()`` then starts a new run). In a process that joined a
        run (or a forked child), it only flushes. When a server
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
        # The sampler stops first, so that its last points are before the flush below, or not logged at all.
        if self._sampler is not None and self._pid == os.getpid():
            self._sampler.stop()
        if status is not None:
            self._exit_status = (status, error)
        owner = self._owner and self._pid == os.getpid()
        if owner:
            try:
                self._upload_outputs()
            except Exception as failure:
                say(f"could not upload outputs/: {failure}")
        try:
            self.flush(timeout=self._exit_timeout)
        except TimeoutError:
            self._delivery.giving_up = True  # spool the rest without waiting for the server
        except Exception as failure:
            say(f"could not flush logged values: {failure}")
        if self._writer is not None:
            self._writer.stop()
        self._append = self._refuse
        if owner:
            final, why = self._exit_status
            self._delivery.giving_up = True
            self._delivery.send(FinishRun(final, why, exit_code))
            # The run is over: a subprocess started from now on, or the next get_logger(), starts a run
            # of its own instead of joining this finished one.
            if os.environ.get(RUN_ID_ENV) == self.run_id:
                del os.environ[RUN_ID_ENV]
        self._delivery.close()

    @staticmethod
    def _refuse(item: Item) -> None:
        raise LoggingError("this run is finished; values can no longer be logged")

    # -- what the process hooks call -------------------------------------------

    def at_exit(self) -> None:
        """The process is leaving: finish the run (in the process that owns this logger)."""
        if self._pid != os.getpid() or self._finished:
            return
        try:
            self.finish()
        except Exception as failure:
            say(f"could not finish run {self.run_id[:8]}: {failure}")

    def note_exception(self, kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        """An uncaught exception: the run fails with it (Ctrl-C: it is killed)."""
        if self._pid != os.getpid():
            return
        if issubclass(kind, KeyboardInterrupt):
            self._exit_status = ("killed", "interrupted (SIGINT)")
        else:
            import traceback

            text = "".join(traceback.format_exception(kind, value, tb))
            self._exit_status = ("failed", text[-MAX_ERROR_LENGTH:])

    def on_signal(self, signum: int) -> None:
        """SIGTERM or SIGHUP: the run is killed."""
        if self._pid == os.getpid() and not self._finished:
            name = signal.Signals(signum).name
            try:
                self.finish("killed", f"killed by {name}")
            except Exception as failure:
                say(f"could not finish run {self.run_id[:8]}: {failure}")


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
    params: Any = None,
    store: Store | None = None,
    system_metrics: bool | float | None = None,
) -> Logger:
    """This process's logger: starts a run on the first call, or joins one.

    A process with ``RUNHISTORY_RUN_ID`` set (by ``runhistory run``, or by a
    parent that started a run) joins that run; otherwise a new run starts,
    and its id is put in ``RUNHISTORY_RUN_ID`` so that subprocesses join it.

    Args:
        experiment: Experiment of a new run (default ``RUNHISTORY_EXPERIMENT``, else ``default``).
        name: Optional name of a new run.
        params: The run's configuration (see ``Logger.params``), checked before the run starts.
        store: Where to log (default: ``open_store()``, from the environment).
        system_metrics: Sample CPU, memory, disks, network and GPUs into a new run
            (``sys/…`` metrics): ``False`` or ``0`` turns it off, a number is the
            interval in seconds, ``True`` turns it on (at the interval
            ``RUNHISTORY_SYSTEM_METRICS`` gives, else 10 seconds); by default
            ``RUNHISTORY_SYSTEM_METRICS`` decides (10 seconds when unset). A
            process that joins a run never samples: the run's owner does.

    Raises:
        TypeError, ValueError: ``params`` holds something a param cannot (nothing is started).
        ValueError: ``system_metrics`` is negative or under 0.1 seconds (nothing is started).
        RunNotFound: ``RUNHISTORY_RUN_ID`` names a run the store does not have.
        InvalidSetting: a ``RUNHISTORY_*`` variable makes no sense.
    """
    global _LOGGER
    flat = None if params is None else flatten_params(params)
    asked_interval = _asked_interval(system_metrics)
    with _LOCK:
        if _LOGGER is not None and not _LOGGER._finished:
            if flat:
                _LOGGER.params(flat)
            return _LOGGER
        settings = Settings.from_environ()
        interval = settings.system_metrics if asked_interval is None else asked_interval
        if system_metrics is True and not interval:  # asked for in the code, off in the environment
            interval = SYSTEM_METRICS_INTERVAL
        store = store if store is not None else open_store(settings=settings)
        if settings.run_id:
            try:
                run_id = store.get_run(settings.run_id).id
            except RunNotFound:
                raise RunNotFound(f"{RUN_ID_ENV}={settings.run_id} names no run in {store.location}") from None
            except StoreUnavailable:  # the server is away: trust the id, spool what comes
                run_id = settings.run_id
            logger = Logger(store, run_id, owner=False, settings=settings)
        else:
            spec = describe_process(experiment or settings.experiment or "default", name)
            try:
                run_id = store.create_run(spec).id
                unsent = None
            except StoreUnavailable:
                run_id, unsent = str(spec.run_id), spec
            os.environ[RUN_ID_ENV] = run_id
            logger = Logger(store, run_id, owner=True, unsent_run=unsent, settings=settings)
            if interval:
                logger._start_system_metrics(interval)
        if not store.is_local:
            threading.Thread(target=_sync_other_spools, args=(store,), daemon=True).start()
        _LOGGER = logger
        install_hooks(lambda: _LOGGER)
        if flat:
            logger.params(flat)
        return logger


def _asked_interval(asked: bool | float | None) -> float | None:
    """Seconds between system metrics samples (0: none) that ``get_logger(system_metrics=…)`` asks
    for; ``None`` leaves it to ``RUNHISTORY_SYSTEM_METRICS``."""
    if asked is None or asked is True:
        return None
    if asked is False:
        return 0.0
    seconds = float(asked)
    if not (seconds == 0 or MIN_SYSTEM_METRICS_INTERVAL <= seconds < float("inf")):
        raise ValueError(
            f"system_metrics={asked!r}: give False (off), True, or seconds, at least {MIN_SYSTEM_METRICS_INTERVAL}"
        )
    return seconds


def _sync_other_spools(store: Store) -> None:
    """Deliver spools earlier runs left behind (quietly, in the background)."""
    from ._spool import sync_all

    try:
        sync_all(store, report=say)
    except Exception:  # the server is still away: the next run, or `runhistory sync`, tries again
        pass
