"""What the framework integrations share, without any framework: params from any
configuration, and the run they log into (in real processes, on a real store).
The integrations themselves train real models in tests/integrations."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import math
from pathlib import Path, PurePosixPath
from typing import Any

from runhistory.api import EmbeddedStore, Run
from runhistory.api._limits import MAX_PARAM_KEY_LENGTH, MAX_PARAM_LIST_LENGTH, MAX_PARAM_TEXT_LENGTH, MAX_PARAMS
from runhistory.logger.integrations._params import HIDDEN, loose_params

from ._processes import run


class Precision(enum.Enum):
    HALF = "fp16"


@dataclasses.dataclass
class Optimizer:
    name: str = "adamw"
    betas: tuple[float, float] = (0.9, 0.999)


def train_step() -> None:
    pass


class Module:
    pass


def test_what_a_param_holds_is_kept_and_the_rest_becomes_text() -> None:
    params, left_out = loose_params(
        {
            "lr": 1e-3,
            "layers": 2,
            "optimizer": Optimizer(),
            "args": argparse.Namespace(seed=7),
            "precision": Precision.HALF,
            "root": PurePosixPath("/data/set"),
            "step_fn": train_step,
            "module_class": Module,
            "module": Module(),
            "blocks": [{"units": 8}, {"units": 4, "act": "relu"}],
            "nan": math.nan,
            "big": 2**70,
            "empty": {},
            "hub_token": "hf_abcdef",
            "api_key": None,
        },
        "cfg.",
    )
    assert left_out == []
    assert params == {
        "cfg.lr": 1e-3,
        "cfg.layers": 2,
        "cfg.optimizer.name": "adamw",
        "cfg.optimizer.betas": [0.9, 0.999],
        "cfg.args.seed": 7,
        "cfg.precision": "fp16",
        "cfg.root": "/data/set",
        "cfg.step_fn": f"{__name__}.train_step",
        "cfg.module_class": f"{__name__}.Module",
        "cfg.module": f"<{__name__}.Module object>",  # no memory address: the same in every run
        "cfg.blocks.0.units": 8,
        "cfg.blocks.1.units": 4,
        "cfg.blocks.1.act": "relu",
        "cfg.nan": "nan",
        "cfg.big": str(2**70),
        "cfg.hub_token": HIDDEN,
        "cfg.api_key": None,
    }


def test_the_param_limits_cut_or_leave_out_never_raise() -> None:
    text = "x" * MAX_PARAM_TEXT_LENGTH
    params, left_out = loose_params(
        {
            "text": text,
            "longer": text + "y",
            "list": list(range(MAX_PARAM_LIST_LENGTH)),
            "longer_list": list(range(MAX_PARAM_LIST_LENGTH + 1)),
            "k" * MAX_PARAM_KEY_LENGTH: 1,
            "k" * (MAX_PARAM_KEY_LENGTH + 1): 2,
            "bad\x1bkey": 3,
        }
    )
    assert params["text"] == text
    assert params["longer"] == "x" * (MAX_PARAM_TEXT_LENGTH - 1) + "…"
    assert params["list"] == list(range(MAX_PARAM_LIST_LENGTH))
    longer_list = params["longer_list"]
    assert isinstance(longer_list, str) and longer_list.startswith("[0, 1, 2")
    assert params["k" * MAX_PARAM_KEY_LENGTH] == 1
    assert left_out == ["k" * (MAX_PARAM_KEY_LENGTH + 1), "bad\x1bkey"]


def test_params_past_the_limit_are_left_out_and_named() -> None:
    at_limit, left_out = loose_params({f"p{i}": i for i in range(MAX_PARAMS)})
    assert len(at_limit) == MAX_PARAMS and left_out == []
    past, left_out = loose_params({f"p{i}": i for i in range(MAX_PARAMS + 1)})
    assert len(past) == MAX_PARAMS and left_out == [f"p{MAX_PARAMS}"]


def test_a_config_that_holds_itself_ends() -> None:
    config: dict[str, Any] = {"a": 1}
    config["self"] = config
    assert loose_params(config) == ({"a": 1}, [])


# The integrations' run, driven as a framework's hooks drive it.
SWEEP = """
import json, sys
from runhistory.logger.integrations._run import IntegrationRun

first = IntegrationRun("demo", experiment="sweep", name="first")
first.log_params({"lr": 0.1, "fn": print, "nested": {"depth": 2}})
first.log_metrics({"loss": 1.0, "epoch": 0}, step=0)
first.log_metrics({"loss": 0.5, "epoch": 0, "bad": {"a": 1}, "": 1.0}, step=1)  # epoch again at another step
first.log_metrics({"val/loss": 0.7, "epoch": 0}, step=1)  # epoch at the same step: stored once
first.end("completed")
first.log_metrics({"test/loss": 0.6}, step=1)  # after the end: the same run
first.log_params({"lr": 0.2})  # another value: the run keeps 0.1, and says so
first.end("completed")

second = IntegrationRun("demo", experiment="sweep", name="second")  # a new object: a new run
second.log_metrics({"loss": 2.0}, step=0)
try:
    raise RuntimeError("diverged")
except RuntimeError:
    second.end("failed")

third = IntegrationRun("demo", experiment="sweep", name="third")
third.log_metrics({"loss": 3.0}, step=0)
try:
    raise KeyboardInterrupt
except KeyboardInterrupt:
    third.end("failed")
print(json.dumps([first.run_id, second.run_id, third.run_id]))
"""


def _runs(home: Path) -> dict[str | None, Run]:
    return {r.name: r for r in EmbeddedStore(home).list_runs().runs}


def test_each_integration_object_logs_into_its_own_run_and_finishes_it(tmp_path: Path) -> None:
    home = tmp_path / "store"
    done = run(tmp_path, home, SWEEP)
    assert done.returncode == 0, done.stderr
    ids = json.loads(done.stdout)
    store = EmbeddedStore(home)
    runs = _runs(home)
    assert [runs[name].id for name in ("first", "second", "third")] == ids
    first = runs["first"]
    assert first.status == "completed"
    assert first.params == {"lr": 0.1, "fn": "builtins.print", "nested.depth": 2}
    series = {m.name: store.read_series(first.id, m.name) for m in store.list_metrics(first.id)}
    assert sorted(series) == ["epoch", "loss", "test/loss", "val/loss"]
    assert (series["loss"].steps, series["loss"].values) == ([0, 1], [1.0, 0.5])
    assert (series["epoch"].steps, series["epoch"].values) == ([0, 1], [0, 0])
    assert (series["test/loss"].steps, series["test/loss"].values) == ([1], [0.6])
    assert runs["second"].status == "failed"
    assert runs["second"].error is not None and "RuntimeError: diverged" in runs["second"].error
    assert (runs["third"].status, runs["third"].error) == ("killed", "interrupted (SIGINT)")
    # What could not be logged is said once each, and training went on.
    said = done.stderr.splitlines()
    assert sum("not logging 'bad'" in line for line in said) == 1
    assert sum("not logging ''" in line for line in said) == 1
    assert sum("lr = 0.1 (now 0.2)" in line for line in said) == 1
    assert all(line.startswith("runhistory: demo: ") for line in said), said


JOINED = """
from runhistory.logger import get_logger
from runhistory.logger.integrations._run import IntegrationRun

logger = get_logger(name="script")
logger.log("mine", 1.0)
integration = IntegrationRun("demo")
integration.log_metrics({"loss": 1.0}, step=0)
integration.end("completed")  # not its run: left to its owner
logger.log("mine", 2.0)
assert integration.run_id == logger.run_id
"""


def test_a_run_the_script_started_is_joined_and_left_to_the_script(tmp_path: Path) -> None:
    home = tmp_path / "store"
    done = run(tmp_path, home, JOINED)
    assert done.returncode == 0, done.stderr
    (only,) = _runs(home).values()
    store = EmbeddedStore(home)
    assert only.name == "script" and only.status == "completed"
    assert store.read_series(only.id, "mine").values == [1.0, 2.0]
    assert store.read_series(only.id, "loss").values == [1.0]


UNAVAILABLE = """
from runhistory.logger.integrations._run import IntegrationRun

integration = IntegrationRun("demo")
for step in range(100):  # the training goes on; the run is not looked for again at each step
    integration.log_metrics({"loss": 1.0}, step=step)
integration.end("completed")
print("trained")
"""


def test_a_run_that_cannot_be_joined_is_said_once_and_training_goes_on(tmp_path: Path) -> None:
    done = run(tmp_path, tmp_path / "store", UNAVAILABLE, RUNHISTORY_RUN_ID="0" * 32)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "trained\n"
    (said,) = done.stderr.splitlines()
    assert said.startswith("runhistory: demo: could not log metrics: RUNHISTORY_RUN_ID=" + "0" * 32 + " names no run")
