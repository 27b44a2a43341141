"""``runhistory import wandb DIR``: W&B offline run folders, which cannot be read here.

An offline W&B run keeps its history (every logged row, its config, summary and console)
in one file, ``offline-run-<time>-<id>/run-<id>.wandb``: records of W&B's own protocol
buffers in a framed log. The W&B SDK no longer reads that file in Python (its reader went
when the SDK moved its work into the ``wandb-core`` service it ships as a binary), and
``wandb-core`` reads it only to upload it (``wandb sync``) or to draw it in a terminal
(``wandb leet``): the SDK offers no call that hands back what a file holds. The run's
``files/`` folder holds none of the history either in offline mode. So the command finds
the runs and says so, and stores nothing.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from .runs import ImportSummary, SourceError


def _offline_runs(root: Path) -> list[Path]:
    """Run folders: ``root`` itself, those in it, or those in its ``wandb/`` (``latest-run`` is a link to one)."""
    found = {
        p.parent.resolve()
        for pattern in ("run-*.wandb", "*/run-*.wandb", "wandb/*/run-*.wandb")
        for p in root.glob(pattern)
    }
    return sorted(found)


def import_wandb(folder: str) -> ImportSummary:
    """Find W&B offline runs under ``folder`` and explain why they cannot be imported.

    Raises:
        SourceError: always: no runs there, or the reason they cannot be read.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise SourceError(f"no W&B runs at {folder}: {'it is not a folder' if root.exists() else 'it does not exist'}")
    runs = _offline_runs(root)
    if not runs:
        raise SourceError(f"no W&B offline runs (offline-run-*/run-*.wandb) under {folder}")
    try:
        sdk = f"the W&B SDK installed here (wandb {metadata.version('wandb')})"
    except metadata.PackageNotFoundError:
        sdk = "the W&B SDK (wandb)"
    raise SourceError(
        f"found {len(runs)} W&B offline run{'s' if len(runs) != 1 else ''} under {folder}, but "
        f"{'its history is' if len(runs) == 1 else 'their history is'} only in the run-<id>.wandb "
        f"file{'s' if len(runs) != 1 else ''}, and {sdk} cannot read {'it' if len(runs) == 1 else 'them'} back: it reads such a file only to "
        "upload it (wandb sync) or to draw it (wandb leet). Nothing was imported."
    )
