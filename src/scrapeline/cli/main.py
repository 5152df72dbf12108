"""The command line: parse, call one workspace function, render, map errors to exit codes.

Exit codes (cli/exits.py): 0 all done · 1 finished with failed items · 2 usage or
config error · 3 halted (consecutive failures, a host down) · 130 interrupted.

The commands are registered on the one app (cli/app.py) by their modules, each
imported when its command is asked for (``cli.app.COMMANDS``).
"""

from __future__ import annotations

from scrapeline.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """The ``scrapeline`` script and ``python -m scrapeline``."""
    app()


if __name__ == "__main__":
    main()
