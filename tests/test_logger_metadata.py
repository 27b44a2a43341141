"""Params, tags, notes and the environment, as a training script records them."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

from runhistory.api import EmbeddedStore, NewRun
from runhistory.api._errors import ParamConflict
from runhistory.api._limits import (
    MAX_GIT_DIFF_BYTES,
    MAX_PARAM_KEY_LENGTH,
    MAX_PARAM_LIST_LENGTH,
    MAX_PARAM_TEXT_LENGTH,
    MAX_TAG_LENGTH,
)
from runhistory.api._params import flatten_params
from runhistory.logger import Logger
from runhistory.logger._ops import OPS, SetEnvironment, SetNote, SetParams, UpdateTags
from runhistory.logger._process import git_diff


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    return EmbeddedStore(tmp_path / "store")


@pytest.fixture
def logger(store: EmbeddedStore, tmp_path: Path) -> Iterator[Logger]:
    run = store.create_run(NewRun(experiment="t"))
    lg = Logger(store, run.id, owner=True, cwd=str(tmp_path))
    yield lg
    lg.finish()


@dataclasses.dataclass
class Optimizer:
    name: str = "adam"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)


@dataclasses.dataclass
class Config:
    optimizer: Optimizer = dataclasses.field(default_factory=Optimizer)
    epochs: int = 10
    amp: bool = True
    resume: str | None = None


class Data(BaseModel):
    batch_size: int = 64
    augment: list[str] = ["flip", "crop"]


class ToDict:
    def to_dict(self) -> dict[str, Any]:
        return {"a": {"b": 1}}


def test_configurations_flatten_to_typed_params() -> None:
    assert flatten_params(Config()) == {
        "optimizer.name": "adam",
        "optimizer.lr": 1e-3,
        "optimizer.betas": [0.9, 0.999],
        "epochs": 10,
        "amp": True,
        "resume": None,
    }
    assert flatten_params(argparse.Namespace(lr=0.1, layers=[64, 64])) == {"lr": 0.1, "layers": [64, 64]}
    assert flatten_params({"data": Data()}) == {"data.batch_size": 64, "data.augment": ["flip", "crop"]}
    assert flatten_params(ToDict()) == {"a.b": 1}
    assert flatten_params({"np": np.float32(0.5), "n": np.int64(3), "empty": {}}) == {"np": 0.5, "n": 3}
    assert type(flatten_params({"n": np.int64(3)})["n"]) is int


def test_what_a_param_cannot_hold_is_refused_at_the_call() -> None:
    with pytest.raises(TypeError, match="'model' is a object"):
        flatten_params({"model": object()})
    with pytest.raises(TypeError, match="list items"):
        flatten_params({"layers": [[1, 2]]})
    with pytest.raises(TypeError, match="params must be a mapping"):
        flatten_params(42)
    with pytest.raises(ValueError, match="finite"):
        flatten_params({"x": float("nan")})
    with pytest.raises(TypeError, match="array"):
        flatten_params({"w": np.zeros(3)})


def test_param_limits_at_the_edge_and_just_past_it() -> None:
    flatten_params({"k" * MAX_PARAM_KEY_LENGTH: "t" * MAX_PARAM_TEXT_LENGTH, "l": [0] * MAX_PARAM_LIST_LENGTH})
    with pytest.raises(ValueError, match="param key"):
        flatten_params({"k" * (MAX_PARAM_KEY_LENGTH + 1): 1})
    with pytest.raises(ValueError, match="characters long"):
        flatten_params({"t": "t" * (MAX_PARAM_TEXT_LENGTH + 1)})
    with pytest.raises(ValueError, match="items"):
        flatten_params({"l": [0] * (MAX_PARAM_LIST_LENGTH + 1)})


def test_params_tags_and_note_reach_the_run(logger: Logger, store: EmbeddedStore) -> None:
    logger.params(Config())
    logger.params(seed=7)
    logger.params({"epochs": 10})  # the same value again: fine
    with pytest.raises(ParamConflict, match=r"epochs = 10 \(now 20\)"):
        logger.params({"epochs": 20})
    logger.params({"epochs": 20}, overwrite=True)
    logger.tag("baseline", "v1")
    logger.untag("v1")
    logger.note("lr warm-up off").wait()
    with pytest.raises(ValueError):
        logger.tag("two words")
    with pytest.raises(ValueError):
        logger.tag("x" * (MAX_TAG_LENGTH + 1))
    logger.flush()
    run = store.get_run(logger.run_id)
    assert run.params["epochs"] == 20 and run.params["seed"] == 7 and run.params["optimizer.lr"] == 1e-3
    assert run.tags == ["baseline"]
    assert run.note == "lr warm-up off"


def test_a_param_another_process_set_differently_fails_at_flush(logger: Logger, store: EmbeddedStore) -> None:
    store.set_params(logger.run_id, {"lr": 0.5})
    logger.params(lr=0.1)
    with pytest.raises(Exception, match="lr = 0.5"):
        logger.flush()
    assert store.get_run(logger.run_id).params == {"lr": 0.5}


def test_the_new_operations_survive_the_spool() -> None:
    from runhistory.api._models import Environment

    ops = [
        SetParams({"a": 1, "b": [1, "x"]}, True),
        UpdateTags(["a"], ["b"]),
        SetNote("n"),
        SetEnvironment(Environment({"p": "1"}, "diff", True)),
    ]
    for op in ops:
        doc = op.to_spool(None)  # type: ignore[arg-type]
        back = OPS[doc["op"]].from_spool(doc, Path("."))
        assert back == op


def test_get_logger_checks_params_before_a_run_starts(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        from runhistory.logger import get_logger
        try:
            get_logger(params={"model": object()})
        except TypeError as error:
            print("refused:", error)
        get_logger(experiment="cfg", params={"optimizer": {"lr": 0.1}, "tags": ["a"]}).log("x", 1.0).wait()
    """)
    home = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"RUNHISTORY_HOME": str(home), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "refused: param 'model'" in done.stdout
    store = EmbeddedStore(home)
    runs = store.list_runs().runs
    assert [r.params for r in runs] == [{"optimizer.lr": 0.1, "tags": ["a"]}]
    store.close()


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True, capture_output=True
    )


def test_the_environment_and_a_dirty_trees_diff_are_recorded(store: EmbeddedStore, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "train.py").write_text("lr = 0.1\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "first")
    (repo / "train.py").write_text("lr = 0.2\n")
    run = store.create_run(NewRun())
    logger = Logger(store, run.id, owner=True, cwd=str(repo))
    logger.log("x", 1.0).wait()
    logger.finish()
    env = store.get_environment(run.id)
    assert "+lr = 0.2" in (env.git_diff or "") and not env.git_diff_truncated
    assert env.packages["numpy"] == np.__version__ and "pytest" in env.packages
    assert store.get_run(run.id).git_dirty is True


def test_a_diff_is_cut_at_its_limit(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "big.txt").write_text("")
    _git(repo, "add", "big.txt")
    _git(repo, "commit", "-q", "-m", "empty")
    (repo / "big.txt").write_text("é" * (MAX_GIT_DIFF_BYTES // 2) + "\n")
    text, cut = git_diff(str(repo)) or ("", False)
    assert cut and len(text.encode()) <= MAX_GIT_DIFF_BYTES and len(text.encode()) > MAX_GIT_DIFF_BYTES - 4
    (repo / "big.txt").write_text("small\n")
    text, cut = git_diff(str(repo)) or ("", True)
    assert not cut and "+small" in text
