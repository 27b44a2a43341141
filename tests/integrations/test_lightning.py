"""RunHistoryLogger under a real Lightning Trainer: a tiny regressor trained on the CPU."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ._train import artifacts, points, reports, runs, train

# A linear-ish regressor on 64 random rows, 16 a batch: 4 optimizer steps an epoch. Each loss is
# also written down by the module, to compare with what the run stored.
MODULE = """
import json, sys
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
{imports}
from runhistory.logger.integrations.lightning import RunHistoryLogger

LOSSES = []

class Regressor(L.LightningModule):
    def __init__(self, lr=0.1, hidden=8, optimizer={{"name": "sgd", "momentum": 0.0}}, activation=nn.ReLU,
                 dtype=torch.float32, fail_at=None, interrupt_at=None):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(4, hidden), activation(), nn.Linear(hidden, 1))

    def _loss(self, batch):
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def training_step(self, batch, i):
        if self.global_step == self.hparams.fail_at:
            raise RuntimeError("diverged")
        if self.global_step == self.hparams.interrupt_at:
            raise KeyboardInterrupt
        loss = self._loss(batch)
        LOSSES.append((self.global_step, loss.item()))
        self.log("train/loss", loss)
        self.log("rank", float(self.global_rank))
        self.log("x" * 300, 1.0)  # a name over the limit: said once, the rest is logged
        return loss

    def validation_step(self, batch, i):
        self.log("val/loss", self._loss(batch))

    def test_step(self, batch, i):
        self.log("test/loss", self._loss(batch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

torch.manual_seed(0)
x = torch.randn(64, 4)
y = x.sum(1, keepdim=True)

def data():
    return DataLoader(TensorDataset(x, y), batch_size=16)

def trainer(logger, **options):
    return L.Trainer(max_epochs=2, logger=logger, log_every_n_steps=1, enable_progress_bar=False,
                     enable_model_summary=False, accelerator="cpu", **options)
"""

FIT_TEST_CRASH_INTERRUPT = (
    MODULE.format(imports="import lightning as L\nfrom lightning.pytorch.callbacks import ModelCheckpoint")
    + """
logger = RunHistoryLogger(experiment="lightning", name="fit")
fit = trainer(logger, callbacks=[ModelCheckpoint(monitor="val/loss", save_last=True)])
fit.fit(Regressor(), data(), data())
fit.logger.experiment.tag("tiny")  # the run's own logger, on rank zero
fit.test(fit.lightning_module, data())  # after fit(): into the same run
report = {"fit": logger.version, "losses": list(LOSSES), "last": fit.checkpoint_callback.last_model_path}

crash = RunHistoryLogger(experiment="lightning", name="crash")  # a new logger: a new run
try:
    trainer(crash).fit(Regressor(fail_at=2), data(), data())
except RuntimeError:
    pass
report["crash"] = crash.version
print(json.dumps(report), flush=True)

trainer(RunHistoryLogger(experiment="lightning", name="interrupted")).fit(Regressor(interrupt_at=1), data(), data())
"""
)


def test_fit_then_test_log_into_one_run_and_failures_mark_theirs(tmp_path: Path) -> None:
    home = tmp_path / "store"
    done = train(tmp_path, home, FIT_TEST_CRASH_INTERRUPT)
    assert done.returncode == 1, done.stderr  # Lightning exits with 1 after a Ctrl-C
    report = json.loads(done.stdout.splitlines()[-1])
    by_name = runs(home)
    assert sorted(by_name) == ["crash", "fit", "interrupted"]
    fit = by_name["fit"]
    assert fit.id == report["fit"] and fit.experiment == "lightning" and fit.status == "completed"
    assert fit.tags == ["tiny"]
    assert fit.params == {
        "lr": 0.1,
        "hidden": 8,
        "optimizer.name": "sgd",
        "optimizer.momentum": 0.0,
        "activation": "torch.nn.modules.activation.ReLU",
        "dtype": "torch.float32",
        "fail_at": None,
        "interrupt_at": None,
    }
    metrics = points(home, fit)
    assert sorted(metrics) == ["epoch", "rank", "test/loss", "train/loss", "val/loss"]
    # Every loss the module computed, at the step Lightning logged it at (the optimizer steps taken).
    assert metrics["train/loss"] == [tuple(p) for p in report["losses"]]
    assert [s for s, _ in metrics["train/loss"]] == list(range(8))
    assert [s for s, _ in metrics["val/loss"]] == [3, 7]  # each epoch's end
    assert [s for s, _ in metrics["test/loss"]] == [8]
    epoch_steps = [s for s, _ in metrics["epoch"]]
    assert epoch_steps == sorted(set(epoch_steps))  # added by Lightning to each call: once a step
    assert metrics["rank"] == [(s, 0.0) for s in range(8)]
    files = artifacts(home, fit)
    # Every checkpoint as it was written (save_top_k removed the first one from the disk later).
    assert sorted(files) == [
        "checkpoints/epoch=0-step=4.ckpt",
        "checkpoints/epoch=1-step=8.ckpt",
        "checkpoints/last.ckpt",
    ]
    assert files["checkpoints/last.ckpt"] == hashlib.sha256(Path(report["last"]).read_bytes()).hexdigest()

    crash = by_name["crash"]
    assert crash.id == report["crash"] and crash.status == "failed"
    assert crash.error is not None and crash.error.rstrip().endswith("RuntimeError: diverged")
    assert [s for s, _ in points(home, crash)["train/loss"]] == [0, 1]
    interrupted = by_name["interrupted"]
    assert (interrupted.status, interrupted.error) == ("killed", "interrupted (SIGINT)")

    said = [line for line in done.stderr.splitlines() if line.startswith("runhistory:")]
    assert len(said) == 3 and all("not logging 'xxxxxxxx" in line for line in said), said  # once per run


DDP = (
    MODULE.format(imports="import lightning as L")
    + """
def main():  # ddp_spawn starts its processes with multiprocessing's spawn: they import this file
    logger = RunHistoryLogger(experiment="ddp")
    fit = trainer(logger, devices=2, strategy=sys.argv[1])
    fit.fit(Regressor(), data())
    with open(f"report-{fit.global_rank}.json", "w") as report:
        json.dump({"rank": fit.global_rank, "version": logger.version}, report)

if __name__ == "__main__":
    main()
"""
)


@pytest.mark.parametrize("strategy", ["ddp", "ddp_spawn"])
def test_ddp_on_two_processes_logs_into_one_run_from_rank_zero(tmp_path: Path, strategy: str) -> None:
    home = tmp_path / "store"
    done = train(tmp_path, home, DDP, args=[strategy])  # Lightning starts the other processes itself
    assert done.returncode == 0, done.stderr
    done_by = reports(tmp_path)
    (only,) = runs(home).values()
    if strategy == "ddp":  # the script runs again as rank 1; rank 0 is this process, which trained
        assert done_by == [{"rank": 0, "version": only.id}, {"rank": 1, "version": None}]
    else:  # this process only launched the two that trained (with a copy of the logger)
        assert done_by == [{"rank": 0, "version": None}]
    assert only.experiment == "ddp" and only.status == "completed" and only.params["lr"] == 0.1
    metrics = points(home, only)
    # 64 rows over 2 processes, 16 a batch: 2 steps an epoch, each logged once, by rank zero.
    assert [s for s, _ in metrics["train/loss"]] == list(range(4))
    assert metrics["rank"] == [(s, 0.0) for s in range(4)]
    assert sorted(artifacts(home, only)) == ["checkpoints/epoch=0-step=2.ckpt", "checkpoints/epoch=1-step=4.ckpt"]


PYTORCH_LIGHTNING = (
    MODULE.format(imports="# hide lightning\nimport pytorch_lightning as L")
    + """
logger = RunHistoryLogger(experiment="pl")
trainer(logger, max_steps=2).fit(Regressor(), data())
print(json.dumps({"losses": LOSSES, "base": RunHistoryLogger.__mro__[1].__module__}))
"""
)


@pytest.mark.parametrize("lightning_installed", [True, False])
def test_the_pytorch_lightning_trainer_takes_it(tmp_path: Path, lightning_installed: bool) -> None:
    # Without lightning (as where only pytorch_lightning is installed), the logger is built on pytorch_lightning's.
    hide = "" if lightning_installed else 'sys.modules["lightning"] = None'
    home = tmp_path / "store"
    done = train(tmp_path, home, PYTORCH_LIGHTNING.replace("# hide lightning", hide))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    base = "lightning.pytorch.loggers.logger" if lightning_installed else "pytorch_lightning.loggers.logger"
    assert report["base"] == base
    (only,) = runs(home).values()
    assert only.status == "completed"
    assert points(home, only)["train/loss"] == [tuple(p) for p in report["losses"]]
    assert sorted(artifacts(home, only)) == ["checkpoints/epoch=0-step=2.ckpt"]
