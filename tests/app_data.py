"""A store with fixed runs for the app's tests: fixed ids, fixed times, a fixed clock.

Everything the app shows is derived from the store and the app's clock, so
with both fixed the screens are the same on every machine (given ``TZ=UTC``).
"""

from __future__ import annotations

import io
import json
import math
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from runhistory.api import EmbeddedStore, NewRun, SeriesBatch, Store
from runhistory.api._embedded.schema import RUN_TEXT
from runhistory.api._media import media_path

#: The app's "now" in every test: 2023-11-14 22:13:20 UTC.
NOW = 1_700_000_000.0

BASELINE = "a1" * 16
HIGH_LR = "b2" * 16
DIVERGED = "c3" * 16
LIVE = "d4" * 16


@contextmanager
def store_time(store: EmbeddedStore, moment: list[float]) -> Iterator[None]:
    """Inside, the store's clock reads ``moment[0]`` (it stamps runs, points and files with it)."""
    real = store.clock
    store.clock = lambda: moment[0]
    try:
        yield
    finally:
        store.clock = real


def batch(
    kind: str, values: list[Any], start: float, every: float = 1.0, steps: list[int | None] | None = None
) -> SeriesBatch:
    return SeriesBatch(kind, values, steps or [None] * len(values), [start + i * every for i in range(len(values))])  # type: ignore[arg-type]


def loss_curve(n: int, floor: float, seed: int) -> list[float]:
    # A decaying loss with a deterministic wiggle (no random module: same on every Python).
    return [floor + 2.0 * math.exp(-5 * i / n) + 0.03 * math.sin(i * 0.7 + seed) for i in range(n)]


def _train(store: Store, run_id: str, started: float, floor: float, seed: int, n: int = 300) -> None:
    store.append_metrics(
        run_id,
        {
            "train/loss": batch("number", loss_curve(n, floor, seed), started + 1, 2.0),
            "train/lr": batch("number", [1e-3 * (1 - i / n) for i in range(n)], started + 1, 2.0),
            "val/accuracy": batch(
                "number",
                [0.5 + 0.04 * i - floor / 10 for i in range(10)],
                started + 60,
                60.0,
                steps=[(i + 1) * 30 - 1 for i in range(10)],
            ),
            "val/per_class_accuracy": batch(
                "chart",
                [[0.5 + 0.04 * k + 0.01 * c for c in range(10)] for k in range(3)],
                started + 60,
                200.0,
                steps=[99, 199, 299],
            ),
            "phase": batch("string", ["warmup", "train", "done"], started, 250.0),
        },
    )


def sample_png(width: int = 64, height: int = 32) -> bytes:
    """A PNG of coloured tiles in a dark grid, 8 pixels apart: red grows to the right, green downwards.

    Stored uncompressed, so its bytes (and the size the tree shows) do not
    depend on the zlib Pillow was built with.
    """
    image = Image.new("RGB", (width, height))
    columns, rows = max(1, (width - 1) // 8), max(1, (height - 1) // 8)
    for y in range(height):
        for x in range(width):
            line = x % 8 == 0 or y % 8 == 0 or x == width - 1 or y == height - 1
            tile = (40 + 215 * (x // 8) // columns, 40 + 215 * (y // 8) // rows, 160)
            image.putpixel((x, y), (20, 20, 20) if line else tile)
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=0)
    return out.getvalue()


#: Files of the baseline run besides its metrics: text, JSON, a table, an image, a checkpoint.
ARTIFACTS = {
    "train.py": b'import torch\n\n\ndef main(lr: float = 1e-3) -> None:\n    print(f"training with lr={lr}")\n',
    "config.json": b'{"lr": 0.001, "epochs": 30, "model": {"kind": "cnn", "channels": [32, 64]}}',
    "outputs/confusion.tsv": b"label\tcat\tdog\ncat\t91\t9\ndog\t7\t93\n",
    "outputs/samples.png": sample_png(),
    "checkpoints/model.pt": b"PK\x03\x04" + bytes(range(256)) * 16,
}


def make_store(home: Path) -> EmbeddedStore:
    """Four runs: two completed, one failed, one running (with a console log)."""
    store = EmbeddedStore(home, lost_after=1e12)  # the running run never turns "lost"
    moment = [NOW]
    common = dict(cwd="/home/ada/mnist", host="gpu-box-1", user="ada", python="3.11.7", pid=4242)
    with store_time(store, moment):
        for run_id, experiment, name, started, floor, seed in (
            (BASELINE, "mnist-cnn", "baseline", NOW - 3 * 3600, 0.05, 1),
            (HIGH_LR, "mnist-cnn", "high-lr", NOW - 2 * 3600, 0.35, 2),
        ):
            moment[0] = started
            store.create_run(
                NewRun(
                    experiment=experiment,
                    name=name,
                    run_id=run_id,
                    command=["python", "train.py", f"--seed={seed}"],
                    **common,
                )
            )  # type: ignore[arg-type]
            store.update_run(run_id, git_commit="3f2a9c1d0b7e4a5f8c6d2e1b0a9f8e7d6c5b4a39", git_dirty=seed == 2)
            _train(store, run_id, started, floor, seed)
            moment[0] = started + (1512 if seed == 1 else 1200)
            store.put_artifact(run_id, "outputs/metrics.csv", b"epoch,loss\n1,0.5\n")
            if run_id == BASELINE:
                for path, data in ARTIFACTS.items():
                    store.put_artifact(run_id, path, data)
            store.finish_run(run_id, "completed")
        moment[0] = NOW - 3600
        store.create_run(
            NewRun(
                experiment="resnet-cifar",
                name="diverged",
                run_id=DIVERGED,
                command=["python", "train.py", "--lr=0.1"],
                **common,
            )
        )  # type: ignore[arg-type]
        store.append_metrics(DIVERGED, {"train/loss": batch("number", [2.3, 1.9, 2.8, 7.5, math.nan], NOW - 3590, 5.0)})
        moment[0] = NOW - 3600 + 65
        store.finish_run(
            DIVERGED,
            "failed",
            error='Traceback (most recent call last):\n  File "train.py", line 88\n'
            "RuntimeError: loss is NaN at step 4: gradient exploded",
        )
        moment[0] = NOW - 300
        store.create_run(
            NewRun(
                experiment="resnet-cifar",
                name="live",
                run_id=LIVE,
                command=["python", "train.py", "--epochs=90"],
                **common,
            )
        )  # type: ignore[arg-type]
        store.append_metrics(
            LIVE,
            {
                "train/loss": batch("number", loss_curve(120, 0.2, 4), NOW - 290, 2.0),
                "phase": batch("string", ["warmup"], NOW - 290),
            },
        )
        store.put_artifact(LIVE, "logs/console.txt", b"training resnet on cifar-10\nepoch 1/90 loss 2.31\n")
        moment[0] = NOW - 2
        store.heartbeat(LIVE)
    # What describes them: a config each, tags and a note.
    for run_id, lr, batch_size in ((BASELINE, 1e-3, 64), (HIGH_LR, 3e-3, 64), (DIVERGED, 0.1, 128), (LIVE, 0.01, 128)):
        store.set_params(run_id, {"lr": lr, "batch_size": batch_size, "optimizer.name": "adam", "seed": 1})
    store.update_tags(BASELINE, add=["baseline", "best"])
    store.update_tags(DIVERGED, add=["unstable"])
    store.set_note(DIVERGED, "lr 0.1 is too high for resnet: loss NaN at step 4")
    return store


def fixed_clock() -> Callable[[], float]:
    return lambda: NOW


def insert_runs(home: Path, count: int, newest: float = NOW - 86400) -> None:
    """``count`` finished runs straight into the store's table (a minute apart, older than every other run)."""
    EmbeddedStore(home).close()
    rows = []
    for i in range(count):
        started = newest - 60 * i
        rows.append(
            (
                uuid.UUID(int=i + 1).hex,
                f"bulk-{i % 7}",
                f"bulk run {i}",
                "completed",
                started,
                started + 30,
                started + 30,
                json.dumps(["python", "sweep.py", f"--trial={i}"]),
                "/tmp",
                "host",
                "user",
                "3.11.7",
                None,
                None,
                None,
                None,
                None,
                "[]",
            )
        )
    conn = sqlite3.connect(home / "runhistory.sqlite3")
    with conn:
        conn.executemany(
            "INSERT INTO runs (id, experiment, name, status, started_at, ended_at, heartbeat_at, command, cwd, host, "
            "user, python, pid, git_commit, git_dirty, error, exit_code, skipped_files) VALUES ("
            + ", ".join("?" * 18)
            + ")",
            rows,
        )
        conn.execute(
            f"INSERT INTO run_text (run_id, body) SELECT id, {RUN_TEXT} FROM runs WHERE id NOT IN (SELECT run_id FROM run_text)"
        )
    conn.close()


#: Steps of the images ``add_media`` logs: samples every 100 steps, a confusion matrix at the end of each epoch.
SAMPLE_STEPS = (0, 100, 200, 300)
CONFUSION_STEPS = (99, 199, 299)


def media_png(step: int, width: int = 48, height: int = 32, caption: str | None = None) -> bytes:
    """A picture that sharpens as training goes on: rings, blurred by noise that fades with ``step``.

    Made from arithmetic alone (no random module, no resampling) and stored
    uncompressed, so its bytes are the same on every machine.
    """
    image = Image.new("RGB", (width, height))
    fade = max(0.0, 1 - step / 300)
    for y in range(height):
        for x in range(width):
            ring = (math.hypot(x - width / 2, y - height / 2) // 4) % 2
            wobble = ((x * 7 + y * 13) % 17) / 16 * fade
            value = ring * (1 - fade) + wobble
            image.putpixel((x, y), (int(40 + 200 * value), int(60 + 120 * (y / height)), int(200 - 120 * value)))
    info = PngImagePlugin.PngInfo()
    if caption is not None:
        info.add_itxt("Description", caption)
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=0, pnginfo=info)
    return out.getvalue()


def confusion_png(step: int, classes: int = 6, cell: int = 4) -> bytes:
    """A confusion matrix whose diagonal brightens with ``step``."""
    image = Image.new("RGB", (classes * cell, classes * cell))
    right = 0.4 + 0.5 * step / 300
    for y in range(classes * cell):
        for x in range(classes * cell):
            share = right if x // cell == y // cell else (1 - right) / (classes - 1) * (1 + (x + y) % 3) / 2
            image.putpixel((x, y), (int(68 + 185 * share), int(1 + 230 * share), int(84 - 47 * share)))
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=0)
    return out.getvalue()


def add_media(store: EmbeddedStore, run_id: str = BASELINE) -> None:
    """Images as ``log_image`` stores them: ``samples`` (with captions) and ``val/confusion``, at fixed times."""
    moment = [NOW - 2 * 3600]
    with store_time(store, moment):
        for step in SAMPLE_STEPS:
            moment[0] += 60
            caption = f"epoch {step // 100} · val loss {2.3 * math.exp(-step / 150):.3f}"
            store.put_artifact(run_id, media_path("samples", step), media_png(step, caption=caption))
        for step in CONFUSION_STEPS:
            moment[0] += 60
            store.put_artifact(run_id, media_path("val/confusion", step), confusion_png(step))


#: Asset versions ``add_assets`` makes: (name, run, prefix, when), in promotion order.
ASSET_VERSIONS = (
    ("mnist-classifier", BASELINE, "outputs/", NOW - 150 * 60),
    ("mnist-classifier", HIGH_LR, "outputs/", NOW - 90 * 60),
    ("mnist-classifier", BASELINE, "outputs/", NOW - 40 * 60),
    ("mnist-config", BASELINE, "config.json", NOW - 35 * 60),
)


def add_assets(store: EmbeddedStore) -> None:
    """Promote files of ``make_store``'s runs at fixed times: mnist-classifier v1–v3 and mnist-config v1."""
    moment = [NOW]
    with store_time(store, moment):
        for name, run_id, prefix, when in ASSET_VERSIONS:
            moment[0] = when
            store.promote(run_id, prefix, name)
