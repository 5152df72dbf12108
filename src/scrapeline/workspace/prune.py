"""``prune``: forget what a data dir holds that is older than a cut-off, and give the
space back to the file system.

    report = prune(Path("data/football"), 30 * 86400, pipeline="football")
    preview = prune(Path("data/football"), 30 * 86400, dry_run=True)
    report.bytes_freed   # what the files shrank by, measured on disk

What goes:

- archived responses fetched before the cut-off, and every body no remaining
  response refers to (orphans left by anything included);
- the attempts (per-task timings) of runs that ended before the cut-off;
- whole runs (their summaries, attempts and item changes) that ended before the
  cut-off and are beyond the newest ``keep_runs`` finished runs (100 by default,
  :data:`~scrapeline.ledger.base.KEEP_RUNS`). A run is kept when it is recent *or*
  among the last ``keep_runs``; never deleted: a run still running, and the last
  successful run (the newest done run that is not a prune);
- run log files last written before the cut-off.

Then the archive's and the ledger's files are vacuumed, so they really shrink:
:attr:`PruneReport.files` holds each one's size before and after (``os.stat``
of the database and its WAL, with nothing open).

What stays: the ledger's items, tasks and records. Items whose only archived
response is pruned can no longer be re-parsed without fetching. An item first
seen by a forgotten run and with no date no longer counts as recent for a
refresh window (keep the cut-off beyond the refresh windows).

A prune is recorded in the run history like a run (options ``{"command":
"prune", ...}``), so ``scrapeline runs`` lists it. ``dry_run`` writes nothing and
takes no lock: it counts what would go and estimates the bytes from what the
files hold (the bodies' compressed sizes, the history's share of its tables, the
pages unused now).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scrapeline.datadir import DataDir
from scrapeline.errors import DataDirError, LedgerError
from scrapeline.fetch.archive import DATABASE, Archive, Pruned, preview_prune
from scrapeline.ledger.base import KEEP_RUNS, Forgettable, Ledger, RunStatus
from scrapeline.workspace.invocation import Invocation
from scrapeline.workspace.opened import Workspace, missing_ledger

COMMAND = "prune"
"""The ``command`` a prune records in its run's options."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FileSpace:
    """One of the data dir's stores on disk, before and after a prune.

    ``after`` is measured by a prune and estimated by a dry run."""

    name: str
    """``archive.db``, ``ledger.db`` or ``logs``."""
    before: int
    after: int

    @property
    def freed(self) -> int:
        return max(self.before - self.after, 0)


@dataclass(frozen=True, kw_only=True)
class PruneReport:
    """What :func:`prune` removed (or, for a dry run, would remove)."""

    cutoff: float
    """Unix time: what is older went."""
    keep_runs: int
    responses: int
    """Archive entries forgotten."""
    bodies: int
    """Distinct bodies deleted."""
    body_bytes: int
    """Compressed bytes of those bodies."""
    attempts: int
    """Attempt rows of finished runs."""
    runs: int
    """Runs forgotten beyond the kept ones."""
    logs: int
    """Run log files."""
    files: tuple[FileSpace, ...] = ()
    """Each store's size before and after (after: an estimate for a dry run)."""
    dry_run: bool = False
    run_id: int | None = None
    """The prune's own run in the history (None for a dry run)."""

    @property
    def bytes_freed(self) -> int:
        """What the files shrank by: measured on disk, or estimated by a dry run."""
        return sum(f.freed for f in self.files)


def prune(
    data_dir: Path,
    older_than: float,
    *,
    keep_runs: int = KEEP_RUNS,
    pipeline: str | None = None,
    now: float | None = None,
    dry_run: bool = False,
    invocation: Invocation | None = None,
) -> PruneReport:
    """Remove what is older than ``older_than`` seconds before ``now``; see the module doc.

    Takes the data dir like a run does (DataDirBusy while a run uses it), so nothing
    is written meanwhile, and records itself as a run of ``pipeline`` (default: the
    pipeline of the newest run there). With ``dry_run``, says what would go and
    writes nothing: the ledger and the archive are opened read-only and the data dir
    is not taken (a run may hold it). Raises DataDirError when there is no ledger."""
    if not DataDir(data_dir).exists():
        raise missing_ledger(data_dir)
    moment = time.time() if now is None else now
    cutoff = moment - older_than
    keep_runs = max(keep_runs, 0)
    if dry_run:
        return _preview(data_dir, older_than, moment, keep_runs)
    layout = DataDir(data_dir)
    before = _sizes(layout)
    with Workspace.open(data_dir) as ws:
        call = invocation or Invocation.current(COMMAND)
        options = {
            "command": COMMAND,
            "older_than": older_than,
            "keep_runs": keep_runs,
            "invocation": call.record(),
        }
        run_id = ws.ledger.begin_run(
            pipeline or _last_pipeline(ws.ledger, data_dir), options, time.time(), os.getpid()
        )
        try:
            pruned = Pruned(entries=0, bodies=0, bytes=0)
            if Archive.exists(ws.dd.archive):
                with Archive(ws.dd.archive) as archive:
                    pruned = archive.prune(older_than, now=moment)
            attempts = ws.ledger.forget_attempts(cutoff)
            runs = ws.ledger.forget_runs(cutoff, keep_runs)
            logs = _old_logs(ws.dd, cutoff, delete=True)
            ws.ledger.reclaim_space()
            after = _sizes(layout)
            report = PruneReport(
                cutoff=cutoff,
                keep_runs=keep_runs,
                responses=pruned.entries,
                bodies=pruned.bodies,
                body_bytes=pruned.bytes,
                attempts=attempts,
                runs=runs,
                logs=logs,
                files=_spaces(before, after),
                run_id=run_id,
            )
            ws.ledger.end_run(run_id, RunStatus.DONE, time.time(), _summary(report))
        except BaseException as exc:
            _record_failure(ws.ledger, run_id, exc)
            raise
    return report


def _preview(data_dir: Path, older_than: float, now: float, keep_runs: int) -> PruneReport:
    layout = DataDir(data_dir)
    cutoff = now - older_than
    before = _sizes(layout)
    pruned = Pruned(entries=0, bodies=0, bytes=0)
    if Archive.exists(layout.archive):
        pruned = preview_prune(layout.archive, older_than, now=now)
    with Workspace.read(data_dir) as ws:
        history: Forgettable = ws.ledger.forgettable(cutoff, keep_runs)
    logs, log_bytes = _old_log_sizes(layout, cutoff)
    estimate = {
        DATABASE: pruned.bytes + pruned.unused,
        "ledger.db": history.bytes,
        "logs": log_bytes,
    }
    after = {name: max(size - estimate.get(name, 0), 0) for name, size in before.items()}
    return PruneReport(
        cutoff=cutoff,
        keep_runs=keep_runs,
        responses=pruned.entries,
        bodies=pruned.bodies,
        body_bytes=pruned.bytes,
        attempts=history.attempts,
        runs=history.runs,
        logs=logs,
        files=_spaces(before, after),
        dry_run=True,
    )


def _sizes(dd: DataDir) -> dict[str, int]:
    """Bytes on disk of the archive, the ledger (each database with its WAL) and the
    run logs; a store that is not there is left out."""
    sizes: dict[str, int] = {}
    for name, path in ((DATABASE, dd.archive / DATABASE), ("ledger.db", dd.ledger)):
        if path.is_file():
            sizes[name] = _bytes((path, path.with_name(path.name + "-wal")))
    if dd.logs.is_dir():
        sizes["logs"] = _bytes(dd.logs.glob("run-*.log"))
    return sizes


def _bytes(paths: Iterable[Path]) -> int:
    total = 0
    for path in paths:
        try:
            total += os.stat(path).st_size
        except FileNotFoundError:
            continue
    return total


def _spaces(before: Mapping[str, int], after: Mapping[str, int]) -> tuple[FileSpace, ...]:
    return tuple(
        FileSpace(name=name, before=size, after=after.get(name, 0)) for name, size in before.items()
    )


def _summary(report: PruneReport) -> dict[str, Any]:
    """What the prune's run stores with it: ``runs`` shows its exit code; the counts
    and the bytes freed per store are there for ``--json``."""
    return {
        "exit_code": 0,
        "reason": None,
        "pruned": {
            "responses": report.responses,
            "bodies": report.bodies,
            "attempts": report.attempts,
            "runs": report.runs,
            "logs": report.logs,
            "freed": {f.name: f.freed for f in report.files},
        },
    }


def _record_failure(ledger: Ledger, run_id: int, exc: BaseException) -> None:
    """End the prune's run as failed, with the error's first line as its reason; a
    ledger that cannot take even that (a full disk) leaves the run to be found crashed."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    summary = {"exit_code": getattr(exc, "exit_code", 1), "reason": reason}
    with contextlib.suppress(LedgerError):
        ledger.end_run(run_id, RunStatus.FAILED, time.time(), summary)


def _last_pipeline(ledger: Ledger, data_dir: Path) -> str:
    last = ledger.runs(1)
    return last[0].pipeline if last else data_dir.name


def _old_log_sizes(dd: DataDir, cutoff: float) -> tuple[int, int]:
    """How many run log files were last written before ``cutoff``, and their bytes."""
    if not dd.logs.is_dir():
        return 0, 0
    count = size = 0
    for path in sorted(dd.logs.glob("run-*.log")):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        if stat.st_mtime < cutoff:
            count += 1
            size += stat.st_size
    return count, size


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
