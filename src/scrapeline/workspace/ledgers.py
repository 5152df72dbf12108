"""Which ledger a workspace opens: chosen by URL, so a backend is a setting, not code.

    >>> ledger_path("sqlite:data/football/ledger.sqlite")
    PosixPath('data/football/ledger.sqlite')
    >>> ledger_path("postgresql://db/x")
    Traceback (most recent call last):
    ...
    scrapeline.errors.ConfigError: ledger 'postgresql://db/x': only sqlite: is supported so far

``sqlite:PATH`` (or a bare path) is the data dir's own file by default. PostgreSQL
(``postgresql://...``) is the next backend; until it lands its URL is refused in
one line rather than half-supported.
"""

from __future__ import annotations

from pathlib import Path

from scrapeline.errors import ConfigError
from scrapeline.ledger.base import Ledger
from scrapeline.ledger.sqlite import SqliteLedger


def ledger_path(url: str | Path) -> Path:
    """The SQLite file a ledger URL names; ConfigError for another scheme."""
    text = str(url)
    scheme, sep, rest = text.partition(":")
    if not sep or len(scheme) == 1:  # a bare path (a Windows drive letter is no scheme)
        return Path(text)
    if scheme == "sqlite":
        path = rest.removeprefix("//")
        if not path:
            raise ConfigError(f"ledger {text!r}: sqlite: needs a file path (sqlite:PATH)")
        return Path(path)
    raise ConfigError(f"ledger {text!r}: only sqlite: is supported so far")


def open_ledger(url: str | Path, *, read_only: bool = False) -> Ledger:
    """The ledger ``url`` names, opened (read-only when asked: nothing is created)."""
    return SqliteLedger(ledger_path(url), read_only=read_only)
