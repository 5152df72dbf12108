"""The CLI's exit codes: one table from a run's status, one from the error tree.

=====  ==========================================================================
code   meaning
=====  ==========================================================================
0      everything asked for is done
1      finished, with failed items (or a discovery, or a check, that failed)
2      usage or configuration error: flags, config, pipeline file, data dir
3      halted: consecutive failures, a host that stays down, a full disk
130    interrupted (Ctrl+C, SIGTERM)
=====  ==========================================================================

    >>> from scrapeline.ledger.base import RunStatus
    >>> exit_code(RunStatus.HALTED)
    3
    >>> from scrapeline.errors import ConfigError
    >>> error_exit_code(ConfigError("bad flag"))
    2
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from scrapeline.errors import DiskFull, RunHalted, ScrapelineError, UsageError
from scrapeline.ledger.base import RunStatus

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_HALTED = 3
EXIT_INTERRUPTED = 130

RUN_EXIT_CODES: Mapping[RunStatus, int] = MappingProxyType(
    {
        RunStatus.DONE: EXIT_OK,
        RunStatus.FAILED: EXIT_FAILED,
        RunStatus.HALTED: EXIT_HALTED,
        RunStatus.INTERRUPTED: EXIT_INTERRUPTED,
    }
)
"""The exit code of a command whose run ended with this status. ``running`` and
``crashed`` are not here: a run that returns to the CLI has ended, and ended itself."""

ERROR_EXIT_CODES: tuple[tuple[type[ScrapelineError], int], ...] = (
    # most specific first: the first class the error is an instance of decides
    (DiskFull, EXIT_HALTED),  # a LedgerError, but the run cannot go on: it halts
    (RunHalted, EXIT_HALTED),
    (UsageError, EXIT_USAGE),
    (ScrapelineError, EXIT_FAILED),
)
"""The exit code of a command that ends with one of our errors."""


def exit_code(status: RunStatus) -> int:
    """The exit code for a run that ended with ``status``.

    Raises ValueError for ``running`` or ``crashed``, which no ended run reports."""
    try:
        return RUN_EXIT_CODES[status]
    except KeyError:
        raise ValueError(f"a run that ended cannot be {status.value!r}") from None


def error_exit_code(error: ScrapelineError) -> int:
    """The exit code for a command that failed with ``error``."""
    for kind, code in ERROR_EXIT_CODES:
        if isinstance(error, kind):
            return code
    raise AssertionError("ScrapelineError closes the table")  # pragma: no cover
