"""Lightning: ``RunHistoryLogger`` writes a ``Trainer``'s metrics, hyperparameters and checkpoints into a run.

    from runhistory.logger.integrations.lightning import RunHistoryLogger

    trainer = Trainer(logger=RunHistoryLogger(experiment="mnist"))

- Metrics: each under the name the module logs it with (``self.log("val/loss", …)``),
  at Lightning's step (the optimizer steps taken); ``epoch``, which Lightning adds
  to each call, once per step.
- Hyperparameters (``save_hyperparameters()``, the datamodule's, or a
  ``log_hyperparams()`` call) become the run's params (``_params.loose_params``:
  nested ones joined with ``.``; what a param cannot hold, as text).
- Checkpoints: each file a ``ModelCheckpoint`` writes is uploaded when it is
  written, as ``checkpoints/<file name>`` (a name written again, ``last.ckpt``,
  is replaced); ``checkpoints=False`` uploads none.
- Status: at the end of ``fit``/``validate``/``test``/``predict`` a run this logger
  started is finished: ``completed``; ``failed`` with the traceback when
  Lightning stops on an exception; ``killed`` on Ctrl-C. A SLURM requeue
  (``finalize("finished")``) only flushes: the job goes on later. What is
  logged afterwards (``trainer.test()`` after ``fit()``) goes into the same run.
- Processes: only global rank zero starts the run and writes to it; there,
  ``logger.experiment`` is the run's ``runhistory.logger.Logger`` (for
  ``upload_file``, ``tag``, ``note``), elsewhere an object that does nothing.

Works with ``lightning`` (``lightning.pytorch``) and, where only it is installed,
``pytorch_lightning``; both Trainers take it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

try:
    from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
    from lightning.pytorch.utilities.rank_zero import rank_zero_only
except ImportError:
    try:
        from pytorch_lightning.loggers.logger import Logger, rank_zero_experiment
        from pytorch_lightning.utilities.rank_zero import rank_zero_only
    except ImportError as error:
        raise ImportError(
            "runhistory.logger.integrations.lightning needs Lightning 2: pip install 'runhistory[integrations]'"
            " (or pip install lightning)"
        ) from error

from runhistory.api._settings import EXPERIMENT_ENV

from ._run import IntegrationRun

__all__ = ["RunHistoryLogger"]


class RunHistoryLogger(Logger):
    """A Lightning logger that writes into a runhistory run (see the module docstring).

    Args:
        experiment: The experiment of a run it starts (default ``RUNHISTORY_EXPERIMENT``, else ``default``).
        name: The name of a run it starts.
        checkpoints: Upload each checkpoint file a ``ModelCheckpoint`` writes.
    """

    def __init__(self, experiment: str | None = None, name: str | None = None, *, checkpoints: bool = True) -> None:
        super().__init__()
        self._run = IntegrationRun("lightning", experiment, name)
        self._checkpoints = checkpoints
        self._checkpoint_callbacks: list[Any] = []  # weak proxies, as Lightning hands them
        self._uploaded: dict[str, tuple[int, int, int]] = {}  # artifact path → the file's signature when uploaded

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_checkpoint_callbacks"] = []  # weak proxies do not pickle (ddp_spawn sends the logger along)
        return state

    @property
    def name(self) -> str:
        """The experiment of a run it starts."""
        return self._run.experiment or os.environ.get(EXPERIMENT_ENV) or "default"

    @property
    def version(self) -> str | None:
        """The run's id, once training started it (on rank zero); ``None`` before, and on the other ranks.

        Asking does not start the run: the process that asks may not be the one that trains (``ddp_spawn``).
        """
        return self._run.run_id

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """The run's ``runhistory.logger.Logger`` (starts the run on first use)."""
        return self._run.logger

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log each metric at ``step`` (``None``: each series' next step)."""
        self._run.log_metrics(metrics, step)

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Record the hyperparameters as the run's params (further arguments, as TensorBoard's metrics, are not used)."""
        self._run.log_params(params)

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Upload the checkpoint files written since the last call."""
        if not self._checkpoints:
            return
        if not any(c is checkpoint_callback for c in self._checkpoint_callbacks):
            self._checkpoint_callbacks.append(checkpoint_callback)
        self._upload_checkpoints(checkpoint_callback)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Upload the checkpoints not uploaded yet; finish a run this logger started (see the module docstring)."""
        for callback in self._checkpoint_callbacks:
            self._upload_checkpoints(callback)
        if status == "success":
            self._run.end("completed")
        elif status == "failed":
            self._run.end("failed")
        else:
            self._run.flush()

    def _upload_checkpoints(self, callback: Any) -> None:
        paths: set[str] = set()
        with self._run.quietly("find the checkpoint files"):
            paths.update(callback.best_k_models)
            paths.update((callback.best_model_path, callback.last_model_path))
            paths.add(getattr(callback, "_last_checkpoint_saved", ""))
        for path in sorted(str(p) for p in paths if p):
            if "://" in path:
                self._run.say_once(
                    "remote-checkpoints",
                    f"checkpoints in {path.rsplit('/', 1)[0]} are not on this machine: not uploaded",
                )
                continue
            try:
                st = os.stat(path)
            except OSError:  # removed by save_top_k, or not written yet (an asynchronous save: finalize() looks again)
                continue
            artifact = f"checkpoints/{os.path.basename(path)}"
            signature = (st.st_mtime_ns, st.st_size, st.st_ino)
            if self._uploaded.get(artifact) != signature and self._run.upload_file(artifact, path):
                self._uploaded[artifact] = signature
