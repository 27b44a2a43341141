"""How store objects travel as JSON between ``runhistory serve`` and its clients.

Strict JSON throughout: non-finite numbers travel as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` inside number and chart values (never in
string values, which stay as they are). Times travel as epoch seconds.
"""

from __future__ import annotations

import math
from array import array
from typing import Any

from ._errors import InvalidInput
from ._models import (
    METRIC_KINDS,
    ArtifactInfo,
    AssetFile,
    AssetSummary,
    AssetVersion,
    MetricInfo,
    Run,
    RunPage,
    Series,
    SeriesBatch,
    Value,
    utc,
)

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _finite_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def encode_numbers(values: list[Any]) -> list[Any]:
    """Numbers for the wire; returns ``values`` itself when all are finite (decided in C)."""
    try:
        total = sum(values)
    except TypeError:
        total = math.nan
    if isinstance(total, (int, float)) and math.isfinite(total):
        return values
    return [_finite_number(v) for v in values]


def decode_numbers(values: list[Any], what: str) -> list[Any]:
    """Numbers from the wire; ``InvalidInput`` when something is not a number."""
    if str in set(map(type, values)):
        out = []
        for v in values:
            if isinstance(v, str):
                if v not in _NON_FINITE:
                    raise InvalidInput(f"{what}: {v!r} is not a number")
                v = _NON_FINITE[v]
            out.append(v)
        values = out
    try:
        array("d", values)  # checks every item in C: numbers (and bools) only
    except (TypeError, OverflowError):
        bad = next(v for v in values if type(v) not in (int, float, bool) or (type(v) is int and abs(v) > 2**63))
        raise InvalidInput(f"{what}: {bad!r} is not a number") from None
    return values


def encode_value(kind: str, value: Value) -> Any:
    if kind == "number":
        return _finite_number(value)
    if kind == "chart":
        return encode_numbers(value)  # type: ignore[arg-type]
    return value


def decode_value(kind: str, value: Any, what: str = "value") -> Value:
    if kind == "number":
        return decode_numbers([value], what)[0]  # type: ignore[no-any-return]
    if kind == "chart":
        if not isinstance(value, list):
            raise InvalidInput(f"{what}: a chart is a list of numbers")
        return decode_numbers(value, what)
    if not isinstance(value, str):
        raise InvalidInput(f"{what}: a string value expected")
    return value


def encode_values(kind: str, values: list[Value]) -> list[Any]:
    if kind == "number":
        return encode_numbers(values)
    if kind == "chart":
        return [encode_numbers(v) for v in values]  # type: ignore[arg-type]
    return values


def decode_values(kind: str, values: Any, what: str) -> list[Value]:
    if not isinstance(values, list):
        raise InvalidInput(f"{what}: values must be a list")
    if kind == "number":
        return decode_numbers(values, what)
    if kind == "chart":
        return [decode_value("chart", v, what) for v in values]
    for v in values:
        if not isinstance(v, str):
            raise InvalidInput(f"{what}: string values expected")
    return values


def batch_to_wire(batch: dict[str, SeriesBatch]) -> dict[str, Any]:
    return {
        name: {"kind": b.kind, "values": encode_values(b.kind, b.values), "steps": b.steps, "times": b.times}
        for name, b in batch.items()
    }


def batch_from_wire(doc: Any) -> dict[str, SeriesBatch]:
    """A metrics batch from its JSON form; ``InvalidInput`` naming what is wrong."""
    if not isinstance(doc, dict) or not doc:
        raise InvalidInput("series must be a non-empty object of metric name → points")
    batch = {}
    for name, points in doc.items():
        what = f"metric {name!r}"
        if not isinstance(points, dict):
            raise InvalidInput(f"{what}: points must be an object with kind, values, steps and times")
        kind = points.get("kind")
        if kind not in METRIC_KINDS:
            raise InvalidInput(f"{what}: kind must be one of {', '.join(METRIC_KINDS)}")
        values = decode_values(kind, points.get("values"), what)
        steps = points.get("steps")
        times = points.get("times")
        if not isinstance(steps, list) or not isinstance(times, list):
            raise InvalidInput(f"{what}: steps and times must be lists")
        if steps.count(None) != len(steps):
            for s in steps:
                if s is not None and type(s) is not int:
                    raise InvalidInput(f"{what}: steps must be integers or null")
        try:
            checked_times = array("d", times).tolist()  # numbers only, checked in C
        except (TypeError, OverflowError):
            raise InvalidInput(f"{what}: times must be numbers (epoch seconds)") from None
        if True in set(map(type(True).__instancecheck__, times)):
            raise InvalidInput(f"{what}: times must be numbers (epoch seconds), not booleans")
        batch[name] = SeriesBatch(kind, values, steps, checked_times)
    return batch


def run_to_wire(run: Run) -> dict[str, Any]:
    return {
        "id": run.id, "experiment": run.experiment, "name": run.name, "status": run.status,
        "started_at": run.started_at.timestamp(),
        "ended_at": None if run.ended_at is None else run.ended_at.timestamp(),
        "heartbeat_at": None if run.heartbeat_at is None else run.heartbeat_at.timestamp(),
        "command": run.command, "cwd": run.cwd, "host": run.host, "user": run.user, "python": run.python,
        "pid": run.pid, "git_commit": run.git_commit, "git_dirty": run.git_dirty, "error": run.error,
        "exit_code": run.exit_code, "skipped_files": run.skipped_files,
    }  # fmt: skip


def run_from_wire(doc: dict[str, Any]) -> Run:
    return Run(
        id=doc["id"], experiment=doc["experiment"], name=doc["name"], status=doc["status"],
        started_at=utc(doc["started_at"]),  # type: ignore[arg-type]
        ended_at=utc(doc["ended_at"]), heartbeat_at=utc(doc["heartbeat_at"]), command=doc["command"],
        cwd=doc["cwd"], host=doc["host"], user=doc["user"], python=doc["python"], pid=doc["pid"],
        git_commit=doc["git_commit"], git_dirty=doc["git_dirty"], error=doc["error"],
        exit_code=doc["exit_code"], skipped_files=doc["skipped_files"],
    )  # fmt: skip


def page_to_wire(page: RunPage) -> dict[str, Any]:
    return {"runs": [run_to_wire(r) for r in page.runs], "next_cursor": page.next_cursor}


def page_from_wire(doc: dict[str, Any]) -> RunPage:
    return RunPage([run_from_wire(r) for r in doc["runs"]], doc["next_cursor"])


def metric_to_wire(m: MetricInfo) -> dict[str, Any]:
    return {"name": m.name, "kind": m.kind, "count": m.count, "last_step": m.last_step,
            "last_value": encode_value(m.kind, m.last_value), "last_time": m.last_time}  # fmt: skip


def metric_from_wire(doc: dict[str, Any]) -> MetricInfo:
    return MetricInfo(doc["name"], doc["kind"], doc["count"], doc["last_step"],
                      decode_value(doc["kind"], doc["last_value"]), doc["last_time"])  # fmt: skip


def series_to_wire(s: Series) -> dict[str, Any]:
    return {"name": s.name, "kind": s.kind, "count": s.count, "steps": s.steps,
            "values": encode_values(s.kind, s.values), "times": s.times, "downsampled": s.downsampled}  # fmt: skip


def series_from_wire(doc: dict[str, Any]) -> Series:
    kind = doc["kind"]
    return Series(doc["name"], kind, doc["count"], doc["steps"], decode_values(kind, doc["values"], doc["name"]),
                  doc["times"], doc["downsampled"])  # fmt: skip


def artifact_to_wire(a: ArtifactInfo) -> dict[str, Any]:
    return {"path": a.path, "size": a.size, "sha256": a.sha256, "created_at": a.created_at}


def artifact_from_wire(doc: dict[str, Any]) -> ArtifactInfo:
    return ArtifactInfo(doc["path"], doc["size"], doc["sha256"], doc["created_at"])


def asset_to_wire(a: AssetVersion) -> dict[str, Any]:
    return {"name": a.name, "version": a.version, "run_id": a.run_id, "prefix": a.prefix,
            "created_at": a.created_at, "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in a.files]}  # fmt: skip


def asset_from_wire(doc: dict[str, Any]) -> AssetVersion:
    return AssetVersion(doc["name"], doc["version"], doc["run_id"], doc["prefix"], doc["created_at"],
                        [AssetFile(f["path"], f["size"], f["sha256"]) for f in doc["files"]])  # fmt: skip


def asset_summary_to_wire(a: AssetSummary) -> dict[str, Any]:
    return {"name": a.name, "latest_version": a.latest_version, "versions": a.versions, "updated_at": a.updated_at}


def asset_summary_from_wire(doc: dict[str, Any]) -> AssetSummary:
    return AssetSummary(doc["name"], doc["latest_version"], doc["versions"], doc["updated_at"])
