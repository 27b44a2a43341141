"""``runhistory import tensorboard``: logs written by TensorBoard's own writers, every point compared.

The logs are written here by the ``tensorboard`` package itself, without TensorFlow:
``tensorboard.summary.Writer`` (the current scalar form) and ``EventFileWriter`` with the
package's protocol buffers and plugin metadata for the forms PyTorch's and tensorboardX's
writers use (``simple_value`` scalars, ``Summary.Image``), text, images of the current
form, and a histogram (which is left out, and said to be).
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from runhistory.api import EmbeddedStore, SeriesBatch, Store
from runhistory.app.importers.from_tensorboard import find_runs, import_tensorboard
from runhistory.app.importers.runs import derived_run_id

from ._cli import cli


def png(shade: int, size: int = 4) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (size, size), (shade, 255 - shade, 7)).save(out, "PNG")
    return out.getvalue()


@dataclass
class Expected:
    """What the logs hold, per run folder: series (tag → (kind, [(step, value, time)])), images by path."""

    series: dict[str, dict[str, tuple[str, list[tuple[int, Any, float]]]]] = field(default_factory=dict)
    images: dict[str, dict[str, bytes]] = field(default_factory=dict)
    first_files: dict[str, str] = field(default_factory=dict)


def f32(value: float) -> float:
    return float(np.float32(value))


def write_logs(logdir: Path, points: int = 300) -> Expected:
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.plugins.image import metadata as image_metadata
    from tensorboard.plugins.text import metadata as text_metadata
    from tensorboard.summary import Writer
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util import tensor_util

    expected = Expected()
    t0 = 1_750_000_000.0

    # train/: the current scalar form, from tensorboard.summary.Writer.
    train = logdir / "train"
    writer = Writer(str(train))
    loss, lr = [], []
    for i in range(points):
        value = math.nan if i == 7 else 1.0 / (i + 1) + 1e-9 * i
        at = t0 + i * 0.015625 + 1e-6 * (i % 3)
        writer.add_scalar("loss", value, step=i * 10, wall_time=at)
        loss.append((i * 10, f32(value), at))
        if i % 50 == 0:
            writer.add_scalar("opt/lr", 0.1 * 0.5 ** (i // 50), step=i * 10, wall_time=at)
            lr.append((i * 10, f32(0.1 * 0.5 ** (i // 50)), at))
    writer.close()
    expected.series["train"] = {"loss": ("number", loss), "opt/lr": ("number", lr)}

    # val/: two event files (the run restarted), in the forms PyTorch's writer uses, with text and images.
    val = logdir / "val"
    acc: list[tuple[int, Any, float]] = []
    notes: list[tuple[int, Any, float]] = []
    images: dict[str, bytes] = {}
    for part in range(2):
        events = EventFileWriter(str(val), filename_suffix=f".part{part}")
        for i in range(5):
            step, at = part * 5 + i, t0 + 100 + part * 10 + i
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="acc", simple_value=0.1 * step + 1e-7)])
            events.add_event(event_pb2.Event(wall_time=at, step=step, summary=summary))
            acc.append((step, f32(0.1 * step + 1e-7), at))
            # Text in the current form: its plugin named on the first value of the tag in a file only.
            text = f"epoch {step}: **ok**\nsecond line" if step != 3 else "tricky \u00e9\u4e2d\n\ttabbed"
            meta = text_metadata.create_summary_metadata(display_name=None, description=None) if i == 0 else None
            value = summary_pb2.Summary.Value(tag="notes", tensor=tensor_util.make_tensor_proto([text]))
            if meta is not None:
                value.metadata.CopyFrom(meta)
            events.add_event(event_pb2.Event(wall_time=at + 0.5, step=step, summary=summary_pb2.Summary(value=[value])))
            notes.append((step, text, at + 0.5))
        # An image as PyTorch writes one (Summary.Image) …
        picture = png(40 * part)
        image = summary_pb2.Summary.Image(height=4, width=4, colorspace=3, encoded_image_string=picture)
        events.add_event(
            event_pb2.Event(
                wall_time=t0 + 200 + part,
                step=part,
                summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="samples/input", image=image)]),
            )
        )
        images[f"images/samples/input/{part}.png"] = picture
        # … and two in one event in the current form.
        pair = [png(100 + part), png(200 + part)]
        meta = image_metadata.create_summary_metadata(display_name="grid", description="", converted_to_tensor=True)
        value = summary_pb2.Summary.Value(
            tag="grid", metadata=meta, tensor=tensor_util.make_tensor_proto([b"4", b"4", *pair])
        )
        events.add_event(event_pb2.Event(wall_time=t0 + 210 + part, step=7, summary=summary_pb2.Summary(value=[value])))
        suffix = "" if part == 0 else ".1"
        images[f"images/grid/7-0{suffix}.png"] = pair[0]
        images[f"images/grid/7-1{suffix}.png"] = pair[1]
        # A histogram: not imported.
        histogram = summary_pb2.HistogramProto(min=0, max=1, num=2, sum=1, sum_squares=1, bucket_limit=[1], bucket=[2])
        events.add_event(
            event_pb2.Event(
                wall_time=t0 + 220 + part,
                step=part,
                summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="weights", histo=histogram)]),
            )
        )
        events.close()
    expected.series["val"] = {"acc": ("number", acc), "notes": ("string", notes)}
    expected.images["val"] = images
    (expected.first_files["train"],) = (p.name for p in train.iterdir())
    (expected.first_files["val"],) = (p.name for p in val.iterdir() if p.name.endswith(".part0"))
    return expected


@pytest.fixture
def logs(tmp_path: Path) -> tuple[Path, Expected]:
    logdir = tmp_path / "tb-logs"
    return logdir, write_logs(logdir)


def same_value(a: Any, b: Any) -> bool:
    return (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)) or (
        a == b and type(a) is type(b)
    )


def check_imported(store: Store, expected: Expected, experiment: str = "tb-logs") -> None:
    """Every point, text and image of the logs, exactly, in runs with the folders' names."""
    for run_name, series in expected.series.items():
        run = store.get_run(derived_run_id("tensorboard", expected.first_files[run_name]))
        assert (run.name, run.experiment, run.status) == (run_name, experiment, "completed")
        assert run.params["tensorboard.run"] == run_name
        assert sorted(m.name for m in store.list_metrics(run.id)) == sorted(series)
        times = []
        for tag, (kind, points) in series.items():
            got = store.read_series(run.id, tag)
            assert got.kind == kind
            assert got.steps == [p[0] for p in points]
            assert all(same_value(a, p[1]) for a, p in zip(got.values, points)) and len(got.values) == len(points)
            assert got.times == [p[2] for p in points]
            times += got.times
        assert run.started_at.timestamp() <= min(times)
        assert run.ended_at is not None and run.ended_at.timestamp() >= max(times)
        files = {a.path: a for a in store.list_artifacts(run.id)}
        images = expected.images.get(run_name, {})
        assert sorted(files) == sorted(images)
        for path, data in images.items():
            with store.open_artifact(run.id, path) as stream:
                assert stream.read() == data


def test_every_scalar_text_and_image_is_imported_exactly(logs: tuple[Path, Expected], tmp_path: Path) -> None:
    logdir, expected = logs
    home = tmp_path / "home"
    done = cli(home, "import", "tensorboard", str(logdir), "--json")
    assert (done.returncode, done.stderr) == (0, b"")  # no progress into a pipe
    summary = json.loads(done.stdout)
    points = sum(len(p) for s in expected.series.values() for _, p in s.values())
    assert summary["runs"] == {"found": 2, "imported": 2, "resumed": 0, "skipped": 0, "running": 0}
    assert summary["points"] == {"imported": points, "skipped": 0}
    assert summary["artifacts"] == {"imported": 6, "skipped": 0}
    assert summary["left_out"] == ["run val: 2 histograms values (not imported)"]
    store = EmbeddedStore(home)
    check_imported(store, expected)

    # A second import adds nothing: every run is found here, whole.
    again = cli(home, "import", "tensorboard", str(logdir), "--json")
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["runs"] == {"found": 2, "imported": 0, "resumed": 0, "skipped": 2, "running": 0}
    assert second["points"] == {"imported": 0, "skipped": points}
    assert second["artifacts"] == {"imported": 0, "skipped": 6}
    assert len(store.list_runs().runs) == 2
    check_imported(store, expected)


def test_the_human_summary_and_the_experiment_given(logs: tuple[Path, Expected], tmp_path: Path) -> None:
    logdir, expected = logs
    home = tmp_path / "home"
    done = cli(home, "import", "tensorboard", str(logdir), "-e", "vision")
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert "runs: 2 imported, 0 completed from an earlier import, 0 here already (of 2)" in out
    assert "left out (1):\n  run val: 2 histograms values (not imported)" in out
    check_imported(EmbeddedStore(home), expected, experiment="vision")


class Crashing:
    """A store that stops the import after ``appends`` batches (and a few files), as a killed process would:
    what was stored stays. Batches of 40 points, so that a series is cut between two of them."""

    def __init__(self, store: Store, appends: int, files: int = 10**9) -> None:
        self._store, self._appends, self._files = store, appends, files

    @property
    def batch_points(self) -> int:
        return 40

    def append_metrics(self, run_id: str, batch: dict[str, SeriesBatch], *, key: str | None = None) -> bool:
        if self._appends == 0:
            raise KeyboardInterrupt
        self._appends -= 1
        return self._store.append_metrics(run_id, batch, key=key)

    def put_artifact(self, run_id: str, path: str, data: Any, **kw: Any) -> Any:
        if self._files == 0:
            raise KeyboardInterrupt
        self._files -= 1
        return self._store.put_artifact(run_id, path, data, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.mark.parametrize(("appends", "files"), [(0, 0), (3, 0), (9, 2), (10, 5)])
def test_an_import_stopped_midway_is_completed_exactly(
    logs: tuple[Path, Expected], embedded_store: EmbeddedStore, appends: int, files: int
) -> None:
    logdir, expected = logs
    found = find_runs(str(logdir))
    with pytest.raises(KeyboardInterrupt):
        import_tensorboard(Crashing(embedded_store, appends, files), found)  # type: ignore[arg-type]
    stopped = embedded_store.list_runs().runs
    assert stopped and all(r.status == "running" for r in stopped[:1])
    done = import_tensorboard(embedded_store, found)
    assert done.runs_resumed >= 1 and done.runs_imported + done.runs_resumed + done.runs_skipped == 2
    total = sum(len(p) for s in expected.series.values() for _, p in s.values())
    assert done.points_imported + done.points_skipped == total
    check_imported(embedded_store, expected)


@pytest.mark.parametrize("backend", ["http", pytest.param("postgres", marks=pytest.mark.slow)])
def test_an_import_into_a_server_or_the_team_backend(
    logs: tuple[Path, Expected], backend: str, request: pytest.FixtureRequest
) -> None:
    logdir, expected = logs
    store: Store = request.getfixturevalue(f"{backend}_store")
    import_tensorboard(store, find_runs(str(logdir)))
    check_imported(store, expected)
    assert import_tensorboard(store, find_runs(str(logdir))).runs_skipped == 2


def test_a_missing_or_empty_logdir_is_refused_and_no_store_is_made(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = cli(home, "import", "tensorboard", str(tmp_path / "nope"))
    assert done.returncode == 1
    assert (
        done.stderr.decode().strip()
        == f"runhistory: error: no TensorBoard logs at {tmp_path / 'nope'}: it does not exist"
    )
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "notes.txt").write_text("hi")
    done = cli(home, "import", "tensorboard", str(tmp_path / "empty"), "--json")
    assert done.returncode == 1
    assert json.loads(done.stderr) == {
        "error": f"no TensorBoard event files (events.out.tfevents.*) under {tmp_path / 'empty'}",
        "kind": "SourceError",
    }
    assert not home.exists()


def test_names_from_the_logs_reach_the_terminal_cleaned(tmp_path: Path) -> None:
    from tensorboard.summary import Writer

    logdir = tmp_path / "logs"
    hostile = "run\x1b]0;owned\x07\x1b[2J"
    writer = Writer(str(logdir / hostile))
    writer.add_scalar("ok", 1.0, step=0)
    writer.add_scalar("bad\x1b[31mname", 2.0, step=0)
    writer.close()
    home = tmp_path / "home"
    done = cli(home, "import", "tensorboard", str(logdir))
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert "\x1b" not in out and "\x07" not in out
    assert "left out (1):" in out and "metric name holds a control character" in out
    # Stored, the run's name keeps what a name may hold: the control characters are dropped.
    (run,) = EmbeddedStore(home).list_runs().runs
    assert run.name == "run]0;owned[2J"
    assert [m.name for m in EmbeddedStore(home).list_metrics(run.id)] == ["ok"]


@pytest.mark.slow
def test_progress_is_drawn_on_a_terminal_with_the_runs_names_cleaned(tmp_path: Path) -> None:
    import os
    import pty
    import subprocess
    import sys

    from tensorboard.summary import Writer

    from ._processes import clean_env

    logdir = tmp_path / "logs"
    for name in ("a", "b\x1b]0;owned\x07"):
        writer = Writer(str(logdir / name))
        for i in range(100):
            writer.add_scalar("loss", 1.0 / (i + 1), step=i)
        writer.close()
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "runhistory.app.cli", "import", "tensorboard", str(logdir)],
        env=clean_env(tmp_path / "home"),
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    got = b""
    while True:
        try:
            piece = os.read(leader, 65536)
        except OSError:
            break
        if not piece:
            break
        got += piece
    os.close(leader)
    assert process.wait(timeout=60) == 0
    # The folder's name is shown without its escape sequence (an OSC title change, dropped whole).
    assert b"] 2/2 runs, 200 points, 0 files  b\x1b[K" in got
    assert b"\x07" not in got and b"\x1b]" not in got and b"owned" not in got
    assert got.endswith(b"\r\x1b[K")  # taken back at the end
