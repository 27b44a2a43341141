"""``runhistory import tensorboard LOGDIR``: TensorBoard event files, read with TensorBoard's own loader.

Every folder under LOGDIR that holds event files (``*tfevents*``) is one run, as TensorBoard
shows it; its files are read oldest first, event by event, by TensorBoard's
``EventFileLoader`` (no TensorFlow needed), which also brings the older summary forms
(``simple_value`` scalars, ``Summary.Image``: what PyTorch's and tensorboardX's writers
write) to the current ones. What each tag becomes:

- a scalar: a number series, each point with its step and wall time (float32 values are
  kept exactly, as float64 holds them);
- text: a string series (a table's rows joined with newlines, its cells with tabs);
- an image: a file ``images/<tag>/<step>.<png|jpg|gif>`` (``<step>-<n>`` when one event holds several);
- anything else (histograms, audio, PR curves, hparams, graphs): left out, and counted.

A run's identity is its oldest event file's name, which TensorBoard's writers make unique
(time, host, process, a counter): the same run is found again from another LOGDIR or a copy.
"""

from __future__ import annotations

import io
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runhistory.api import MetricKind, Store, Value

from .runs import ImportSummary, Point, ProgressLine, RunWriter, SourceError, SourceFile, SourceRun, SourceSeries

TRACKER = "tensorboard"

#: The file names TensorBoard reads as event files.
_EVENT_FILE = re.compile(r".*tfevents.*")
#: Runs of digits in a file name, compared as numbers: ``events.out.tfevents.<time>.<host>.<pid>.<counter>``
#: sorts by time, then by the writer's counter (9 before 10), which orders the files one process wrote.
_DIGITS = re.compile(r"(\d+)")

#: What TensorBoard's plugins are called in the events, for the kinds imported.
_SCALARS, _TEXT, _IMAGES = "scalars", "text", "images"

#: File name endings for images, by their first bytes.
_IMAGE_KINDS = ((b"\x89PNG", "png"), (b"\xff\xd8", "jpg"), (b"GIF8", "gif"), (b"BM", "bmp"), (b"RIFF", "webp"))


def _event_files(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if p.is_file() and _EVENT_FILE.fullmatch(p.name)]

    def order(path: Path) -> list[tuple[int, str]]:
        return [(int(part), "") if part.isdigit() else (-1, part) for part in _DIGITS.split(path.name)]

    return sorted(files, key=order)


def _run_folders(logdir: Path) -> list[tuple[Path, list[Path]]]:
    found = []
    for root, dirs, _ in os.walk(logdir):
        dirs.sort()
        files = _event_files(Path(root))
        if files:
            found.append((Path(root), files))
    return found


def _image_ending(data: bytes) -> str:
    return next((ending for magic, ending in _IMAGE_KINDS if data.startswith(magic)), "bin")


def _path_part(text: str) -> str:
    """A tag's part as a path component: no empty, ``.``, ``..`` or control characters."""
    cleaned = "".join(c if c.isprintable() and c not in "\\" else "_" for c in text)[:200]
    return cleaned if cleaned not in ("", ".", "..") else f"_{cleaned}_"


def _text(values: Any) -> str:
    def decode(item: Any) -> str:
        return item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)

    if values.ndim == 0:
        return decode(values.item())
    if values.ndim == 1:
        return "\n".join(decode(v) for v in values)
    return "\n".join("\t".join(decode(v) for v in row.reshape(-1)) for row in values)


class _Folder:
    """One run's folder, read through TensorBoard's loader."""

    def __init__(self, logdir: Path, folder: Path, files: list[Path], experiment: str, summary: ImportSummary) -> None:
        self.folder = folder
        self.files = files
        self.rel = folder.relative_to(logdir).as_posix()
        self.label = logdir.name if self.rel == "." else self.rel
        self.experiment = experiment
        self.summary = summary
        self._plugins: dict[str, str] = {}

    def events(self) -> Iterator[Any]:
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

        for path in self.files:
            loader = EventFileLoader(str(path))
            try:
                yield from loader.Load()
            except Exception as error:  # a damaged record: what came before it is kept, the same each time
                self.summary.leave_out(
                    f"run {self.label}: {path.name} is damaged past a point ({error}): the rest of it is not read"
                )

    def values(self, event: Any) -> Iterator[tuple[Any, str]]:
        """(summary value, plugin) for each summary value of ``event`` (a tag's plugin is
        named only in its first value: it is remembered for the others)."""
        if not event.HasField("summary"):
            return
        for value in event.summary.value:
            plugin = value.metadata.plugin_data.plugin_name if value.HasField("metadata") else ""
            if plugin:
                self._plugins[value.tag] = plugin
            else:
                plugin = self._plugins.get(value.tag, "")
            yield value, plugin

    def read(self) -> tuple[dict[str, tuple[MetricKind, list[Point]]], float | None, float | None]:
        """Every scalar and text point by tag, and the first and last wall times."""
        from tensorboard.util import tensor_util

        series: dict[str, tuple[MetricKind, list[Point]]] = {}
        first = last = None
        others: Counter[str] = Counter()
        for event in self.events():
            first = event.wall_time if first is None else min(first, event.wall_time)
            last = event.wall_time if last is None else max(last, event.wall_time)
            for value, plugin in self.values(event):
                if plugin not in (_SCALARS, _TEXT):
                    if plugin != _IMAGES:
                        others[plugin or value.WhichOneof("value") or "untyped"] += 1
                    continue
                array = tensor_util.make_ndarray(value.tensor)
                point: Value
                kind: MetricKind
                if plugin == _SCALARS:
                    if array.size != 1:
                        others["scalars of more than one value"] += 1
                        continue
                    item = array.reshape(()).item()
                    point = item if isinstance(item, (int, float)) and not isinstance(item, bool) else float(item)
                    kind = "number"
                else:
                    point = _text(array)
                    kind = "string"
                known = series.setdefault(value.tag, (kind, []))
                if known[0] != kind:
                    others[f"{kind} values of the {known[0]} tag {value.tag}"] += 1
                    continue
                known[1].append((int(event.step), point, float(event.wall_time)))
        for what, count in sorted(others.items()):
            self.summary.leave_out(f"run {self.label}: {count} {what} values (not imported)")
        return series, first, last

    def images(self) -> Iterator[SourceFile]:
        """Each image as a file, read as the events are (one image in memory at a time)."""
        from tensorboard.util import tensor_util

        made: Counter[str] = Counter()
        for event, value, plugin in ((e, v, p) for e in self.events() for v, p in self.values(e)):
            if plugin != _IMAGES:
                continue
            encoded = list(tensor_util.make_ndarray(value.tensor).reshape(-1)[2:])
            folder = "/".join(_path_part(p) for p in value.tag.split("/"))
            for n, data in enumerate(encoded):
                stem = f"{event.step}" if len(encoded) == 1 else f"{event.step}-{n}"
                path = f"images/{folder}/{stem}.{_image_ending(data)}"
                made[path] += 1
                if made[path] > 1:  # the same tag and step again (a run resumed from a checkpoint)
                    path = f"images/{folder}/{stem}.{made[path] - 1}.{_image_ending(data)}"
                yield SourceFile(path, len(data), lambda data=data: io.BytesIO(data))  # type: ignore[misc]


def find_runs(logdir: str) -> tuple[Path, list[tuple[Path, list[Path]]]]:
    """LOGDIR, resolved, and its folders of event files with their files, oldest first.

    Raises:
        SourceError: LOGDIR is missing or holds no event files, or TensorBoard is not installed.
    """
    root = Path(logdir).expanduser()
    if not root.is_dir():
        raise SourceError(
            f"no TensorBoard logs at {logdir}: {'it is not a folder' if root.exists() else 'it does not exist'}"
        )
    root = root.resolve()
    try:
        # Without TensorFlow, TensorBoard says so at import: not news to someone importing logs.
        logging.getLogger("tensorboard").setLevel(logging.ERROR)
        import tensorboard.backend.event_processing.event_file_loader  # noqa: F401
    except ImportError:
        raise SourceError(
            "reading TensorBoard logs needs TensorBoard: pip install tensorboard (or 'runhistory[import]')"
        ) from None
    folders = _run_folders(root)
    if not folders:
        raise SourceError(f"no TensorBoard event files (events.out.tfevents.*) under {logdir}")
    return root, folders


def import_tensorboard(
    store: Store,
    found: tuple[Path, list[tuple[Path, list[Path]]]],
    *,
    experiment: str | None = None,
    progress: ProgressLine | None = None,
) -> ImportSummary:
    """Import the runs ``find_runs`` found into ``store`` (see the module docstring)."""
    started = time.monotonic()
    root, folders = found
    summary = ImportSummary(source=str(root))
    summary.runs_found = len(folders)
    writer = RunWriter(store, summary, progress)
    writer.write_all(_source_run(_Folder(root, f, files, experiment or root.name, summary)) for f, files in folders)
    summary.seconds = time.monotonic() - started
    return summary


def _source_run(folder: _Folder) -> SourceRun:
    read: list[tuple[dict[str, tuple[MetricKind, list[Point]]], float | None, float | None]] = []

    def prepare(run: SourceRun) -> None:
        # Read when the run is to be written (a run here already whole is skipped unread).
        read.append(folder.read())
        run.started_at, run.ended_at = read[0][1], read[0][2]

    def series() -> Iterator[SourceSeries]:
        for tag, (kind, points) in read[0][0].items():
            yield SourceSeries(tag, kind, lambda points=points: points)  # type: ignore[misc]

    return SourceRun(
        tracker=TRACKER,
        key=folder.files[0].name,
        label=folder.label,
        experiment=folder.experiment,
        name=folder.label,
        params={"tensorboard.run": folder.rel},
        series=series,
        files=folder.images,
        prepare=prepare,
    )
