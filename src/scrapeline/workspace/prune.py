"""``prune``: forget what a data dir holds that is older than a cut-off.

    report = prune(Path("data/football"), 30 * 86400)
    preview = prune(Path("data/football"), 30 * 86400, dry_run=True)

What goes: archived responses fetched before the cut-off and the bodies no
remaining response refers to; the attempts (per-task timings) of runs that ended
before it; run log files last written before it. What stays: the ledger's items,
tasks and records, and each run's summary line (``scrapeline runs``). Items whose
only archived response is pruned can no longer be re-parsed without fetching.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from scrapeline.datadir import DataDir
from scrapeline.errors import DataDirError
from scrapeline.fetch.archive import Archive
from scrapeline.ledger.base import Ledger
from scrapeline.workspace.opened import Workspace, missing_ledger


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
    """Compressed bytes of those bodies (uncompressed bytes for a dry run)."""
    attempts: int
    """Attempt rows of finished runs."""
    logs: int
    """Run log files."""


def prune(
    data_dir: Path, older_than: float, *, now: float | None = None, dry_run: bool = False
) -> PruneReport:
    """Remove what is older than ``older_than`` seconds before ``now``; see the module doc.

    Takes the data dir like a run does (DataDirBusy while a run uses it), so nothing
    is written meanwhile. With ``dry_run``, says what would go and writes nothing:
    the ledger is opened read-only and the data dir is not taken (a run may hold
    it). Raises DataDirError when there is no ledger."""
    if not DataDir(data_dir).exists():
        raise missing_ledger(data_dir)
    moment = time.time() if now is None else now
    cutoff = moment - older_than
    if dry_run:
        return _preview(data_dir, cutoff)
    with Workspace.open(data_dir) as ws:
        responses = bodies = freed = 0
        if Archive.exists(ws.dd.archive):
            with Archive(ws.dd.archive) as archive:
                pruned = archive.prune(older_than, now=moment)
            responses, bodies, freed = pruned.entries, pruned.bodies, pruned.bytes
        attempts = ws.ledger.forget_attempts(cutoff)
        logs = _old_logs(ws.dd, cutoff, delete=True)
    return PruneReport(
        cutoff=cutoff,
        responses=responses,
        bodies=bodies,
        bytes_freed=freed,
        attempts=attempts,
        logs=logs,
    )


def _preview(data_dir: Path, cutoff: float) -> PruneReport:
    responses = bodies = freed = 0
    layout = DataDir(data_dir)
    if Archive.exists(layout.archive):
        with Archive(layout.archive) as archive:
            entries = archive.entries()
        kept = {e.sha256 for e in entries if e.fetched_at >= cutoff}
        gone = [e for e in entries if e.fetched_at < cutoff]
        sizes = {e.sha256: e.size for e in gone if e.sha256 not in kept}
        responses, bodies, freed = len(gone), len(sizes), sum(sizes.values())
    with Workspace.read(data_dir) as ws:
        attempts = _old_attempts(ws.ledger, cutoff)
    return PruneReport(
        cutoff=cutoff,
        responses=responses,
        bodies=bodies,
        bytes_freed=freed,
        attempts=attempts,
        logs=_old_logs(layout, cutoff, delete=False),
    )


def _old_attempts(ledger: Ledger, cutoff: float) -> int:
    """Attempts of the finished runs that ended before ``cutoff``: what forget_attempts takes."""
    attempts = 0
    for run in ledger.runs(limit=-1):  # every run
        if run.status != "running" and (run.ended_at or run.started_at) < cutoff:
            report = ledger.report(run.id)
            attempts += sum(report.done_this_run.values())
            attempts += sum(report.failed_this_run.values())
    return attempts


def _old_logs(dd: DataDir, cutoff: float, *, delete: bool) -> int:
    """Run log files last written before ``cutoff`` (deleted when ``delete``)."""
    if not dd.logs.is_dir():
        return 0
    logs = 0
    for path in sorted(dd.logs.glob("run-*.log")):
        try:
            if path.stat().st_mtime < cutoff:
                if delete:
                    path.unlink()
                logs += 1
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise DataDirError(f"cannot delete {path}: {exc.strerror or exc}") from exc
    return logs
