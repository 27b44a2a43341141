"""Downloads never clobber: files already there, paths that cannot coexist, long names, flat assets.

Through the store API (``download_artifacts``, ``download_asset``) and
through ``runhistory download`` / ``runhistory asset download`` as real
subprocesses, against real embedded stores.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from runhistory.api import (
    DownloadConflict,
    EmbeddedStore,
    InvalidInput,
    NewRun,
    download_artifacts,
    download_asset,
)
from runhistory.api._limits import MAX_PATH_COMPONENT_BYTES

from ._cli import as_json, cli

RUN = "ab" * 16
MODEL = b"the trained model" * 100
METRICS = b"epoch,loss\n1,0.5\n"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A store with one run holding ``outputs/model.pkl`` and ``outputs/metrics.csv``."""
    home = tmp_path / "store"
    store = EmbeddedStore(home)
    store.create_run(NewRun(run_id=RUN))
    store.put_artifact(RUN, "outputs/model.pkl", MODEL)
    store.put_artifact(RUN, "outputs/metrics.csv", METRICS)
    store.close()
    return home


def tree(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (hidden ones too), by its path there."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- through the store API ---------------------------------------------------------------


def test_a_different_file_is_refused_with_nothing_written_unless_overwriting(home: Path, tmp_path: Path) -> None:
    store = EmbeddedStore(home)
    dest = tmp_path / "here"
    (dest / "outputs").mkdir(parents=True)
    (dest / "outputs" / "model.pkl").write_bytes(b"my own model")
    with pytest.raises(DownloadConflict) as caught:
        download_artifacts(store, RUN, dest, prefix="outputs")
    assert caught.value.differing == [dest / "outputs" / "model.pkl"] and caught.value.blocked == []
    assert "model.pkl" in str(caught.value) and "already there with other contents" in str(caught.value)
    # Not even the other file, which had no rival: every target is looked at before the first byte.
    assert tree(dest) == {"outputs/model.pkl": b"my own model"}

    files = download_artifacts(store, RUN, dest, prefix="outputs", overwrite=True)
    assert [(f.path, f.status) for f in files] == [("outputs/metrics.csv", "saved"), ("outputs/model.pkl", "replaced")]
    assert tree(dest) == {"outputs/metrics.csv": METRICS, "outputs/model.pkl": MODEL}


def test_an_identical_file_is_skipped_and_left_as_it_was(home: Path, tmp_path: Path) -> None:
    store = EmbeddedStore(home)
    dest = tmp_path / "here"
    (dest / "outputs").mkdir(parents=True)
    (dest / "outputs" / "model.pkl").write_bytes(MODEL)
    os.utime(dest / "outputs" / "model.pkl", (1_000_000, 1_000_000))
    files = download_artifacts(store, RUN, dest, prefix="outputs")
    assert [(f.path, f.status, f.saved_to) for f in files] == [
        ("outputs/metrics.csv", "saved", dest / "outputs" / "metrics.csv"),
        ("outputs/model.pkl", "skipped", dest / "outputs" / "model.pkl"),
    ]
    assert (dest / "outputs" / "model.pkl").stat().st_mtime == 1_000_000  # not written again
    again = download_artifacts(store, RUN, dest, prefix="outputs")
    assert [f.status for f in again] == ["skipped", "skipped"]
    assert tree(dest) == {"outputs/metrics.csv": METRICS, "outputs/model.pkl": MODEL}


def test_paths_that_cannot_coexist_fail_before_anything_is_written(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    store.create_run(NewRun(run_id=RUN))
    store.put_artifact(RUN, "a.txt", b"a")
    store.put_artifact(RUN, "x", b"a file x")
    store.put_artifact(RUN, "x/y", b"and a file x/y")

    # A file x and a file x/y in one download.
    dest = tmp_path / "both"
    with pytest.raises(DownloadConflict) as caught:
        download_artifacts(store, RUN, dest)
    assert caught.value.blocked[0][0] == dest / "x"
    assert "'x' would be a file there, and 'x/y' needs a folder there" in str(caught.value)
    assert not dest.exists()

    # A folder already where a file should go.
    (tmp_path / "folder" / "a.txt").mkdir(parents=True)
    with pytest.raises(DownloadConflict, match="a folder is there, where the file 'a.txt' should go"):
        download_artifacts(store, RUN, tmp_path / "folder", path="a.txt")
    assert tree(tmp_path / "folder") == {}

    # A file already where a folder is needed, even with overwrite (it is not a file to replace).
    (tmp_path / "file").mkdir()
    (tmp_path / "file" / "x").write_bytes(b"mine")
    with pytest.raises(DownloadConflict, match="a file is there, and 'x/y' needs a folder there"):
        download_artifacts(store, RUN, tmp_path / "file", path="x/y", overwrite=True)
    assert tree(tmp_path / "file") == {"x": b"mine"}

    # The destination itself a file.
    (tmp_path / "plain").write_bytes(b"mine")
    with pytest.raises(DownloadConflict, match="a file is there"):
        download_artifacts(store, RUN, tmp_path / "plain", path="a.txt")
    assert (tmp_path / "plain").read_bytes() == b"mine"


@pytest.mark.parametrize("name", ["m" * MAX_PATH_COMPONENT_BYTES, "é" * (MAX_PATH_COMPONENT_BYTES // 2) + "m"])
def test_a_file_with_the_longest_legal_name_downloads_cleanly(tmp_path: Path, name: str) -> None:
    assert len(name.encode()) == MAX_PATH_COMPONENT_BYTES
    store = EmbeddedStore(tmp_path / "store")
    store.create_run(NewRun(run_id=RUN))
    store.put_artifact(RUN, f"outputs/{name}", b"long")
    (saved,) = download_artifacts(store, RUN, tmp_path / "dl")
    assert saved.saved_to == tmp_path / "dl" / "outputs" / name and saved.status == "saved"
    assert tree(tmp_path / "dl") == {f"outputs/{name}": b"long"}  # no temporary file left


def test_an_asset_of_one_file_saves_flat(home: Path, tmp_path: Path) -> None:
    store = EmbeddedStore(home)
    store.promote(RUN, "outputs/model.pkl", "model")
    store.promote(RUN, "outputs", "everything")
    (saved,) = download_asset(store, "model", None, tmp_path / "dl", flat=True)
    assert (saved.path, saved.saved_to, saved.status) == ("outputs/model.pkl", tmp_path / "dl" / "model.pkl", "saved")
    assert tree(tmp_path / "dl") == {"model.pkl": MODEL}
    with pytest.raises(InvalidInput, match="everything:1 has 2 files"):
        download_asset(store, "everything", 1, tmp_path / "flat", flat=True)
    assert not (tmp_path / "flat").exists()


# -- through the command line --------------------------------------------------------------


def test_cli_refuses_a_different_file_then_overwrites_when_asked(home: Path, tmp_path: Path) -> None:
    dest = tmp_path / "here"
    (dest / "outputs").mkdir(parents=True)
    (dest / "outputs" / "model.pkl").write_bytes(b"my own model")
    for args in (
        ("download", "-r", RUN[:8], "-ap", "outputs"),
        ("download", "-r", RUN[:8], "-ap", "outputs", "--json"),
    ):
        refused = cli(home, *args, "-o", str(dest))
        err = refused.stderr.decode()
        assert refused.returncode == 1, err
        assert str(dest / "outputs" / "model.pkl") in err and "--overwrite" in err and "Traceback" not in err
        assert refused.stdout == b""
        assert tree(dest) == {"outputs/model.pkl": b"my own model"}

    done = as_json(cli(home, "download", "-r", RUN[:8], "-ap", "outputs", "-o", str(dest), "--overwrite", "--json"))
    assert done["destination"] == str(dest)
    assert [(f["path"], f["saved_to"], f["size"], f["sha256"], f["status"]) for f in done["files"]] == [
        (
            "outputs/metrics.csv",
            str(dest / "outputs/metrics.csv"),
            len(METRICS),
            hashlib.sha256(METRICS).hexdigest(),
            "saved",
        ),
        (
            "outputs/model.pkl",
            str(dest / "outputs/model.pkl"),
            len(MODEL),
            hashlib.sha256(MODEL).hexdigest(),
            "replaced",
        ),
    ]
    assert tree(dest) == {"outputs/metrics.csv": METRICS, "outputs/model.pkl": MODEL}


def test_cli_says_what_was_saved_and_what_was_already_there(home: Path, tmp_path: Path) -> None:
    dest = tmp_path / "here"
    first = cli(home, "download", "-r", RUN[:8], "-a", "outputs/model.pkl", "-o", str(dest))
    assert first.returncode == 0, first.stderr.decode()
    assert first.stdout.decode().splitlines() == [
        f"saved 1 file (1.7 KiB, sha256 checked) to {dest}",
        f"  {dest / 'outputs/model.pkl'}",
    ]
    second = cli(home, "download", "-r", RUN[:8], "-ap", "outputs/", "-o", str(dest))
    assert second.returncode == 0, second.stderr.decode()
    assert second.stdout.decode().splitlines() == [
        f"saved 1 file (17 B, sha256 checked) to {dest}; 1 already there (same sha256), skipped",
        f"  {dest / 'outputs/metrics.csv'}",
        f"  {dest / 'outputs/model.pkl'}  (already there, skipped)",
    ]
    doc = as_json(cli(home, "download", "-r", RUN[:8], "-o", str(dest), "--json"))
    assert [f["status"] for f in doc["files"]] == ["skipped", "skipped"]
    assert tree(dest) == {"outputs/metrics.csv": METRICS, "outputs/model.pkl": MODEL}


def test_cli_names_paths_that_cannot_coexist(tmp_path: Path) -> None:
    home = tmp_path / "store"
    store = EmbeddedStore(home)
    store.create_run(NewRun(run_id=RUN))
    store.put_artifact(RUN, "x", b"x")
    store.put_artifact(RUN, "x/y", b"y")
    store.close()
    done = cli(home, "download", "-r", RUN, "-o", str(tmp_path / "dl"), "--overwrite")
    err = done.stderr.decode()
    assert done.returncode == 1 and "'x' would be a file there, and 'x/y' needs a folder there" in err
    assert "--overwrite replaces" not in err  # overwriting would not help
    assert not (tmp_path / "dl").exists()


def test_cli_asset_download_flat(home: Path, tmp_path: Path) -> None:
    store = EmbeddedStore(home)
    store.promote(RUN, "outputs/model.pkl", "model")
    store.promote(RUN, "outputs", "everything")
    store.close()
    doc = as_json(cli(home, "asset", "download", "model:1", "--flat", "-o", str(tmp_path / "dl"), "--json"))
    assert [(f["path"], f["saved_to"], f["status"]) for f in doc["files"]] == [
        ("outputs/model.pkl", str(tmp_path / "dl" / "model.pkl"), "saved"),
    ]
    assert tree(tmp_path / "dl") == {"model.pkl": MODEL}
    human = cli(home, "asset", "download", "model", "--flat", "-o", str(tmp_path / "dl"))
    assert human.returncode == 0
    assert human.stdout.decode().splitlines() == [
        f"nothing to save: the file is already there (same sha256) in {tmp_path / 'dl'}",
        f"  {tmp_path / 'dl' / 'model.pkl'}  (already there, skipped)",
    ]

    several = cli(home, "asset", "download", "everything", "--flat", "-o", str(tmp_path / "several"))
    err = several.stderr.decode()
    assert several.returncode == 2, err
    assert "--flat" in err and "everything:1 has 2 files" in err and "Traceback" not in err
    assert not (tmp_path / "several").exists()


def test_cli_shows_stored_paths_literally_and_cleaned(tmp_path: Path) -> None:
    home = tmp_path / "store"
    store = EmbeddedStore(home)
    store.create_run(NewRun(run_id=RUN))
    # Legal artifact paths: rich markup, and a right-to-left override that would show "exe.txt" as "txt.exe".
    hostile = ["[bold red]loud[/bold red].txt", "notes\u202etxt.exe"]
    for path in hostile:
        store.put_artifact(RUN, path, b"x")
    store.close()
    dest = tmp_path / "dl"
    human = cli(home, "download", "-r", RUN, "-o", str(dest))
    out = human.stdout.decode()
    assert human.returncode == 0, human.stderr.decode()
    assert f"  {dest}/[bold red]loud[/bold red].txt\n" in out
    assert "\u202e" not in out and f"  {dest}/notestxt.exe\n" in out
    # JSON keeps the exact path.
    doc = as_json(cli(home, "download", "-r", RUN, "-o", str(dest), "--json"))
    assert sorted(f["path"] for f in doc["files"]) == sorted(hostile)
