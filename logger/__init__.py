"""Log metrics and files from a training script.

>>> from runhistory.logger import get_logger
>>> logger = get_logger()
>>> logger.log("loss", 0.25)
>>> logger.log("loss", 0.20).wait()
"""

from runhistory.api._errors import LoggingError

from ._logger import (
    EXPERIMENT_ENV,
    MAX_FILE_SIZE_ENV,
    RUN_ID_ENV,
    Handle,
    Logger,
    get_logger,
)

__all__ = [
    "EXPERIMENT_ENV",
    "MAX_FILE_SIZE_ENV",
    "RUN_ID_ENV",
    "Handle",
    "Logger",
    "LoggingError",
    "get_logger",
]
