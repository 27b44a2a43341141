"""Training scripts run as real processes with the real frameworks, offline, on the CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from runhistory.api import EmbeddedStore, Run

from .._processes import clean_env, write_script


def train(
    folder: Path, home: Path, code: str, *, args: list[str] | None = None, processes: int = 1, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in ``folder`` (with ``args``), logging into the store at ``home``; with ``processes`` > 1,
    as ``torchrun --standalone --nproc_per_node=<processes>`` launches it."""
    script = write_script(folder, code)
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    env = clean_env(
        home,
        # Nothing is fetched: the models are built from configs, and no hub is reachable here.
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HOME=str(folder / "hf"),
        KERAS_BACKEND="torch",
        KERAS_HOME=str(folder / "keras"),
        # Two cores, shared by the test workers: one thread per training process.
        OMP_NUM_THREADS="1",
    )
    return subprocess.run(
        [*launcher, str(script), *(args or [])], cwd=folder, env=env, capture_output=True, text=True, timeout=timeout
    )


def reports(folder: Path) -> list[Any]:
    """What each process of a multi-process script wrote to ``report-<rank>.json`` in ``folder``, by rank.
    A file each, because the processes share one stdout and their lines can interleave there."""
    found = [json.loads(path.read_text()) for path in folder.glob("report-*.json")]
    return sorted(found, key=lambda r: r["rank"])


def runs(home: Path) -> dict[str | None, Run]:
    """The store's runs by name."""
    return {r.name: r for r in EmbeddedStore(home).list_runs().runs}


def points(home: Path, run: Run) -> dict[str, list[tuple[int, Any]]]:
    """Each metric of ``run`` as its (step, value) points, in logging order."""
    store = EmbeddedStore(home)
    out = {}
    for metric in store.list_metrics(run.id):
        series = store.read_series(run.id, metric.name)
        out[metric.name] = list(zip(series.steps, series.values))
    return out


def artifacts(home: Path, run: Run) -> dict[str, str]:
    """The run's files: path → sha256."""
    return {a.path: a.sha256 for a in EmbeddedStore(home).list_artifacts(run.id)}
