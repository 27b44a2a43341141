"""Where run history lives: the ``Store`` protocol, its data model and the embedded store."""

from typing import TYPE_CHECKING, Any

from ._embedded import SCHEMA_VERSION, EmbeddedStore
from ._errors import (
    AmbiguousRunId,
    ArtifactNotFound,
    ArtifactTooLarge,
    AssetNotFound,
    BadResponse,
    BatchTooLarge,
    DirectTransferNotOffered,
    DownloadConflict,
    IntegrityError,
    InvalidInput,
    InvalidPath,
    LoggingError,
    MetricKindMismatch,
    MetricNotFound,
    MigrationConflict,
    NotFound,
    ParamConflict,
    RunhistoryError,
    RunNotFound,
    RunStillRunning,
    StoreCorrupt,
    StoreReadOnly,
    StoreUnavailable,
    StoreVersionError,
    Unauthorized,
)
from ._http import HttpStore
from ._models import (
    FINAL_STATUSES,
    METRIC_KINDS,
    RUN_STATUSES,
    ArtifactInfo,
    AssetFile,
    AssetSummary,
    AssetVersion,
    DeletedRun,
    Environment,
    MetricInfo,
    MetricKind,
    NewRun,
    ParamValue,
    Run,
    RunPage,
    RunStatus,
    Series,
    SeriesBatch,
    Value,
)
from ._open import HOME_ENV, TOKEN_ENV, TOKEN_FILE_ENV, URL_ENV, default_home, find_token, open_store
from ._store import DirectTransfer, Store

if TYPE_CHECKING:
    from ._query import QueryError
from ._transfer import DownloadedFile, download_artifacts, download_asset
from ._validate import check_asset_name

__all__ = [
    "FINAL_STATUSES",
    "HOME_ENV",
    "METRIC_KINDS",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "TOKEN_ENV",
    "TOKEN_FILE_ENV",
    "URL_ENV",
    "AmbiguousRunId",
    "ArtifactInfo",
    "ArtifactNotFound",
    "ArtifactTooLarge",
    "AssetFile",
    "AssetNotFound",
    "AssetSummary",
    "AssetVersion",
    "BadResponse",
    "BatchTooLarge",
    "DeletedRun",
    "DirectTransfer",
    "DirectTransferNotOffered",
    "DownloadConflict",
    "DownloadedFile",
    "EmbeddedStore",
    "Environment",
    "HttpStore",
    "IntegrityError",
    "InvalidInput",
    "InvalidPath",
    "LoggingError",
    "MetricInfo",
    "MetricKind",
    "MetricKindMismatch",
    "MetricNotFound",
    "MigrationConflict",
    "NewRun",
    "NotFound",
    "ParamConflict",
    "ParamValue",
    "QueryError",
    "Run",
    "RunNotFound",
    "RunPage",
    "RunStatus",
    "RunStillRunning",
    "RunhistoryError",
    "Series",
    "SeriesBatch",
    "Store",
    "StoreCorrupt",
    "StoreReadOnly",
    "StoreUnavailable",
    "StoreVersionError",
    "Unauthorized",
    "Value",
    "check_asset_name",
    "default_home",
    "download_artifacts",
    "download_asset",
    "find_token",
    "open_store",
]


def __getattr__(name: str) -> Any:
    # The query language is imported when first asked for: a training script never needs it.
    if name == "QueryError":
        from ._query import QueryError

        return QueryError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
