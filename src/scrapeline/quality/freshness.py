"""Freshness: is the published data recent enough? The latest snapshot's age, and the
newest date of chosen tables in it, each against its allowed age.

    report = check_freshness(Path("data/football"), max_age=86400,
                             tables={"matches": TableRule(column="date", max_age=3 * 86400)},
                             now=datetime.now(UTC))
    report.stale, report.reason   # (True, "matches.date: newest 2024-05-01 is 4d 2h old, ...")

It reads the published layout and nothing else: ``DATA_DIR/published/latest`` links
to ``DATA_DIR/published/<snapshot>/``, which holds ``manifest.json`` (``created_at``
in ISO-8601 UTC; each table's ``file`` and ``columns``) and one Parquet file per
table. A table's newest date is ``max(column)`` of its file, read by DuckDB
(imported when a table is checked). A date counts from the start of its day, UTC; a
date and time without a zone is taken as UTC; text is read as ISO-8601.

The decisions are pure (:func:`instant`, :func:`age_check`)::

    >>> now = datetime(2024, 5, 4, 12, tzinfo=UTC)
    >>> age_check("matches.date", date(2024, 5, 1), now=now, max_age=3 * 86400).stale
    True
    >>> age_check("snapshot", "2024-05-04T06:00:00+00:00", now=now, max_age=86400).age
    21600.0

Raises DataDirError when nothing is published (or the manifest cannot be read),
ConfigError for a table or column the snapshot does not have.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from scrapeline.errors import ConfigError, DataDirError

__all__ = [
    "AgeCheck",
    "FreshnessReport",
    "TableRule",
    "age_check",
    "check_freshness",
    "instant",
    "latest_manifest",
]

PUBLISHED = "published"
LATEST = "latest"
MANIFEST = "manifest.json"


@dataclass(frozen=True, kw_only=True)
class TableRule:
    """How fresh a table must be: the newest value of ``column`` at most ``max_age``
    seconds old."""

    column: str
    max_age: float


@dataclass(frozen=True, kw_only=True)
class AgeCheck:
    """One age against its limit: the snapshot's (``name`` "snapshot") or a table
    column's newest value (``name`` "table.column")."""

    name: str
    newest: datetime | None
    """None: the column holds no value at all (stale)."""
    age: float | None
    """Seconds between ``newest`` and now."""
    max_age: float
    stale: bool

    def line(self) -> str:
        """The check in words: ``matches.date: newest 2024-05-01T00:00:00+00:00 is
        3d 12h old (allowed 3d)``."""
        allowed = span(self.max_age)
        if self.newest is None or self.age is None:
            return f"{self.name}: no value at all (allowed {allowed})"
        return (
            f"{self.name}: newest {self.newest.isoformat()} is {span(self.age)} old "
            f"(allowed {allowed})"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "newest": self.newest.isoformat() if self.newest is not None else None,
            "age_seconds": round(self.age, 3) if self.age is not None else None,
            "max_age_seconds": self.max_age,
            "stale": self.stale,
        }


@dataclass(frozen=True, kw_only=True)
class FreshnessReport:
    """What :func:`check_freshness` found: the snapshot, then every check."""

    snapshot: str
    path: Path
    checks: tuple[AgeCheck, ...]

    @property
    def stale(self) -> bool:
        return any(c.stale for c in self.checks)

    @property
    def reason(self) -> str | None:
        """The stale checks in one line (None when fresh)."""
        stale = [c.line() for c in self.checks if c.stale]
        return "; ".join(stale) if stale else None

    def as_json(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot,
            "path": str(self.path),
            "fresh": not self.stale,
            "reason": self.reason,
            "checks": [c.as_json() for c in self.checks],
        }


def span(seconds: float) -> str:
    """Seconds for people, to the two largest units: ``'3d 12h'``, ``'5h 2m'``, ``'40s'``.

    >>> span(3 * 86400 + 12 * 3600), span(300), span(59.6)
    ('3d 12h', '5m', '1m')
    """
    total = round(seconds)
    parts: list[tuple[int, str]] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, total = divmod(total, size)
        if n or parts:
            parts.append((n, unit))
    shown = parts[:2]
    if len(shown) == 2 and shown[1][0] == 0:
        shown = shown[:1]
    return " ".join(f"{n}{unit}" for n, unit in shown) or "0s"


def instant(value: object) -> datetime:
    """A newest value as a moment in UTC: a date from the start of its day, a naive
    date and time as UTC, ISO-8601 text as either. Raises ValueError for anything else.

    >>> instant(date(2024, 5, 1)).isoformat(), instant("2024-05-01T20:00+02:00").isoformat()
    ('2024-05-01T00:00:00+00:00', '2024-05-01T18:00:00+00:00')
    >>> instant("2024-05-01T20:00").isoformat()
    '2024-05-01T20:00:00+00:00'
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            value = date.fromisoformat(text)
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    raise ValueError(f"{value!r} is not a date")


def age_check(name: str, newest: object, *, now: datetime, max_age: float) -> AgeCheck:
    """``newest`` (a date, a datetime, ISO text or None) against ``max_age`` seconds
    at ``now``: stale when older, or when there is no value. A value in the future
    is 0 seconds old. Raises ValueError for a value that is no date."""
    if newest is None:
        return AgeCheck(name=name, newest=None, age=None, max_age=max_age, stale=True)
    moment = instant(newest)
    age = max(0.0, (now - moment).total_seconds())
    return AgeCheck(name=name, newest=moment, age=age, max_age=max_age, stale=age > max_age)


def latest_manifest(data_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The latest snapshot's directory and its manifest. Raises DataDirError when
    nothing is published or the manifest cannot be read."""
    link = data_dir / PUBLISHED / LATEST
    if not link.exists():
        raise DataDirError(
            f"nothing is published in {data_dir / PUBLISHED}: no latest snapshot "
            "(scrapeline publish makes one)"
        )
    folder = link.resolve()
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataDirError(f"cannot read the manifest of {folder}: {exc}") from exc
    if not isinstance(manifest, dict) or "created_at" not in manifest:
        raise DataDirError(f"{folder / MANIFEST}: not a snapshot manifest (no created_at)")
    return folder, manifest


def check_freshness(
    data_dir: Path,
    *,
    max_age: float | None,
    tables: Mapping[str, TableRule],
    now: datetime,
) -> FreshnessReport:
    """Check the latest snapshot of ``data_dir``: its own age against ``max_age``
    (None: not checked) and each table's newest value against its rule, at ``now``.
    See the module doc for what is raised."""
    folder, manifest = latest_manifest(data_dir)
    checks: list[AgeCheck] = []
    if max_age is not None:
        try:
            checks.append(age_check("snapshot", manifest["created_at"], now=now, max_age=max_age))
        except ValueError as exc:
            raise DataDirError(f"{folder / MANIFEST}: created_at: {exc}") from None
    listed: Mapping[str, Any] = manifest.get("tables") or {}
    for table, rule in tables.items():
        entry = listed.get(table)
        if not isinstance(entry, dict):
            known = ", ".join(sorted(listed)) or "none"
            raise ConfigError(
                f"freshness: the latest snapshot {folder.name} has no table {table!r} "
                f"(it has {known})"
            )
        columns = [c.get("name") for c in entry.get("columns", []) if isinstance(c, dict)]
        if rule.column not in columns:
            raise ConfigError(
                f"freshness: table {table} of snapshot {folder.name} has no column "
                f"{rule.column!r} (it has {', '.join(map(str, columns)) or 'none'})"
            )
        newest = _newest(folder / str(entry.get("file", f"{table}.parquet")), rule.column)
        name = f"{table}.{rule.column}"
        try:
            checks.append(age_check(name, newest, now=now, max_age=rule.max_age))
        except ValueError as exc:
            raise ConfigError(f"freshness: {name}: {exc}") from None
    return FreshnessReport(
        snapshot=str(manifest.get("snapshot") or folder.name), path=folder, checks=tuple(checks)
    )


def _newest(parquet: Path, column: str) -> object:
    """``max(column)`` of a Parquet file, read by DuckDB."""
    import duckdb

    quoted = '"' + column.replace('"', '""') + '"'
    try:
        with duckdb.connect() as db:
            query = f"SELECT max({quoted}) FROM read_parquet(?)"
            row = db.execute(query, [str(parquet)]).fetchone()
    except duckdb.Error as exc:
        raise DataDirError(f"cannot read {parquet}: {exc}") from exc
    return row[0] if row else None
