"""The rules every importer shares: how text params get their types back, ids, names, the summary's limit."""

from __future__ import annotations

import pytest

from runhistory.app.importers.from_mlflow import asset_name
from runhistory.app.importers.runs import MAX_LEFT_OUT, ImportSummary, derived_run_id, typed_param


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("10", 10),
        ("-3", -3),
        ("0.001", 0.001),
        ("1e-3", 0.001),
        ("-.5", -0.5),
        ("True", True),
        ("false", False),
        ("None", None),
        # Text that only looks like a number, or is not one Python writes, stays text.
        ("007", "007"),
        ("1_000", "1_000"),
        (" 1", " 1"),
        ("nan", "nan"),
        ("inf", "inf"),
        ("1e999", "1e999"),
        (str(2**63), str(2**63)),
        (str(2**63 - 1), 2**63 - 1),
        ("[64, 64]", "[64, 64]"),
        ("adam", "adam"),
        ("", ""),
    ],
)
def test_a_text_param_gets_its_type_back_only_when_written_as_python_writes_it(text: str, value: object) -> None:
    got = typed_param(text)
    assert got == value and type(got) is type(value)


def test_a_run_id_is_derived_the_same_way_every_time_and_per_tracker() -> None:
    a = derived_run_id("mlflow", "0123")
    assert a == derived_run_id("mlflow", "0123") and len(a) == 32 and int(a, 16) >= 0
    assert a != derived_run_id("tensorboard", "0123") and a != derived_run_id("mlflow", "01234")


def test_a_registered_models_name_as_an_asset_name() -> None:
    assert asset_name("My Model") == "My-Model"
    assert asset_name("résumé/v2") == "r-sum--v2"
    assert asset_name("..hidden") == "hidden"
    assert asset_name("???") == "model"
    assert len(asset_name("m" * 500)) == 128


def test_what_was_left_out_is_kept_to_its_limit_and_the_rest_counted() -> None:
    summary = ImportSummary(source="s")
    for n in range(MAX_LEFT_OUT):
        summary.leave_out(f"thing {n}")
    assert summary.doc()["left_out"] == [f"thing {n}" for n in range(MAX_LEFT_OUT)]
    summary.leave_out("one past")
    summary.leave_out("two past")
    assert summary.doc()["left_out"][-2:] == [f"thing {MAX_LEFT_OUT - 1}", "and 2 more"]
    assert len(summary.doc()["left_out"]) == MAX_LEFT_OUT + 1
