"""Runs in the embedded store: the SQL every store shares (``runhistory.api._sql.runs``),
compiled for SQLite."""

from __future__ import annotations

from .._sql.runs import Runs
from .query import SqliteCompiler


class EmbeddedRuns(Runs):
    """The runs' part of ``EmbeddedStore``."""

    compiler = SqliteCompiler
