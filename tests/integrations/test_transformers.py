"""RunHistoryCallback under a real Transformers Trainer: a one-layer GPT-2 built from a config, on the CPU."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ._train import artifacts, points, reports, runs, train

# 32 random sequences of 16 tokens, 4 a batch, 6 optimizer steps; nothing downloaded.
TRAINING = """
import json, os
import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments
from runhistory.logger.integrations.transformers import RunHistoryCallback

class Tokens(torch.utils.data.Dataset):
    def __init__(self, n, seed):
        self.ids = torch.randint(0, 64, (n, 16), generator=torch.Generator().manual_seed(seed))
    def __len__(self):
        return len(self.ids)
    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}

torch.manual_seed(0)
config = GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0)
model = GPT2LMHeadModel(config)
args = TrainingArguments(
    output_dir="out", max_steps=6, per_device_train_batch_size=4, per_device_eval_batch_size=4,
    logging_steps=2, eval_strategy="steps", eval_steps=2, save_steps=3, report_to="none", use_cpu=True,
    learning_rate=1e-3, seed=0, disable_tqdm=True, run_name="tiny-gpt2", hub_token="hf_not_a_real_token",
    ddp_backend="gloo" if "RANK" in os.environ else None,
)
callback = RunHistoryCallback(experiment="transformers")
trainer = Trainer(model=model, args=args, train_dataset=Tokens(32, 1), eval_dataset=Tokens(8, 2), callbacks=[callback])
trainer.train()
"""

TRAIN_EVALUATE_PREDICT = (
    TRAINING
    + """
trainer.evaluate(metric_key_prefix="val")  # after train(): the same run
trainer.predict(Tokens(8, 3))
print(json.dumps({"run": callback.run_id, "history": trainer.state.log_history,
                  "parameters": sum(p.numel() for p in model.parameters())}))
"""
)


def test_train_evaluate_and_predict_log_into_one_run(tmp_path: Path) -> None:
    home = tmp_path / "store"
    done = train(tmp_path, home, TRAIN_EVALUATE_PREDICT)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    (only,) = runs(home).values()
    assert only.id == report["run"] and only.name == "tiny-gpt2" and only.experiment == "transformers"
    assert only.status == "completed"
    params = only.params
    assert params["args.learning_rate"] == 1e-3 and params["args.max_steps"] == 6 and params["args.eval_steps"] == 2
    assert params["args.hub_token"] == "<hidden>"
    assert params["model.n_layer"] == 1 and params["model.n_embd"] == 16 and params["model.model_type"] == "gpt2"
    assert params["model.class"] == "GPT2LMHeadModel" and params["model.num_parameters"] == report["parameters"]

    metrics = points(home, only)
    # Each value the Trainer logged, under its prefix, at the global step it was logged at.
    history = report["history"]
    train_logs = [h for h in history if "loss" in h]
    assert metrics["train/loss"] == [(h["step"], h["loss"]) for h in train_logs] and len(train_logs) == 3
    assert metrics["train/learning_rate"] == [(h["step"], h["learning_rate"]) for h in train_logs]
    assert metrics["train/epoch"] == [(h["step"], h["epoch"]) for h in train_logs]
    evals = [h for h in history if "eval_loss" in h]
    assert metrics["eval/loss"] == [(h["step"], h["eval_loss"]) for h in evals]
    assert [s for s, _ in metrics["eval/loss"]] == [2, 4, 6]
    (summary,) = [h for h in history if "train_runtime" in h]
    assert metrics["train/mean_loss"] == [(6, summary["train_loss"])]
    assert metrics["train/runtime"] == [(6, summary["train_runtime"])]
    assert metrics["train/total_flos"] == [(6, summary["total_flos"])]
    (after,) = [h for h in history if "val_loss" in h]
    assert metrics["val/loss"] == [(6, after["val_loss"])] and "train/val_loss" not in metrics
    assert [s for s, _ in metrics["test/loss"]] == [6]

    files = artifacts(home, only)
    for step in (3, 6):
        for name in ("model.safetensors", "config.json", "optimizer.pt", "trainer_state.json"):
            assert f"checkpoints/checkpoint-{step}/{name}" in files
    weights = (tmp_path / "out" / "checkpoint-6" / "model.safetensors").read_bytes()
    assert files["checkpoints/checkpoint-6/model.safetensors"] == hashlib.sha256(weights).hexdigest()
    assert [line for line in done.stderr.splitlines() if line.startswith("runhistory:")] == []


DDP = (
    TRAINING
    + """
with open(f"report-{os.environ['RANK']}.json", "w") as report:
    json.dump({"rank": int(os.environ["RANK"]), "zero": trainer.state.is_world_process_zero,
               "run": callback.run_id, "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h]}, report)
"""
)


def test_torchrun_with_two_processes_logs_into_one_run_from_process_zero(tmp_path: Path) -> None:
    home = tmp_path / "store"
    done = train(tmp_path, home, DDP, processes=2)
    assert done.returncode == 0, done.stderr
    done_by = reports(tmp_path)
    (only,) = runs(home).values()
    assert [(r["rank"], r["zero"], r["run"]) for r in done_by] == [(0, True, only.id), (1, False, None)]
    assert only.status == "completed"
    metrics = points(home, only)
    assert metrics["train/loss"] == list(zip([2, 4, 6], done_by[0]["losses"]))
    assert [s for s, _ in metrics["eval/loss"]] == [2, 4, 6]
    files = artifacts(home, only)
    # Uploaded after the next step, when the other process had written its part of the checkpoint.
    assert {"checkpoints/checkpoint-3/rng_state_0.pth", "checkpoints/checkpoint-3/rng_state_1.pth"} <= set(files)
    assert "checkpoints/checkpoint-6/model.safetensors" in files
