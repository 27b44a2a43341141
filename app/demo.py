"""``runhistory demo``: realistic example runs, logged through the real logger."""

from __future__ import annotations

import io
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from runhistory.api import EmbeddedStore, NewRun
from runhistory.logger import Logger


def demo_home() -> Path:
    """The demo store's folder: beside, never inside, the user's default store."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("runhistory", appauthor=False)) / "demo"


#: Colours of a heatmap from low to high (dark violet, blue, teal, green, yellow).
_HEAT = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


def _heat(value: float) -> tuple[int, int, int]:
    """The heatmap colour of ``value`` (0 to 1), blended between the two nearest of ``_HEAT``."""
    at = max(0.0, min(1.0, value)) * (len(_HEAT) - 1)
    low = min(int(at), len(_HEAT) - 2)
    part = at - low
    r, g, b = (round(a + (z - a) * part) for a, z in zip(_HEAT[low], _HEAT[low + 1]))
    return r, g, b


def _confusion_image(accuracy: list[float], rng: random.Random, cell: int = 4) -> Image.Image:
    """A confusion matrix as a heatmap: a square per (true, predicted) class, brighter for more.

    A class's accuracy is on the diagonal; the rest of its row is its errors,
    spread unevenly over the other classes.
    """
    classes = len(accuracy)
    image = Image.new("RGB", (classes * cell, classes * cell))
    draw = ImageDraw.Draw(image)
    for true, right in enumerate(accuracy):
        weights = [0.0 if other == true else rng.random() ** 3 for other in range(classes)]
        for predicted, weight in enumerate(weights):
            share = right if predicted == true else (1 - right) * weight / (sum(weights) or 1.0)
            box = (predicted * cell, true * cell, (predicted + 1) * cell - 1, (true + 1) * cell - 1)
            draw.rectangle(box, fill=_heat(share**0.4))
    return image


def _confusion_png(accuracy: list[float], rng: random.Random) -> bytes:
    out = io.BytesIO()
    _confusion_image(accuracy, rng).save(out, "PNG")
    return out.getvalue()


def _sample_image(quality: float, rng: random.Random, size: tuple[int, int] = (64, 40)) -> Image.Image:
    """What a generative model makes of a landscape: blurred and noisy early on, sharper as ``quality`` (0 to 1) grows."""
    width, height = size
    scene = Image.new("RGB", size)
    draw = ImageDraw.Draw(scene)
    for y in range(height):  # the sky, lighter towards the horizon
        draw.line([(0, y), (width, y)], fill=(40 + 3 * y, 90 + 3 * y, 200 - y))
    draw.ellipse((width - 22, 5, width - 8, 19), fill=(253, 220, 80))  # the sun
    draw.polygon([(0, height), (20, 14), (38, height)], fill=(70, 80, 95))  # two mountains
    draw.polygon([(22, height), (44, 18), (width, height)], fill=(95, 105, 120))
    draw.polygon([(40, 22), (44, 18), (48, 22)], fill=(240, 240, 245))  # snow on the higher one
    draw.rectangle((0, height - 6, width, height), fill=(60, 130, 60))  # grass
    quality = max(0.0, min(1.0, quality))
    scene = scene.filter(ImageFilter.GaussianBlur(3.5 * (1 - quality)))
    noise = Image.frombytes("RGB", size, rng.randbytes(width * height * 3))
    return Image.blend(scene, noise, 0.6 * (1 - quality) ** 1.5)


def _train(
    store: EmbeddedStore,
    workdir: Path,
    *,
    experiment: str,
    name: str,
    lr: float,
    epochs: int,
    steps_per_epoch: int,
    seed: int,
    fail_at: int | None = None,
) -> str:
    rng = random.Random(seed)
    run = store.create_run(
        NewRun(
            experiment=experiment,
            name=name,
            command=["python", "train.py", f"--lr={lr}", f"--epochs={epochs}"],
            cwd=str(workdir),
            host=os.uname().nodename,
            user="demo",
            python=sys.version.split()[0],
            pid=os.getpid(),
        )
    )
    folder = workdir / name
    (folder / "outputs" / "plots").mkdir(parents=True, exist_ok=True)
    logger = Logger(store, run.id, owner=True, cwd=str(folder))
    config = {
        "lr": lr,
        "epochs": epochs,
        "batch_size": 128,
        "optimizer": {"name": "adamw", "weight_decay": 0.01},
        "seed": seed,
        "model": "resnet18" if experiment == "resnet-cifar" else "cnn-2x64",
    }
    logger.params(config)
    if name == "baseline":
        logger.tag("baseline")
        logger.note("The reference: lr 3e-4, cosine schedule, no augmentation.")
    if fail_at is not None:
        logger.tag("unstable")
        logger.note("lr 1e-1 is too high for this model: the loss went NaN at step 1337.")
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
            logger.finish(
                "failed",
                'Traceback (most recent call last):\n  File "train.py", line 88, in <module>\n'
                f"    loss.backward()\nRuntimeError: loss is NaN at step {step}: gradient exploded",
            )
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
            caption = f"epoch {epoch + 1} · val accuracy {accuracy:.3f}"
            logger.log_image("val/samples", _sample_image((accuracy - 0.25) / 0.65, rng), step=step, caption=caption)
            logger.log_image("val/confusion", _confusion_image(row, random.Random(epoch)), step=step)
            rows.append(f"{epoch + 1},{loss:.4f},{val_loss:.4f},{accuracy:.4f}")
    roc = [round(1 - (1 - x / 20) ** (2 + 8 * (1 - floor)), 4) for x in range(21)]
    logger.log("val/roc_tpr", roc)
    logger.log("phase", "done")
    (folder / "outputs" / "metrics.csv").write_text("\n".join(rows) + "\n")
    (folder / "outputs" / "model.bin").write_bytes(rng.randbytes(256 * 1024))
    (folder / "outputs" / "plots" / "confusion.png").write_bytes(_confusion_png(row, rng))
    (folder / "outputs" / "README.md").write_text(f"# {name}\n\nA demo model trained with lr={lr}.\n")
    logger.finish()
    return run.id


def log_demo_runs(home: Path) -> list[str]:
    """Log the demo's finished runs into ``home``; returns their ids, oldest first."""
    store = EmbeddedStore(home)
    with tempfile.TemporaryDirectory(prefix="runhistory-demo-") as work:
        workdir = Path(work)
        ids = [
            _train(
                store, workdir, experiment="mnist-cnn", name="baseline", lr=3e-4, epochs=12, steps_per_epoch=250, seed=1
            ),
            _train(
                store, workdir, experiment="mnist-cnn", name="high-lr", lr=3e-3, epochs=12, steps_per_epoch=250, seed=2
            ),
            _train(
                store, workdir, experiment="mnist-cnn", name="low-lr", lr=3e-5, epochs=12, steps_per_epoch=250, seed=3
            ),
            _train(
                store,
                workdir,
                experiment="resnet-cifar",
                name="diverged",
                lr=1e-1,
                epochs=20,
                steps_per_epoch=200,
                seed=4,
                fail_at=1337,
            ),
            _train(
                store,
                workdir,
                experiment="resnet-cifar",
                name="resnet18",
                lr=1e-3,
                epochs=20,
                steps_per_epoch=200,
                seed=5,
            ),
        ]
    # Models promoted as a team would: the first try, then the better baseline; the resnet once.
    baseline, high_lr, _, _, resnet = ids
    for run_id, name in ((high_lr, "mnist-classifier"), (baseline, "mnist-classifier"), (resnet, "cifar-resnet")):
        store.promote(run_id, "outputs/", name)
    store.promote(baseline, "config.json", "mnist-config")
    return ids


#: Names of the finished demo runs; a demo store holding them all is reused as it is.
DEMO_RUN_NAMES = ("baseline", "high-lr", "low-lr", "diverged", "resnet18")
#: Steps per second of the live run: fast enough to watch, slow enough to read.
LIVE_STEPS_PER_SECOND = 20
#: Steps per epoch of the live run (an epoch every few seconds).
LIVE_STEPS_PER_EPOCH = 100
#: Epochs of the live run (about ten minutes), after which it completes.
LIVE_EPOCHS = 120


def train_live(
    epochs: int = LIVE_EPOCHS,
    steps_per_epoch: int = LIVE_STEPS_PER_EPOCH,
    steps_per_second: float = LIVE_STEPS_PER_SECOND,
    seed: int = 7,
) -> None:
    """A training loop that takes its time, for the demo's live run.

    Runs under ``runhistory run`` (which captures what it prints as the run's
    console) and logs through the real logger, joining that run.
    """
    from runhistory.logger import get_logger

    rng = random.Random(seed)
    lr = 1e-3
    logger = get_logger(
        params={
            "lr": lr,
            "epochs": epochs,
            "batch_size": 256,
            "model": "resnet34",
            "optimizer": {"name": "sgd", "momentum": 0.9},
            "seed": seed,
        }
    )
    total = epochs * steps_per_epoch
    logger.log("phase", "warmup")
    print(f"training resnet34 on cifar-10: {epochs} epochs x {steps_per_epoch} steps, lr={lr}", flush=True)
    started = time.monotonic()
    for step in range(total):
        progress = step / total
        schedule = lr * (step / 300 if step < 300 else 0.5 * (1 + math.cos(math.pi * progress)))
        loss = 0.12 + 2.2 * math.exp(-5 * progress) + 0.25 * math.exp(-40 * progress) + rng.gauss(0, 0.035)
        logger.log("train/loss", loss)
        logger.log("train/lr", schedule)
        if step == 300:
            logger.log("phase", "train")
            print("warmup done, cosine schedule from here", flush=True)
        if (step + 1) % 20 == 0:
            done = (step + 1) % steps_per_epoch or steps_per_epoch
            bar = "#" * (20 * done // steps_per_epoch)
            print(f"\repoch {step // steps_per_epoch + 1:3d} [{bar:<20}] loss {loss:.4f}", end="", flush=True)
        if (step + 1) % steps_per_epoch == 0:
            epoch = step // steps_per_epoch + 1
            val_loss = loss + 0.06 + rng.gauss(0, 0.02)
            accuracy = min(0.995, 0.1 + 0.9 * max(0.0, 1 - val_loss / 2.4) + rng.gauss(0, 0.004))
            logger.log("val/loss", val_loss, step=step)
            logger.log("val/accuracy", accuracy, step=step)
            logger.log("epoch", epoch, step=step)
            row = [max(0.0, min(1.0, accuracy + rng.gauss(0, 0.03))) for _ in range(10)]
            logger.log("val/per_class_accuracy", row, step=step)
            caption = f"epoch {epoch} · val accuracy {accuracy:.3f}"
            logger.log_image("val/samples", _sample_image((accuracy - 0.25) / 0.65, rng), step=step, caption=caption)
            logger.log_image("val/confusion", _confusion_image(row, random.Random(epoch)), step=step)
            print(
                f"\nepoch {epoch:3d}/{epochs}  train_loss {loss:.4f}  val_loss {val_loss:.4f}  val_acc {accuracy:.4f}",
                flush=True,
            )
        # Keep to the pace whatever logging costs.
        delay = started + (step + 1) / steps_per_second - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    logger.log("phase", "done")
    print("done", flush=True)


def start_live_run(home: Path) -> subprocess.Popen[bytes]:
    """Start the demo's live run: ``runhistory run -- python -c 'train_live()'`` into ``home``.

    Its output goes to the run's console log only (the app owns the terminal).
    """
    env = {k: v for k, v in os.environ.items() if k not in ("RUNHISTORY_URL", "RUNHISTORY_TOKEN", "RUNHISTORY_RUN_ID")}
    env["RUNHISTORY_HOME"] = str(home)
    workdir = home / "live-run"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "train.py").write_text(
        "# The runhistory demo's live run: a training loop that takes its time.\n"
        "from runhistory.app.demo import train_live\n\ntrain_live()\n"
    )
    command = [
        sys.executable,
        "-m",
        "runhistory.app.cli",
        "--home",
        str(home),
        "run",
        "--experiment",
        "resnet-cifar",
        "--name",
        "resnet34-live",
        "--",
        Path(sys.executable).name,
        "train.py",
    ]
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return subprocess.Popen(
        command,
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the terminal's keys are the app's, not the run's
    )


def stop_live_run(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Stop the live run as a user would (SIGTERM: it ends ``killed``), then make sure it is gone."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _has_demo_runs(store: EmbeddedStore) -> bool:
    names = {r.name for r in store.list_runs(limit=200).runs}
    return all(name in names for name in DEMO_RUN_NAMES) and bool(store.list_assets())


def run_demo(home: str | None, json_output: bool) -> int:
    """Log the demo runs into a demo store; on a terminal, start a live run and open the app on it."""
    folder = Path(home).expanduser() if home else demo_home()
    interactive = not json_output and sys.stdin.isatty() and sys.stdout.isatty()
    store = EmbeddedStore(folder)
    started = time.time()
    if interactive and _has_demo_runs(store):
        print(f"runhistory: demo store {folder} (delete it for a fresh one)", file=sys.stderr)
        ids = []
    else:
        print(f"runhistory: logging demo runs into {folder} …", file=sys.stderr)
        ids = log_demo_runs(folder)
    if interactive:
        from .tui import run_tui

        live = start_live_run(folder)
        try:
            return run_tui(store)
        finally:
            stop_live_run(live)
    runs = [store.get_run(i) for i in reversed(ids)]
    if json_output:
        from .contract import dumps, run_doc

        sys.stdout.write(dumps([run_doc(r) for r in runs]) + "\n")
    else:
        from .human import console, runs_table

        out = console()
        out.print(runs_table(runs))
        out.print(f"\n{len(ids)} runs logged in {time.time() - started:.1f} s. Look around:")
        out.print(f"  runhistory --home {folder}")
        out.print(f"  runhistory --home {folder} info -r {ids[0][:8]}")
        out.print(f"  runhistory --home {folder} info -r {ids[0][:8]} -m train/loss --max-points 20")
    return 0
