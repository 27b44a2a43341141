"""Every ``RUNHISTORY_*`` variable, read and checked in one place.

``Settings.from_environ()`` reads them; a value that makes no sense is an
``InvalidSetting`` naming the variable, raised where the settings are read
(``get_logger()``, ``open_store()``, the CLI), not later in a writer thread.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ._errors import InvalidInput
from ._limits import MAX_ARTIFACT_SIZE

#: The embedded store's folder (and the spool's).
HOME_ENV = "RUNHISTORY_HOME"
#: A ``runhistory serve`` to use instead of the embedded store.
URL_ENV = "RUNHISTORY_URL"
#: The server's bearer token.
TOKEN_ENV = "RUNHISTORY_TOKEN"
#: A file holding the token (kept out of ``ps`` and the environment).
TOKEN_FILE_ENV = "RUNHISTORY_TOKEN_FILE"
#: Join this run instead of starting one (set by the run's owner).
RUN_ID_ENV = "RUNHISTORY_RUN_ID"
#: The experiment of new runs.
EXPERIMENT_ENV = "RUNHISTORY_EXPERIMENT"
#: The per-file upload limit, in bytes.
MAX_FILE_SIZE_ENV = "RUNHISTORY_MAX_FILE_SIZE"
#: Seconds a server may stay away before a logger's values go to the spool.
SPOOL_AFTER_ENV = "RUNHISTORY_SPOOL_AFTER"
#: Seconds a logger waits at exit for a server that is away.
EXIT_TIMEOUT_ENV = "RUNHISTORY_EXIT_TIMEOUT"

#: Defaults of the variables above that have one.
SPOOL_AFTER = 10.0
EXIT_TIMEOUT = 30.0

_RUN_ID = re.compile(r"[0-9a-f]{32}")


class InvalidSetting(InvalidInput):
    """A ``RUNHISTORY_*`` variable holds a value that makes no sense."""


@dataclass(frozen=True, slots=True)
class Settings:
    """What the environment says (see each ``*_ENV`` constant).

    Attributes:
        home: The embedded store's folder, when set.
        url: The server to use, when set.
        token: The server's token, when set.
        token_file: A file holding the token, when set.
        run_id: The run to join, when set.
        experiment: The experiment of new runs, when set.
        max_file_size: The per-file upload limit, in bytes.
        spool_after: Seconds of outage before values go to the spool.
        exit_timeout: Seconds to wait at exit for an absent server.
    """

    home: Path | None = None
    url: str | None = None
    token: str | None = None
    token_file: Path | None = None
    run_id: str | None = None
    experiment: str | None = None
    max_file_size: int = MAX_ARTIFACT_SIZE
    spool_after: float = SPOOL_AFTER
    exit_timeout: float = EXIT_TIMEOUT

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings the environment gives (empty variables count as unset).

        Raises:
            InvalidSetting: a variable's value makes no sense; the message names it.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        url = get(URL_ENV)
        if url is not None and not re.match(r"https?://[^/\s]+", url):
            raise InvalidSetting(f"{URL_ENV}={url!r} is not an http:// or https:// URL")
        run_id = get(RUN_ID_ENV)
        if run_id is not None and not _RUN_ID.fullmatch(run_id):
            raise InvalidSetting(f"{RUN_ID_ENV}={run_id!r} is not a run id (32 lowercase hex digits)")
        home, token_file = get(HOME_ENV), get(TOKEN_FILE_ENV)
        return cls(
            home=None if home is None else Path(home).expanduser(),
            url=url,
            token=get(TOKEN_ENV),
            token_file=None if token_file is None else Path(token_file).expanduser(),
            run_id=run_id,
            experiment=get(EXPERIMENT_ENV),
            max_file_size=int(
                _number(get(MAX_FILE_SIZE_ENV), MAX_FILE_SIZE_ENV, MAX_ARTIFACT_SIZE, "a whole number of bytes")
            ),
            spool_after=_number(get(SPOOL_AFTER_ENV), SPOOL_AFTER_ENV, SPOOL_AFTER, "a number of seconds"),
            exit_timeout=_number(get(EXIT_TIMEOUT_ENV), EXIT_TIMEOUT_ENV, EXIT_TIMEOUT, "a number of seconds"),
        )


def _number(text: str | None, name: str, default: float, what: str) -> float:
    """A number of 0 or more (a whole one when ``what`` says so)."""
    if text is None:
        return default
    try:
        value = int(text) if "whole" in what else float(text)
    except ValueError:
        raise InvalidSetting(f"{name}={text!r} is not {what}") from None
    if value < 0 or not math.isfinite(value):
        raise InvalidSetting(f"{name}={text!r} must be a finite number, 0 or more")
    return value
