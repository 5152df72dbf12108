"""The command line: parse, call one workspace function, render, map errors to exit codes.

Exit codes (cli/exits.py): 0 all done · 1 finished with failed items · 2 usage or
config error · 3 halted (consecutive failures, a host down) · 130 interrupted.

This module assembles the CLI: importing a command module registers its commands on
the one app (cli/app.py), in the order ``--help`` lists them. The command modules
never import this one.
"""

from __future__ import annotations

# the order of these imports is the order of the commands in --help
# isort: off
from scrapeline.cli import run as _run  # noqa: F401  (registers `run`)
from scrapeline.cli import status as _status  # noqa: F401  (registers `status`, `runs`)
from scrapeline.cli import demo as _demo  # noqa: F401  (registers `demo`, `demo-site`)
from scrapeline.cli import archive as _archive  # noqa: F401  (registers `reparse`, `prune`)
from scrapeline.cli import check as _check  # noqa: F401  (registers `check`)
from scrapeline.cli import config as _config  # noqa: F401  (registers `config show`)
from scrapeline.cli import schedule as _schedule  # noqa: F401  (registers `schedule`)

# isort: on
from scrapeline.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """The ``scrapeline`` script and ``python -m scrapeline``."""
    app()


if __name__ == "__main__":
    main()
