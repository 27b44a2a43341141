"""What the app remembers between sessions, per store: the param columns of the runs table.

Kept as JSON in the user's config folder (``platformdirs.user_config_dir``),
keyed by the store's location. A file that cannot be read or written is
ignored: a preference is never worth an error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

#: Most param columns the runs table takes.
MAX_PARAM_COLUMNS = 8


def default_file() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("runhistory", appauthor=False)) / "app.json"


class Preferences:
    """Preferences in ``path`` (see the module docstring)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else default_file()

    def _read(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return doc if isinstance(doc, dict) else {}

    def param_columns(self, location: str) -> list[str]:
        stores = self._read().get("stores", {})
        found = stores.get(location, {}).get("param_columns", []) if isinstance(stores, dict) else []
        return [k for k in found if isinstance(k, str)][:MAX_PARAM_COLUMNS] if isinstance(found, list) else []

    def set_param_columns(self, location: str, keys: list[str]) -> None:
        doc = self._read()
        stores = doc.setdefault("stores", {})
        if not isinstance(stores, dict):
            stores = doc["stores"] = {}
        stores.setdefault(location, {})["param_columns"] = keys[:MAX_PARAM_COLUMNS]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            tmp.write_text(json.dumps(doc, indent=2), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass
