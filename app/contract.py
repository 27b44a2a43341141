"""The ``--json`` contract: how runs, metrics, artifacts and assets look to scripts.

Fields listed in the README's contract never change; more may be added.
Times are ISO 8601 with zone; non-finite numbers are the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` so that every document is strict JSON.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from runhistory.api import (
    ArtifactInfo,
    AssetFile,
    AssetSummary,
    AssetVersion,
    DeletedRun,
    DownloadedFile,
    Environment,
    MetricInfo,
    Run,
    Series,
)
from runhistory.api._wire import encode_value, encode_values


def iso(moment: datetime | float | None) -> str | float | None:
    """ISO 8601 with zone, from an aware datetime or epoch seconds. A point's time
    that no date holds (a server takes any number) stays the number it is, as
    ``encode_value`` writes numbers (NaN as ``"NaN"``)."""
    if moment is None:
        return None
    if isinstance(moment, datetime):
        return moment.isoformat()
    try:
        return datetime.fromtimestamp(moment, tz=timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):
        number: str | float = encode_value("number", moment)
        return number


def run_doc(run: Run) -> dict[str, Any]:
    """A run."""
    return {
        "id": run.id,
        "experiment": run.experiment,
        "status": run.status,
        "started_at": iso(run.started_at),
        "ended_at": iso(run.ended_at),
        "command": run.command,
        "host": run.host,
        "git_commit": run.git_commit,
        "error": run.error,
        "name": run.name,
        "heartbeat_at": iso(run.heartbeat_at),
        "cwd": run.cwd,
        "user": run.user,
        "python": run.python,
        "pid": run.pid,
        "git_dirty": run.git_dirty,
        "exit_code": run.exit_code,
        "skipped_files": run.skipped_files,
        "params": run.params,
        "tags": run.tags,
        "note": run.note,
    }


def metric_doc(metric: MetricInfo) -> dict[str, Any]:
    """A metric's summary, inside ``info``."""
    return {
        "kind": metric.kind,
        "count": metric.count,
        "last": encode_value(metric.kind, metric.last_value),
        "last_step": metric.last_step,
        "last_time": iso(metric.last_time),
    }


def artifact_doc(artifact: ArtifactInfo | AssetFile) -> dict[str, Any]:
    """A stored file."""
    return {"path": artifact.path, "size": artifact.size, "sha256": artifact.sha256}


def info_doc(
    run: Run, metrics: list[MetricInfo], artifacts: list[ArtifactInfo], environment: Environment | None = None
) -> dict[str, Any]:
    """``info -r RUN``."""
    doc = run_doc(run)
    doc["metrics"] = {m.name: metric_doc(m) for m in metrics}
    doc["artifacts"] = [artifact_doc(a) for a in artifacts]
    if environment is not None:
        doc["environment"] = environment_doc(environment)
    return doc


def environment_doc(environment: Environment) -> dict[str, Any]:
    """What a run ran with, inside ``info``."""
    return {
        "packages": environment.packages,
        "git_diff": environment.git_diff,
        "git_diff_truncated": environment.git_diff_truncated,
    }


def deleted_doc(deleted: DeletedRun) -> dict[str, Any]:
    """One run ``delete`` removed."""
    return {
        "id": deleted.run_id,
        "artifacts": deleted.artifacts,
        "blobs_freed": deleted.blobs_freed,
        "bytes_freed": deleted.bytes_freed,
        "kept_asset_versions": deleted.kept_asset_versions,
    }


def series_doc(series: Series) -> dict[str, Any]:
    """``info -r RUN -m NAME``."""
    return {
        "name": series.name,
        "kind": series.kind,
        "count": series.count,
        "downsampled": series.downsampled,
        "points": [
            {"step": step, "value": value, "time": iso(moment)}
            for step, value, moment in zip(series.steps, encode_values(series.kind, series.values), series.times)
        ],
    }


def asset_version_doc(asset: AssetVersion) -> dict[str, Any]:
    """``promote`` and each version in ``assets NAME``."""
    return {
        "name": asset.name,
        "version": asset.version,
        "run": asset.run_id,
        "prefix": asset.prefix,
        "created_at": iso(asset.created_at),
        "files": [artifact_doc(f) for f in asset.files],
    }


def asset_summary_doc(asset: AssetSummary) -> dict[str, Any]:
    """Each asset in ``assets``."""
    return {
        "name": asset.name,
        "latest_version": asset.latest_version,
        "versions": asset.versions,
        "updated_at": iso(asset.updated_at),
    }


def download_doc(destination: str, files: list[DownloadedFile]) -> dict[str, Any]:
    """``download`` and ``asset download``: every file asked for, with what became of it."""
    return {
        "destination": destination,
        "files": [
            {"path": f.path, "saved_to": str(f.saved_to), "size": f.size, "sha256": f.sha256, "status": f.status}
            for f in files
        ],
    }


# Characters JSON may carry raw but a terminal could act on (DEL, the C1 controls, one
# of which is an 8-bit escape) or that make text read other than it is (line and
# paragraph separators, bidi overrides): written as \u escapes, so the document stays
# exact and shows harmlessly when it lands on a terminal. json.dumps escapes C0 itself.
_ESCAPED = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def dumps(doc: Any) -> str:
    """Strict JSON (``allow_nan=False``: a stray non-finite number is a bug, not output).

    Non-ASCII text stays readable; characters a terminal could act on are written
    as ``\\uXXXX`` escapes (they can only occur inside strings, so escaping them in
    the output is exact).
    """
    text = json.dumps(doc, ensure_ascii=False, allow_nan=False, indent=2)
    return _ESCAPED.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
