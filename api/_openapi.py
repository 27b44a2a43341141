"""The answers side of the server's OpenAPI document.

FastAPI describes request bodies and parameters from the routes. The answers
are JSON built by ``_wire``, not pydantic models, so their schemas are written
here: each route names its success body with ``ok()``, and ``complete()`` adds
the error body every failure shares, which failures each operation can answer,
and the bearer scheme when the server has a token. The schemathesis test holds
real answers against all of it.

Objects may gain fields (as the ``--json`` contract allows); the schemas name
the fields that are always there.
"""

from __future__ import annotations

from typing import Any

from ._limits import EARLIEST_TIME, LATEST_TIME, MAX_CHART_LENGTH, MAX_METRIC_NAME_LENGTH, MAX_STRING_LENGTH

_NUMBER = {
    "anyOf": [{"type": "number"}, {"enum": ["NaN", "Infinity", "-Infinity"]}],
    "description": "a number; non-finite ones as the strings 'NaN', 'Infinity', '-Infinity'",
}
_VALUE = {
    "anyOf": [_NUMBER, {"type": "string"}, {"type": "array", "items": _NUMBER}],
    "description": "a number, a string, or a chart's list of numbers",
}
_TIME = {"type": "number", "description": "epoch seconds"}
_SOMETIMES_TIME = {"type": ["number", "null"], "description": "epoch seconds"}
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_KIND = {"enum": ["number", "string", "chart"]}


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(properties), "properties": properties}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS: dict[str, dict[str, Any]] = {
    "Run": _object(
        id={"type": "string", "pattern": "^[0-9a-f]{32}$"},
        experiment={"type": "string"},
        name={"type": ["string", "null"]},
        status={"enum": ["running", "completed", "failed", "killed", "lost"]},
        started_at=_TIME,
        ended_at=_SOMETIMES_TIME,
        heartbeat_at=_SOMETIMES_TIME,
        command={"type": "array", "items": {"type": "string"}},
        cwd={"type": "string"},
        host={"type": "string"},
        user={"type": "string"},
        python={"type": "string"},
        pid={"type": ["integer", "null"]},
        git_commit={"type": ["string", "null"]},
        git_dirty={"type": ["boolean", "null"]},
        error={"type": ["string", "null"]},
        exit_code={"type": ["integer", "null"]},
        skipped_files={"type": "array", "items": {"type": "string"}},
        params={"type": "object", "additionalProperties": _ref("ParamValue"), "description": "flat keys, typed values"},
        tags={"type": "array", "items": {"type": "string"}},
        note={"type": ["string", "null"]},
    ),
    "ParamValue": {
        "anyOf": [
            {"type": ["string", "number", "boolean", "null"]},
            {"type": "array", "items": {"type": ["string", "number", "boolean", "null"]}},
        ],
        "description": "a param: text, a finite number, a boolean, null, or a short list of those",
    },
    "Tags": _object(tags={"type": "array", "items": {"type": "string"}}),
    "Environment": _object(
        packages={"type": "object", "additionalProperties": {"type": "string"}},
        git_diff={"type": ["string", "null"]},
        git_diff_truncated={"type": "boolean"},
    ),
    "Deleted": _object(
        run_id={"type": "string"},
        artifacts={"type": "integer", "minimum": 0},
        blobs_freed={"type": "integer", "minimum": 0},
        bytes_freed={"type": "integer", "minimum": 0},
        kept_asset_versions={"type": "array", "items": {"type": "string"}},
    ),
    "RunPage": _object(
        runs={"type": "array", "items": _ref("Run")},
        next_cursor={"type": ["string", "null"], "description": "the next page's cursor; null on the last"},
    ),
    "Metric": _object(
        name={"type": "string"},
        kind=_KIND,
        count={"type": "integer", "minimum": 1},
        last_step={"type": "integer"},
        last_value=_VALUE,
        last_time=_TIME,
    ),
    "Series": _object(
        name={"type": "string"},
        kind=_KIND,
        count={"type": "integer", "description": "points in the series (more than returned when downsampled)"},
        steps={"type": "array", "items": {"type": "integer"}},
        values={"type": "array", "items": _VALUE},
        times={"type": "array", "items": _TIME},
        downsampled={"type": "boolean"},
    ),
    "Artifact": _object(
        path={"type": "string"}, size={"type": "integer", "minimum": 0}, sha256=_SHA256, created_at=_TIME
    ),
    "Asset": _object(
        name={"type": "string"},
        version={"type": "integer", "minimum": 1},
        run_id={"type": "string"},
        prefix={"type": "string"},
        created_at=_TIME,
        files={
            "type": "array",
            "items": _object(path={"type": "string"}, size={"type": "integer", "minimum": 0}, sha256=_SHA256),
        },
    ),
    "DirectUpload": _object(
        url={"type": "string", "description": "the presigned URL to PUT the file's bytes to"},
        headers={
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "headers the PUT must carry as they are (they are signed)",
        },
        upload={"type": "string", "description": "the upload's id, for finishing it"},
        sha256=_SHA256,
        expires=_TIME,
    ),
    "AssetSummary": _object(
        name={"type": "string"},
        latest_version={"type": "integer", "minimum": 1},
        versions={"type": "integer", "minimum": 1},
        updated_at=_TIME,
    ),
    "Stored": _object(stored={"type": "boolean", "description": "false when the batch's key was already stored"}),
    "Health": _object(status={"const": "ok"}),
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "what went wrong, by name (e.g. RunNotFound)"},
            "message": {"type": "string"},
            "candidates": {
                "type": "array",
                "items": {"type": "string"},
                "description": "(409) the runs a prefix names",
            },
            "prefix": {"type": "string", "description": "(409) the ambiguous prefix"},
            "keys": {
                "type": "array",
                "items": {"type": "string"},
                "description": "(409) the params set to other values",
            },
        },
    },
}


def _points(kind: str, value: dict[str, Any]) -> dict[str, Any]:
    many = {"type": "array", "minItems": 1}
    return _object(
        kind={"const": kind},
        values={**many, "items": value},
        steps={**many, "items": {"type": ["integer", "null"]}, "description": "null: the last step + 1"},
        times={**many, "items": {**_TIME, "minimum": EARLIEST_TIME, "maximum": LATEST_TIME}},
    )


#: A metrics batch: each series' values, steps and times are equally long.
METRICS_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["series"],
                "properties": {
                    "key": {
                        "type": "string",
                        "description": "idempotency key: a batch with a known key is not stored again",
                    },
                    "series": {
                        "type": "object",
                        "minProperties": 1,
                        "propertyNames": {"minLength": 1, "maxLength": MAX_METRIC_NAME_LENGTH},
                        "additionalProperties": {
                            "oneOf": [
                                _points("number", _NUMBER),
                                _points("string", {"type": "string", "maxLength": MAX_STRING_LENGTH}),
                                _points("chart", {"type": "array", "maxItems": MAX_CHART_LENGTH, "items": _NUMBER}),
                            ]
                        },
                    },
                },
            }
        }
    },
}

#: A file's bytes, streamed.
FILE_BODY = {
    "required": True,
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}

#: The header an upload may announce its bytes' sha256 in.
SHA256_UPLOAD_HEADER = {
    "name": "x-runhistory-sha256",
    "in": "header",
    "required": False,
    "description": "the sha256 of the bytes sent: they are passed on to the store as they arrive "
    "and kept only if they match (422 IntegrityError otherwise)",
    "schema": _SHA256,
}

_ERRORS = {
    401: "no valid bearer token",
    404: "no such run, metric, artifact or asset",
    408: "the request body stopped arriving",
    409: "a run id prefix names several runs; or, for a direct upload, this server does not offer one",
    413: "the body is larger than the server takes",
    422: "the request is not acceptable; the message says why",
    500: "the store failed",
}

#: A download answered with a redirect to the bucket (asked for with ``direct=true``).
REDIRECT: dict[int | str, Any] = {
    307: {
        "description": "fetch the bytes from the presigned URL in Location; check them against x-runhistory-sha256",
        "headers": {
            "Location": {"schema": {"type": "string"}},
            "x-runhistory-sha256": {"schema": _SHA256},
        },
    }
}


def ok(status: int, schema: str | None = None, *, many: bool = False, binary: bool = False) -> dict[int | str, Any]:
    """A route's ``responses=``: its success status and body (``schema`` by name, or a list of them)."""
    if binary:
        content: dict[str, Any] = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    elif schema is None:
        return {status: {}}  # no body
    else:
        body = {"type": "array", "items": _ref(schema)} if many else _ref(schema)
        content = {"application/json": {"schema": body}}
    return {status: {"content": content}}


def complete(doc: dict[str, Any], *, token: bool) -> dict[str, Any]:
    """Add the answer schemas, each operation's errors and, with a ``token``, the bearer scheme."""
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)  # validation errors answer with Error too
    schemas.pop("ValidationError", None)
    schemas.update(SCHEMAS)
    if token:
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            responses = operation["responses"]
            for status, response in responses.items():
                if status.startswith("2") and "application/octet-stream" in response.get("content", {}):
                    response["content"].pop("application/json", None)  # a file, never JSON
            if not path.startswith("/api/"):
                operation["security"] = []  # /health needs no token
                continue
            codes = {422, 500}
            if token:
                codes.add(401)
            if "{" in path:
                codes.add(404)
            if "{run_ref}" in path:
                codes.add(409)
            if "requestBody" in operation:
                codes |= {408, 413}
            if "/direct-uploads" in path:
                codes.add(409)
            for code in sorted(codes):
                responses[str(code)] = {
                    "description": _ERRORS[code],
                    "content": {"application/json": {"schema": _ref("Error")}},
                }
    return doc
