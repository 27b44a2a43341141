"""``runhistory export``: a run's metrics as one long CSV or Parquet table, read back exactly."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from runhistory.api import EmbeddedStore, NewRun, SeriesBatch, Store, open_store
from runhistory.app.export import iso_times, write_csv

from ._cli import as_json, cli, on_a_terminal
from ._processes import clean_env
from ._server import Server

NAN, INF = math.nan, math.inf
#: Times a binary fraction of a second apart: their microseconds are exact, so ISO text is unambiguous.
T0 = 1_800_000_000.0
TEXT = 'a "quoted", comma\nsecond line \x1b[31mred\x1b[0m'

#: The run's metrics: kind, steps, values; logged in this order, exported by name.
METRICS: dict[str, tuple[str, list[int], list[Any]]] = {
    "loss": ("number", [0, 10, 20, 30], [1.0, 1 / 3, 0.1 + 0.2, 5e-324]),
    "odd": ("number", [5, 6, 7], [NAN, INF, -INF]),
    "epoch": ("number", [0, 1, 2], [1, 2, 3]),
    "note": ("string", [0, 100], ["hello", TEXT]),
    "chart": ("chart", [3], [[1, 2.5, NAN, -INF]]),
}
#: The chart's value as the export writes it: strict JSON, compact.
CHART_JSON = '[1,2.5,"NaN","-Infinity"]'


def log_run(store: Store) -> str:
    run = store.create_run(NewRun(experiment="export", run_id="e" * 32))
    batch = {
        name: SeriesBatch(kind, values, steps, [T0 + 0.125 * i for i in range(len(values))])  # type: ignore[arg-type]
        for name, (kind, steps, values) in METRICS.items()
    }
    store.append_metrics(run.id, batch)
    return run.id


def expected_rows(run_id: str, names: list[str]) -> list[list[str]]:
    """The CSV rows the export must write, built from ``METRICS`` independently of the exporter."""
    rows = [["run_id", "metric", "step", "time", "value"]]
    for name in names:
        kind, steps, values = METRICS[name]
        for i, (step, value) in enumerate(zip(steps, values)):
            when = datetime.fromtimestamp(T0 + 0.125 * i, tz=timezone.utc).isoformat(timespec="microseconds")
            text = {"chart": CHART_JSON, "string": value}.get(kind, repr(value))
            rows.append([run_id, name, str(step), when, text])
    return rows


@pytest.fixture
def logged(tmp_path: Path) -> tuple[Path, str]:
    home = tmp_path / "store"
    store = EmbeddedStore(home)
    run_id = log_run(store)
    store.close()
    return home, run_id


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_csv_to_stdout_reads_back_exactly(logged: tuple[Path, str]) -> None:
    home, run_id = logged
    done = cli(home, "export", "-r", run_id[:4])
    assert done.returncode == 0, done.stderr
    assert csv_rows(done.stdout) == expected_rows(run_id, sorted(METRICS))
    # Numbers read back as the same floats, NaN and the infinities kept.
    values = [r[4] for r in csv_rows(done.stdout) if r[1] in ("loss", "odd")]
    assert [repr(float(v)) for v in values] == [repr(float(v)) for v in METRICS["loss"][2] + METRICS["odd"][2]]
    assert b"nan\n" in done.stdout and b",inf\n" in done.stdout and b",-inf\n" in done.stdout
    assert json.loads(csv_rows(done.stdout)[1][4]) == [1, 2.5, "NaN", "-Infinity"]  # strict JSON


def test_metrics_chosen_with_m_in_the_order_given(logged: tuple[Path, str]) -> None:
    home, run_id = logged
    done = cli(home, "export", "-r", run_id, "-m", "odd", "-m", "chart", "-m", "odd")
    assert csv_rows(done.stdout) == expected_rows(run_id, ["odd", "chart"])


def test_parquet_reads_back_exactly_with_its_types(logged: tuple[Path, str], tmp_path: Path) -> None:
    home, run_id = logged
    out = tmp_path / "run.parquet"
    summary = as_json(cli(home, "export", "-r", run_id, "--format", "parquet", "-o", str(out), "--json"))
    assert summary == {"path": str(out), "format": "parquet", "metrics": 5, "points": 13, "bytes": out.stat().st_size}
    table = pq.read_table(out)
    types = {field.name: str(field.type) for field in table.schema}
    assert types == {
        **dict.fromkeys(("run_id", "metric", "text"), "string"),
        **{"step": "int64", "time": "timestamp[us, tz=UTC]", "value": "double"},
    }
    assert table.column_names == ["run_id", "metric", "step", "time", "value", "text"]
    columns = table.to_pydict()
    rows = expected_rows(run_id, sorted(METRICS))[1:]
    assert columns["run_id"] == [r[0] for r in rows] and columns["metric"] == [r[1] for r in rows]
    assert columns["step"] == [int(r[2]) for r in rows]
    assert [t.isoformat(timespec="microseconds") for t in columns["time"]] == [r[3] for r in rows]
    numbers = [METRICS[r[1]][0] == "number" for r in rows]
    assert [repr(v) for v, n in zip(columns["value"], numbers) if n] == [
        repr(float(r[4])) for r, n in zip(rows, numbers) if n
    ]
    assert [columns["value"][i] for i, n in enumerate(numbers) if not n] == [None] * 3
    assert [columns["text"][i] for i, n in enumerate(numbers) if n] == [None] * 10
    assert [columns["text"][i] for i, n in enumerate(numbers) if not n] == [
        r[4] for r, n in zip(rows, numbers) if not n
    ]


def test_output_file_is_never_replaced_without_force(logged: tuple[Path, str], tmp_path: Path) -> None:
    home, run_id = logged
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "run.csv"
    done = cli(home, "export", "-r", run_id, "-m", "loss", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().startswith(f"exported 1 metric (4 points) of run {run_id[:8]} to {out} (csv, ")
    assert csv_rows(out.read_bytes()) == expected_rows(run_id, ["loss"])
    assert [p.name for p in folder.iterdir()] == ["run.csv"]  # no temporary file left beside it

    again = cli(home, "export", "-r", run_id, "-o", str(out), "--json")
    assert again.returncode == 1
    assert json.loads(again.stderr) == {"error": f"{out} exists already: --force replaces it", "kind": "OutputExists"}
    assert csv_rows(out.read_bytes()) == expected_rows(run_id, ["loss"])

    summary = as_json(cli(home, "export", "-r", run_id, "-o", str(out), "--force", "--json"))
    assert summary == {"path": str(out), "format": "csv", "metrics": 5, "points": 13, "bytes": out.stat().st_size}
    assert csv_rows(out.read_bytes()) == expected_rows(run_id, sorted(METRICS))
    assert [p.name for p in folder.iterdir()] == ["run.csv"]


def test_bad_input_is_a_clear_error_and_writes_nothing(logged: tuple[Path, str], tmp_path: Path) -> None:
    home, run_id = logged
    store = EmbeddedStore(home)
    store.create_run(NewRun(run_id="e" * 31 + "f"))
    store.close()
    out = tmp_path / "never.csv"

    def error(*args: str) -> tuple[int, dict[str, str]]:
        done = cli(home, "export", *args, "-o", str(out), "--json")
        assert done.stdout == b""
        return done.returncode, json.loads(done.stderr)

    assert error("-r", "0123") == (1, {"error": "no run '0123'", "kind": "RunNotFound"})
    code, doc = error("-r", "eee")
    assert (code, doc["kind"]) == (1, "AmbiguousRunId")
    assert error("-r", run_id, "-m", "loss", "-m", "nope") == (
        1,
        {"error": f'run {run_id[:8]} has no metric "nope"', "kind": "MetricNotFound"},
    )
    code, doc = error("-r", run_id, "--format", "xlsx")
    assert (code, doc["kind"]) == (2, "UsageError") and "xlsx" in doc["error"]
    assert not out.exists()
    folder = cli(home, "export", "-r", run_id, "-o", str(tmp_path), "--json")
    assert folder.returncode == 1
    assert json.loads(folder.stderr) == {
        "error": f"{tmp_path} is a folder: give the file to write",
        "kind": "OutputExists",
    }

    usage = cli(home, "export", "-r", run_id, "--json")
    assert usage.returncode == 2 and b"--json prints a summary of the file -o FILE writes" in usage.stderr
    assert cli(home, "export", "-r", run_id, "--force").returncode == 2


def test_without_pyarrow_csv_works_and_parquet_says_how_to_install(logged: tuple[Path, str], tmp_path: Path) -> None:
    home, run_id = logged
    # pyarrow made unimportable in a process of its own, as where it is not installed.
    script = (
        "import sys\nsys.modules['pyarrow'] = None\nfrom runhistory.app.cli import main\n"
        f"assert main(['export', '-r', {run_id!r}, '-o', {str(tmp_path / 'a.csv')!r}]) == 0\n"
        f"sys.exit(main(['export', '-r', {run_id!r}, '--format', 'parquet', '-o', {str(tmp_path / 'a.parquet')!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=clean_env(home), capture_output=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert b"--format parquet needs pyarrow" in done.stderr and b"pip install 'runhistory[export]'" in done.stderr
    assert (tmp_path / "a.csv").exists() and not (tmp_path / "a.parquet").exists()


def test_a_terminal_gets_names_and_strings_cleaned() -> None:
    from runhistory.api import Series

    series = Series("bad\x1b]0;title\x07name", "string", 1, [0], [TEXT], [T0])
    out = io.StringIO()
    write_csv(iter([series]), "e" * 32, out, terminal=True)
    text = out.getvalue()
    assert "\x1b" not in text and "badname" in text
    assert csv_rows(text.encode())[1][4] == 'a "quoted", comma second line red'


def test_through_a_server(server: Server, tmp_path: Path) -> None:
    remote = open_store(url=server.url)
    try:
        run_id = log_run_once(remote)
    finally:
        remote.close()
    done = cli(tmp_path / "unused", "--url", server.url, "export", "-r", run_id)
    assert done.returncode == 0, done.stderr
    assert csv_rows(done.stdout) == expected_rows(run_id, sorted(METRICS))
    out = tmp_path / "run.parquet"
    assert (
        cli(
            tmp_path / "unused", "--url", server.url, "export", "-r", run_id, "--format", "parquet", "-o", str(out)
        ).returncode
        == 0
    )
    assert pq.read_table(out).num_rows == 13


def log_run_once(store: Store) -> str:
    """The run in a session-wide server: logged by the first test of the worker that needs it."""
    try:
        return store.get_run("e" * 32).id
    except LookupError:
        return log_run(store)


def test_times_are_iso_utc_to_the_microsecond() -> None:
    times = [0.0, -0.5, -1e-7, 1.5, 0.4999995, T0 + 0.125, 253_402_300_799.5] + [T0 + i / 7 for i in range(20)]
    assert list(iso_times(times)) == [
        datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="microseconds") for t in times
    ]


def test_on_a_terminal_csv_is_cleaned_and_parquet_refused(logged: tuple[Path, str]) -> None:
    home, run_id = logged
    code, shown, _ = on_a_terminal(home, "export", "-r", run_id, "-m", "note")
    assert code == 0 and b"\x1b" not in shown
    assert shown.replace(b"\r\n", b"\n").endswith(b',"a ""quoted"", comma second line red"\n')
    code, shown, err = on_a_terminal(home, "export", "-r", run_id, "--format", "parquet")
    assert (code, shown) == (2, b"") and b"Parquet is binary: give -o FILE" in err
