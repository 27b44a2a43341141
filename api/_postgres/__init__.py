"""The PostgreSQL store: run history in a shared database, file contents in a ``BlobStore``."""

from .schema import MIGRATIONS, SCHEMA_VERSION
from .store import POSTGRES_BATCH_POINTS, PostgresStore

__all__ = ["MIGRATIONS", "POSTGRES_BATCH_POINTS", "SCHEMA_VERSION", "PostgresStore"]
