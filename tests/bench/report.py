"""What the benchmark scripts share: the workload's shape and how figures are printed."""

from __future__ import annotations

import importlib.util
import math
import os
import platform
import random
import time
from pathlib import Path
from typing import Any


def noisy_loss(n: int, seed: int = 1) -> list[float]:
    """A decaying training loss with noise: what a real series looks like."""
    rng = random.Random(seed)
    gauss = rng.gauss
    scale = n / 5 or 1
    return [2.0 * math.exp(-i / scale) + 0.1 + 0.05 * gauss(0.0, 1.0) for i in range(n)]


def timed_plain_loop(logger: Any, name: str, points: int) -> tuple[float, float]:
    """Exactly the plain loop a training script writes, a method call per value, then wait on
    the last value's handle: seconds for the loop, and for the loop and the wait."""
    t0 = time.perf_counter()
    for i in range(points):
        h = logger.log(name, float(i))
    t1 = time.perf_counter()
    h.wait()
    t2 = time.perf_counter()
    return t1 - t0, t2 - t0


def mlflow_installed() -> bool:
    """Whether ``import mlflow`` can find it (without importing it: that takes a second)."""
    try:
        return importlib.util.find_spec("mlflow") is not None
    except (ImportError, ValueError):
        return False


def machine_line() -> str:
    """The machine the figures were measured on: cores, CPU model, RAM, OS."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        mem_s = f"{mem:.0f} GiB RAM"
    except (ValueError, OSError):
        mem_s = "RAM unknown"
    return f"- machine: {os.cpu_count()} cores ({usable} usable), {cpu}, {mem_s}, {platform.platform()}"


def count(x: float) -> str:
    """A count with thousands separators."""
    return f"{x:,.0f}"


def num(x: float, unit: str = "") -> str:
    """Three significant digits, or whole numbers with separators when large."""
    if x >= 1000:
        s = f"{x:,.0f}"
    elif x >= 100:
        s = f"{x:.0f}"
    elif x >= 10:
        s = f"{x:.1f}"
    elif x >= 1:
        s = f"{x:.2f}"
    else:
        s = f"{x:.3f}"
    return f"{s} {unit}".rstrip() if unit else s


def rate(x: float) -> str:
    return f"{x / 1e6:.2f} M points/s" if x >= 1e6 else f"{count(x)} points/s"


def ratio(rh: float | None, ml: float | None, higher_is_better: bool, smaller_ml: bool = False) -> str:
    """How many times runhistory beats MLflow on this measure (lower cost / higher rate)."""
    if rh is None or ml is None or rh <= 0 or ml <= 0:
        return "—"
    factor = rh / ml if higher_is_better else ml / rh
    mark = " †" if smaller_ml else ""
    if factor >= 1:
        return f"{num(factor)}× better{mark}"
    return f"{num(1 / factor)}× worse{mark}"


def met(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "**NO**")


def print_table(rows: list[list[str]], mlflow_column: str) -> None:
    """The results as a markdown table."""
    header = ["measure", "runhistory", mlflow_column, "ratio", "target", "met?"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] * len(header)) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
