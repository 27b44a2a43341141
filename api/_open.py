"""Which store a process uses, from arguments or the environment."""

from __future__ import annotations

import os
from pathlib import Path

from ._errors import InvalidInput
from ._store import Store

#: Environment variable naming the embedded store's folder.
HOME_ENV = "RUNHISTORY_HOME"
#: Environment variable naming a ``runhistory serve`` to use instead.
URL_ENV = "RUNHISTORY_URL"
#: Environment variable holding the server's bearer token.
TOKEN_ENV = "RUNHISTORY_TOKEN"
#: Environment variable naming a file that holds the token (kept out of ``ps`` and the environment).
TOKEN_FILE_ENV = "RUNHISTORY_TOKEN_FILE"


def default_home() -> Path:
    """``RUNHISTORY_HOME``, else the platform's user data folder for runhistory."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser()
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


def find_token(token: str | None = None, token_file: str | os.PathLike[str] | None = None) -> str | None:
    """The bearer token: ``token``, else the one in ``token_file``, else
    ``RUNHISTORY_TOKEN``, else the one in the file ``RUNHISTORY_TOKEN_FILE`` names."""
    if token:
        return token
    if token_file:
        return read_token_file(token_file)
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    if os.environ.get(TOKEN_FILE_ENV):
        return read_token_file(os.environ[TOKEN_FILE_ENV])
    return None


def open_store(
    *,
    home: str | os.PathLike[str] | None = None,
    url: str | None = None,
    token: str | None = None,
    token_file: str | os.PathLike[str] | None = None,
) -> Store:
    """The store to use: ``url`` (or ``RUNHISTORY_URL``) names a server, reached
    with the token ``find_token(token, token_file)`` finds; else the embedded
    store in ``home`` (or ``default_home()``)."""
    url = url or (None if home is not None else os.environ.get(URL_ENV))
    if url:
        from ._http import HttpStore

        return HttpStore(url, token=find_token(token, token_file))
    from ._sqlite import EmbeddedStore

    return EmbeddedStore(default_home() if home is None else home)
