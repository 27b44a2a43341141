"""``runhistory demo``: realistic example runs, logged through the real logger."""

from __future__ import annotations

import json
import math
import os
import random
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

from runhistory.api import EmbeddedStore, NewRun
from runhistory.logger import Logger


def demo_home() -> Path:
    """The demo store's folder: beside, never inside, the user's default store."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("runhistory", appauthor=False)) / "demo"


def _png(width: int, height: int, pixel: object) -> bytes:
    """A small RGB PNG, drawn by ``pixel(x, y) -> (r, g, b)``."""
    rows = b"".join(
        b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width))  # type: ignore[operator]
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _train(store: EmbeddedStore, workdir: Path, *, experiment: str, name: str, lr: float, epochs: int,
           steps_per_epoch: int, seed: int, fail_at: int | None = None) -> str:  # fmt: skip
    rng = random.Random(seed)
    run = store.create_run(NewRun(
        experiment=experiment, name=name, command=["python", "train.py", f"--lr={lr}", f"--epochs={epochs}"],
        cwd=str(workdir), host=os.uname().nodename, user="demo", python=sys.version.split()[0], pid=os.getpid(),
    ))  # fmt: skip
    folder = workdir / name
    (folder / "outputs" / "plots").mkdir(parents=True, exist_ok=True)
    logger = Logger(store, run.id, owner=True, cwd=str(folder))
    config = {"lr": lr, "epochs": epochs, "batch_size": 128, "optimizer": "adamw", "seed": seed}
    logger.upload("config.json", json.dumps(config, indent=2))
    logger.log("phase", "warmup")
    total = epochs * steps_per_epoch
    floor = 0.08 + 0.4 * abs(math.log10(lr / 3e-4))
    rows = ["epoch,train_loss,val_loss,val_accuracy"]
    for step in range(total):
        progress = step / total
        schedule = lr * (step / 200 if step < 200 else 0.5 * (1 + math.cos(math.pi * progress)))
        loss = floor + 2.3 * math.exp(-6 * progress * (lr / 3e-4) ** 0.3) + rng.gauss(0, 0.04)
        logger.log("train/loss", loss)
        logger.log("train/lr", schedule)
        if step == 200:
            logger.log("phase", "train")
        if fail_at is not None and step == fail_at:
            logger.log("train/loss", math.nan)
            logger.finish("failed", "Traceback (most recent call last):\n  File \"train.py\", line 88, in <module>\n"
                          "    loss.backward()\nRuntimeError: loss is NaN at step %d: gradient exploded" % step)  # fmt: skip
            return run.id
        if (step + 1) % steps_per_epoch == 0:
            epoch = step // steps_per_epoch
            val_loss = loss + 0.05 + rng.gauss(0, 0.02)
            accuracy = min(0.995, 1 - val_loss / 2.6 + rng.gauss(0, 0.005))
            logger.log("val/loss", val_loss, step=step)
            logger.log("val/accuracy", accuracy, step=step)
            logger.log("epoch", epoch + 1, step=step)
            row = [max(0.0, min(1.0, accuracy + rng.gauss(0, 0.02))) for _ in range(10)]
            logger.log("val/per_class_accuracy", row, step=step)
            rows.append(f"{epoch + 1},{loss:.4f},{val_loss:.4f},{accuracy:.4f}")
    roc = [round(1 - (1 - x / 20) ** (2 + 8 * (1 - floor)), 4) for x in range(21)]
    logger.log("val/roc_tpr", roc)
    logger.log("phase", "done")
    (folder / "outputs" / "metrics.csv").write_text("\n".join(rows) + "\n")
    (folder / "outputs" / "model.bin").write_bytes(rng.randbytes(256 * 1024))
    (folder / "outputs" / "plots" / "confusion.png").write_bytes(
        _png(64, 64, lambda x, y: (255 - 3 * abs(x - y), 40 + 3 * x, 40 + 3 * y) if abs(x - y) < 60 else (0, 0, 0))
    )
    (folder / "outputs" / "README.md").write_text(f"# {name}\n\nA demo model trained with lr={lr}.\n")
    logger.finish()
    return run.id


def log_demo_runs(home: Path) -> list[str]:
    """Log the demo's finished runs into ``home``; returns their ids, oldest first."""
    store = EmbeddedStore(home)
    with tempfile.TemporaryDirectory(prefix="runhistory-demo-") as work:
        workdir = Path(work)
        ids = [
            _train(store, workdir, experiment="mnist-cnn", name="baseline", lr=3e-4, epochs=12, steps_per_epoch=250, seed=1),
            _train(store, workdir, experiment="mnist-cnn", name="high-lr", lr=3e-3, epochs=12, steps_per_epoch=250, seed=2),
            _train(store, workdir, experiment="mnist-cnn", name="low-lr", lr=3e-5, epochs=12, steps_per_epoch=250, seed=3),
            _train(store, workdir, experiment="resnet-cifar", name="diverged", lr=1e-1, epochs=20, steps_per_epoch=200, seed=4, fail_at=1337),
            _train(store, workdir, experiment="resnet-cifar", name="resnet18", lr=1e-3, epochs=20, steps_per_epoch=200, seed=5),
        ]  # fmt: skip
    return ids


def run_demo(home: str | None, json_output: bool) -> int:
    """Log the demo runs into a demo store and show them."""
    folder = Path(home).expanduser() if home else demo_home()
    started = time.time()
    print(f"runhistory: logging demo runs into {folder} …", file=sys.stderr)
    ids = log_demo_runs(folder)
    store = EmbeddedStore(folder)
    runs = [store.get_run(i) for i in reversed(ids)]
    if json_output:
        from .contract import dumps, run_doc

        sys.stdout.write(dumps([run_doc(r) for r in runs]) + "\n")
    else:
        from .human import console, runs_table

        out = console()
        out.print(runs_table(runs))
        out.print(f"\n{len(ids)} runs logged in {time.time() - started:.1f} s. Look around:")
        out.print(f"  runhistory --home {folder} info -r {ids[0][:8]}")
        out.print(f"  runhistory --home {folder} info -r {ids[0][:8]} -m train/loss --max-points 20")
    return 0
