"""The ``runhistory`` command."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``runhistory`` console script."""
    print(
        "runhistory: the command line and the terminal app are coming; "
        "log runs with `from runhistory.logger import get_logger`.",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
