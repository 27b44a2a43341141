"""RunHistoryCallback under a real Keras 3 fit() on the torch backend, on the CPU."""

from __future__ import annotations

import json
from pathlib import Path

from runhistory.api import EmbeddedStore

from ._train import artifacts, points, runs, train

# 64 rows, 16 a batch, a quarter held out for validation: 3 batches an epoch, 3 epochs.
FIT_AND_EVALUATE = """
import json
import numpy as np
import keras
from runhistory.logger.integrations.keras import RunHistoryCallback

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu", name="hidden"),
                          keras.layers.Dense(1, name="out")])
model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse", metrics=["mae"])

class Batches(keras.callbacks.Callback):  # what Keras reported after each batch, to compare
    seen = []
    def on_train_batch_end(self, batch, logs=None):
        self.seen.append(logs["loss"])

callback = RunHistoryCallback(experiment="keras", name="dense")
history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, callbacks=[callback, Batches()], verbose=0)
evaluated = model.evaluate(x, y, callbacks=[callback], verbose=0, return_dict=True)
print(json.dumps({"run": callback.run_id, "history": history.history, "batches": Batches.seen,
                  "evaluated": evaluated, "config": model.get_config()}, default=str))
"""


def test_fit_and_evaluate_log_into_one_run(tmp_path: Path) -> None:
    home = tmp_path / "store"
    done = train(tmp_path, home, FIT_AND_EVALUATE)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    (only,) = runs(home).values()
    assert only.id == report["run"] and only.name == "dense" and only.status == "completed"
    params = only.params
    assert params["model.name"] == "sequential"
    assert params["model.layers.hidden"] == "Dense" and params["model.layers.out"] == "Dense"
    assert params["model.layers.hidden.units"] == 8 and params["model.layers.hidden.activation"] == "relu"
    assert params["model.layers.hidden.kernel_initializer"] == "GlorotUniform"
    assert params["optimizer.name"] == "adam" and params["optimizer.learning_rate"] == 0.01  # not 0.009999999776
    assert params["compile.loss"] == "mse" and params["compile.metrics"] == ["mae"]
    assert params["fit.epochs"] == 3 and params["fit.steps"] == 3

    metrics = points(home, only)
    history = report["history"]
    for name in ("loss", "mae", "val_loss", "val_mae"):
        assert metrics[f"epoch/{name}"] == list(enumerate(history[name])), name
    assert metrics["batch/loss"] == list(enumerate(report["batches"]))  # 3 epochs of 3 batches: steps 0 … 8
    assert metrics["evaluate/loss"] == [(3, report["evaluated"]["loss"])]  # after 3 epochs

    files = artifacts(home, only)
    assert sorted(files) == ["model/config.json", "model/summary.txt"]
    store = EmbeddedStore(home)
    with store.open_artifact(only.id, "model/config.json") as stored:
        assert json.loads(stored.read()) == report["config"]
    with store.open_artifact(only.id, "model/summary.txt") as stored:
        assert "hidden (Dense)" in stored.read().decode()
