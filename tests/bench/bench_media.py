"""Image logging benchmark: what ``log_image()`` costs the caller and the training loop.

A plain script, not a pytest test::

    .venv/bin/python tests/bench/bench_media.py            # 256×256 and 1024×1024 RGB (about a minute)
    .venv/bin/python tests/bench/bench_media.py --quick    # fewer images, a smoke run

For each image size, on a fresh embedded store each time:

(a) the caller's time of one ``log_image(name, array, step)`` (median of many):
    the checks and the copy, the PNG being encoded by the writer;
(b) images stored per second: from the first call until ``flush()`` returns;
(c) a training loop of ``STEPS`` steps of NumPy work (matrix products, which
    leave the GIL like a framework's kernels), logging an image every
    ``EVERY`` steps: its time against the same loop logging nothing, with
    runhistory, with the PNG encoded on the loop's own thread (what a logger
    that encodes at the call costs: Pillow's ``save`` into memory, nothing
    stored), and with MLflow's ``mlflow.log_image`` (sqlite backend; by
    default it converts the image and makes a WebP thumbnail at the call and
    writes the PNG on a thread pool) when MLflow is installed
    (``pip install -e '.[bench]'``).

The variants of (c) alternate over the rounds; medians are printed as a
markdown table with the machine and the command line. NumPy's BLAS is held to
one thread, so that the loop is one core's work, as a loop that feeds a GPU
is, and the writer has the other core.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy is imported (see the module docstring)

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from report import machine_line, mlflow_installed, num  # noqa: E402

#: Training steps of the loop in (c), and an image every this many.
STEPS = 40
EVERY = 4
#: Side of the square matrices one step multiplies, and how many products a step is.
MATRIX = 384
PRODUCTS = 6


def natural_image(side: int, seed: int = 1) -> np.ndarray:
    """An RGB uint8 picture with gradients, shapes and sensor-like noise (what PNG sees in a real sample)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    r = 0.5 + 0.5 * np.sin(6 * x + 3 * y)
    g = np.clip(1.2 - np.hypot(x - 0.6, y - 0.4) * 2, 0, 1)
    b = (np.floor(x * 8) + np.floor(y * 8)) % 2 * 0.6 + 0.2
    image = np.stack([r, g, b], axis=-1) * 255 + rng.normal(0, 6, (side, side, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def new_logger(folder: Path) -> Any:
    from runhistory.api import EmbeddedStore, NewRun
    from runhistory.logger import Logger

    store = EmbeddedStore(folder / "store")
    run = store.create_run(NewRun(experiment="bench-media"))
    logger = Logger(store, run.id, owner=True, cwd=str(folder))
    logger.log("started", 1).wait()  # the writer is running, the run's first records are made
    return logger


def call_cost(image: np.ndarray, calls: int) -> tuple[float, float]:
    """(a) median seconds of one ``log_image`` call, and (b) images stored per second."""
    with tempfile.TemporaryDirectory(prefix="bench-media-") as tmp:
        logger = new_logger(Path(tmp))
        log_image = logger.log_image
        log_image("warm", image, step=0).wait()  # Pillow imported, the first PNG written
        each = []
        started = time.perf_counter()
        for step in range(calls):
            t0 = time.perf_counter()
            log_image("samples", image, step=step)
            each.append(time.perf_counter() - t0)
        logger.flush()
        stored = calls / (time.perf_counter() - started)
        logger.finish()
    return statistics.median(each), stored


def train(log: Callable[[np.ndarray, int], None] | None, image: np.ndarray) -> float:
    """(c) seconds of the loop: ``STEPS`` steps of matrix products, ``log`` called every ``EVERY`` steps."""
    rng = np.random.default_rng(0)
    a, b = rng.random((MATRIX, MATRIX), dtype=np.float32), rng.random((MATRIX, MATRIX), dtype=np.float32)
    started = time.perf_counter()
    for step in range(STEPS):
        for _ in range(PRODUCTS):
            a = (a @ b) / MATRIX
        if log is not None and step % EVERY == 0:
            log(image, step)
    return time.perf_counter() - started


def loop_variants(image: np.ndarray, rounds: int, with_mlflow: bool) -> dict[str, float]:
    """Median seconds of the loop for each way of logging, alternating over ``rounds``."""
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-media-loop-") as tmp:
        folder = Path(tmp)
        logger = new_logger(folder / "runhistory")
        logger.log_image("warm", image, step=0).wait()

        def runhistory(img: np.ndarray, step: int) -> None:
            logger.log_image("samples", img, step=step)

        def at_the_call(img: np.ndarray, step: int) -> None:
            Image.fromarray(img).save(io.BytesIO(), "PNG")

        variants: dict[str, Callable[[np.ndarray, int], None] | None] = {
            "nothing logged": None,
            "runhistory log_image": runhistory,
            "PNG encoded at the call": at_the_call,
        }
        if with_mlflow:
            mlflow = mlflow_setup(folder / "mlflow")
            mlflow.start_run()
            variants["MLflow log_image"] = lambda img, step: mlflow.log_image(img, key="samples", step=step)
        for r in range(rounds):
            names = list(variants) if r % 2 == 0 else list(reversed(variants))
            for name in names:
                took = train(variants[name], image)
                if name == "runhistory log_image":
                    logger.flush()  # each round starts with an idle writer
                times.setdefault(name, []).append(took)
        logger.finish()
        if with_mlflow:
            mlflow.flush_artifact_async_logging()  # its PNGs are written by a thread pool of its own
            mlflow.end_run()
    return {name: statistics.median(values) for name, values in times.items()}


def mlflow_setup(folder: Path) -> Any:
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    import mlflow

    folder.mkdir(parents=True)
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    exp_id = mlflow.create_experiment("bench-media", artifact_location=(folder / "artifacts").as_uri())
    mlflow.set_experiment(experiment_id=exp_id)
    return mlflow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and rounds")
    args = parser.parse_args()
    sides = (256, 1024)
    calls = {256: 40, 1024: 10} if args.quick else {256: 200, 1024: 40}
    rounds = 2 if args.quick else 5
    with_mlflow = mlflow_installed()

    print(machine_line())
    print(f"- command: {shlex.join([os.path.basename(sys.executable), *sys.argv])}")
    if with_mlflow:
        import mlflow

        print(f"- MLflow {mlflow.__version__}, sqlite backend")
    else:
        print("- MLflow not installed: its row is left out")
    print(
        f"- (c): {STEPS} steps of {PRODUCTS} products of {MATRIX}×{MATRIX} float32 matrices, an image every "
        f"{EVERY} steps, {rounds} rounds alternating; medians"
    )
    print()
    print("| measure | " + " | ".join(f"{side}×{side} RGB" for side in sides) + " |")
    print("|---|" + "---|" * len(sides))
    costs = {side: call_cost(natural_image(side), calls[side]) for side in sides}
    print(
        "| (a) `log_image()` on the caller's thread | "
        + " | ".join(f"{num(costs[s][0] * 1e3)} ms" for s in sides)
        + " |"
    )
    print("| (b) images stored per second | " + " | ".join(num(costs[s][1]) for s in sides) + " |")
    loops = {side: loop_variants(natural_image(side), rounds, with_mlflow) for side in sides}
    for name in loops[sides[0]]:
        cells = []
        for side in sides:
            took, base = loops[side][name], loops[side]["nothing logged"]
            cells.append(f"{num(took)} s" + ("" if name == "nothing logged" else f" ({took / base:.2f}×)"))
        print(f"| (c) loop, {name} | " + " | ".join(cells) + " |")
    png = {}
    for side in sides:
        out = io.BytesIO()
        Image.fromarray(natural_image(side)).save(out, "PNG")
        png[side] = len(out.getvalue())
    print("| its PNG | " + " | ".join(f"{png[s] / 1024:,.0f} KiB" for s in sides) + " |")


if __name__ == "__main__":
    main()
