"""Fixtures shared by the tests.

``store`` runs a test once per backend (``BACKENDS``): the contract every
``Store`` keeps. A new backend passes the contract by adding a fixture named
``<backend>_store`` and its name to ``BACKENDS``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runhistory.api import EmbeddedStore, Store

from ._inprocess import in_process

#: The backends the contract tests run on; each is the fixture ``<name>_store``.
BACKENDS = ["embedded", "http"]


@pytest.fixture
def embedded_store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    """An embedded store in a fresh folder."""
    store = EmbeddedStore(tmp_path / "store")
    yield store
    store.close()


@pytest.fixture
def http_store(tmp_path: Path) -> Iterator[Store]:
    """An HTTP store answered by a server app over an embedded store, in this process."""
    backing = EmbeddedStore(tmp_path / "server-store")
    with in_process(backing) as store:
        yield store
    backing.close()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> Store:
    """Each backend in turn (see ``BACKENDS``)."""
    found: Store = request.getfixturevalue(f"{request.param}_store")
    return found


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``@pytest.mark.anyio``) run on asyncio, as Textual does."""
    return "asyncio"
