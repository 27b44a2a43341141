"""Which store a process uses, from arguments or the environment."""

from __future__ import annotations

import os
from pathlib import Path

from ._store import Store

#: Environment variable naming the embedded store's folder.
HOME_ENV = "RUNHISTORY_HOME"
#: Environment variable naming a ``runhistory serve`` to use instead.
URL_ENV = "RUNHISTORY_URL"
#: Environment variable holding the server's bearer token.
TOKEN_ENV = "RUNHISTORY_TOKEN"


def default_home() -> Path:
    """``RUNHISTORY_HOME``, else the platform's user data folder for runhistory."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser()
    import platformdirs  # only here: it is not needed when RUNHISTORY_HOME is set

    return Path(platformdirs.user_data_dir("runhistory", appauthor=False))


def open_store(
    *, home: str | os.PathLike[str] | None = None, url: str | None = None, token: str | None = None
) -> Store:
    """The store to use: ``url`` (or ``RUNHISTORY_URL``) names a server, reached
    with ``token`` (or ``RUNHISTORY_TOKEN``); else the embedded store in
    ``home`` (or ``default_home()``)."""
    url = url or (None if home is not None else os.environ.get(URL_ENV))
    if url:
        from ._http import HttpStore

        return HttpStore(url, token=token or os.environ.get(TOKEN_ENV) or None)
    from ._sqlite import EmbeddedStore

    return EmbeddedStore(default_home() if home is None else home)
