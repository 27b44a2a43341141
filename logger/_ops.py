"""What a logger asks of its store, one small class per call.

Each operation knows how to apply itself to a store and how to write itself
into the spool (and read itself back), so the writer, the delivery and
``runhistory sync`` never route on what kind of operation they hold.
Operations carry the sequence numbers of the values they settle, so that
what becomes of them reaches the right handles.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from runhistory.api import ArtifactTooLarge, InvalidInput, LoggingError, NewRun, SeriesBatch, Store
from runhistory.api._media import CAPTION_KEY
from runhistory.api._models import Environment

#: A queued value: (seq, name, value, step, time); the queue holds them flat, ``ITEM_WIDTH``
#: slots each (see ``_writer``).
Item = tuple[Any, ...]
ITEM_WIDTH = 5


class Op(Protocol):
    """An operation on one run of a store."""

    #: Its name in the spool.
    KIND: ClassVar[str]
    #: The sequence numbers of the queued values (or the one upload) it settles, increasing.
    seqs: Sequence[int]

    def apply(self, store: Store, run_id: str) -> None:
        """Do it (idempotent: applying it twice has the effect of once)."""

    def to_spool(self, files: SpoolFiles) -> dict[str, Any]:
        """The line the spool keeps for it (moving a staged file into the spool's files)."""

    def forget(self) -> None:
        """Let go of what it holds on disk once it is applied or given up."""

    def describe(self) -> str:
        """What it is, in a few words, for messages."""


class SpoolFiles(Protocol):
    """Where a spool keeps the files of its uploads."""

    folder: Path

    def add_file(self, staged: str) -> str:
        """Move ``staged`` into the spool; returns its name there."""


@dataclass(slots=True)
class AppendMetrics:
    """``store.append_metrics``: a batch of points, once per idempotency key."""

    KIND: ClassVar[str] = "metrics"
    key: str
    series: dict[str, SeriesBatch]
    seqs: Sequence[int] = field(default_factory=list)
    #: Each series' share of ``seqs``, in the order of its points.
    series_seqs: dict[str, Sequence[int]] = field(default_factory=dict)

    def apply(self, store: Store, run_id: str) -> None:
        store.append_metrics(run_id, self.series, key=self.key)

    def to_spool(self, files: SpoolFiles) -> dict[str, Any]:
        # Python's JSON keeps NaN and ±inf as they are; the spool is read only by runhistory.
        return {
            "op": self.KIND,
            "key": self.key,
            "series": {n: [b.kind, b.values, b.steps, b.times] for n, b in self.series.items()},
        }

    @classmethod
    def from_spool(cls, doc: dict[str, Any], folder: Path) -> AppendMetrics:
        series = {}
        for name, (kind, values, steps, times) in doc["series"].items():
            series[name] = SeriesBatch(kind, values, steps, times)
        return cls(doc["key"], series)

    def forget(self) -> None:
        pass

    def describe(self) -> str:
        return f"values of {sorted(self.series)}"

    def per_series(self) -> list[AppendMetrics]:
        """One operation per metric (each with a key of its own)."""
        return [
            AppendMetrics(f"{self.key}-{name}", {name: batch}, self.series_seqs[name], {name: self.series_seqs[name]})
            for name, batch in self.series.items()
        ]

    def halves(self) -> list[AppendMetrics]:
        """The batch in two (by metric, else by points), each with a key of its own; [] for one point."""
        names = list(self.series)
        if len(names) > 1:
            parts = [names[: len(names) // 2], names[len(names) // 2 :]]
            return [
                AppendMetrics(
                    f"{self.key}.{i}",
                    {n: self.series[n] for n in part},
                    sorted(s for n in part for s in self.series_seqs[n]),
                    {n: self.series_seqs[n] for n in part},
                )
                for i, part in enumerate(parts)
            ]
        (name,) = names
        points = self.series[name]
        n = len(points.values)
        if n < 2:
            return []
        h = n // 2
        mine = self.series_seqs[name]
        return [
            AppendMetrics(
                f"{self.key}.{i}",
                {name: SeriesBatch(points.kind, points.values[a:b], points.steps[a:b], points.times[a:b])},
                mine[a:b],
                {name: mine[a:b]},
            )
            for i, (a, b) in enumerate(((0, h), (h, n)))
        ]


@dataclass(slots=True)
class PutArtifact:
    """``store.put_artifact`` from a staged copy of the file (deleted once stored)."""

    KIND: ClassVar[str] = "artifact"
    path: str
    staged: str
    max_size: int | None = None
    seqs: Sequence[int] = field(default_factory=list)

    def apply(self, store: Store, run_id: str) -> None:
        with open(self.staged, "rb") as stream:
            store.put_artifact(run_id, self.path, stream, max_size=self.max_size)

    def to_spool(self, files: SpoolFiles) -> dict[str, Any]:
        name = files.add_file(self.staged)
        self.staged = str(files.folder / name)
        return {"op": self.KIND, "path": self.path, "file": name, "max_size": self.max_size}

    @classmethod
    def from_spool(cls, doc: dict[str, Any], folder: Path) -> PutArtifact:
        return cls(doc["path"], str(folder / doc["file"]), doc.get("max_size"))

    def forget(self) -> None:
        try:
            os.unlink(self.staged)
        except FileNotFoundError:
            pass

    def describe(self) -> str:
        return self.path


@dataclass(slots=True)
class PutImage:
    """A logged image: encoded as PNG by the writer (``encode``), then stored like ``PutArtifact``.

    The caller's thread only checked and copied the picture (``_images``); the
    encoding, a tenth of a second for a 1024×1024 image, happens here, off the
    training loop. Pillow writes a PNG in pieces of 64 KiB, holding the GIL
    for each (a few milliseconds) and letting it go between them, so the
    loop's own Python waits at most a piece at a time and its kernels run on.
    In the spool it is an ``artifact`` line: once encoded it is only a file.
    """

    KIND: ClassVar[str] = "image"
    path: str
    picture: Any  # a PIL image until it is encoded, then None
    caption: str | None
    max_size: int
    staging: Path
    #: Called once the picture is encoded or dropped (it gives back the queue's budget).
    release: Callable[[], None]
    staged: str | None = None
    seqs: Sequence[int] = field(default_factory=list)

    def encode(self) -> None:
        """Write the PNG into the staging folder (once); ``ArtifactTooLarge`` past ``max_size``."""
        if self.staged is not None:
            return
        from PIL.PngImagePlugin import PngInfo

        picture, self.picture = self.picture, None
        self._release()
        if picture is None:
            raise LoggingError(f"image {self.path!r} was dropped before it was encoded")
        info = PngInfo()
        if self.caption is not None:
            info.add_itxt(CAPTION_KEY, self.caption)
        fd, staged = tempfile.mkstemp(dir=self.staging, prefix="staged-")
        try:
            with open(fd, "wb") as out:
                picture.save(out, "PNG", pnginfo=info)
                size = out.tell()
            if size > self.max_size:
                raise ArtifactTooLarge(
                    f"image {self.path!r} is {size:,} bytes as PNG; the limit is {self.max_size:,} bytes "
                    "(MAX_IMAGE_BYTES, or RUNHISTORY_MAX_FILE_SIZE when lower): log a smaller image"
                )
        except BaseException:
            os.unlink(staged)
            raise
        self.staged = staged

    def _release(self) -> None:
        release, self.release = self.release, _nothing
        release()

    def apply(self, store: Store, run_id: str) -> None:
        self.encode()
        assert self.staged is not None
        with open(self.staged, "rb") as stream:
            store.put_artifact(run_id, self.path, stream, max_size=self.max_size)

    def to_spool(self, files: SpoolFiles) -> dict[str, Any]:
        self.encode()
        assert self.staged is not None
        return PutArtifact(self.path, self.staged, self.max_size).to_spool(files)

    def forget(self) -> None:
        self.picture = None
        self._release()
        if self.staged is not None:
            try:
                os.unlink(self.staged)
            except FileNotFoundError:
                pass

    def describe(self) -> str:
        return f"image {self.path}"


def _nothing() -> None:
    pass


@dataclass(slots=True)
class UpdateRun:
    """``store.update_run``: facts learnt after the start (git commit, skipped files)."""

    KIND: ClassVar[str] = "update_run"
    changes: dict[str, Any]
    seqs: Sequence[int] = field(default_factory=list)

    def apply(self, store: Store, run_id: str) -> None:
        store.update_run(run_id, **self.changes)

    def to_spool(self, files: SpoolFiles) -> dict[str, Any]:
        return {"op": self.KIND, "changes": self.changes}

    @classmethod
    def from_spool(cls, doc: dict[str, Any], folder: Path) -> UpdateRun:
        return cls(doc["changes"])

    def forget(self) -> None:
        pass

    def describe(self) -> str:
        return f"the run's {', '.join(self.changes)}"


@dataclass(slots=True)
class FinishRun:
    """``store.finish_run``."""

    KIND: ClassVar[str] = "finish"
    status: str
    error: str | None = None
    exit_code: int | None = None
    seqs: Sequence[int] = field(default_factory=list)

    def apply(self, store: Store, run_id: str) -> None:
        store.finish_run(run_id, self.status, error=self.error, exit_code=self.exit_code)  # type: ignore[arg-type]

    def to_spool(self, files: SpoolFiles) -> dict[str, Any]:
        return {"op": self.KIND, "status": self.status, "error": self.error, "exit_code": self.exit_code}

    @classmethod
    def from_spool(cls, doc: dict[str, Any], folder: Path) -> FinishRun:
        return cls(doc["status"], doc.get("error"), doc.get("exit_code"))

    def forget(self) -> None:
        pass

    def describe(self) -> str:
        return f"the run's end ({self.status})"


@dataclass(slots=True)
class CreateRun:
    """``store.create_run`` with the id the logger chose, for a run started while the server was away."""

    KIND: ClassVar[str] = "create_run"
    spec: NewRun
    seqs: Sequence[int] = field(default_factory=list)

    def apply(self, store: Store, run_id: str) -> None:
        try:
            store.create_run(self.spec)
        except InvalidInput:
            store.get_run(run_id)  # created by an earlier, interrupted delivery: fine

    def to_spool(self, files: SpoolFiles) -> dict[str, Any]:
        return {"op": self.KIND, "spec": {f: getattr(self.spec, f) for f in NewRun.__dataclass_fields__}}

    @classmethod
    def from_spool(cls, doc: dict[str, Any], folder: Path) -> CreateRun:
        return cls(NewRun(**doc["spec"]))

    def forget(self) -> None:
        pass

    def describe(self) -> str:
        return "the run's start"


@dataclass(slots=True)
class SetParams:
    """``store.set_params``: the run's configuration (flat, typed, checked at the call)."""

    KIND: ClassVar[str] = "params"
    params: dict[str, Any]
    overwrite: bool = False
    seqs: Sequence[int] = field(default_factory=list)

    def apply(self, store: Store, run_id: str) -> None:
        store.set_params(run_id, self.params, overwrite=self.overwrite)

    def to_spool(self, files: SpoolFiles) -> dict[str, Any]:
        return {"op": self.KIND, "params": self.params, "overwrite": self.overwrite}

    @classmethod
    def from_spool(cls, doc: dict[str, Any], folder: Path) -> SetParams:
        return cls(doc["params"], bool(doc.get("overwrite")))

    def forget(self) -> None:
        pass

    def describe(self) -> str:
        return f"params {', '.join(list(self.params)[:5])}{' …' if len(self.params) > 5 else ''}"


@dataclass(slots=True)
class UpdateTags:
    """``store.update_tags``."""

    KIND: ClassVar[str] = "tags"
    add: list[str]
    remove: list[str] = field(default_factory=list)
    seqs: Sequence[int] = field(default_factory=list)

    def apply(self, store: Store, run_id: str) -> None:
        store.update_tags(run_id, add=self.add, remove=self.remove)

    def to_spool(self, files: SpoolFiles) -> dict[str, Any]:
        return {"op": self.KIND, "add": self.add, "remove": self.remove}

    @classmethod
    def from_spool(cls, doc: dict[str, Any], folder: Path) -> UpdateTags:
        return cls(list(doc["add"]), list(doc.get("remove", [])))

    def forget(self) -> None:
        pass

    def describe(self) -> str:
        return "tags " + " ".join([*(f"+{t}" for t in self.add), *(f"-{t}" for t in self.remove)])


@dataclass(slots=True)
class SetNote:
    """``store.set_note``."""

    KIND: ClassVar[str] = "note"
    note: str | None
    seqs: Sequence[int] = field(default_factory=list)

    def apply(self, store: Store, run_id: str) -> None:
        store.set_note(run_id, self.note)

    def to_spool(self, files: SpoolFiles) -> dict[str, Any]:
        return {"op": self.KIND, "note": self.note}

    @classmethod
    def from_spool(cls, doc: dict[str, Any], folder: Path) -> SetNote:
        return cls(doc["note"])

    def forget(self) -> None:
        pass

    def describe(self) -> str:
        return "the run's note"


@dataclass(slots=True)
class SetEnvironment:
    """``store.set_environment``: installed packages and the git diff."""

    KIND: ClassVar[str] = "environment"
    environment: Environment
    seqs: Sequence[int] = field(default_factory=list)

    def apply(self, store: Store, run_id: str) -> None:
        store.set_environment(run_id, self.environment)

    def to_spool(self, files: SpoolFiles) -> dict[str, Any]:
        env = self.environment
        return {
            "op": self.KIND,
            "packages": env.packages,
            "git_diff": env.git_diff,
            "truncated": env.git_diff_truncated,
        }

    @classmethod
    def from_spool(cls, doc: dict[str, Any], folder: Path) -> SetEnvironment:
        return cls(Environment(doc["packages"], doc.get("git_diff"), bool(doc.get("truncated"))))

    def forget(self) -> None:
        pass

    def describe(self) -> str:
        return "the run's environment"


_OP_TYPES = (
    AppendMetrics,
    PutArtifact,
    UpdateRun,
    FinishRun,
    CreateRun,
    SetParams,
    UpdateTags,
    SetNote,
    SetEnvironment,
)
#: Every operation by its name in the spool.
OPS: dict[str, type[Any]] = {op.KIND: op for op in _OP_TYPES}
