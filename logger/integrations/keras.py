"""Keras 3: ``RunHistoryCallback`` writes ``model.fit()``'s metrics, the model's config and the optimizer's into a run.

    from runhistory.logger.integrations.keras import RunHistoryCallback

    model.fit(x, y, epochs=10, validation_split=0.2, callbacks=[RunHistoryCallback()])

- Metrics: at the end of each epoch, each value of Keras's logs as
  ``epoch/<name>`` (``epoch/loss``, ``epoch/val_loss``) at step = the epoch
  (Keras's index, from 0; ``initial_epoch`` carries on from there); during the
  epoch, every ``batch_every`` batches (default 1; 0: none), as
  ``batch/<name>`` at step = the batches taken since epoch 0 (Keras reports
  the epoch's running mean there, not the batch's own value);
  ``model.evaluate(..., callbacks=[…])`` outside ``fit()`` as
  ``evaluate/<name>`` at step = the epochs trained.
- Params: the model's ``get_config()`` as ``model.…``, each layer as
  ``model.layers.<layer name>`` = its class, with its settings under it
  (``model.layers.dense.units``); the optimizer's ``get_config()`` as
  ``optimizer.…`` (float32 numbers at their shortest: 0.001, not
  0.0010000000474974513); ``compile()``'s loss and metrics as ``compile.…``;
  ``fit()``'s ``epochs`` and ``steps`` as ``fit.…``. The whole config is also
  stored as the file ``model/config.json``, and ``model.summary()`` as
  ``model/summary.txt``.
- Status: the end of ``fit()`` finishes a run this callback started as
  ``completed`` (an exception out of ``fit()`` fails it at exit, with the
  traceback); a later ``evaluate()`` logs into the same run.

Keras 3 runs on PyTorch, JAX or TensorFlow (``KERAS_BACKEND``); the callback
works the same on each.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any

try:
    import keras
except ImportError as error:
    raise ImportError(
        "runhistory.logger.integrations.keras needs Keras 3: pip install 'runhistory[integrations]' (or pip install keras)"
    ) from error

from ._run import IntegrationRun

__all__ = ["RunHistoryCallback", "model_params"]

#: Parts of a serialized Keras object that say how to rebuild it, not how it is set.
_NOT_SETTINGS = frozenset({"module", "registered_name", "inbound_nodes", "build_config", "compile_config"})


class RunHistoryCallback(keras.callbacks.Callback):
    """A Keras callback that writes into a runhistory run (see the module docstring).

    Args:
        experiment: The experiment of a run it starts (default ``RUNHISTORY_EXPERIMENT``, else ``default``).
        name: The name of a run it starts.
        batch_every: Log the batch metrics every this many batches (0: never).

    Raises:
        ValueError: ``batch_every`` is negative.
    """

    def __init__(self, experiment: str | None = None, name: str | None = None, *, batch_every: int = 1) -> None:
        super().__init__()
        if not isinstance(batch_every, int) or batch_every < 0:
            raise ValueError(f"batch_every={batch_every!r}: give a whole number of batches, 0 for none")
        self._run = IntegrationRun("keras", experiment, name)
        self._batch_every = batch_every
        self._in_fit = False
        self._epoch = 0
        self._epochs_done = 0
        self._batches = 0  # batches taken since epoch 0 (counted where the epoch length is unknown)

    @property
    def run_id(self) -> str | None:
        """The run's id, once training started it."""
        return self._run.run_id

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._in_fit = True
        model = self.model
        with self._run.quietly("read the model's config"):
            config = model.get_config()
            self._run.log_params(model_params(config), "model.")
            self._run.upload_text("model/config.json", json.dumps(config, indent=2, default=str))
        with self._run.quietly("read the model's summary"):
            lines: list[str] = []
            model.summary(print_fn=lambda line, *args, **kwargs: lines.append(str(line)))
            self._run.upload_text("model/summary.txt", "\n".join(lines))
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            with self._run.quietly("read the optimizer's config"):
                self._run.log_params(_shortest_floats(_settings(optimizer.get_config())), "optimizer.")
        with self._run.quietly("read the compile() settings"):
            compiled = dict(model.get_compile_config() or {})
            compiled.pop("optimizer", None)
            self._run.log_params(_settings(compiled), "compile.")
        fit = {k: v for k, v in (self.params or {}).items() if k in ("epochs", "steps")}
        self._run.log_params(fit, "fit.")

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        steps = (self.params or {}).get("steps")
        step = self._epoch * steps + batch if isinstance(steps, int) else self._batches
        self._batches += 1
        if logs and self._batch_every and (step + 1) % self._batch_every == 0:
            self._run.log_metrics({f"batch/{k}": v for k, v in logs.items()}, step)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._epochs_done = epoch + 1
        if logs:
            self._run.log_metrics({f"epoch/{k}": v for k, v in logs.items()}, epoch)

    def on_test_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if logs and not self._in_fit:  # validation inside fit() is in the epoch's logs as val_…
            self._run.log_metrics({f"evaluate/{k}": v for k, v in logs.items()}, self._epochs_done)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._in_fit = False
        self._run.end("completed")


def model_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """A model's ``get_config()`` as nested settings: each layer under its name, a serialized Keras object
    (an initializer, a dtype policy) as its class with its settings under it."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key == "layers" and isinstance(value, list):
            for i, layer in enumerate(value):
                if isinstance(layer, Mapping):
                    name = (layer.get("config") or {}).get("name") or f"{layer.get('class_name', 'layer')}_{i}"
                    out.update(_flat(f"layers.{name}", layer, skip={"name"}))
        elif key not in _NOT_SETTINGS:
            out.update(_flat(key, value))
    return out


def _flat(key: str, value: Any, skip: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    if _serialized(value):
        out: dict[str, Any] = {key: value["class_name"]}
        inner = value.get("config")
        if isinstance(inner, Mapping):
            for k, v in inner.items():
                if k not in _NOT_SETTINGS and k not in skip:
                    out.update(_flat(f"{key}.{k}", v))
        return out
    if isinstance(value, Mapping):
        flat: dict[str, Any] = {}
        for k, v in value.items():
            if k not in _NOT_SETTINGS:
                flat.update(_flat(f"{key}.{k}", v))
        return flat
    return {key: value}


def _settings(config: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if key not in _NOT_SETTINGS:
            flat.update(_flat(str(key), value))
    return flat


def _serialized(value: Any) -> bool:
    return isinstance(value, Mapping) and "class_name" in value and "config" in value


def _shortest_floats(settings: dict[str, Any]) -> dict[str, Any]:
    """Floats that are float32 values (what Keras keeps its optimizer's settings in) at the fewest
    digits that give the same float32: 0.001 rather than 0.0010000000474974513."""
    return {k: _shortest_float32(v) if type(v) is float else v for k, v in settings.items()}


def _shortest_float32(value: float) -> float:
    try:
        as32 = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        return value
    if as32 != value:
        return value  # not a float32 value: kept as it is
    for digits in range(1, 10):
        short = float(f"{value:.{digits}g}")
        if struct.unpack("f", struct.pack("f", short))[0] == value:
            return short
    return value
