"""System metrics: the run owner's sampler thread, in real processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runhistory.api import EmbeddedStore
from runhistory.api._settings import SYSTEM_METRICS_INTERVAL, InvalidSetting, Settings
from runhistory.logger import get_logger

from ._processes import run

SYSTEM = ["sys/cpu", "sys/disk_io", "sys/memory", "sys/net", "sys/rss"]

# Logs for 1.5 s, finishes, then waits: what the run holds at finish() must not grow after it.
TRAINING = """
import json, threading, time
from runhistory.logger import get_logger

logger = get_logger()
start = time.monotonic()
i = 0
while time.monotonic() - start < 1.5:
    logger.log("loss", float(i))
    i += 1
    if i % 1000 == 0:
        time.sleep(0.002)
logger.finish()
at_finish = {m.name: m.count for m in logger.store.list_metrics(logger.run_id)}
time.sleep(0.6)
after = {m.name: m.count for m in logger.store.list_metrics(logger.run_id)}
threads = [t.name for t in threading.enumerate()]
print(json.dumps({"run": logger.run_id, "at_finish": at_finish, "after": after, "threads": threads}))
"""


def _series(home: Path, run_id: str) -> dict[str, list[float]]:
    store = EmbeddedStore(home)
    return {
        m.name: [float(v) for v in store.read_series(run_id, m.name).values]  # type: ignore[arg-type]
        for m in store.list_metrics(run_id)
        if m.name.startswith("sys/")
    }


@pytest.mark.slow
def test_a_run_logs_system_metrics_until_it_finishes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = run(tmp_path, home, TRAINING, RUNHISTORY_SYSTEM_METRICS="0.2")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    report = json.loads(done.stdout)
    series = _series(home, report["run"])
    assert sorted(series) == SYSTEM
    for name in ("sys/cpu", "sys/memory"):
        assert all(0 <= v <= 100 for v in series[name]), (name, series[name])
    assert all(v >= 0 for v in series["sys/disk_io"] + series["sys/net"])
    assert all(10e6 < v < 10e9 for v in series["sys/rss"])  # a Python process holds tens of MB
    # A first sample after 0.2 s, then one each 0.2 s: about 7 in 1.5 s (fewer on a loaded machine).
    assert all(3 <= len(values) <= 8 for values in series.values()), {k: len(v) for k, v in series.items()}
    assert max(series["sys/cpu"]) > 0  # the loop kept a core busy
    # finish() stopped the thread: nothing came after it.
    assert report["at_finish"] == report["after"]
    assert "runhistory-system-metrics" not in report["threads"]


@pytest.mark.slow
def test_turned_off_and_joined_runs_sample_nothing(tmp_path: Path) -> None:
    """Off by the variable; off by the argument; a process that joined the run never samples."""
    home = tmp_path / "home"
    code = """
    import subprocess, sys, time
    from runhistory.logger import get_logger

    logger = get_logger(system_metrics=ARG)
    logger.log("loss", 1.0)
    if JOIN:  # a subprocess joins the run through RUNHISTORY_RUN_ID, sampling allowed by its environment
        subprocess.run([sys.executable, "-c", "import time; from runhistory.logger import get_logger; "
                        "get_logger().log('joined', 1.0); time.sleep(0.5)"], check=True)
    else:
        time.sleep(0.5)
    print(logger.run_id)
    """
    for arg, join, env in [("None", False, "0"), ("False", True, "0.2"), ("0", True, "0.2")]:
        done = run(tmp_path, home, code.replace("ARG", arg).replace("JOIN", str(join)), RUNHISTORY_SYSTEM_METRICS=env)
        assert done.returncode == 0, done.stderr
        assert _series(home, done.stdout.strip()) == {}, (arg, join, env)


@pytest.mark.slow
def test_without_psutil_only_the_cpu_is_logged_and_that_is_said_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code = """
    import sys, time
    sys.modules["psutil"] = None  # what an interpreter without psutil sees: import psutil fails
    from runhistory.logger import get_logger

    logger = get_logger()
    time.sleep(0.7)
    print(logger.run_id)
    """
    done = run(tmp_path, home, code, RUNHISTORY_SYSTEM_METRICS="0.2")
    assert done.returncode == 0, done.stderr
    assert sorted(_series(home, done.stdout.strip())) == ["sys/cpu"]
    assert done.stderr.count("psutil is not installed") == 1, done.stderr


def test_the_interval_is_checked_naming_the_variable() -> None:
    assert Settings.from_environ({}).system_metrics == SYSTEM_METRICS_INTERVAL == 10.0
    assert Settings.from_environ({"RUNHISTORY_SYSTEM_METRICS": "0"}).system_metrics == 0
    assert Settings.from_environ({"RUNHISTORY_SYSTEM_METRICS": "2.5"}).system_metrics == 2.5
    for bad, why in [
        ("ten", "is not 0 \\(off\\) or a number of seconds"),
        ("-1", "must be a finite number, 0 or more"),
        ("inf", "must be a finite number"),
        ("0.01", "is too short: 0 turns system metrics off, else at least 0.1 seconds"),
    ]:
        with pytest.raises(InvalidSetting, match=f"RUNHISTORY_SYSTEM_METRICS='{bad}' {why}"):
            Settings.from_environ({"RUNHISTORY_SYSTEM_METRICS": bad})


@pytest.mark.parametrize("bad", [-1, 0.01, float("nan"), float("inf")])
def test_a_bad_interval_argument_is_refused_before_a_run_starts(bad: float) -> None:
    with pytest.raises(ValueError, match="system_metrics=.*give False \\(off\\), True, or seconds, at least 0.1"):
        get_logger(system_metrics=bad)


@pytest.mark.slow
def test_runhistory_run_samples_the_command_and_the_processes_under_it(tmp_path: Path) -> None:
    # The command starts a child that keeps a core busy and holds 200 MB: the wrapper's
    # sampler counts them (its own process idles and holds far less).
    import subprocess
    import sys

    from ._processes import clean_env

    busy = (
        "import subprocess, sys; "
        "subprocess.run([sys.executable, '-c', "
        "'import time; block = bytearray(200 * 2**20); start = time.monotonic()\\n"
        "while time.monotonic() - start < 1.6: pass'])"
    )
    home = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, "-m", "runhistory.app.cli", "run", "--json", "--", sys.executable, "-c", busy],
        cwd=tmp_path,
        env=clean_env(home, RUNHISTORY_SYSTEM_METRICS="0.2"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["id"]
    series = _series(home, run_id)
    assert sorted(series) == SYSTEM
    cores = __import__("os").cpu_count() or 1
    assert max(series["sys/cpu"]) > 50 / cores  # a busy core among the machine's
    assert max(series["sys/rss"]) > 200 * 2**20  # the grandchild's block counted
