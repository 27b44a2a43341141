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
#: The team backend's database for ``runhistory serve`` (``postgresql://…``).
DB_ENV = "RUNHISTORY_DB"
#: Where the team backend keeps file contents: ``s3://bucket/prefix`` or a folder.
BLOBS_ENV = "RUNHISTORY_BLOBS"
#: Seconds between a run's system metrics (CPU, memory, disks, network, GPUs); ``0`` turns them off.
SYSTEM_METRICS_ENV = "RUNHISTORY_SYSTEM_METRICS"

#: Defaults of the variables above that have one.
SPOOL_AFTER = 10.0
EXIT_TIMEOUT = 30.0
SYSTEM_METRICS_INTERVAL = 10.0
#: The shortest interval between system metrics samples: shorter would cost the training loop.
MIN_SYSTEM_METRICS_INTERVAL = 0.1

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
        db: The team backend's database URL, when set.
        blobs: Where the team backend keeps file contents, when set.
        system_metrics: Seconds between system metrics samples; 0 when they are off.
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
    db: str | None = None
    blobs: str | None = None
    system_metrics: float = SYSTEM_METRICS_INTERVAL

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
        db, blobs = get(DB_ENV), get(BLOBS_ENV)
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
            db=None if db is None else check_db_url(db, DB_ENV),
            blobs=None if blobs is None else check_blobs_url(blobs, BLOBS_ENV),
            system_metrics=check_system_metrics(get(SYSTEM_METRICS_ENV), SYSTEM_METRICS_ENV),
        )


def check_system_metrics(text: str | None, where: str) -> float:
    """The interval ``text`` gives system metrics, in seconds: 0 (off), or
    ``MIN_SYSTEM_METRICS_INTERVAL`` or more; ``SYSTEM_METRICS_INTERVAL`` when unset.

    Raises:
        InvalidSetting: anything else; the message names ``where`` it came from.
    """
    seconds = _number(text, where, SYSTEM_METRICS_INTERVAL, "0 (off) or a number of seconds")
    if 0 < seconds < MIN_SYSTEM_METRICS_INTERVAL:
        raise InvalidSetting(
            f"{where}={text!r} is too short: 0 turns system metrics off, else at least {MIN_SYSTEM_METRICS_INTERVAL} seconds"
        )
    return seconds


def check_db_url(url: str, where: str) -> str:
    """``url`` when it names a PostgreSQL database (``postgresql://`` or ``postgres://``).

    Raises:
        InvalidSetting: it does not; the message names ``where`` it came from.
    """
    if not re.match(r"postgres(ql)?://", url):
        raise InvalidSetting(f"{where}={_shown(url)!r} is not a postgresql:// URL")
    return url


def check_blobs_url(url: str, where: str) -> str:
    """``url`` when it names a bucket (``s3://bucket/prefix``) or a folder (a path, or ``file://``).

    Raises:
        InvalidSetting: it does not; the message names ``where`` it came from.
    """
    if re.match(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/|$)", url) or url.startswith(("file://", "/", "~", ".")):
        return url
    raise InvalidSetting(f"{where}={url!r} is neither an s3://bucket/prefix URL nor a folder")


def _shown(url: str) -> str:
    """``url`` without a password in it (it may be shown or logged)."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


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


#: What a ``runhistory serve --config FILE`` TOML file may set, and the type of each.
SERVE_CONFIG_KEYS: dict[str, type] = {
    "host": str,
    "port": int,
    "home": str,
    "db": str,
    "blobs": str,
    "token_file": str,
    "workers": int,
    "max_file_size": int,
    "insecure": bool,
    "direct": bool,
}


def read_serve_config(path: str | os.PathLike[str]) -> dict[str, object]:
    """The settings a TOML file gives ``runhistory serve`` (``SERVE_CONFIG_KEYS``, at the top
    level or in a ``[serve]`` table). The command line and ``RUNHISTORY_*`` variables win over it.

    Raises:
        InvalidSetting: the file cannot be read, is not TOML, or holds a key it may not,
            or a value of the wrong type; the message names the file and the key.
    """
    import tomllib

    where = os.fspath(path)
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as error:
        raise InvalidSetting(f"cannot read the config file {where!r}: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise InvalidSetting(f"the config file {where!r} is not TOML: {error}") from None
    table = doc.get("serve", doc) if isinstance(doc.get("serve"), dict) else doc
    found: dict[str, object] = {}
    for key, value in table.items():
        kind = SERVE_CONFIG_KEYS.get(key)
        if kind is None:
            known = ", ".join(sorted(SERVE_CONFIG_KEYS))
            raise InvalidSetting(f"the config file {where!r} sets {key!r}, which is none of: {known}")
        if type(value) is not kind:
            what = {str: "text", int: "a whole number", bool: "true or false"}[kind]
            raise InvalidSetting(f"the config file {where!r} sets {key} to {value!r}: it must be {what}")
        found[key] = value
    if "db" in found:
        check_db_url(str(found["db"]), f"{where}: db")
    if "blobs" in found:
        check_blobs_url(str(found["blobs"]), f"{where}: blobs")
    return found
