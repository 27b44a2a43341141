"""The ``runhistory`` command, run as a real subprocess against a real store."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from runhistory.api import EmbeddedStore, NewRun, SeriesBatch

from ._cli import as_json, cli
from ._processes import clean_env, run

RUN_FIELDS = {"id", "experiment", "status", "started_at", "ended_at", "command", "host", "git_commit", "error"}


def check_run_doc(doc: dict[str, Any]) -> None:
    assert RUN_FIELDS <= set(doc)
    assert len(doc["id"]) == 32
    assert doc["status"] in ("running", "completed", "failed", "killed", "lost")
    started = datetime.fromisoformat(doc["started_at"])
    assert started.tzinfo is not None
    if doc["ended_at"] is not None:
        assert datetime.fromisoformat(doc["ended_at"]).tzinfo is not None
    assert isinstance(doc["command"], list)


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A store with two runs: a finished one with metrics and files, and a failed one."""
    work = tmp_path_factory.mktemp("cli")
    home = work / "store"
    done = run(
        work,
        home,
        """
        import math
        from pathlib import Path
        from runhistory.logger import get_logger
        logger = get_logger(experiment="cli")
        Path("outputs").mkdir()
        Path("outputs/model.bin").write_bytes(bytes(range(256)) * 100)
        Path("outputs/config.json").write_text('{"lr": 0.001}')
        for i in range(1000):
            logger.log("loss", 1.0 / (i + 1))
        logger.log("odd", math.nan)
        logger.log("odd", math.inf)
        logger.log("odd", -math.inf)
        logger.log("note", "hello")
        logger.log("chart", [1, 2.5, math.nan])
        logger.upload("raw.bin", bytes(range(256)))
        print(logger.run_id)
        """,
    )
    assert done.returncode == 0, done.stderr
    good = done.stdout.strip()
    failed = run(
        work,
        home,
        "from runhistory.logger import get_logger\nget_logger(experiment='other').log('x', 1)\nraise SystemExit(1 / 0)\n",
    )
    assert failed.returncode == 1
    bad = EmbeddedStore(home).list_runs(experiment="other").runs[0].id
    return home, good, bad


def test_last_and_list_follow_the_contract(logged: tuple[Path, str, str]) -> None:
    home, good, bad = logged
    last = as_json(cli(home, "last", "--json"))
    check_run_doc(last)
    assert last["id"] == bad and last["status"] == "failed" and "ZeroDivisionError" in last["error"]
    runs = as_json(cli(home, "list", "--json"))
    assert [r["id"] for r in runs] == [bad, good]
    for r in runs:
        check_run_doc(r)
    assert [r["id"] for r in as_json(cli(home, "list", "--experiment", "cli", "--json"))] == [good]
    assert [r["id"] for r in as_json(cli(home, "list", "--status", "failed", "--json"))] == [bad]
    assert [r["id"] for r in as_json(cli(home, "list", "--limit", "1", "--json"))] == [bad]
    assert [r["id"] for r in as_json(cli(home, "list", "--limit", "1", "--after", bad[:6], "--json"))] == [good]
    # global options go before or after the command
    assert as_json(cli(home, "--json", "list"))[0]["id"] == bad


def test_human_output_is_a_table_and_plain_when_piped(logged: tuple[Path, str, str]) -> None:
    home, good, bad = logged
    done = cli(home, "list")
    text = done.stdout.decode()
    assert done.returncode == 0
    assert "\x1b[" not in text  # no colour codes into a pipe
    lines = text.splitlines()
    assert lines[0].split() == ["run", "experiment", "name", "status", "started", "duration", "tags"]
    assert lines[1].split()[:2] == [bad[:8], "other"] and "failed" in lines[1]
    info = cli(home, "info", "-r", good[:6]).stdout.decode()
    assert good in info and "loss" in info and "outputs/model.bin" in info and "25.0 KiB" in info


def test_info_json_has_metrics_and_artifacts(logged: tuple[Path, str, str]) -> None:
    home, good, _ = logged
    doc = as_json(cli(home, "info", "-r", good[:5], "--json"))
    check_run_doc(doc)
    assert doc["metrics"]["loss"] == {**doc["metrics"]["loss"], "kind": "number", "count": 1000, "last": 1 / 1000}
    assert doc["metrics"]["odd"]["last"] == "-Infinity"
    assert doc["metrics"]["note"]["kind"] == "string" and doc["metrics"]["chart"]["kind"] == "chart"
    assert doc["metrics"]["chart"]["last"] == [1, 2.5, "NaN"]
    paths = {a["path"]: a for a in doc["artifacts"]}
    assert set(paths) == {"raw.bin", "outputs/model.bin", "outputs/config.json"}
    assert paths["raw.bin"]["size"] == 256 and len(paths["raw.bin"]["sha256"]) == 64


def test_info_metric_points_in_order_and_downsampled(logged: tuple[Path, str, str]) -> None:
    home, good, _ = logged
    doc = as_json(cli(home, "info", "-r", good, "-m", "loss", "--json"))
    assert (doc["name"], doc["kind"]) == ("loss", "number")
    assert [p["step"] for p in doc["points"]] == list(range(1000))
    assert [p["value"] for p in doc["points"]] == [1.0 / (i + 1) for i in range(1000)]
    assert datetime.fromisoformat(doc["points"][0]["time"]).tzinfo is not None
    small = as_json(cli(home, "info", "-r", good, "-m", "loss", "--max-points", "10", "--json"))
    assert 2 <= len(small["points"]) <= 10
    assert small["points"][0]["step"] == 0 and small["points"][-1]["step"] == 999
    ranged = as_json(cli(home, "info", "-r", good, "-m", "loss", "--from-step", "100", "--to-step", "199", "--json"))
    assert [p["step"] for p in ranged["points"]] == list(range(100, 200))
    backwards = cli(home, "info", "-r", good, "-m", "loss", "--from-step", "9", "--to-step", "1")
    assert backwards.returncode != 0 and b"start_step 9 is after end_step 1" in backwards.stderr
    odd = as_json(cli(home, "info", "-r", good, "-m", "odd", "--json"))
    assert [p["value"] for p in odd["points"]] == ["NaN", "Infinity", "-Infinity"]


def test_info_artifact_is_raw_bytes(logged: tuple[Path, str, str]) -> None:
    home, good, _ = logged
    done = cli(home, "info", "-r", good, "-a", "raw.bin")
    assert done.returncode == 0 and done.stdout == bytes(range(256))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("info", "-r", "ffffffff"), "no run 'ffffffff'"),
        (("info", "-r", "{good}", "-a", "nope"), "has no artifact 'nope'"),
        (("info", "-r", "{good}", "-m", "nope"), "has no metric 'nope'"),
        (("promote", "-r", "{good}", "-ap", "nothing/here", "-n", "m"), "nothing promoted"),
        (("asset", "download", "never-promoted"), "no asset 'never-promoted'"),
        (("info", "-r", ""), "no run ''"),
    ],
)
def test_not_found_is_one_line_and_exit_1(logged: tuple[Path, str, str], args: tuple[str, ...], message: str) -> None:
    home, good, _ = logged
    done = cli(home, *(a.format(good=good) for a in args))
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and done.stdout == b""


def test_ambiguous_prefix_lists_the_candidates(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    ids = ["ab" + "1" * 30, "ab" + "2" * 30]
    for i in ids:
        store.create_run(NewRun(run_id=i))
    done = cli(tmp_path, "info", "-r", "ab")
    assert done.returncode == 1
    err = done.stderr.decode()
    assert "ambiguous" in err and ids[0] in err and ids[1] in err


@pytest.mark.parametrize(
    "args",
    [
        ("bogus",),
        ("info",),
        ("list", "--limit", "x"),
        ("list", "--status", "sleepy"),
        ("info", "-r", "ab", "-a", "x", "-m", "y"),
        ("run",),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = cli(tmp_path, *args)
    assert done.returncode == 2, done.stderr
    assert b"Traceback" not in done.stderr


def test_the_seed_workflow_log_inspect_promote_download(logged: tuple[Path, str, str], tmp_path: Path) -> None:
    home, good, _ = logged
    first = as_json(cli(home, "promote", "-r", good[:8], "-ap", "outputs", "-n", "cnn", "--json"))
    assert (first["name"], first["version"], first["run"], first["prefix"]) == ("cnn", 1, good, "outputs")
    assert [f["path"] for f in first["files"]] == ["outputs/config.json", "outputs/model.bin"]
    second = as_json(cli(home, "promote", "-r", good[:8], "-ap", "outputs/model.bin", "-n", "cnn", "--json"))
    assert second["version"] == 2 and [f["path"] for f in second["files"]] == ["outputs/model.bin"]
    human = cli(home, "promote", "-r", good[:8], "-ap", "raw.bin", "-n", "raw").stdout.decode()
    assert "raw:1" in human
    assets = as_json(cli(home, "assets", "--json"))
    assert [(a["name"], a["latest_version"], a["versions"]) for a in assets] == [("cnn", 2, 2), ("raw", 1, 1)]
    versions = as_json(cli(home, "assets", "cnn", "--json"))
    assert [v["version"] for v in versions] == [1, 2]
    got = as_json(cli(home, "asset", "download", "cnn:1", "-o", str(tmp_path / "v1"), "--json"))
    assert sorted(f["path"] for f in got["files"]) == ["outputs/config.json", "outputs/model.bin"]
    assert (tmp_path / "v1/outputs/model.bin").read_bytes() == bytes(range(256)) * 100
    latest = cli(home, "asset", "download", "cnn", "-o", str(tmp_path / "latest"))
    assert latest.returncode == 0 and "sha256 checked" in latest.stdout.decode()
    assert sorted(p.name for p in (tmp_path / "latest/outputs").iterdir()) == ["model.bin"]
    one = cli(home, "download", "-r", good, "-a", "raw.bin", "-o", str(tmp_path / "one"))
    assert one.returncode == 0 and (tmp_path / "one/raw.bin").read_bytes() == bytes(range(256))
    folder = cli(home, "download", "-r", good, "-ap", "outputs", "-o", str(tmp_path / "all"))
    assert folder.returncode == 0
    assert sorted(p.name for p in (tmp_path / "all/outputs").iterdir()) == ["config.json", "model.bin"]


def test_no_runs_yet(tmp_path: Path) -> None:
    done = cli(tmp_path, "last")
    assert done.returncode == 1 and b"no runs yet" in done.stderr
    assert as_json(cli(tmp_path, "list", "--json")) == []


# -- runhistory run -- CMD --------------------------------------------------------------


def test_run_tracks_a_command_and_captures_its_console(tmp_path: Path) -> None:
    home = tmp_path / "store"
    (tmp_path / "train.py").write_text(
        "import sys\n"
        "from runhistory.logger import get_logger\n"
        "logger = get_logger()\n"
        "print('epoch 1 done')\n"
        "print('a warning', file=sys.stderr)\n"
        "logger.log('loss', 0.5).wait()\n"
        "import os; os.makedirs('outputs', exist_ok=True); open('outputs/w.txt', 'w').write('w')\n"
    )
    done = cli(
        home, "run", "--experiment", "wrapped", "--name", "first", "--", sys.executable, "train.py", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert b"epoch 1 done" in done.stdout and b"a warning" in done.stderr
    store = EmbeddedStore(home)
    (r,) = store.list_runs().runs  # the child joined the wrapper's run
    assert (r.experiment, r.name, r.status, r.exit_code) == ("wrapped", "first", "completed", 0)
    assert r.command == [sys.executable, "train.py"]
    assert store.read_series(r.id, "loss").values == [0.5]
    with store.open_artifact(r.id, "logs/console.txt") as f:
        console = f.read()
    assert b"epoch 1 done" in console and b"a warning" in console
    assert [a.path for a in store.list_artifacts(r.id, "outputs")] == ["outputs/w.txt"]


def test_run_records_failure_and_passes_the_exit_code(tmp_path: Path) -> None:
    home = tmp_path / "store"
    done = cli(home, "run", "--", sys.executable, "-c", "import sys; print('bye'); sys.exit(3)", cwd=tmp_path)
    assert done.returncode == 3
    (r,) = EmbeddedStore(home).list_runs().runs
    assert (r.status, r.exit_code, r.error) == ("failed", 3, "exited with code 3")
    missing = cli(home, "run", "--", "no-such-program-here", cwd=tmp_path)
    assert missing.returncode == 127 and b"could not start" in missing.stderr


def test_run_json_keeps_stdout_for_the_document(tmp_path: Path) -> None:
    done = cli(tmp_path / "s", "run", "--json", "--", sys.executable, "-c", "print('noise')", cwd=tmp_path)
    doc = as_json(done)
    check_run_doc(doc)
    assert doc["status"] == "completed" and b"noise" in done.stderr


def test_run_forwards_sigterm_and_a_dying_child_keeps_its_log(tmp_path: Path) -> None:
    home = tmp_path / "store"
    script = tmp_path / "loop.py"
    script.write_text("import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "runhistory.app.cli", "run", "--", sys.executable, str(script)],
        env=clean_env(home),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"started"
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM
    (r,) = EmbeddedStore(home).list_runs().runs
    assert (r.status, r.error) == ("killed", "killed by SIGTERM")
    with EmbeddedStore(home).open_artifact(r.id, "logs/console.txt") as f:
        assert f.read() == b"started\n"


@pytest.mark.slow
def test_console_is_uploaded_while_the_command_runs(tmp_path: Path) -> None:
    home = tmp_path / "store"
    script = tmp_path / "slow.py"
    script.write_text("import time\nprint('tick', flush=True)\ntime.sleep(30)\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "runhistory.app.cli", "run", "--", sys.executable, str(script)],
        env=clean_env(home),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            runs = EmbeddedStore(home).list_runs().runs if (home / "runhistory.sqlite3").exists() else []
            if runs and EmbeddedStore(home).list_artifacts(runs[0].id, "logs"):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the console was not uploaded while the command ran")
        assert runs[0].status == "running"
    finally:
        process.kill()
        process.communicate()


def test_global_home_flag_overrides_the_environment(tmp_path: Path, logged: tuple[Path, str, str]) -> None:
    home, good, _ = logged
    done = cli(tmp_path / "elsewhere", "--home", str(home), "list", "--json")
    assert good in {r["id"] for r in json.loads(done.stdout)}


def test_demo_logs_runs_with_files_and_promoted_assets(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    runs = as_json(cli(tmp_path / "unused", "--home", str(home), "demo", "--json", timeout=120))
    assert sorted(r["name"] for r in runs) == ["baseline", "diverged", "high-lr", "low-lr", "resnet18"]
    assets = as_json(cli(tmp_path / "unused", "--home", str(home), "assets", "--json"))
    assert [(a["name"], a["versions"]) for a in assets] == [
        ("cifar-resnet", 1),
        ("mnist-classifier", 2),
        ("mnist-config", 1),
    ]
    by_name = {r["name"]: r["id"] for r in runs}
    versions = as_json(cli(tmp_path / "unused", "--home", str(home), "assets", "mnist-classifier", "--json"))
    assert [(v["version"], v["run"]) for v in versions] == [(1, by_name["high-lr"]), (2, by_name["baseline"])]
    assert "outputs/plots/confusion.png" in [f["path"] for f in versions[1]["files"]]


def test_point_times_no_date_holds_are_shown_as_numbers(tmp_path: Path) -> None:
    # A server takes times in range; an older store, or the Python API, may hold any number.
    home = tmp_path / "home"
    store = EmbeddedStore(home)
    run_id = store.create_run(NewRun()).id
    odd = [1e300, float("nan"), -1e20, 1_700_000_000.25]
    store.append_metrics(run_id, {"x": SeriesBatch("number", [1.0, 2.0, 3.0, 4.0], [None] * 4, odd)})
    store.close()
    shown = cli(home, "info", "-r", run_id, "-m", "x").stdout.decode()
    assert "1e+300" in shown and "nan" in shown and "-1e+20" in shown and "2023-11-" in shown
    doc = as_json(cli(home, "info", "-r", run_id, "-m", "x", "--json"))
    assert [p["time"] for p in doc["points"]][:3] == [1e300, "NaN", -1e20]
    assert doc["points"][3]["time"].startswith("2023-11-14T22:13:20.25")
