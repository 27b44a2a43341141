"""The run a framework integration logs into, and how it never stops training.

``IntegrationRun`` starts the run when training first needs it (never at
construction, so that a process of a multi-process launch that is not rank
zero never starts one), through ``get_logger()``: a run this process or a
parent already has (the script's own ``get_logger()``, ``runhistory run``)
is joined, not started again.

When training ends, a run the integration started is finished (``end()``);
one it joined is left to its owner. What is logged through the integration
after that (a ``trainer.test()`` after ``fit()``, a ``trainer.evaluate()``
after ``train()``) goes into the same run, through a logger that joins it,
rather than into a new run or an error. A new integration object starts a
new run (a sweep in one process): ``finish()`` leaves ``RUNHISTORY_RUN_ID``.

Every call from a framework's hook goes through ``quietly()``: a failure is
said once through ``logging.getLogger("runhistory")``, never raised into
the training loop. A value, a name or a param that cannot be logged is left
out and said; the rest of its batch goes on.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runhistory.api._errors import ParamConflict
from runhistory.api._settings import RUN_ID_ENV

from .._diagnostics import say
from .._logger import Logger, get_logger
from ._params import loose_params

#: Names shown when a message lists what was left out.
_SHOWN = 5
#: Characters of a name shown in a message.
_SHOWN_CHARS = 80


class IntegrationRun:
    """The run of one integration object (see the module docstring).

    Args:
        framework: The framework's name, for messages.
        experiment: The experiment of a run it starts (default ``RUNHISTORY_EXPERIMENT``, else ``default``).
        name: The name of a run it starts.
    """

    def __init__(self, framework: str, experiment: str | None = None, name: str | None = None) -> None:
        self.framework = framework
        self.experiment = experiment
        self.name = name
        self._logger: Logger | None = None
        self._after: Logger | None = None  # joins the run once it is finished (see the module docstring)
        self._started_here = False
        self._unavailable: Exception | None = None  # why the run could not be started or joined
        self._said: set[str] = set()
        self._last: dict[str, tuple[int | None, Any]] = {}  # each series' last step and number or text

    def __getstate__(self) -> dict[str, Any]:
        # A process launched with a pickled copy (Lightning's ddp_spawn) starts or joins on its own.
        state = self.__dict__.copy()
        state.update(_logger=None, _after=None, _started_here=False, _unavailable=None)
        return state

    # -- the run ------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether the run was started or joined already."""
        return self._logger is not None

    @property
    def run_id(self) -> str | None:
        """The run's id once started or joined; ``None`` before."""
        return None if self._logger is None else self._logger.run_id

    @property
    def logger(self) -> Logger:
        """The logger to log through: starts or joins the run at the first call (see the module docstring).

        Raises:
            What ``get_logger()`` raises (the store cannot be opened, ``RUNHISTORY_RUN_ID`` names no run).
        """
        logger = self._logger
        if logger is None:
            if self._unavailable is not None:  # said once already: not tried again at every step
                raise self._unavailable
            joined = bool(os.environ.get(RUN_ID_ENV))
            try:
                logger = get_logger(experiment=self.experiment, name=self.name)
            except Exception as error:
                self._unavailable = error
                raise
            self._logger, self._started_here = logger, not joined
            return logger
        if not logger._finished:
            return logger
        if self._after is None:
            self._after = Logger(logger.store, logger.run_id, owner=False)
            self._after._params.update(logger._params)  # a changed param is refused at the call, as before the end
            atexit.register(self._after.finish)  # what it holds is stored at exit, as the process logger's is
        return self._after

    def end(self, status: str = "completed") -> None:
        """Training ended: finish a run the integration started (``failed``: with the exception being
        handled, if any; a ``KeyboardInterrupt`` makes it ``killed``); store what was logged after an end."""
        with self.quietly("finish the run"):
            after, self._after = self._after, None
            if after is not None:
                after.finish()
            logger = self._logger
            if logger is None or logger._finished or not self._started_here:
                return
            kind, value, tb = sys.exc_info()
            if status == "failed" and kind is not None and value is not None:
                logger.note_exception(kind, value, tb)  # the run's error is the traceback; Ctrl-C: killed
                logger.finish()
            else:
                logger.finish(status)

    def flush(self) -> None:
        """Store what was logged so far, waiting for a server at most ``RUNHISTORY_EXIT_TIMEOUT``."""
        with self.quietly("store what was logged"):
            if self._logger is not None:
                logger = self.logger
                logger.flush(timeout=logger._exit_timeout)

    # -- what is logged -------------------------------------------------------------

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None) -> None:
        """Log each value at ``step`` (``None``: the series' next step); a value logged again at the same
        step (Lightning adds ``epoch`` to each call) is not stored twice."""
        with self.quietly("log metrics"):
            logger = self.logger
            for name, raw in metrics.items():
                value = plain_value(raw)
                if value is None:
                    continue
                single = step is not None and isinstance(value, (int, float, str))
                if single and self._last.get(name) == (step, value):
                    continue
                try:
                    logger.log(name, value, step)
                except (TypeError, ValueError) as error:
                    text = str(name)
                    shown = text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"
                    self.say_once(f"metric:{name}", f"not logging {shown!r}: {error}")
                    continue
                if single:
                    self._last[name] = (step, value)

    def log_params(self, config: Any, prefix: str = "") -> None:
        """Record ``config`` as params under ``prefix`` (see ``loose_params``); a key the run holds with
        another value keeps it, and that is said."""
        with self.quietly("record params"):
            params, left_out = loose_params(config, prefix)
            if left_out:
                shown = ", ".join(repr(k[:_SHOWN_CHARS]) for k in left_out[:_SHOWN])
                more = f" and {len(left_out) - _SHOWN} more" if len(left_out) > _SHOWN else ""
                self.say_once("params-left-out", f"params not recorded (over the limits): {shown}{more}")
            if not params:
                return
            logger = self.logger
            try:
                logger.params(params)
            except ParamConflict as conflict:
                logger.params({k: v for k, v in params.items() if k not in set(conflict.keys)})
                self.say_once(f"conflict:{','.join(conflict.keys)}", f"{conflict} (kept)")

    def upload_file(self, path: str, local_file: str | os.PathLike[str]) -> bool:
        """Store a local file as the run's ``path``; False (and said) when it could not be."""
        with self.quietly(f"upload {path}", key="upload"):
            self.logger.upload_file(path, local_file)
            return True
        return False

    def upload_text(self, path: str, text: str) -> None:
        """Store ``text`` as the run's file ``path``."""
        with self.quietly(f"upload {path}", key="upload"):
            self.logger.upload(path, text)

    def upload_folder(self, prefix: str, folder: str | os.PathLike[str]) -> int:
        """Store each file under ``folder`` as ``prefix/<its relative path>``; returns how many were stored."""
        stored = 0
        root = Path(folder)
        with self.quietly(f"read {root}"):
            files = sorted(p for p in root.rglob("*") if p.is_file())
            for local in files:
                stored += self.upload_file(f"{prefix}/{local.relative_to(root).as_posix()}", local)
        return stored

    # -- failures ---------------------------------------------------------------------

    @contextmanager
    def quietly(self, what: str, key: str | None = None) -> Iterator[None]:
        """Run the block; an exception in it is said once (per ``key`` and kind) instead of raised."""
        try:
            yield
        except Exception as error:
            self.say_once(f"{key or what}:{type(error).__name__}", f"could not {what}: {error}")

    def say_once(self, key: str, message: str) -> None:
        """Say ``message`` unless a message of this ``key`` was said already."""
        if key not in self._said:
            self._said.add(key)
            say(f"{self.framework}: {message} (training goes on; this is said once)")


def plain_value(value: Any) -> Any:
    """A numpy/torch scalar as the Python number it holds, a 1-D array as a list (comparable for the
    duplicate check); other values as they are."""
    if type(value).__module__.split(".", 1)[0] in ("numpy", "torch"):
        ndim = getattr(value, "ndim", None)
        if ndim == 0:
            return value.item()
        if ndim == 1:
            return value.tolist()
    return value
