"""Numbered schema migrations for scrapeline's SQLite files (the ledger, the archive).

``PRAGMA user_version`` holds how many migrations a file has had; ``apply`` runs
the rest inside the caller's transaction. Never edit a released migration: append.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence


def apply(db: sqlite3.Connection, migrations: Sequence[str], what: str) -> int:
    """Apply the migrations ``db`` has not had yet; return the new version.

    Raises sqlite3.DatabaseError when the file is newer than this scrapeline
    (``what`` names it in the message: "ledger schema", "archive")."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > len(migrations):
        raise sqlite3.DatabaseError(
            f"{what} version {version} is newer than this scrapeline knows "
            f"({len(migrations)}): upgrade scrapeline"
        )
    for number, script in enumerate(migrations[version:], start=version + 1):
        for statement in script.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(f"PRAGMA user_version={number}")
    return len(migrations)
