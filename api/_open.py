"""Which store a process uses, from arguments or the environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ._errors import InvalidInput
from ._settings import HOME_ENV, TOKEN_ENV, TOKEN_FILE_ENV, URL_ENV, Settings
from ._store import Store

if TYPE_CHECKING:
    from ._postgres import PostgresStore

__all__ = ["HOME_ENV", "TOKEN_ENV", "TOKEN_FILE_ENV", "URL_ENV", "default_home", "find_token", "open_store"]


def default_home(settings: Settings | None = None) -> Path:
    """``RUNHISTORY_HOME``, else the platform's user data folder for runhistory."""
    settings = settings or Settings.from_environ()
    if settings.home is not None:
        return settings.home
    import platformdirs  # only here: it is not needed when RUNHISTORY_HOME is set

    return Path(platformdirs.user_data_dir("runhistory", appauthor=False))


def read_token_file(path: str | os.PathLike[str]) -> str:
    """The token kept in a file (its first line, without surrounding spaces).

    Raises:
        InvalidInput: the file cannot be read or holds no token.
    """
    try:
        with open(path, encoding="utf-8") as f:
            token = f.readline().strip()
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"cannot read the token file {os.fspath(path)!r}: {error}") from None
    if not token:
        raise InvalidInput(f"the token file {os.fspath(path)!r} is empty")
    return token


def find_token(
    token: str | None = None, token_file: str | os.PathLike[str] | None = None, settings: Settings | None = None
) -> str | None:
    """The bearer token: ``token``, else the one in ``token_file``, else
    ``RUNHISTORY_TOKEN``, else the one in the file ``RUNHISTORY_TOKEN_FILE`` names."""
    if token:
        return token
    if token_file:
        return read_token_file(token_file)
    settings = settings or Settings.from_environ()
    if settings.token:
        return settings.token
    if settings.token_file:
        return read_token_file(settings.token_file)
    return None


def open_store(
    *,
    home: str | os.PathLike[str] | None = None,
    url: str | None = None,
    token: str | None = None,
    token_file: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
) -> Store:
    """The store to use: ``url`` (or ``RUNHISTORY_URL``) names a server, reached
    with the token ``find_token(token, token_file)`` finds; else the embedded
    store in ``home`` (or ``default_home()``).

    Raises:
        InvalidSetting: a ``RUNHISTORY_*`` variable makes no sense.
    """
    settings = settings or Settings.from_environ()
    url = url or (None if home is not None else settings.url)
    if url:
        from ._http import HttpStore

        return HttpStore(url, token=find_token(token, token_file, settings))
    from ._embedded import EmbeddedStore

    return EmbeddedStore(default_home(settings) if home is None else home)


def open_team_store(db: str, blobs: str | None) -> PostgresStore:
    """The team backend: runs, series and assets in the PostgreSQL database ``db``, file
    contents in ``blobs`` (``s3://bucket/prefix`` with the usual AWS variables, or a folder
    every replica reaches).

    Raises:
        InvalidSetting: ``blobs`` is missing or names nothing usable.
        StoreUnavailable: the database or the bucket cannot be reached.
    """
    from ._settings import BLOBS_ENV, InvalidSetting, check_blobs_url

    if not blobs:
        raise InvalidSetting(
            f"a PostgreSQL store keeps file contents apart: give --blobs (or {BLOBS_ENV}), "
            "an s3://bucket/prefix URL or a folder"
        )
    check_blobs_url(blobs, "--blobs")
    from ._blobs import BlobStore

    blob_store: BlobStore
    if blobs.startswith("s3://"):
        from ._s3 import S3Blobs

        blob_store = S3Blobs.from_url(blobs)
        blob_store.check()
    else:
        from ._embedded.blobs import LocalBlobs

        folder = Path(blobs.removeprefix("file://")).expanduser().resolve()
        for part in ("blobs", "tmp"):
            (folder / part).mkdir(parents=True, exist_ok=True)
        blob_store = LocalBlobs(folder / "blobs", folder / "tmp")
    from ._postgres import PostgresStore

    return PostgresStore(db, blobs=blob_store)
