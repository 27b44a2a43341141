"""Local spool for values and files a server could not take (yet).

When the history server cannot be reached (or refuses the token), the logger
writes what it would have sent into a folder of its own under ``<home>/spool/``::

    <run id>-<pid>-<nonce>/
        meta.json      the spool's format, the run id and the store it was meant for
        ops.jsonl      one operation a line (see ``_ops``): create_run, metrics, artifact, update_run, finish
        files/         copies of the files of artifact operations
        done           how many operations have been delivered (resumable)
        lock           held (flock) while its process is alive

Every operation is idempotent: metric batches carry the idempotency key the
server remembers, a run is created with its final id, and files are
content-addressed, so delivering an operation twice stores it once.
``runhistory sync`` (and the next run's logger) deliver spools in order.

The spool has a format of its own, ``SPOOL_FORMAT``, recorded in
``meta.json``: format 2 writes each operation as its class does
(``Op.to_spool``), numbers as Python's JSON keeps them (NaN and infinities
included). Format 1 (no version in ``meta.json``) wrote metric batches in the
HTTP wire format; spools of either format are delivered.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from runhistory.api import InvalidInput, RunNotFound, Store, StoreUnavailable, Unauthorized, default_home
from runhistory.api import _wire as wire

from ._ops import OPS, AppendMetrics, Op

#: The format this version writes (see the module docstring).
SPOOL_FORMAT = 2

log = logging.getLogger("runhistory")


def spool_root() -> Path:
    """Where spools live: ``<home>/spool``."""
    return default_home() / "spool"


class Spool:
    """One process's spool for one run (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        (folder / "files").mkdir(parents=True, exist_ok=True)
        self._lock = open(folder / "lock", "w")  # noqa: SIM115 - held for the spool's life
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self._ops = open(folder / "ops.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self.count = _count_lines(folder / "ops.jsonl")
        self._files = len(list((folder / "files").iterdir()))

    @classmethod
    def create(cls, root: Path, run_id: str, store: str) -> Spool:
        """A new spool for ``run_id``, meant for the store at ``store`` (its ``location``)."""
        folder = root / f"{run_id}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True)
        meta = {"format": SPOOL_FORMAT, "run_id": run_id, "store": store, "pid": os.getpid()}
        (folder / "meta.json").write_text(json.dumps(meta))
        return cls(folder)

    def append(self, op: Op) -> int:
        """Write one operation; returns its index."""
        self._ops.write(json.dumps(op.to_spool(self), separators=(",", ":")) + "\n")
        self._ops.flush()
        self.count += 1
        return self.count - 1

    def add_file(self, staged: str) -> str:
        """Move a staged file into the spool; returns its name there."""
        name = f"files/{self._files}"
        self._files += 1
        shutil.move(staged, self.folder / name)
        return name

    def close(self) -> None:
        """Make the spool durable and let ``sync`` take it."""
        self._ops.flush()
        os.fsync(self._ops.fileno())
        self._ops.close()
        self._lock.close()


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def _meta(folder: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((folder / "meta.json").read_text())
    meta.setdefault("format", 1)
    meta.setdefault("store", meta.get("url"))
    return meta


def read_op(doc: dict[str, Any], folder: Path, format: int) -> Op:
    """One spooled operation.

    Raises:
        InvalidInput: it is not an operation this version knows.
    """
    kind = OPS.get(doc.get("op", ""))
    if kind is None:
        raise InvalidInput(f"unknown spooled operation {doc.get('op')!r}")
    if format == 1 and kind is AppendMetrics:
        return AppendMetrics(doc["key"], wire.batch_from_wire(doc["series"]))
    op: Op = kind.from_spool(doc, folder)
    return op


def deliver(
    store: Store,
    folder: Path,
    on_delivered: Callable[[int], None] | None = None,
    on_refused: Callable[[int, Exception], None] | None = None,
) -> int:
    """Deliver a spool's operations from where the last delivery stopped.

    Returns:
        How many operations are left (0 when all went).

    Raises:
        StoreUnavailable: the server went away; what went is recorded in ``done``.
        Unauthorized: the server refuses the token; what went is recorded in ``done``.
        RunNotFound: the run is not on the server yet (another spool creates it).
    """
    meta = _meta(folder)
    run_id = meta["run_id"]
    done_file = folder / "done"
    done = int(done_file.read_text() or 0) if done_file.exists() else 0
    with open(folder / "ops.jsonl", encoding="utf-8") as f:
        lines = f.read().splitlines()
    for index in range(done, len(lines)):
        try:
            read_op(json.loads(lines[index]), folder, meta["format"]).apply(store, run_id)
        except (StoreUnavailable, Unauthorized, RunNotFound):
            raise
        except InvalidInput as refused:  # the server will never take it: go on without it
            if on_refused is not None:
                on_refused(index, refused)
        done = index + 1
        tmp = folder / "done.tmp"
        tmp.write_text(str(done))
        os.replace(tmp, done_file)
        if on_delivered is not None:
            on_delivered(index)
    return len(lines) - done


def _report_skipped(report: Callable[[str], None], name: str, item: object, error: BaseException) -> None:
    report(f"skipped an operation of {name}: {error}")


def sync_all(store: Store, root: Path | None = None, report: Callable[[str], None] = log.warning) -> tuple[int, int]:
    """Deliver every finished spool under ``root`` meant for ``store``.

    Spools still held by a live process are left to it. Returns (spools
    delivered, spools left).
    """
    root = spool_root() if root is None else root
    if not root.is_dir():
        return 0, 0
    pending = sorted(p for p in root.iterdir() if (p / "meta.json").exists())
    delivered = 0
    progress = True
    while pending and progress:
        progress = False
        for folder in list(pending):
            meta = _meta(folder)
            if meta["store"] != store.location:
                pending.remove(folder)
                continue
            lock = open(folder / "lock", "a")  # noqa: SIM115
            try:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    pending.remove(folder)  # its process is alive and delivers it itself
                    continue
                try:
                    deliver(
                        store,
                        folder,
                        on_refused=partial(_report_skipped, report, folder.name),
                    )
                except RunNotFound:
                    continue  # another spool creates the run; try again after it
                shutil.rmtree(folder)
                pending.remove(folder)
                delivered += 1
                progress = True
                report(f"delivered run {meta['run_id'][:8]} ({folder.name})")
            finally:
                lock.close()
    return delivered, len(pending)
