"""The CLI on run metadata: list --where/--sort, tag, note, rename, delete, and what info and --json show."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from runhistory.api import EmbeddedStore, NewRun, SeriesBatch

from ._cli import as_json, cli


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A store with six finished runs of a sweep."""
    home = tmp_path / "store"
    store = EmbeddedStore(home)
    for i in range(6):
        run = store.create_run(NewRun(experiment="mnist", name=f"sweep-{i}"))
        store.set_params(run.id, {"lr": 10.0**-i, "optimizer": "adam" if i % 2 else "sgd"})
        store.append_metrics(run.id, {"val/accuracy": SeriesBatch("number", [0.1 * i], [None], [time.time()])})
        store.finish_run(run.id, "completed")
    store.close()
    return home


def test_list_where_and_sort_page_through_every_match(home: Path) -> None:
    docs = as_json(cli(home, "list", "--json", "--where", "params.lr >= 1e-4", "--sort", "metrics.val/accuracy desc"))
    assert [d["name"] for d in docs] == ["sweep-4", "sweep-3", "sweep-2", "sweep-1", "sweep-0"]
    assert docs[0]["params"] == {"lr": 1e-4, "optimizer": "sgd"} and docs[0]["tags"] == [] and docs[0]["note"] is None
    first = cli(home, "list", "-n", "2", "--sort", "params.lr")
    assert first.returncode == 0
    text = first.stdout.decode()
    assert "params.lr" in text and "sweep-5" in text  # the sort key is shown as a column
    more = first.stderr.decode().strip()
    assert more.startswith("more: runhistory list --sort params.lr --limit 2 --after ")
    after = more.split("--after ")[1]
    second = as_json(cli(home, "list", "--json", "--sort", "params.lr", "-n", "2", "--after", after))
    assert [d["name"] for d in second] == ["sweep-3", "sweep-2"]


def test_a_bad_query_is_a_usage_error_that_points_at_the_token(home: Path) -> None:
    done = cli(home, "list", "--where", "params.lr >= and x")
    assert done.returncode == 2
    assert b"expected a value after '>='" in done.stderr and b"^^^" in done.stderr
    done = cli(home, "list", "--json", "--sort", "nonsense")
    assert done.returncode == 2
    assert json.loads(done.stderr)["kind"] == "QueryError"


def test_tag_note_rename_and_info_show_them(home: Path) -> None:
    run_id = as_json(cli(home, "list", "--json", "--where", "name = sweep-2"))[0]["id"]
    assert as_json(cli(home, "tag", "-r", run_id[:8], "+best", "v1", "-r-old", "--json")) == {
        "id": run_id,
        "tags": ["best", "v1"],
    }
    assert as_json(cli(home, "tag", "-r", run_id[:8], "-v1", "--json"))["tags"] == ["best"]
    assert cli(home, "tag", "-r", run_id, "two words").returncode == 1
    assert cli(home, "note", "-r", run_id, "lr warm-up off\n\x1b]52;c;aGk=\x07").returncode == 0
    assert cli(home, "rename", "-r", run_id, "the-best").returncode == 0
    info = cli(home, "info", "-r", run_id)
    text = info.stdout.decode()
    assert "the-best" in text and "best" in text and "lr warm-up off" in text and "0.01" in text
    assert "\x1b" not in text  # a note is shown cleaned
    doc = as_json(cli(home, "info", "-r", run_id, "--json"))
    assert (doc["name"], doc["tags"], doc["note"]) == ("the-best", ["best"], "lr warm-up off\n\x1b]52;c;aGk=\x07")
    assert doc["environment"] == {"packages": {}, "git_diff": None, "git_diff_truncated": False}
    assert [d["id"] for d in as_json(cli(home, "list", "--json", "--where", "tag:best"))] == [run_id]


def test_delete_asks_and_reports_what_went(home: Path) -> None:
    docs = as_json(cli(home, "list", "--json"))
    done = cli(home, "delete", "-r", docs[0]["id"])
    assert done.returncode == 2 and b"--yes" in done.stderr  # no terminal to ask on
    gone = as_json(cli(home, "delete", "-r", docs[0]["id"][:8], docs[1]["id"], "--yes", "--json"))
    assert [g["id"] for g in gone] == [docs[0]["id"], docs[1]["id"]]
    assert len(as_json(cli(home, "list", "--json"))) == 4
    store = EmbeddedStore(home)
    running = store.create_run(NewRun())
    store.close()
    refused = cli(home, "delete", "-r", running.id, "--yes")
    assert refused.returncode == 1 and b"is running" in refused.stderr
