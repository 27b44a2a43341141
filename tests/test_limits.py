"""Bad input, at every limit: accepted at the edge, refused one past it.

Every test uses real parts: an ``EmbeddedStore`` on a real SQLite file under
``tmp_path`` and a ``Logger`` built directly on it (never ``get_logger()``,
which is a per-process singleton with exit hooks). A refused call must raise
at the call itself, name the problem, and leave the store exactly as it was.
The server's own limits on request bodies are tested the same way against a
real ``runhistory serve``.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from runhistory.api import (
    ArtifactNotFound,
    ArtifactTooLarge,
    AssetNotFound,
    EmbeddedStore,
    IntegrityError,
    InvalidInput,
    InvalidPath,
    LoggingError,
    MetricKindMismatch,
    NewRun,
    SeriesBatch,
    download_asset,
)
from runhistory.api import _wire as wire
from runhistory.api._http import HttpStore
from runhistory.api._limits import (
    CHUNK_POINTS,
    EARLIEST_TIME,
    LATEST_TIME,
    MAX_ARTIFACT_PATH_LENGTH,
    MAX_ARTIFACT_SIZE,
    MAX_ASSET_NAME_LENGTH,
    MAX_BATCH_BYTES,
    MAX_CAPTION_LENGTH,
    MAX_CHART_LENGTH,
    MAX_CONCURRENT_BATCHES,
    MAX_ERROR_LENGTH,
    MAX_EXPERIMENT_NAME_LENGTH,
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    MAX_INT,
    MAX_METRIC_NAME_LENGTH,
    MAX_PAGE_SIZE,
    MAX_PATH_COMPONENT_BYTES,
    MAX_STRING_LENGTH,
    REMOTE_BATCH_POINTS,
)
from runhistory.api._media import media_path, parse_media_path
from runhistory.app.previews import IMAGE_BYTES, IMAGE_PIXELS
from runhistory.logger._logger import MAX_QUEUED_IMAGE_BYTES, Logger

from ._processes import partial_files
from ._server import Server

SMALL_LIMIT = 1024  # a per-file limit small enough to cross in a test

NAN = math.nan
INF = math.inf


# -- fixtures -------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    s = EmbeddedStore(tmp_path / "store")
    yield s
    s.close()


@pytest.fixture
def make_logger(store: EmbeddedStore, tmp_path: Path) -> Iterator[Callable[..., Logger]]:
    """Builds loggers on fresh runs; every one is finished at teardown (its writer stops)."""
    made: list[Logger] = []

    def make(max_file_size: int | None = None) -> Logger:
        run = store.create_run(NewRun(experiment="t"))
        logger = Logger(store, run.id, owner=True, cwd=str(tmp_path), max_file_size=max_file_size)
        made.append(logger)
        return logger

    yield make
    for logger in made:
        logger.finish()


@pytest.fixture
def logger(make_logger: Callable[..., Logger]) -> Logger:
    """A logger (default per-file limit) whose run already holds a stored series ``baseline``."""
    lg = make_logger()
    lg.log("baseline", 1.5)
    lg.log("baseline", 2).wait()
    return lg


@pytest.fixture
def small_logger(make_logger: Callable[..., Logger]) -> Logger:
    """A logger with a per-file limit of ``SMALL_LIMIT`` bytes."""
    return make_logger(max_file_size=SMALL_LIMIT)


# -- helpers --------------------------------------------------------------------


def exact(value: Any) -> Any:
    """A form of a stored value that compares exactly: NaN equals NaN, -0.0 differs
    from 0.0, and an int differs from the float of the same value."""
    if isinstance(value, list):
        return [exact(v) for v in value]
    return (type(value).__name__, repr(value))


def snapshot(store: EmbeddedStore, run_id: str) -> dict[str, Any]:
    """Every metric of the run with all its points."""
    out = {}
    for m in store.list_metrics(run_id):
        s = store.read_series(run_id, m.name)
        out[m.name] = (s.kind, s.count, s.steps, exact(s.values))
    return out


def read_values(store: EmbeddedStore, run_id: str, name: str) -> list[Any]:
    return store.read_series(run_id, name).values


def assert_log_refused(
    logger: Logger, error: type[BaseException], match: str, name: Any, value: Any, **step: Any
) -> None:
    """``log()`` raises ``error`` at the call, and nothing reaches the store."""
    store = logger.store
    assert isinstance(store, EmbeddedStore)
    before = snapshot(store, logger.run_id)
    assert "baseline" in before  # the earlier values are part of what must stay intact
    with pytest.raises(error, match=match):
        logger.log(name, value, **step)
    logger.flush()
    assert snapshot(store, logger.run_id) == before


def artifacts(store: EmbeddedStore, run_id: str) -> dict[str, tuple[int, str]]:
    return {a.path: (a.size, a.sha256) for a in store.list_artifacts(run_id)}


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def read_artifact(store: EmbeddedStore, run_id: str, path: str) -> bytes:
    with store.open_artifact(run_id, path) as f:
        return f.read()


def path_of_length(n: int) -> str:
    """A valid artifact path of exactly ``n`` characters (components of at most 200)."""
    parts: list[str] = []
    left = n
    while left > 0:
        if parts:
            left -= 1  # the '/' before this component
        k = min(200, left)
        parts.append(chr(ord("a") + len(parts) % 26) * k)
        left -= k
    path = "/".join(parts)
    assert len(path) == n
    return path


# -- metric names -----------------------------------------------------------------


def test_metric_name_at_the_length_limit_is_stored(logger: Logger) -> None:
    name = "n" * MAX_METRIC_NAME_LENGTH
    logger.log(name, 1).wait()
    assert read_values(logger.store, logger.run_id, name) == [1]  # type: ignore[arg-type]
    assert name in {m.name for m in logger.store.list_metrics(logger.run_id)}


def test_metric_name_one_past_the_length_limit_is_refused(logger: Logger) -> None:
    name = "n" * (MAX_METRIC_NAME_LENGTH + 1)
    assert_log_refused(
        logger,
        ValueError,
        rf"metric name is {MAX_METRIC_NAME_LENGTH + 1} characters long; the limit is {MAX_METRIC_NAME_LENGTH}",
        name,
        1.0,
    )


def test_refused_name_is_not_remembered(logger: Logger) -> None:
    """A refused name does not enter the logger's fast path: it is refused again."""
    name = "n" * (MAX_METRIC_NAME_LENGTH + 1)
    for _ in range(3):
        assert_log_refused(logger, ValueError, "metric name", name, 1.0)


def test_empty_metric_name_is_refused(logger: Logger) -> None:
    assert_log_refused(logger, ValueError, "metric name is empty", "", 1.0)


@pytest.mark.parametrize("name", [5, None, b"loss", 1.5, ("loss",)], ids=repr)
def test_non_str_metric_name_is_refused(logger: Logger, name: Any) -> None:
    assert_log_refused(logger, TypeError, "metric name must be a str", name, 1.0)


def test_unhashable_metric_name_is_refused_with_a_clear_error(logger: Logger) -> None:
    assert_log_refused(logger, TypeError, "metric name must be a str", ["loss"], 1.0)


@pytest.mark.parametrize(
    "name", ["\x00", "a\x00b", "a\nb", "\n", "\r", "\t", "\x1b[2J", "\x7f", "loss\x85", "\x9f"], ids=repr
)
def test_metric_name_with_a_control_character_is_refused(logger: Logger, name: str) -> None:
    assert_log_refused(logger, ValueError, "control character", name, 1.0)


@pytest.mark.parametrize(
    "name",
    ["损失/λ", "🔥 loss", "naïve", "👩\u200d👩\u200d👧", "é" * MAX_METRIC_NAME_LENGTH, "😀" * MAX_METRIC_NAME_LENGTH],
    ids=["cjk-greek", "emoji", "latin", "zwj-emoji", "max-latin", "max-emoji"],
)
def test_unicode_metric_names_round_trip(logger: Logger, name: str) -> None:
    logger.log(name, 0.25)
    logger.log(name, 0.5).wait()
    store = logger.store
    assert name in {m.name for m in store.list_metrics(logger.run_id)}
    series = store.read_series(logger.run_id, name)
    assert series.name == name
    assert series.values == [0.25, 0.5]


def test_unicode_metric_name_one_past_the_limit_is_refused(logger: Logger) -> None:
    assert_log_refused(logger, ValueError, "metric name", "😀" * (MAX_METRIC_NAME_LENGTH + 1), 1.0)


def test_lone_surrogate_metric_name_is_refused_at_the_call(logger: Logger) -> None:
    """A name SQLite cannot store (a lone UTF-16 surrogate) must be refused by log()
    itself, not fail later on the writer thread."""
    assert_log_refused(logger, ValueError, "metric name", "loss\ud800", 1.0)


# -- string values ----------------------------------------------------------------


@pytest.mark.parametrize("char", ["x", "é", "😀"], ids=["ascii", "latin", "emoji"])
def test_string_value_at_the_length_limit_round_trips(logger: Logger, char: str) -> None:
    value = char * MAX_STRING_LENGTH
    logger.log("text", value).wait()
    assert read_values(logger.store, logger.run_id, "text") == [value]  # type: ignore[arg-type]


def test_string_value_one_past_the_length_limit_is_refused(logger: Logger) -> None:
    assert_log_refused(
        logger,
        ValueError,
        rf"string value is {MAX_STRING_LENGTH + 1} characters long; the limit is {MAX_STRING_LENGTH}",
        "text",
        "x" * (MAX_STRING_LENGTH + 1),
    )


def test_refused_value_does_not_fix_the_kind_of_a_new_name(logger: Logger) -> None:
    assert_log_refused(logger, ValueError, "string value", "fresh", "x" * (MAX_STRING_LENGTH + 1))
    logger.log("fresh", 3.0).wait()  # still free to be a number series
    assert read_values(logger.store, logger.run_id, "fresh") == [3.0]  # type: ignore[arg-type]


def test_string_value_with_control_characters_and_surrogates_round_trips(logger: Logger) -> None:
    values = ["a\x00b\nc\x1b[2J", "\ud800 lone", "\U0010ffff"]
    for v in values:
        logger.log("raw", v)
    logger.flush()
    assert read_values(logger.store, logger.run_id, "raw") == values  # type: ignore[arg-type]


# -- charts -----------------------------------------------------------------------


@pytest.mark.slow
def test_chart_at_the_length_limit_round_trips(logger: Logger) -> None:
    chart = [i / 7 for i in range(MAX_CHART_LENGTH)]
    logger.log("chart", chart)
    logger.log("chart", tuple(range(MAX_CHART_LENGTH))).wait()
    assert exact(read_values(logger.store, logger.run_id, "chart")) == exact(  # type: ignore[arg-type]
        [chart, list(range(MAX_CHART_LENGTH))]
    )


@pytest.mark.parametrize("make", [list, tuple, np.array], ids=["list", "tuple", "ndarray"])
def test_chart_one_past_the_length_limit_is_refused(logger: Logger, make: Callable[[Any], Any]) -> None:
    chart = make([0.5] * (MAX_CHART_LENGTH + 1))
    assert_log_refused(
        logger,
        ValueError,
        rf"chart has {MAX_CHART_LENGTH + 1} numbers; the limit is {MAX_CHART_LENGTH}",
        "chart",
        chart,
    )


class _Thing:
    pass


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ([1.0, [2.0]], "chart item 1 is a list"),
        ([[1.0, 2.0]], "chart item 0 is a list"),
        ([1.0, "2"], "chart item 1 is a str"),
        ([1.0, None], "chart item 1 is a NoneType"),
        ([1.0, {"a": 1}], "chart item 1 is a dict"),
        ([1.0, 2j], "chart item 1 is a complex"),
        ([1.0, _Thing()], "chart item 1 is a _Thing"),
        ([1.0, MAX_INT + 1], "does not fit in 64 bits"),
        ([1.0, np.array([1.0])], "chart item 1 is a ndarray"),
        ([1.0, np.complex128(1j)], "cannot log a complex128"),
        ({"a": 1.0}, "cannot log a dict"),
        (_Thing(), "cannot log a _Thing"),
        (None, "cannot log a NoneType"),
        (1 + 2j, "cannot log a complex"),
        (b"bytes", "cannot log a bytes"),
        ({1.0, 2.0}, "cannot log a set"),
        (np.complex128(1 + 2j), "cannot log a complex128"),
        (np.array([1 + 2j, 3j]), "chart item 0 is a complex"),
        (np.array(["a", "b"]), "chart item 0 is a str"),
        (np.zeros((2, 2)), "cannot log a 2-D ndarray"),
        (np.zeros((1, 3)), "cannot log a 2-D ndarray"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else v,
)
def test_unloggable_values_raise_type_or_value_error_at_the_call(logger: Logger, value: Any, match: str) -> None:
    error: type[BaseException] = ValueError if "64 bits" in match else TypeError
    assert_log_refused(logger, error, re.escape(match), "bad", value)


def test_chart_with_nan_inf_bool_and_numpy_items_round_trips(logger: Logger) -> None:
    chart = [NAN, INF, -INF, -0.0, 0.0, True, False, np.float32(0.5), np.int64(-MAX_INT), MAX_INT]
    logger.log("chart", chart).wait()
    (stored,) = read_values(logger.store, logger.run_id, "chart")  # type: ignore[arg-type]
    assert isinstance(stored, list)
    assert math.isnan(stored[0])
    assert exact(stored) == exact([NAN, INF, -INF, -0.0, 0.0, 1, 0, 0.5, -MAX_INT, MAX_INT])
    last = {m.name: m for m in logger.store.list_metrics(logger.run_id)}["chart"].last_value
    assert exact(last) == exact(stored)


# -- integers, bools, numpy ----------------------------------------------------------


@pytest.mark.parametrize("value", [MAX_INT, -MAX_INT, 0, -1], ids=repr)
def test_integer_at_the_edge_round_trips_exactly(logger: Logger, value: int) -> None:
    logger.log("int", value).wait()
    assert exact(read_values(logger.store, logger.run_id, "int")) == exact([value])  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [MAX_INT + 1, -MAX_INT - 1, 2**64, -(2**100)], ids=repr)
def test_integer_past_the_edge_is_refused(logger: Logger, value: int) -> None:
    assert_log_refused(logger, ValueError, f"{value} does not fit in 64 bits", "int", value)


def test_integers_sharing_a_chunk_with_floats_are_stored_as_float64(logger: Logger) -> None:
    """Documented: a chunk of only ints keeps them exact; one that also holds a
    float stores float64, exact for ints up to 2**53 (as MLflow's doubles)."""
    logger.log("ints", MAX_INT)
    logger.log("ints", -MAX_INT).wait()
    assert exact(read_values(logger.store, logger.run_id, "ints")) == exact([MAX_INT, -MAX_INT])  # type: ignore[arg-type]
    logger.log("mixed", 2**53)
    logger.log("mixed", MAX_INT)
    logger.log("mixed", 0.5).wait()
    assert read_values(logger.store, logger.run_id, "mixed") == [float(2**53), float(MAX_INT), 0.5]


def test_bools_are_stored_as_numbers(logger: Logger) -> None:
    logger.log("flag", True)
    logger.log("flag", False)
    logger.log("flag", np.bool_(True)).wait()
    assert exact(read_values(logger.store, logger.run_id, "flag")) == exact([1, 0, 1])  # type: ignore[arg-type]
    assert {m.name: m.kind for m in logger.store.list_metrics(logger.run_id)}["flag"] == "number"


def test_numpy_scalars_and_0d_arrays_are_numbers(logger: Logger) -> None:
    for v in [np.float32(0.1), np.float64(-2.5), np.array(3.25), np.array(np.float32("nan")), np.float16(INF)]:
        logger.log("np_float", v)
    for v in [np.int64(MAX_INT), np.int64(-MAX_INT), np.int32(-7), np.uint8(255), np.array(42)]:
        logger.log("np_int", v)
    logger.flush()
    floats = read_values(logger.store, logger.run_id, "np_float")  # type: ignore[arg-type]
    assert math.isnan(floats[3])  # type: ignore[arg-type]
    assert exact(floats) == exact([float(np.float32(0.1)), -2.5, 3.25, NAN, INF])
    ints = read_values(logger.store, logger.run_id, "np_int")  # type: ignore[arg-type]
    assert exact(ints) == exact([MAX_INT, -MAX_INT, -7, 255, 42])


@pytest.mark.parametrize("value", [np.uint64(MAX_INT + 1), np.uint64(2**64 - 1)], ids=repr)
def test_numpy_integer_past_the_edge_is_refused(logger: Logger, value: Any) -> None:
    assert_log_refused(logger, ValueError, "does not fit in 64 bits", "np", value)


def test_1d_numpy_arrays_are_charts(logger: Logger) -> None:
    logger.log("arr", np.arange(5, dtype=np.int64))
    logger.log("arr", np.array([1.5, NAN, INF, -INF], dtype=np.float64))
    logger.log("arr", np.array([0.1], dtype=np.float32))
    logger.log("arr", np.zeros(MAX_CHART_LENGTH)).wait()
    values = read_values(logger.store, logger.run_id, "arr")  # type: ignore[arg-type]
    assert {m.name: m.kind for m in logger.store.list_metrics(logger.run_id)}["arr"] == "chart"
    assert exact(values[:3]) == exact([[0, 1, 2, 3, 4], [1.5, NAN, INF, -INF], [float(np.float32(0.1))]])
    assert values[3] == [0.0] * MAX_CHART_LENGTH


# -- kinds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "then", "held", "got"),
    [
        (1.0, "text", "number", "string"),
        (1, "text", "number", "string"),
        ("text", 1.0, "string", "number"),
        ("text", [1.0], "string", "chart"),
        ([1.0], 1.0, "chart", "number"),
        (1.0, np.arange(3), "number", "chart"),
    ],
    ids=["float-str", "int-str", "str-float", "str-chart", "chart-float", "float-ndarray"],
)
def test_kind_mismatch_is_a_type_error_at_the_call(logger: Logger, first: Any, then: Any, held: str, got: str) -> None:
    logger.log("k", first).wait()
    assert_log_refused(logger, MetricKindMismatch, rf"'k' holds {held} values; cannot log a {got}", "k", then)
    assert issubclass(MetricKindMismatch, TypeError)
    logger.log("k", first).wait()  # the series still takes its own kind
    assert snapshot(logger.store, logger.run_id)["k"][1] == 2  # type: ignore[arg-type]


def test_store_refuses_a_batch_of_another_kind(logger: Logger) -> None:
    store = logger.store
    assert isinstance(store, EmbeddedStore)
    logger.log("k", 1.0).wait()
    before = snapshot(store, logger.run_id)
    with pytest.raises(MetricKindMismatch, match="holds number values"):
        store.append_metrics(
            logger.run_id,
            {
                "other": SeriesBatch("number", [1.0], [None], [time.time()]),
                "k": SeriesBatch("string", ["x"], [None], [time.time()]),
            },
        )
    assert snapshot(store, logger.run_id) == before  # the whole batch was refused


# -- steps ------------------------------------------------------------------------------


def test_explicit_and_numpy_steps_are_stored(logger: Logger) -> None:
    logger.log("s", 1.0, step=10)
    logger.log("s", 2.0, step=np.int64(20))
    logger.log("s", 3.0, step=np.int32(5))
    logger.log("s", 4.0, step=np.uint16(7))
    logger.log("s", 5.0)  # previous step + 1
    logger.log("s", 6.0, step=0).wait()
    series = logger.store.read_series(logger.run_id, "s")
    assert series.steps == [10, 20, 5, 7, 8, 0]
    assert all(type(s) is int for s in series.steps)
    assert series.values == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


@pytest.mark.parametrize("step", [MAX_INT, -MAX_INT], ids=repr)
def test_a_step_at_the_edge_is_stored(logger: Logger, step: int) -> None:
    logger.log("s", 1.0, step=step).wait()
    assert logger.store.read_series(logger.run_id, "s").steps == [step]


def test_steps_at_both_edges_in_one_series_are_stored(logger: Logger) -> None:
    logger.log("s", 1.0, step=-MAX_INT)
    logger.log("s", 2.0, step=MAX_INT).wait()
    assert logger.store.read_series(logger.run_id, "s").steps == [-MAX_INT, MAX_INT]


@pytest.mark.parametrize(
    ("step", "error", "match"),
    [
        (1.0, TypeError, "step must be an int, not float"),
        (True, TypeError, "step must be an int, not bool"),
        (False, TypeError, "step must be an int, not bool"),
        (np.float64(1.0), TypeError, "step must be an int, not float64"),
        (np.bool_(True), TypeError, "step must be an int, not bool"),
        (np.array([1]), TypeError, "step must be an int, not ndarray"),
        ("1", TypeError, "step must be an int, not str"),
        (MAX_INT + 1, ValueError, "does not fit in 64 bits"),
        (-MAX_INT - 1, ValueError, "does not fit in 64 bits"),
        (np.uint64(MAX_INT + 1), ValueError, "does not fit in 64 bits"),
    ],
    ids=repr,
)
def test_bad_steps_are_refused(logger: Logger, step: Any, error: type[BaseException], match: str) -> None:
    assert_log_refused(logger, error, match, "s", 1.0, step=step)
    assert_log_refused(logger, error, match, "baseline", 1.0, step=step)  # a known (fast-path) name too


# -- NaN and infinities -------------------------------------------------------------------


def test_nan_and_infinities_round_trip(logger: Logger) -> None:
    values = [NAN, INF, -INF, 1.0, -0.0, NAN, 7.0]
    for v in values:
        logger.log("f", v)
    logger.flush()
    stored = read_values(logger.store, logger.run_id, "f")  # type: ignore[arg-type]
    assert math.isnan(stored[0]) and math.isnan(stored[5])  # type: ignore[arg-type]
    assert stored[1] == INF and stored[2] == -INF
    assert exact(stored) == exact([NAN, INF, -INF, 1.0, -0.0, NAN, 7.0])  # a float series
    info = {m.name: m for m in logger.store.list_metrics(logger.run_id)}["f"]
    assert info.last_value == 7.0


@pytest.mark.parametrize("value", [NAN, INF, -INF], ids=repr)
def test_a_lone_non_finite_value_round_trips(logger: Logger, value: float) -> None:
    logger.log("one", value).wait()
    (stored,) = read_values(logger.store, logger.run_id, "one")  # type: ignore[arg-type]
    assert exact(stored) == exact(value)
    (info,) = [m for m in logger.store.list_metrics(logger.run_id) if m.name == "one"]
    assert exact(info.last_value) == exact(value)


def _special_series(n: int) -> list[float]:
    values = [float(i % 97) for i in range(n)]
    for i in (0, CHUNK_POINTS - 1, CHUNK_POINTS, n - 1):
        if i < n:
            values[i] = NAN
    values[n // 3] = -INF
    values[2 * n // 3] = INF
    return values


@pytest.mark.parametrize("n", [CHUNK_POINTS, CHUNK_POINTS + 1, 2 * CHUNK_POINTS + 3])
def test_nan_and_infinities_round_trip_across_chunks(logger: Logger, n: int) -> None:
    values = _special_series(n)
    half = CHUNK_POINTS - 2  # two batches: the second rewrites the first's last chunk
    for v in values[:half]:
        logger.log("f", v)
    logger.flush()
    for v in values[half:]:
        logger.log("f", v)
    logger.flush()
    series = logger.store.read_series(logger.run_id, "f")
    assert series.steps == list(range(n))
    assert exact(series.values) == exact(values)


@pytest.mark.parametrize("n", [200, 3 * CHUNK_POINTS], ids=["points", "chunk-summaries"])
def test_nan_and_infinities_survive_downsampling(logger: Logger, n: int) -> None:
    values = _special_series(n)
    for v in values:
        logger.log("f", v)
    logger.flush()
    series = logger.store.read_series(logger.run_id, "f", max_points=4)
    assert series.downsampled and series.count == n
    assert len(series) <= 4
    assert math.isnan(series.values[0]) and math.isnan(series.values[-1])  # type: ignore[arg-type]
    assert -INF in series.values and INF in series.values
    for step, value in zip(series.steps, series.values):  # every point is a real one
        assert exact(value) == exact(values[step])


def test_charts_with_nan_survive_downsampling(logger: Logger) -> None:
    charts = [[float(i), NAN, INF, -INF] for i in range(50)]
    for c in charts:
        logger.log("c", c)
    logger.flush()
    series = logger.store.read_series(logger.run_id, "c", max_points=5)
    assert series.downsampled and 2 <= len(series) <= 5
    for step, value in zip(series.steps, series.values):
        assert exact(value) == exact(charts[step])
        assert math.isnan(value[1])  # type: ignore[index]


# -- artifact paths ---------------------------------------------------------------------------


BAD_PATHS = [
    "",
    "..",
    "a/..",
    "../a",
    "a/../b",
    ".",
    "./a",
    "a/.",
    "/abs",
    "/",
    "a//b",
    "a/",
    "//a",
    "a\\b",
    "\\abs",
    "..\\x",
    "\x1b[2J",
    "\n",
    "a\nb",
    "\x00",
    "a\x00b",
    "\t",
    "\x7f",
    "a\x85b",
]


@pytest.fixture
def seeded(small_logger: Logger) -> Logger:
    """A small-limit logger whose run holds the artifact ``seed.txt``."""
    small_logger.upload("seed.txt", b"seed").wait()
    return small_logger


@contextmanager
def nothing_stored(lg: Logger) -> Iterator[EmbeddedStore]:
    """After the block, the run's artifacts (``seed.txt`` too) and the store's blobs are as they were, tmp/ is empty."""
    store = lg.store
    assert isinstance(store, EmbeddedStore)
    before, blobs = artifacts(store, lg.run_id), files_under(store.home / "blobs")
    yield store
    assert artifacts(store, lg.run_id) == before
    assert read_artifact(store, lg.run_id, "seed.txt") == b"seed"
    assert partial_files(store.home) == []
    assert files_under(store.home / "blobs") == blobs


@pytest.mark.parametrize("path", BAD_PATHS, ids=repr)
def test_bad_artifact_path_is_refused_by_upload(seeded: Logger, path: str) -> None:
    with nothing_stored(seeded), pytest.raises(InvalidPath, match="artifact path"):
        seeded.upload(path, b"data")
    assert issubclass(InvalidPath, ValueError)


@pytest.mark.parametrize("path", BAD_PATHS, ids=repr)
def test_bad_artifact_path_is_refused_by_upload_file(seeded: Logger, path: str, tmp_path: Path) -> None:
    local = tmp_path / "local.txt"
    local.write_bytes(b"data")
    with nothing_stored(seeded), pytest.raises(InvalidPath, match="artifact path"):
        seeded.upload_file(path, local)


@pytest.mark.parametrize("path", BAD_PATHS, ids=repr)
def test_bad_artifact_path_is_refused_by_the_store(seeded: Logger, path: str) -> None:
    with nothing_stored(seeded) as store, pytest.raises(InvalidPath, match="artifact path"):
        store.put_artifact(seeded.run_id, path, b"data")


@pytest.mark.parametrize("path", [5, None, b"a.txt"], ids=repr)
def test_non_str_artifact_path_is_refused(seeded: Logger, path: Any) -> None:
    with pytest.raises(TypeError, match="artifact path must be a str"):
        seeded.upload(path, b"data")
    with pytest.raises(TypeError, match="artifact path must be a str"):
        seeded.store.put_artifact(seeded.run_id, path, b"data")


def test_lone_surrogate_artifact_path_is_refused(seeded: Logger) -> None:
    """A path SQLite cannot store (a lone surrogate) is refused as InvalidPath before
    anything is written, not with a UnicodeEncodeError after the blob landed."""
    with nothing_stored(seeded) as store:
        with pytest.raises(InvalidPath, match="artifact path"):
            seeded.upload("bad\udc80.txt", b"new content")
        with pytest.raises(InvalidPath, match="artifact path"):
            store.put_artifact(seeded.run_id, "bad\ud800.txt", b"other content")


def test_artifact_path_at_the_length_limit_is_stored(seeded: Logger) -> None:
    path = path_of_length(MAX_ARTIFACT_PATH_LENGTH)
    seeded.upload(path, b"edge").wait()
    store = seeded.store
    assert read_artifact(store, seeded.run_id, path) == b"edge"  # type: ignore[arg-type]
    store.put_artifact(seeded.run_id, path, b"edge2")
    assert read_artifact(store, seeded.run_id, path) == b"edge2"  # type: ignore[arg-type]


def test_artifact_path_one_past_the_length_limit_is_refused(seeded: Logger) -> None:
    path = path_of_length(MAX_ARTIFACT_PATH_LENGTH + 1)
    match = rf"{MAX_ARTIFACT_PATH_LENGTH + 1} characters long; the limit is {MAX_ARTIFACT_PATH_LENGTH}"
    with nothing_stored(seeded) as store:
        with pytest.raises(InvalidPath, match=match):
            seeded.upload(path, b"x")
        with pytest.raises(InvalidPath, match=match):
            store.put_artifact(seeded.run_id, path, b"x")


@pytest.mark.parametrize(
    "component",
    ["a" * MAX_PATH_COMPONENT_BYTES, "é" * (MAX_PATH_COMPONENT_BYTES // 2) + "a" * (MAX_PATH_COMPONENT_BYTES % 2)],
    ids=["ascii", "two-byte"],
)
def test_path_component_at_the_byte_limit_is_stored(seeded: Logger, component: str, tmp_path: Path) -> None:
    assert len(component.encode()) == MAX_PATH_COMPONENT_BYTES
    path = f"dir/{component}"
    seeded.upload(path, b"edge").wait()
    assert read_artifact(seeded.store, seeded.run_id, path) == b"edge"  # type: ignore[arg-type]
    # ... and such a file can be created where it is downloaded
    (tmp_path / component).write_bytes(b"ok")


@pytest.mark.parametrize(
    "component",
    [
        "a" * (MAX_PATH_COMPONENT_BYTES + 1),
        "é" * ((MAX_PATH_COMPONENT_BYTES + 1) // 2) + "a" * ((MAX_PATH_COMPONENT_BYTES + 1) % 2),
    ],
    ids=["ascii", "two-byte"],
)
def test_path_component_one_byte_past_the_limit_is_refused(seeded: Logger, component: str) -> None:
    assert len(component.encode()) == MAX_PATH_COMPONENT_BYTES + 1
    with nothing_stored(seeded) as store:
        for path in (component, f"dir/{component}", f"{component}/file"):
            with pytest.raises(InvalidPath, match=f"longer than {MAX_PATH_COMPONENT_BYTES} bytes"):
                seeded.upload(path, b"x")
            with pytest.raises(InvalidPath, match=f"longer than {MAX_PATH_COMPONENT_BYTES} bytes"):
                store.put_artifact(seeded.run_id, path, b"x")


def test_odd_but_valid_paths_are_stored(seeded: Logger) -> None:
    for path in ["a b/c d.txt", "...", "a/...b", ".hidden", "~/x", "损失/λ.txt", "😀", "-rf", "a:b"]:
        data = path.encode()
        seeded.upload(path, data).wait()
        assert read_artifact(seeded.store, seeded.run_id, path) == data  # type: ignore[arg-type]


# -- file size ------------------------------------------------------------------------------


def test_upload_at_the_size_limit_is_stored(seeded: Logger) -> None:
    seeded.upload("edge.bin", b"e" * SMALL_LIMIT).wait()
    (info,) = seeded.store.list_artifacts(seeded.run_id, "edge.bin")
    assert info.size == SMALL_LIMIT
    assert read_artifact(seeded.store, seeded.run_id, "edge.bin") == b"e" * SMALL_LIMIT  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [b"x" * (SMALL_LIMIT + 1), "x" * (SMALL_LIMIT + 1), "é" * (SMALL_LIMIT // 2 + 1), bytearray(SMALL_LIMIT + 1)],
    ids=["bytes", "str", "str-utf8-bytes", "bytearray"],
)
def test_upload_one_byte_past_the_size_limit_is_refused(seeded: Logger, data: str | bytes) -> None:
    with nothing_stored(seeded):
        with pytest.raises(ArtifactTooLarge, match=rf"limit is {SMALL_LIMIT} bytes"):
            seeded.upload("big.bin", data)
        with pytest.raises(ArtifactTooLarge, match=rf"limit is {SMALL_LIMIT} bytes"):
            seeded.upload("seed.txt", data)  # does not replace what the path held


@pytest.mark.parametrize("data", [123, None, ["a"], {"a": 1}], ids=repr)
def test_upload_of_neither_str_nor_bytes_is_refused(seeded: Logger, data: Any) -> None:
    with nothing_stored(seeded), pytest.raises(TypeError, match="upload\\(\\) takes str or bytes"):
        seeded.upload("x.bin", data)


def test_upload_file_at_the_size_limit_is_stored(seeded: Logger, tmp_path: Path) -> None:
    local = tmp_path / "edge.bin"
    local.write_bytes(os.urandom(SMALL_LIMIT))
    seeded.upload_file("edge.bin", local).wait()
    (info,) = seeded.store.list_artifacts(seeded.run_id, "edge.bin")
    assert info.size == SMALL_LIMIT
    assert info.sha256 == hashlib.sha256(local.read_bytes()).hexdigest()
    assert read_artifact(seeded.store, seeded.run_id, "edge.bin") == local.read_bytes()  # type: ignore[arg-type]


def test_upload_file_one_byte_past_the_size_limit_is_refused(seeded: Logger, tmp_path: Path) -> None:
    local = tmp_path / "big.bin"
    local.write_bytes(b"x" * (SMALL_LIMIT + 1))
    with nothing_stored(seeded) as store:
        with pytest.raises(ArtifactTooLarge, match=rf"{SMALL_LIMIT + 1} bytes; the per-file limit is {SMALL_LIMIT}"):
            seeded.upload_file("big.bin", local)
        with open(local, "rb") as stream, pytest.raises(ArtifactTooLarge, match=rf"limit is {SMALL_LIMIT} bytes"):
            store.put_artifact(seeded.run_id, "big.bin", stream, max_size=SMALL_LIMIT)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_upload_file_of_an_endless_stream_stops_at_the_limit(seeded: Logger) -> None:
    """A file whose size fstat cannot tell (a device) is still cut off at the limit."""
    with nothing_stored(seeded), pytest.raises(ArtifactTooLarge, match=rf"limit is {SMALL_LIMIT} bytes"):
        seeded.upload_file("zero.bin", "/dev/zero")


def test_sparse_file_over_the_default_limit_is_refused_quickly(logger: Logger, tmp_path: Path) -> None:
    assert logger.max_file_size == MAX_ARTIFACT_SIZE
    store = logger.store
    assert isinstance(store, EmbeddedStore)
    sparse = tmp_path / "sparse.bin"
    sparse.touch()
    os.truncate(sparse, MAX_ARTIFACT_SIZE + 1)
    blobs = files_under(store.home / "blobs")
    started = time.monotonic()
    with pytest.raises(ArtifactTooLarge, match=rf"{MAX_ARTIFACT_SIZE + 1} bytes.*limit is {MAX_ARTIFACT_SIZE}"):
        logger.upload_file("sparse.bin", sparse)
    with open(sparse, "rb") as stream, pytest.raises(ArtifactTooLarge, match=rf"limit is {MAX_ARTIFACT_SIZE}"):
        store.put_artifact(logger.run_id, "sparse.bin", stream)
    assert time.monotonic() - started < 2.0  # refused from its size, not by reading 512 MiB
    assert artifacts(store, logger.run_id) == {}
    assert partial_files(store.home) == []
    assert files_under(store.home / "blobs") == blobs


# -- images -------------------------------------------------------------------------------------


def _png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_image_at_the_pixel_limit_is_stored(logger: Logger) -> None:
    side = math.isqrt(MAX_IMAGE_PIXELS)
    assert side * side == MAX_IMAGE_PIXELS
    logger.log_image("edge", np.zeros((side, side), np.uint8)).wait()
    stored = read_artifact(logger.store, logger.run_id, "media/edge/00000000.png")  # type: ignore[arg-type]
    assert Image.open(io.BytesIO(stored)).size == (side, side)


@pytest.mark.parametrize("kind", ["array", "pil", "file"])
def test_image_one_row_past_the_pixel_limit_is_refused(logger: Logger, tmp_path: Path, kind: str) -> None:
    side = math.isqrt(MAX_IMAGE_PIXELS)
    image: Any = np.zeros((side + 1, side), np.uint8)
    if kind != "array":
        image = Image.fromarray(image)
    if kind == "file":
        (tmp_path / "big.png").write_bytes(_png_bytes(image))
        image = tmp_path / "big.png"
    before = snapshot(logger.store, logger.run_id)  # type: ignore[arg-type]
    with pytest.raises(
        InvalidInput,
        match=rf"{side}×{side + 1} = {MAX_IMAGE_PIXELS + side:,} pixels; the limit is {MAX_IMAGE_PIXELS:,}",
    ):
        logger.log_image("big", image)
    logger.flush()
    assert artifacts(logger.store, logger.run_id) == {}  # type: ignore[arg-type]
    assert snapshot(logger.store, logger.run_id) == before  # type: ignore[arg-type]


def test_image_whose_png_is_at_the_size_limit_is_stored_and_one_byte_more_refused(
    make_logger: Callable[..., Logger],
) -> None:
    """The PNG's size is known once the writer encoded it: the limit is the lower of
    ``MAX_IMAGE_BYTES`` and the per-file limit, and a larger PNG fails its handle."""
    noise = np.random.default_rng(3).integers(0, 256, size=(48, 48, 3), dtype=np.uint8)
    size = len(_png_bytes(Image.fromarray(noise)))
    at_edge = make_logger(max_file_size=size)
    at_edge.log_image("edge", noise).wait()
    assert artifacts(at_edge.store, at_edge.run_id)["media/edge/00000000.png"][0] == size  # type: ignore[arg-type]
    past = make_logger(max_file_size=size - 1)
    past.upload("seed.txt", b"seed").wait()
    with nothing_stored(past):
        handle = past.log_image("edge", noise)
        with pytest.raises(LoggingError, match=rf"{size:,} bytes as PNG; the limit is {size - 1:,} bytes"):
            handle.wait()
    past.log_image("small", np.zeros((2, 2), np.uint8)).wait()  # the logger goes on


@pytest.mark.slow
def test_image_whose_png_is_past_max_image_bytes_is_refused(logger: Logger) -> None:
    assert logger.max_file_size > MAX_IMAGE_BYTES
    assert MAX_IMAGE_BYTES <= IMAGE_BYTES and MAX_IMAGE_PIXELS <= IMAGE_PIXELS  # the app draws every logged image
    side = math.isqrt(MAX_IMAGE_BYTES // 3) + 16  # noise does not compress: its PNG is larger than its pixels
    noise = np.random.default_rng(5).integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    handle = logger.log_image("noise", noise)
    with pytest.raises(LoggingError, match=rf"as PNG; the limit is {MAX_IMAGE_BYTES:,} bytes \(MAX_IMAGE_BYTES"):
        handle.wait()
    assert "media/noise/00000000.png" not in artifacts(logger.store, logger.run_id)  # type: ignore[arg-type]


def test_caption_at_the_length_limit_is_kept_and_one_past_refused(logger: Logger) -> None:
    caption = "é" * MAX_CAPTION_LENGTH
    logger.log_image("captioned", np.zeros((2, 2), np.uint8), caption=caption).wait()
    stored = read_artifact(logger.store, logger.run_id, "media/captioned/00000000.png")  # type: ignore[arg-type]
    assert Image.open(io.BytesIO(stored)).info["Description"] == caption
    with pytest.raises(
        InvalidInput, match=rf"caption is {MAX_CAPTION_LENGTH + 1} characters long; the limit is {MAX_CAPTION_LENGTH}"
    ):
        logger.log_image("captioned", np.zeros((2, 2), np.uint8), caption=caption + "x")
    logger.flush()
    assert [p for p in artifacts(logger.store, logger.run_id) if p.startswith("media/")] == [
        "media/captioned/00000000.png"
    ]  # type: ignore[arg-type]


def test_image_name_parts_at_the_folder_limit_are_stored_and_one_past_refused(logger: Logger) -> None:
    longest = "a" * 128 + "/" + "b" * 127  # the longest name, in two folders
    widest = "c" * MAX_PATH_COMPONENT_BYTES  # the widest folder
    assert len(longest) == MAX_METRIC_NAME_LENGTH
    logger.log_image(longest, np.zeros((1, 1), np.uint8))
    logger.log_image(widest, np.zeros((1, 1), np.uint8)).wait()
    assert parse_media_path(media_path(longest, 0)) == (longest, 0)
    assert parse_media_path(media_path(widest, 0)) == (widest, 0)
    with pytest.raises(InvalidInput, match=f"longer than {MAX_PATH_COMPONENT_BYTES} bytes"):
        logger.log_image("c" * (MAX_PATH_COMPONENT_BYTES + 1), np.zeros((1, 1), np.uint8))
    with pytest.raises(InvalidInput, match=f"longer than {MAX_PATH_COMPONENT_BYTES} bytes"):
        logger.log_image("%" * (MAX_PATH_COMPONENT_BYTES // 3 + 1), np.zeros((1, 1), np.uint8))  # '%' is kept as '%25'
    with pytest.raises(InvalidInput, match="the limit is 256"):
        logger.log_image("d" * (MAX_METRIC_NAME_LENGTH + 1), np.zeros((1, 1), np.uint8))
    logger.flush()
    assert [p for p in artifacts(logger.store, logger.run_id) if p.startswith("media/")] == sorted(  # type: ignore[arg-type]
        [media_path(longest, 0), media_path(widest, 0)]
    )


def test_images_queued_up_to_the_limit_go_at_once_and_one_more_waits_for_the_writer(
    make_logger: Callable[..., Logger],
) -> None:
    logger = make_logger()
    image = np.zeros((16, 16, 3), np.uint8)
    assert logger._image_budget.limit == MAX_QUEUED_IMAGE_BYTES
    logger._image_budget.limit = 3 * image.nbytes  # three such images may wait to be encoded, not 256 MiB of them
    logger.log("started", 1).wait()  # the writer is past its first store calls
    with logger.io_lock:  # the writer stores nothing: it stops at the first image, encoded
        logger.log_image("q", image, step=0)
        deadline = time.monotonic() + 10
        while logger._image_budget.used and time.monotonic() < deadline:
            time.sleep(0.01)
        assert logger._image_budget.used == 0
        for step in (1, 2, 3):  # at the limit: none of them waits
            logger.log_image("q", image, step=step)
        assert logger._image_budget.used == 3 * image.nbytes
        fourth = threading.Thread(target=logger.log_image, args=("q", image, 4))
        fourth.start()
        fourth.join(0.3)
        assert fourth.is_alive()  # one past the limit: it waits for the writer
    fourth.join(10)
    assert not fourth.is_alive()
    logger.flush()
    assert [p for p in artifacts(logger.store, logger.run_id) if p.startswith("media/")] == [  # type: ignore[arg-type]
        media_path("q", step) for step in range(5)
    ]


# -- outputs/ ---------------------------------------------------------------------------------


def test_outputs_are_uploaded_at_finish_and_oversized_files_skipped(
    small_logger: Logger, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outputs = tmp_path / "outputs"
    (outputs / "sub").mkdir(parents=True)
    (outputs / "edge.bin").write_bytes(b"e" * SMALL_LIMIT)
    (outputs / "big.bin").write_bytes(b"b" * (SMALL_LIMIT + 1))
    (outputs / "sub" / "inner.txt").write_bytes(b"inner")
    (outputs / "link_in").symlink_to("sub/inner.txt")
    outside = tmp_path / "secret.txt"
    outside.write_bytes(b"secret")
    (outputs / "link_out").symlink_to(outside)
    (tmp_path / "outside_dir").mkdir()
    (tmp_path / "outside_dir" / "x.txt").write_bytes(b"x")
    (outputs / "dir_out").symlink_to(tmp_path / "outside_dir")

    small_logger.finish()

    store = small_logger.store
    assert isinstance(store, EmbeddedStore)
    run_id = small_logger.run_id
    assert set(artifacts(store, run_id)) == {"outputs/edge.bin", "outputs/sub/inner.txt", "outputs/link_in"}
    assert read_artifact(store, run_id, "outputs/edge.bin") == b"e" * SMALL_LIMIT
    assert read_artifact(store, run_id, "outputs/link_in") == b"inner"
    err = caplog.text
    assert "outputs/big.bin" in err and f"{SMALL_LIMIT + 1} bytes" in err
    assert "outputs/link_out" in err and "symlink" in err
    assert "outputs/dir_out" in err
    assert "secret" not in {p.name for p in files_under(store.home)}
    run = store.get_run(run_id)
    assert run.status == "completed"
    skipped = sorted(s.split(":", 1)[0] for s in run.skipped_files)
    assert skipped == ["outputs/big.bin", "outputs/dir_out", "outputs/link_out"]
    assert partial_files(store.home) == []


def test_sparse_output_over_the_default_limit_is_skipped_quickly(
    make_logger: Callable[..., Logger], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lg = make_logger()
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "small.txt").write_bytes(b"small")
    huge = outputs / "huge.bin"
    huge.touch()
    os.truncate(huge, MAX_ARTIFACT_SIZE + 1)
    started = time.monotonic()
    lg.finish()
    assert time.monotonic() - started < 5.0
    store = lg.store
    assert isinstance(store, EmbeddedStore)
    assert set(artifacts(store, lg.run_id)) == {"outputs/small.txt"}
    assert "outputs/huge.bin" in caplog.text
    assert [s.split(":", 1)[0] for s in store.get_run(lg.run_id).skipped_files] == ["outputs/huge.bin"]
    assert partial_files(store.home) == []


def test_output_with_a_bad_name_is_skipped_not_fatal(
    small_logger: Logger, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "ok.txt").write_bytes(b"ok")
    (outputs / "bad\x1bname").write_bytes(b"bad")
    (outputs / ("c" * (MAX_PATH_COMPONENT_BYTES - 1))).write_bytes(b"edge")
    small_logger.finish()
    store = small_logger.store
    assert set(artifacts(store, small_logger.run_id)) == {  # type: ignore[arg-type]
        "outputs/ok.txt",
        f"outputs/{'c' * (MAX_PATH_COMPONENT_BYTES - 1)}",
    }
    assert "control character" in caplog.text
    run = store.get_run(small_logger.run_id)
    assert run.status == "completed" and len(run.skipped_files) == 1


# -- promote and assets -------------------------------------------------------------------------


@pytest.fixture
def with_files(seeded: Logger) -> Logger:
    seeded.upload("model/weights.bin", b"weights-v1").wait()
    seeded.upload("model/config.json", b'{"layers": 2}').wait()
    seeded.upload("notes.txt", b"notes").wait()
    return seeded


@pytest.mark.parametrize("prefix", ["mod", "model/w", "nothing", "model/weights.bin/x", "notes"], ids=repr)
def test_promote_of_a_prefix_matching_nothing_creates_nothing(with_files: Logger, prefix: str) -> None:
    store = with_files.store
    with pytest.raises(ArtifactNotFound, match="nothing promoted"):
        store.promote(with_files.run_id, prefix, "m")
    assert store.list_assets() == []
    with pytest.raises(AssetNotFound):
        store.get_asset("m")


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", InvalidInput),
        ("a:b", InvalidInput),
        ("../x", InvalidInput),
        ("a/b", InvalidInput),
        ("-x", InvalidInput),
        (".x", InvalidInput),
        ("a b", InvalidInput),
        ("é", InvalidInput),
        ("a\nb", InvalidInput),
        ("a" * (MAX_ASSET_NAME_LENGTH + 1), InvalidInput),
        (5, TypeError),
    ],
    ids=repr,
)
def test_bad_asset_names_are_refused(with_files: Logger, name: Any, error: type[BaseException]) -> None:
    store = with_files.store
    with pytest.raises(error, match="asset name"):
        store.promote(with_files.run_id, "model", name)
    assert store.list_assets() == []


def test_asset_name_at_the_length_limit_is_accepted(with_files: Logger) -> None:
    name = "a" * MAX_ASSET_NAME_LENGTH
    version = with_files.store.promote(with_files.run_id, "model", name)
    assert version.name == name and version.version == 1
    assert with_files.store.get_asset(name).version == 1


@pytest.mark.parametrize("prefix", ["../model", "/model", "model//x", "mo\x00del"], ids=repr)
def test_promote_of_a_bad_prefix_is_refused(with_files: Logger, prefix: str) -> None:
    with pytest.raises(InvalidPath):
        with_files.store.promote(with_files.run_id, prefix, "m")
    assert with_files.store.list_assets() == []


def test_promote_twice_makes_versions_1_and_2_with_lineage(with_files: Logger) -> None:
    store = with_files.store
    run_id = with_files.run_id
    first = store.promote(run_id, "model/", "model")
    with_files.upload("model/weights.bin", b"weights-v2").wait()
    second = store.promote(run_id, "model", "model")
    assert (first.version, second.version) == (1, 2)
    assert [a.version for a in store.list_asset_versions("model")] == [1, 2]
    v1, v2 = store.get_asset("model", 1), store.get_asset("model", 2)
    assert v1.run_id == v2.run_id == run_id
    assert v1.prefix == v2.prefix == "model"
    assert [f.path for f in v1.files] == ["model/config.json", "model/weights.bin"]
    by_path = {f.path: f for f in v1.files}
    assert by_path["model/weights.bin"].sha256 == hashlib.sha256(b"weights-v1").hexdigest()
    assert {f.path: f.sha256 for f in v2.files}["model/weights.bin"] == hashlib.sha256(b"weights-v2").hexdigest()
    assert store.get_asset("model").version == 2


def test_download_asset_checks_hashes(with_files: Logger, tmp_path: Path) -> None:
    store = with_files.store
    assert isinstance(store, EmbeddedStore)
    store.promote(with_files.run_id, "model/weights.bin", "w")
    good = tmp_path / "good"
    (saved,) = download_asset(store, "w", None, good)
    assert saved.saved_to.read_bytes() == b"weights-v1"

    sha = hashlib.sha256(b"weights-v1").hexdigest()
    blob = store.home / "blobs" / sha[:2] / sha[2:]
    assert blob.read_bytes() == b"weights-v1"
    blob.write_bytes(b"weights-XX")  # same length, other bytes

    bad = tmp_path / "bad"
    with pytest.raises(IntegrityError, match="sha256"):
        download_asset(store, "w", 1, bad)
    assert not bad.exists() or files_under(bad) == []


def test_download_asset_keeps_no_corrupt_file_of_several(with_files: Logger, tmp_path: Path) -> None:
    store = with_files.store
    assert isinstance(store, EmbeddedStore)
    store.promote(with_files.run_id, "model", "m")
    sha = hashlib.sha256(b"weights-v1").hexdigest()  # model/weights.bin, the later file
    (store.home / "blobs" / sha[:2] / sha[2:]).write_bytes(b"weights-XX")
    dest = tmp_path / "dest"
    with pytest.raises(IntegrityError):
        download_asset(store, "m", None, dest)
    names = [p.name for p in files_under(dest)]
    assert "weights.bin" not in names
    assert not any(n.endswith(".part") for n in names)


# -- other limits -------------------------------------------------------------------------------


def test_experiment_and_run_name_limits(store: EmbeddedStore) -> None:
    edge = "e" * MAX_EXPERIMENT_NAME_LENGTH
    run = store.create_run(NewRun(experiment=edge, name="r" * MAX_EXPERIMENT_NAME_LENGTH))
    assert store.get_run(run.id).experiment == edge
    for bad in ["", "e" * (MAX_EXPERIMENT_NAME_LENGTH + 1), "a\x1b[2Jb"]:
        with pytest.raises(InvalidInput, match="experiment name"):
            store.create_run(NewRun(experiment=bad))
    with pytest.raises(InvalidInput, match="run name"):
        store.create_run(NewRun(experiment="t", name="r" * (MAX_EXPERIMENT_NAME_LENGTH + 1)))
    assert [r.id for r in store.list_runs().runs] == [run.id]


def test_page_size_limit(store: EmbeddedStore) -> None:
    store.create_run(NewRun(experiment="t"))
    assert len(store.list_runs(limit=MAX_PAGE_SIZE).runs) == 1
    for bad in [0, -1, MAX_PAGE_SIZE + 1]:
        with pytest.raises(InvalidInput, match=f"limit must be 1 … {MAX_PAGE_SIZE}"):
            store.list_runs(limit=bad)


def test_error_text_of_a_failed_run_is_kept_up_to_its_limit(make_logger: Callable[..., Logger]) -> None:
    edge = make_logger()
    text = "x" * (MAX_ERROR_LENGTH - 3) + "END"
    edge.finish("failed", text)
    assert edge.store.get_run(edge.run_id).error == text

    past = make_logger()
    long_text = "START" + "y" * MAX_ERROR_LENGTH + "END"
    past.finish("failed", long_text)
    stored = past.store.get_run(past.run_id).error
    assert stored is not None
    assert len(stored) <= MAX_ERROR_LENGTH
    assert stored.endswith("END")  # the end is kept


# -- the server's request bodies ---------------------------------------------------------


def metrics_body_of(size: int) -> bytes:
    """A valid metrics batch of exactly ``size`` bytes (JSON allows trailing spaces)."""
    body = b'{"series": {"x": {"kind": "number", "values": [1.5], "steps": [null], "times": [1.0]}}}'
    return body + b" " * (size - len(body))


@pytest.mark.slow
def test_a_metrics_batch_at_the_byte_limit_is_stored_and_one_past_is_refused(server: Server) -> None:
    with HttpStore(server.url) as remote:
        run_id = remote.create_run(NewRun()).id
        url = f"{server.url}/api/v1/runs/{run_id}/metrics"
        assert httpx.post(url, content=metrics_body_of(MAX_BATCH_BYTES), timeout=60).status_code == 200
        past = httpx.post(url, content=metrics_body_of(MAX_BATCH_BYTES + 1), timeout=60)
        assert past.status_code == 413 and f"at most {MAX_BATCH_BYTES} bytes" in past.json()["message"]

        def chunked(size: int) -> Iterator[bytes]:  # no Content-Length: counted as it comes
            body = metrics_body_of(size)
            for start in range(0, len(body), 1 << 16):
                yield body[start : start + (1 << 16)]

        assert httpx.post(url, content=chunked(MAX_BATCH_BYTES), timeout=60).status_code == 200
        assert httpx.post(url, content=chunked(MAX_BATCH_BYTES + 1), timeout=60).status_code == 413
        assert remote.read_series(run_id, "x").values == [1.5, 1.5]


def test_a_body_far_past_the_limit_is_answered_413_not_a_reset_connection(server: Server) -> None:
    url = f"{server.url}/api/v1/runs"
    for size in (MAX_BATCH_BYTES * 5, MAX_BATCH_BYTES * 16):
        past = httpx.post(url, content=b" " * size, headers={"Content-Type": "application/json"}, timeout=60)
        assert past.status_code == 413 and f"at most {MAX_BATCH_BYTES} bytes" in past.json()["message"]


def test_other_json_bodies_have_the_same_byte_limit(server: Server) -> None:
    pad = b" " * (MAX_BATCH_BYTES - 2)
    url, json_type = f"{server.url}/api/v1/runs", {"Content-Type": "application/json"}
    assert httpx.post(url, content=b"{}" + pad, headers=json_type, timeout=60).status_code == 201
    past = httpx.post(url, content=b"{}" + pad + b" ", headers=json_type, timeout=60)
    assert past.status_code == 413


class CountingTransport(httpx.HTTPTransport):
    """A real transport that notes the size of every metrics request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/metrics"):
            self.sent.append(len(request.read()))
        return super().handle_request(request)


WORST_FLOAT = -1.2345678901234567e-300  # among the longest reprs of a float


@pytest.mark.slow
def test_a_logger_batch_of_numbers_fits_one_request(server: Server) -> None:
    n = REMOTE_BATCH_POINTS
    numbers = SeriesBatch("number", [WORST_FLOAT] * n, [-MAX_INT] * n, [1_764_000_000.1234567] * n)
    transport = CountingTransport()
    with HttpStore(server.url, transport=transport) as remote:
        run_id = remote.create_run(NewRun()).id
        assert remote.append_metrics(run_id, {"m" * MAX_METRIC_NAME_LENGTH: numbers}, key="k")
        assert remote.read_series(run_id, "m" * MAX_METRIC_NAME_LENGTH).count == n
    assert len(transport.sent) == 1 and transport.sent[0] <= MAX_BATCH_BYTES


def test_the_largest_single_point_fits_one_request() -> None:
    from runhistory.api._http import _split_for_the_wire

    name = "\U0001f600" * MAX_METRIC_NAME_LENGTH  # 12 bytes a character in JSON
    for batch in (
        {name: SeriesBatch("string", ["\U0001f600" * MAX_STRING_LENGTH], [MAX_INT], [1_764_000_000.1234567])},
        {name: SeriesBatch("chart", [[WORST_FLOAT] * MAX_CHART_LENGTH], [MAX_INT], [1_764_000_000.1234567])},
    ):
        (part,) = _split_for_the_wire(wire.batch_to_wire(batch))
        assert len(part) + 1024 <= MAX_BATCH_BYTES


@pytest.mark.slow
def test_a_batch_past_the_byte_limit_travels_in_parts_each_stored_once(server: Server) -> None:
    strings = SeriesBatch("string", ["s" * MAX_STRING_LENGTH] * 150, list(range(150)), [1.0] * 150)
    numbers = SeriesBatch("number", [0.5] * 10, list(range(10)), [1.0] * 10)
    transport = CountingTransport()
    with HttpStore(server.url, transport=transport) as remote:
        run_id = remote.create_run(NewRun()).id
        assert remote.append_metrics(run_id, {"s": strings, "n": numbers}, key="k")
        assert len(transport.sent) == 3 and max(transport.sent) <= MAX_BATCH_BYTES
        assert not remote.append_metrics(run_id, {"s": strings, "n": numbers}, key="k")  # sent again: stored once
        assert remote.read_series(run_id, "s").steps == list(range(150))
        assert remote.read_series(run_id, "n").steps == list(range(10))


def hold_admitted_bodies(server: Server, run_id: str, count: int) -> list[socket.socket]:
    """``count`` metrics requests that sent their headers and part of their body, then wait."""
    held = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(
            f"POST /api/v1/runs/{run_id}/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n{".encode()
        )
        held.append(s)
    time.sleep(0.3)  # admitted, or waiting to be
    return held


@pytest.mark.slow
def test_json_bodies_are_read_at_most_max_concurrent_batches_at_once(server: Server) -> None:
    run_id = httpx.post(f"{server.url}/api/v1/runs", json={}).json()["id"]

    def create_run_takes() -> float:
        started = time.monotonic()
        try:
            httpx.post(f"{server.url}/api/v1/runs", json={"experiment": "waits"}, timeout=1.5)
        except httpx.ReadTimeout:
            return math.inf
        return time.monotonic() - started

    edge = hold_admitted_bodies(server, run_id, MAX_CONCURRENT_BATCHES - 1)
    assert create_run_takes() < 1.0  # a place is free
    past = hold_admitted_bodies(server, run_id, 1)
    assert create_run_takes() == math.inf  # every place is held: its body is not read
    past[0].close()  # a place is given back
    assert create_run_takes() < 1.0
    for s in edge:
        s.close()


def test_run_times_past_what_a_date_holds_are_a_clear_error_from_the_server(server: Server) -> None:
    # A start a century of millennia ago was once a 500: the store could not make a date of it.
    url = f"{server.url}/api/v1/runs"
    for field, value in (("started_at", -2.79e16), ("started_at", LATEST_TIME + 1), ("started_at", -1)):
        refused = httpx.post(url, json={field: value})
        assert refused.status_code == 422 and field in refused.text
    run_id = httpx.post(url, json={"started_at": LATEST_TIME}).json()["id"]
    late = httpx.post(f"{url}/{run_id}/finish", json={"status": "completed", "ended_at": LATEST_TIME + 1})
    assert late.status_code == 422 and "ended_at" in late.text
    assert httpx.get(f"{url}/{run_id}").json()["status"] == "running"


def test_point_times_the_server_takes_are_dates(server: Server) -> None:
    run_id = httpx.post(f"{server.url}/api/v1/runs", json={}).json()["id"]
    url = f"{server.url}/api/v1/runs/{run_id}/metrics"

    def send(times: str) -> httpx.Response:
        n = times.count(",") + 1
        points = f'"kind": "number", "values": [{", ".join(["1.5"] * n)}], "steps": [{", ".join(["null"] * n)}]'
        body = f'{{"series": {{"x": {{{points}, "times": [{times}]}}}}}}'
        return httpx.post(url, content=body.encode(), headers={"Content-Type": "application/json"})

    assert send(f"{EARLIEST_TIME}, {LATEST_TIME}").status_code == 200
    for bad in (f"{LATEST_TIME + 1}", "-1", "1.0, -1e20", "1.0, 2.0, NaN", "NaN, 1.0", "1e999"):
        refused = send(bad)
        assert refused.status_code == 422, bad
        assert "times must be epoch seconds" in refused.json()["message"] or "NaN" in refused.text, bad
    with HttpStore(server.url) as remote:
        assert remote.read_series(run_id, "x").times == [EARLIEST_TIME, LATEST_TIME]
