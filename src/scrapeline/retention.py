"""Retention: forget what a data dir holds that is older than a cut-off.

    from scrapeline.retention import parse_duration, prune
    report = prune(Path("data/football"), parse_duration("30d"))

What goes: archived responses fetched before the cut-off and the bodies no
remaining response refers to; the attempts (per-task timings) of runs that ended
before it; run log files last written before it. What stays: the ledger's items,
tasks and records, and each run's summary line (``scrapeline runs``). Items whose
only archived response is pruned can no longer be re-parsed without fetching.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from scrapeline.datadir import DataDir
from scrapeline.errors import ConfigError, DataDirError
from scrapeline.fetch.archive import Archive
from scrapeline.ledger.sqlite import SqliteLedger

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """Seconds in ``"30d"``, ``"12h"``, ``"90m"``, ``"3600s"`` or ``"2w"``; ConfigError otherwise.

    >>> parse_duration("30d"), parse_duration("1.5h")
    (2592000.0, 5400.0)
    """
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        raise ConfigError(
            f"invalid duration {text!r}: expected a number and a unit, "
            "e.g. 30d, 12h, 90m, 3600s or 2w"
        )
    return float(found.group(1)) * _UNITS[found.group(2).lower()]


@dataclass(frozen=True, kw_only=True)
class PruneReport:
    """What :func:`prune` removed."""

    cutoff: float
    """Unix time: what is older went."""
    responses: int
    """Archive entries forgotten."""
    bodies: int
    """Distinct bodies deleted."""
    bytes_freed: int
    """Compressed bytes of those bodies."""
    attempts: int
    """Attempt rows of finished runs."""
    logs: int
    """Run log files."""


def prune(data_dir: Path, older_than: float, *, now: float | None = None) -> PruneReport:
    """Remove what is older than ``older_than`` seconds before ``now``; see the module doc.

    Takes the data dir like a run does (DataDirBusy while a run uses it), so nothing
    is written meanwhile. Raises DataDirError when there is no ledger."""
    layout = DataDir(data_dir)
    if not layout.exists():
        raise DataDirError(f"no ledger in {data_dir}: run the pipeline first (scrapeline run)")
    moment = time.time() if now is None else now
    cutoff = moment - older_than
    with DataDir(data_dir) as dd:
        responses = bodies = freed = 0
        if Archive.exists(dd.archive):
            with Archive(dd.archive) as archive:
                pruned = archive.prune(older_than, now=moment)
            responses, bodies, freed = pruned.entries, pruned.bodies, pruned.bytes
        ledger = SqliteLedger(dd.ledger)
        try:
            attempts = ledger.forget_attempts(cutoff)
        finally:
            ledger.close()
        logs = 0
        for path in sorted(dd.logs.glob("run-*.log")):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    logs += 1
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise DataDirError(f"cannot delete {path}: {exc.strerror or exc}") from exc
    return PruneReport(
        cutoff=cutoff,
        responses=responses,
        bodies=bodies,
        bytes_freed=freed,
        attempts=attempts,
        logs=logs,
    )
