"""How store objects travel as JSON between ``runhistory serve`` and its clients.

Strict JSON throughout: non-finite numbers travel as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` inside number and chart values (never in
string values, which stay as they are). Times travel as epoch seconds.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import MISSING, fields
from typing import Any

from ._blobs import DirectUpload
from ._errors import InvalidInput
from ._limits import EARLIEST_TIME, LATEST_TIME
from ._models import (
    METRIC_KINDS,
    RUN_STATUSES,
    ArtifactInfo,
    AssetFile,
    AssetSummary,
    AssetVersion,
    DeletedRun,
    Environment,
    MetricInfo,
    Run,
    RunPage,
    Series,
    SeriesBatch,
    Value,
    utc,
)
from ._params import check_params
from ._rows import RUN_FIELD_KINDS, wire_item_type, wire_types

#: The header naming a file's sha256: on an upload, the hash its sender says it has (checked;
#: it lets the server pass the bytes on while they arrive); on a redirect to a bucket, the hash
#: to check the bytes fetched there against.
SHA256_HEADER = "x-runhistory-sha256"

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_NUMBER = (int, float)
_TEXT = (str,)
_MAYBE_TEXT = (str, type(None))


def _get(doc: Any, key: str, types: tuple[type, ...]) -> Any:
    """``doc[key]`` when it is one of ``types``; ``TypeError``/``KeyError`` naming it otherwise.

    What a server answers is checked before it is believed: a field of the
    wrong type would otherwise fail far from here, in a table or a chart.
    """
    value = doc[key]
    if not isinstance(value, types):
        raise TypeError(f"{key!r} is a {type(value).__name__}, not {' or '.join(t.__name__ for t in types)}")
    return value


def _finite_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def encode_numbers(values: Sequence[Any]) -> Sequence[Any]:
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


def encode_values(kind: str, values: Sequence[Value]) -> Sequence[Any]:
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
        if True in set(map(bool.__instancecheck__, times)):
            raise InvalidInput(f"{what}: times must be numbers (epoch seconds), not booleans")
        # A NaN fails the comparison when min or max returns it, and makes the sum NaN when they skip it.
        if checked_times and not (
            EARLIEST_TIME <= min(checked_times) <= max(checked_times) <= LATEST_TIME
            and not math.isnan(sum(checked_times))
        ):
            raise InvalidInput(
                f"{what}: times must be epoch seconds from {EARLIEST_TIME:.0f} to {LATEST_TIME:.0f} "
                "(1970-01-01 … 9999-12-30 UTC), not NaN"
            )
        batch[name] = SeriesBatch(kind, values, steps, checked_times)
    return batch


def run_to_wire(run: Run) -> dict[str, Any]:
    """Every field of the run by its name; times as epoch seconds."""
    return {
        name: (None if value is None else value.timestamp()) if kind == "time" else value
        for name, kind in RUN_FIELD_KINDS.items()
        for value in (getattr(run, name),)
    }


def run_from_wire(doc: dict[str, Any]) -> Run:
    """A run from the wire, every field checked against ``Run``'s types; a field the
    server does not send yet takes its default, when it has one."""
    values: dict[str, Any] = {}
    for name, kind in RUN_FIELD_KINDS.items():
        if name not in doc and name in _RUN_DEFAULTS:
            continue
        value = _get(doc, name, wire_types(name))
        item = wire_item_type(name)
        if item is not None and not all(isinstance(v, item) for v in value):
            raise TypeError(f"{name!r} must be a list of {item.__name__}")
        values[name] = utc(value) if kind == "time" else value
    if values["status"] not in RUN_STATUSES:
        raise ValueError(f"'status' is {values['status']!r}, not one of {', '.join(RUN_STATUSES)}")
    if "params" in values:
        values["params"] = check_params(values["params"])
    return Run(**values)


_RUN_DEFAULTS = {f.name for f in fields(Run) if f.default is not MISSING or f.default_factory is not MISSING}


def page_to_wire(page: RunPage) -> dict[str, Any]:
    return {"runs": [run_to_wire(r) for r in page.runs], "next_cursor": page.next_cursor}


def page_from_wire(doc: dict[str, Any]) -> RunPage:
    return RunPage([run_from_wire(r) for r in _get(doc, "runs", (list,))], _get(doc, "next_cursor", _MAYBE_TEXT))


def metric_to_wire(m: MetricInfo) -> dict[str, Any]:
    return {
        "name": m.name,
        "kind": m.kind,
        "count": m.count,
        "last_step": m.last_step,
        "last_value": encode_value(m.kind, m.last_value),
        "last_time": m.last_time,
    }


def metric_from_wire(doc: dict[str, Any]) -> MetricInfo:
    kind = _kind(doc)
    return MetricInfo(
        _get(doc, "name", _TEXT),
        kind,
        _get(doc, "count", (int,)),
        _get(doc, "last_step", (int,)),
        decode_value(kind, doc["last_value"]),
        _get(doc, "last_time", _NUMBER),
    )


def _kind(doc: Any) -> Any:
    kind = _get(doc, "kind", _TEXT)
    if kind not in METRIC_KINDS:
        raise ValueError(f"'kind' is {kind!r}, not one of {', '.join(METRIC_KINDS)}")
    return kind


def series_to_wire(s: Series) -> dict[str, Any]:
    return {
        "name": s.name,
        "kind": s.kind,
        "count": s.count,
        "steps": s.steps,
        "values": encode_values(s.kind, s.values),
        "times": s.times,
        "downsampled": s.downsampled,
    }


def series_from_wire(doc: dict[str, Any]) -> Series:
    kind = _kind(doc)
    name = _get(doc, "name", _TEXT)
    steps, times = _get(doc, "steps", (list,)), _get(doc, "times", (list,))
    values = decode_values(kind, doc["values"], name)
    if not len(steps) == len(values) == len(times):
        raise ValueError("'steps', 'values' and 'times' differ in length")
    if not all(type(step) is int for step in steps) or not all(isinstance(t, _NUMBER) for t in times):
        raise TypeError("'steps' must be integers and 'times' numbers")
    return Series(name, kind, _get(doc, "count", (int,)), steps, values, times, _get(doc, "downsampled", (bool,)))


def artifact_to_wire(a: ArtifactInfo) -> dict[str, Any]:
    return {"path": a.path, "size": a.size, "sha256": a.sha256, "created_at": a.created_at}


def artifact_from_wire(doc: dict[str, Any]) -> ArtifactInfo:
    return ArtifactInfo(
        _get(doc, "path", _TEXT),
        _get(doc, "size", (int,)),
        _get(doc, "sha256", _TEXT),
        _get(doc, "created_at", _NUMBER),
    )


def direct_upload_to_wire(u: DirectUpload) -> dict[str, Any]:
    return {"url": u.url, "headers": u.headers, "upload": u.upload, "sha256": u.sha256, "expires": u.expires}


def direct_upload_from_wire(doc: dict[str, Any]) -> DirectUpload:
    headers = _get(doc, "headers", (dict,))
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise TypeError("'headers' must map names to strings")
    return DirectUpload(
        _get(doc, "url", _TEXT),
        headers,
        _get(doc, "upload", _TEXT),
        _get(doc, "sha256", _TEXT),
        _get(doc, "expires", _NUMBER),
    )


def asset_to_wire(a: AssetVersion) -> dict[str, Any]:
    return {
        "name": a.name,
        "version": a.version,
        "run_id": a.run_id,
        "prefix": a.prefix,
        "created_at": a.created_at,
        "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in a.files],
    }


def asset_from_wire(doc: dict[str, Any]) -> AssetVersion:
    files = [
        AssetFile(_get(f, "path", _TEXT), _get(f, "size", (int,)), _get(f, "sha256", _TEXT))
        for f in _get(doc, "files", (list,))
    ]
    return AssetVersion(
        _get(doc, "name", _TEXT),
        _get(doc, "version", (int,)),
        _get(doc, "run_id", _TEXT),
        _get(doc, "prefix", _TEXT),
        _get(doc, "created_at", _NUMBER),
        files,
    )


def asset_summary_to_wire(a: AssetSummary) -> dict[str, Any]:
    return {"name": a.name, "latest_version": a.latest_version, "versions": a.versions, "updated_at": a.updated_at}


def asset_summary_from_wire(doc: dict[str, Any]) -> AssetSummary:
    return AssetSummary(
        _get(doc, "name", _TEXT),
        _get(doc, "latest_version", (int,)),
        _get(doc, "versions", (int,)),
        _get(doc, "updated_at", _NUMBER),
    )


def deleted_to_wire(deleted: DeletedRun) -> dict[str, Any]:
    return {
        "run_id": deleted.run_id,
        "artifacts": deleted.artifacts,
        "blobs_freed": deleted.blobs_freed,
        "bytes_freed": deleted.bytes_freed,
        "kept_asset_versions": deleted.kept_asset_versions,
    }


def deleted_from_wire(doc: dict[str, Any]) -> DeletedRun:
    kept = _get(doc, "kept_asset_versions", (list,))
    if not all(isinstance(k, str) for k in kept):
        raise TypeError("'kept_asset_versions' must be a list of str")
    return DeletedRun(
        _get(doc, "run_id", _TEXT),
        _get(doc, "artifacts", (int,)),
        _get(doc, "blobs_freed", (int,)),
        _get(doc, "bytes_freed", (int,)),
        kept,
    )


def environment_to_wire(environment: Environment) -> dict[str, Any]:
    return {
        "packages": environment.packages,
        "git_diff": environment.git_diff,
        "git_diff_truncated": environment.git_diff_truncated,
    }


def environment_from_wire(doc: dict[str, Any]) -> Environment:
    packages = _get(doc, "packages", (dict,))
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in packages.items()):
        raise TypeError("'packages' must map names to version text")
    return Environment(packages, _get(doc, "git_diff", _MAYBE_TEXT), _get(doc, "git_diff_truncated", (bool,)))


def tags_from_wire(doc: dict[str, Any]) -> list[str]:
    tags = _get(doc, "tags", (list,))
    if not all(isinstance(t, str) for t in tags):
        raise TypeError("'tags' must be a list of str")
    return [str(t) for t in tags]
