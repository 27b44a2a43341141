"""Opening the terminal app from the command line."""

from __future__ import annotations

from runhistory.api import Store


def run_tui(store: Store) -> int:
    """Run the full-screen app on ``store`` until the user quits."""
    from .app import make_app

    make_app(store=store).run()
    return 0
