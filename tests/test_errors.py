"""One table, two directions: each error a store raises reaches an HTTP client as itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from runhistory.api import EmbeddedStore, RunhistoryError, StoreUnavailable, Unauthorized
from runhistory.api._errors import HTTP_STATUS, AmbiguousRunId, status_of

from ._inprocess import in_process


class Refusing(EmbeddedStore):
    """A store whose ``get_run`` raises the error it is given."""

    error: RunhistoryError

    def get_run(self, run_id: str):  # type: ignore[no-untyped-def]
        raise self.error


@pytest.mark.parametrize(("kind", "status"), HTTP_STATUS, ids=[k.__name__ for k, _ in HTTP_STATUS])
def test_each_error_crosses_the_wire_as_itself(tmp_path: Path, kind: type[RunhistoryError], status: int) -> None:
    store = Refusing(tmp_path / "store")
    store.error = (
        AmbiguousRunId("ab", ["ab1", "ab2"]) if kind is AmbiguousRunId else kind(f"a {kind.__name__} happened")
    )
    assert status_of(store.error) == status
    with in_process(store) as client, pytest.raises(RunhistoryError) as raised:
        client.get_run("ab")
    if status >= 500:
        expected: type[RunhistoryError] = StoreUnavailable
    elif status == 401:
        expected = Unauthorized
    else:
        expected = kind
    assert type(raised.value) is expected
    if kind is AmbiguousRunId:
        assert raised.value.candidates == ["ab1", "ab2"]  # type: ignore[attr-defined]
    assert str(store.error) in str(raised.value)


def test_an_error_outside_the_table_is_a_server_error(tmp_path: Path) -> None:
    store = Refusing(tmp_path / "store")
    store.error = RunhistoryError("something else")
    with in_process(store) as client, pytest.raises(StoreUnavailable, match="500"):
        client.get_run("ab")
