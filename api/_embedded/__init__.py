"""The embedded store: SQLite in WAL mode plus a content-addressed blob folder."""

from .schema import MIGRATIONS, SCHEMA_VERSION, Migration
from .store import EmbeddedStore

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "EmbeddedStore", "Migration"]
