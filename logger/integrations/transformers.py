"""Hugging Face Transformers: ``RunHistoryCallback`` writes a ``Trainer``'s logs, arguments and checkpoints into a run.

    from runhistory.logger.integrations.transformers import RunHistoryCallback

    trainer = Trainer(model=model, args=args, train_dataset=train, callbacks=[RunHistoryCallback()])

- Metrics, at ``state.global_step`` (the optimizer steps taken):
  the training logs as ``train/…`` (``train/loss``, ``train/learning_rate``,
  ``train/grad_norm``, ``train/epoch``); evaluation as ``<prefix>/…`` for the
  prefix the keys carry (``eval_loss`` → ``eval/loss``; ``trainer.evaluate(metric_key_prefix="val")``
  → ``val/…``; ``trainer.predict()`` → ``test/…``); the end-of-training summary
  as ``train/runtime``, ``train/samples_per_second``, ``train/steps_per_second``,
  ``train/total_flos`` and ``train/mean_loss`` (the mean over all steps; it
  would collide with ``train/loss`` otherwise).
- Params: ``TrainingArguments`` as ``args.…`` (tokens hidden, as
  ``TrainingArguments.to_dict()`` hides them), the model's config as
  ``model.…`` with ``model.class`` and ``model.num_parameters``, a PEFT
  adapter's config as ``peft.<adapter>.…``.
- Checkpoints: each ``checkpoint-<step>`` folder the Trainer saves is uploaded
  as ``checkpoints/checkpoint-<step>/…`` (``checkpoints=False``: none): at once
  in a single process; after the next step in a multi-process run, when the
  other processes have written their part too.
- Status: ``on_train_end`` finishes a run this callback started as ``completed``;
  an exception out of ``train()`` fails it at exit with the traceback. A
  ``trainer.evaluate()`` or ``predict()`` after ``train()`` logs into the same run.
- Processes (``torchrun``, ``accelerate launch``): only the world's process
  zero (``state.is_world_process_zero``) starts the run and writes to it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

try:
    from transformers import TrainerCallback
except ImportError as error:
    raise ImportError(
        "runhistory.logger.integrations.transformers needs Transformers: pip install 'runhistory[integrations]'"
        " (or pip install transformers accelerate)"
    ) from error

from ._run import IntegrationRun

__all__ = ["RunHistoryCallback", "metric_name"]

#: The end-of-training summary's ``train_loss`` (the mean over all steps), renamed so that it
#: does not become a point of the per-step ``train/loss`` series.
_SUMMARY_RENAMES = {"train_loss": "train/mean_loss", "total_flos": "train/total_flos"}


class RunHistoryCallback(TrainerCallback):
    """A ``TrainerCallback`` that writes into a runhistory run (see the module docstring).

    Args:
        experiment: The experiment of a run it starts (default ``RUNHISTORY_EXPERIMENT``, else ``default``).
        name: The name of a run it starts (default ``TrainingArguments.run_name``).
        checkpoints: Upload each checkpoint folder the Trainer saves.
    """

    def __init__(self, experiment: str | None = None, name: str | None = None, *, checkpoints: bool = True) -> None:
        self._run = IntegrationRun("transformers", experiment, name)
        self._checkpoints = checkpoints
        self._pending: list[str] = []  # checkpoint folders saved, not uploaded yet
        self._set_up = False  # the arguments and the model's config recorded

    @property
    def run_id(self) -> str | None:
        """The run's id, once training started it (in the world's process zero)."""
        return self._run.run_id

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self._setup(args, model)

    def _setup(self, args: Any, model: Any) -> None:
        """Record the arguments and the model's config, at the first event (training's start, or an
        ``evaluate()``/``predict()`` without training)."""
        if self._set_up:
            return
        self._set_up = True
        if self._run.name is None and isinstance(getattr(args, "run_name", None), str):
            self._run.name = args.run_name
        with self._run.quietly("read the TrainingArguments"):
            self._run.log_params(args.to_dict(), "args.")
        if model is None:
            return
        config = getattr(model, "config", None)
        if config is not None and callable(getattr(config, "to_dict", None)):
            with self._run.quietly("read the model's config"):
                self._run.log_params(config.to_dict(), "model.")
        with self._run.quietly("read the model's size"):
            self._run.log_params({"class": type(model).__qualname__, "num_parameters": _parameters(model)}, "model.")
        peft = getattr(model, "peft_config", None)
        if isinstance(peft, Mapping):
            for adapter, adapter_config in peft.items():
                self._run.log_params(adapter_config, f"peft.{adapter}.")

    def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        if state.is_world_process_zero and logs:
            self._setup(args, kwargs.get("model"))
            self._run.log_metrics(_renamed(logs), state.global_step)

    def on_predict(
        self, args: Any, state: Any, control: Any, metrics: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if state.is_world_process_zero and metrics:
            self._setup(args, kwargs.get("model"))
            self._run.log_metrics(_renamed(metrics), state.global_step)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not (self._checkpoints and state.is_world_process_zero):
            return
        self._pending.append(f"checkpoint-{state.global_step}")
        if getattr(args, "world_size", 1) == 1:
            self._upload_checkpoints(args)
        # Other processes write into the folder too (their RNG state) and nothing waits for them before
        # this call: the folder is uploaded after the next step, whose gradients they all had to send.

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._pending and state.is_world_process_zero:
            self._upload_checkpoints(args)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self._upload_checkpoints(args)
            self._run.end("completed")

    def _upload_checkpoints(self, args: Any) -> None:
        pending, self._pending = self._pending, []
        for name in pending:
            folder = os.path.join(args.output_dir, name)
            if os.path.isdir(folder):
                self._run.upload_folder(f"checkpoints/{name}", folder)
            else:
                self._run.say_once("no-checkpoint", f"no checkpoint folder at {folder}: not uploaded")


def metric_name(key: str, prefixes: set[str] | frozenset[str] = frozenset()) -> str:
    """The run's name for a Trainer log key: ``<prefix>/…`` for the evaluation prefixes, else ``train/…``.

    Args:
        key: The key in the Trainer's logs.
        prefixes: The prefixes the logs of this call carry (each with a ``<prefix>_runtime`` key).
    """
    if key in _SUMMARY_RENAMES:
        return _SUMMARY_RENAMES[key]
    for prefix in ("eval", "test", *sorted(prefixes, key=len, reverse=True)):
        if key.startswith(prefix + "_"):
            return f"{prefix}/{key[len(prefix) + 1 :]}"
    return f"train/{key}"


def _renamed(logs: Mapping[str, Any]) -> dict[str, Any]:
    # Every evaluation (and the training summary) reports its speed as <prefix>_runtime: that names its prefix.
    prefixes = {k[: -len("_runtime")] for k in logs if isinstance(k, str) and k.endswith("_runtime")}
    return {metric_name(str(k), prefixes): v for k, v in logs.items()}


def _parameters(model: Any) -> int:
    count = getattr(model, "num_parameters", None)
    if callable(count):
        return int(count())
    return sum(int(p.numel()) for p in model.parameters())
