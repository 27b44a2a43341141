"""``runhistory import mlflow``: stores and a server MLflow 3 writes and runs, every point compared.

The stores are written by MLflow itself in a process of their own (``_mlflow_source``),
which also reads everything back with MLflow's client: that is what each import is held
against (steps, values, the millisecond timestamps MLflow keeps, every file's sha256).
The refusals of bad input need no MLflow and run in the quick run.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from runhistory.api import EmbeddedStore, Store
from runhistory.app.importers.from_mlflow import STATUSES, SYSTEM_TAG_PARAMS, asset_name
from runhistory.app.importers.runs import derived_run_id

from ._cli import cli
from ._processes import clean_env
from ._server import unused_port

SOURCE = Path(__file__).with_name("_mlflow_source.py")


def write_source(folder: Path, uri: str, *extra: str, **env: str) -> dict[str, Any]:
    """An MLflow store at ``uri`` written by MLflow, and what MLflow reads back from it."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "expected.json"
    done = subprocess.run(
        [sys.executable, str(SOURCE), uri, str(out), *extra],
        cwd=folder,
        env={**clean_env(folder / "unused"), **env},
        capture_output=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    expected: dict[str, Any] = json.loads(out.read_text())
    return expected


@pytest.fixture(scope="module")
def sqlite_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("mlflow-sqlite")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    return uri, write_source(folder, uri)


def typed(key: str, text: str) -> Any:
    return {"lr": 0.001, "epochs": 10, "nesterov": True, "tiny": 0.001, "none": None}.get(key, text)


def check_imported(store: Store, expected: dict[str, Any]) -> None:
    """Every run, param, tag, point and file MLflow reads back, here; every model version an asset version."""
    runs = expected["runs"]
    assert sorted(r.id for r in store.list_runs(limit=1000).runs) == sorted(
        derived_run_id("mlflow", r["run_id"]) for r in runs
    )
    for mine in runs:
        run = store.get_run(derived_run_id("mlflow", mine["run_id"]))
        tags = mine["tags"]
        status = STATUSES[mine["status"]]
        assert run.status == (status if status != "running" else run.status) and (status == "running") == (
            run.status in ("running", "lost")
        )
        assert round(run.started_at.timestamp() * 1000) == mine["start_time"]
        assert (run.ended_at and round(run.ended_at.timestamp() * 1000)) == mine["end_time"]
        assert (run.experiment, run.name) == (mine["experiment"], mine["name"].replace("\x1b", "").replace("\x07", ""))
        assert run.note == tags.get("mlflow.note.content")
        assert run.user == tags.get("mlflow.user", run.user)
        assert run.git_commit == tags.get("mlflow.source.git.commit")
        assert run.command == ([tags["mlflow.source.name"]] if "mlflow.source.name" in tags else [])
        params = {k: typed(k, v) for k, v in mine["params"].items()}
        params["mlflow.run_id"] = mine["run_id"]
        for key, value in tags.items():
            if key == "mlflow.parentRunId":
                params["mlflow.parent_run"] = derived_run_id("mlflow", value)
            elif key in SYSTEM_TAG_PARAMS:
                params[SYSTEM_TAG_PARAMS[key]] = value
            elif not key.startswith("mlflow.") and " " in key + value:
                params[f"tags.{key}"] = value
        assert run.params == params
        labels = [
            k if v == "" else f"{k}={v}" for k, v in tags.items() if not k.startswith("mlflow.") and " " not in k + v
        ]
        assert run.tags == sorted(labels)
        assert sorted(m.name for m in store.list_metrics(run.id)) == sorted(mine["metrics"])
        for key, points in mine["metrics"].items():
            series = store.read_series(run.id, key)
            assert series.steps == [p[0] for p in points]
            assert len(series.values) == len(points)
            for value, (_, theirs, _) in zip(series.values, points):
                assert value == theirs or (math.isnan(value) and math.isnan(theirs))  # type: ignore[arg-type]
            assert [round(t * 1000) for t in series.times] == [p[2] for p in points]
        files = {a.path: a.sha256 for a in store.list_artifacts(run.id)}
        for path, sha256 in mine["files"].items():
            assert files.get(path) == sha256, path
        extra = set(files) - set(mine["files"])
        assert all(p.startswith("registered_models/") for p in extra), extra
    versions = sorted(expected["versions"], key=lambda v: (v["name"], v["version"]))
    for v in versions:
        asset = store.get_asset(asset_name(v["name"]), v["version"])
        assert asset.run_id == derived_run_id("mlflow", v["run_id"])
        prefix = asset.prefix + "/" if asset.prefix else ""
        assert {f.path.removeprefix(prefix): f.sha256 for f in asset.files} == v["files"]
    assert sorted((a.name, a.versions) for a in store.list_assets()) == sorted(
        {(asset_name(v["name"]), sum(w["name"] == v["name"] for w in versions)) for v in versions}
    )


def imported(home: Path, *args: str) -> dict[str, Any]:
    done = cli(home, "import", "mlflow", *args, "--json", timeout=240)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


@pytest.mark.parametrize("given", ["uri", "file"])
@pytest.mark.slow
@pytest.mark.importers
def test_an_mlflow_sqlite_store_is_imported_exactly_and_once(
    sqlite_source: tuple[str, dict[str, Any]], tmp_path: Path, given: str
) -> None:
    uri, expected = sqlite_source
    home = tmp_path / "home"
    summary = imported(home, uri if given == "uri" else uri.removeprefix("sqlite:///"))
    points = sum(len(p) for r in expected["runs"] for p in r["metrics"].values())
    assert summary["runs"] == {"found": 4, "imported": 4, "resumed": 0, "skipped": 0, "running": 1}
    assert summary["points"] == {"imported": points, "skipped": 0}
    assert summary["assets"] == {"imported": 3, "skipped": 0}
    assert summary["left_out"] == []
    store = EmbeddedStore(home)
    check_imported(store, expected)

    # Again: the finished runs are skipped whole; the running one is read again and gets nothing new.
    again = imported(home, uri)
    assert again["runs"] == {"found": 4, "imported": 0, "resumed": 1, "skipped": 3, "running": 1}
    assert again["points"] == {"imported": 0, "skipped": points}
    assert again["artifacts"]["imported"] == 0 and again["assets"] == {"imported": 0, "skipped": 3}
    check_imported(store, expected)


@pytest.mark.slow
@pytest.mark.importers
def test_only_the_experiments_named(sqlite_source: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    uri, expected = sqlite_source
    home = tmp_path / "home"
    summary = imported(home, uri, "-e", "vision")
    assert summary["runs"]["found"] == 2
    assert summary["left_out"] == [
        f"model version py-model:1: its run {r['run_id']} is not among the runs imported"
        for r in expected["runs"]
        if r["name"] == "bert"
    ]
    assert {r.experiment for r in EmbeddedStore(home).list_runs().runs} == {"vision"}
    done = cli(home, "import", "mlflow", uri, "-e", "nope", timeout=240)
    assert done.returncode == 1
    assert (
        "no experiment 'nope' in" in done.stderr.decode() and "(it holds: Default, nlp, vision)" in done.stderr.decode()
    )


@pytest.mark.slow
@pytest.mark.importers
def test_the_human_summary_shows_the_runs_names_cleaned(
    sqlite_source: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    uri, _ = sqlite_source
    home = tmp_path / "home"
    done = cli(home, "import", "mlflow", uri, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "runs: 4 imported" in done.stdout.decode() and "\x1b" not in done.stdout.decode()
    listed = cli(home, "list")
    assert "resnet ]0;owned" in listed.stdout.decode() and "\x1b" not in listed.stdout.decode()


@pytest.mark.slow
@pytest.mark.importers
def test_an_mlflow_file_store_is_imported_exactly(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    expected = write_source(folder, str(folder / "mlruns"), MLFLOW_ALLOW_FILE_STORE="true")
    home = tmp_path / "home"
    summary = imported(home, str(folder / "mlruns"))
    assert summary["runs"]["imported"] == 4 and summary["left_out"] == []
    check_imported(EmbeddedStore(home), expected)


@pytest.mark.slow
@pytest.mark.importers
def test_an_mlflow_server_is_imported_exactly_its_artifacts_fetched_through_it(tmp_path: Path) -> None:
    folder = tmp_path / "server"
    folder.mkdir()
    port = unused_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination",
            str(folder / "artifacts"),
            "--workers",
            "1",
        ],
        cwd=folder,
        env=clean_env(folder),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        import httpx

        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "the MLflow server did not start"
            time.sleep(0.2)
        expected = write_source(tmp_path / "client", url)
        home = tmp_path / "home"
        summary = imported(home, url)
        assert summary["runs"]["imported"] == 4 and summary["left_out"] == []
        store = EmbeddedStore(home)
        check_imported(store, expected)
        # The server's runs keep their files behind it (mlflow-artifacts:/): they came through it.
        assert not any((tmp_path / "client").rglob("weights.bin"))
        assert imported(home, url)["runs"]["skipped"] == 3
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.importers
def test_an_import_killed_midway_is_completed_exactly_by_the_next(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    expected = write_source(folder, uri, "--runs", "8")
    home = tmp_path / "home"
    process = subprocess.Popen(
        [sys.executable, "-m", "runhistory.app.cli", "import", "mlflow", uri],
        env=clean_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            if _finished_runs(home) >= 2:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL, "the import ended before it could be killed"
    whole = _finished_runs(home)
    assert 2 <= whole < 8
    summary = imported(home, uri)
    assert summary["runs"]["skipped"] == whole
    assert summary["runs"]["imported"] + summary["runs"]["resumed"] == 8 - whole
    store = EmbeddedStore(home)
    assert summary["points"]["imported"] + summary["points"]["skipped"] == 8 * 2000
    assert summary["artifacts"]["imported"] + summary["artifacts"]["skipped"] == 8 * 40
    check_imported(store, expected)


def _finished_runs(home: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{home / 'runhistory.sqlite3'}?mode=ro", uri=True, timeout=0.1)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM runs WHERE status = 'completed'").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


@pytest.mark.slow
@pytest.mark.importers
def test_wandb_offline_runs_are_found_and_the_reason_they_cannot_be_read_given(tmp_path: Path) -> None:
    folder = tmp_path / "wb"
    folder.mkdir()
    script = folder / "train.py"
    script.write_text(
        "import wandb\n"
        "run = wandb.init(project='p', mode='offline', config={'lr': 0.1})\n"
        "for i in range(3):\n"
        "    run.log({'loss': 1 / (i + 1)}, step=i)\n"
        "run.finish()\n"
    )
    wrote = subprocess.run(
        [sys.executable, str(script)], cwd=folder, env=clean_env(folder), capture_output=True, timeout=120
    )
    assert wrote.returncode == 0, wrote.stderr.decode()[-2000:]
    assert list(folder.glob("wandb/offline-run-*/run-*.wandb"))
    home = tmp_path / "home"
    done = cli(home, "import", "wandb", str(folder / "wandb"), "--json")
    assert done.returncode == 1
    error = json.loads(done.stderr)
    assert error["kind"] == "SourceError"
    assert error["error"].startswith(f"found 1 W&B offline run under {folder / 'wandb'}, but its history is only in")
    assert "wandb sync" in error["error"] and "Nothing was imported." in error["error"]
    assert not home.exists()


# -- bad input: refused before MLflow is imported, nothing made ---------------------------------


def _refused(home: Path, source: str) -> str:
    done = cli(home, "import", "mlflow", source, "--json")
    assert done.returncode == 1, done.stdout
    error = json.loads(done.stderr)
    assert error["kind"] == "SourceError"
    assert not home.exists()
    return str(error["error"])


def test_a_missing_path_or_a_folder_that_is_not_an_mlflow_store_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert (
        _refused(home, str(tmp_path / "nope"))
        == f"no MLflow store at {tmp_path / 'nope'}: {tmp_path / 'nope'} does not exist"
    )
    (tmp_path / "plain" / "1").mkdir(parents=True)
    assert _refused(home, str(tmp_path / "plain")).startswith(
        f"{tmp_path / 'plain'} is not an MLflow file store: it holds no experiment folders (<id>/meta.yaml)"
    )
    assert list((tmp_path / "plain").iterdir()) == [tmp_path / "plain" / "1"]  # nothing made there either
    (tmp_path / "notes.txt").write_text("hello")
    assert _refused(home, str(tmp_path / "notes.txt")) == (
        f"{tmp_path / 'notes.txt'} is not an MLflow store: neither a folder nor an SQLite database"
    )


def test_a_database_that_is_not_mlflows_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert _refused(home, f"sqlite:///{tmp_path / 'missing.db'}") == (
        f"no MLflow database at sqlite:///{tmp_path / 'missing.db'}: {tmp_path / 'missing.db'} does not exist"
    )
    assert not (tmp_path / "missing.db").exists()
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE runs (id TEXT)")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    assert _refused(home, f"sqlite:///{other}") == (
        f"{other} is an SQLite database but not MLflow's: it lacks the tables experiments, metrics, params, tags"
    )
    assert other.read_bytes() == before


def test_an_unreachable_or_foreign_server_is_refused(tmp_path: Path) -> None:
    import http.server
    import threading

    home = tmp_path / "home"
    port = unused_port()
    assert _refused(home, f"http://127.0.0.1:{port}").startswith(
        f"cannot reach the MLflow server at http://127.0.0.1:{port}: "
    )

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    http_server_url = f"http://127.0.0.1:{other.server_address[1]}"
    try:
        refused = _refused(home, http_server_url)
    finally:
        other.shutdown()
        other.server_close()
    assert refused == (
        f"{http_server_url} does not answer as an MLflow tracking server "
        f"({http_server_url}/api/2.0/mlflow/experiments/search: HTTP 404)"
    )
