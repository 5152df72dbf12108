"""``status`` and ``runs``: what a data dir holds and what its runs did, read through
the ledger's run-history port, without the lock (a run may be writing).

    info = status(pipe, Path("data/football"))
    info["stages"]["overview"]["done"], info["items"]["match"]
    recent = runs(pipe, Path("data/football"), limit=20)     # newest first
    one = show(pipe, Path("data/football"), 12)              # with its failed items

Each run reads as: id, command and arguments (secrets masked), profile, host,
version, started and ended in UTC (``2024-05-01T06:00:00+00:00``), status, the stages
asked for, the stage that failed, counts per stage, and what was sent to each host.

A run the ledger says is running whose process is gone (its pid is not alive on
this host) reads as ``crashed`` here, whoever reads; the reader writes that back to
the ledger when it may write the file, so every later reader agrees without asking.
That one update is all a read writes.

The counts per stage are noted in the run's summary as it ends
(:func:`record_end`), so they outlive ``prune``; a run that never ended has them
read from its attempts. Everything is read by index over the runs shown: the
newest runs by id, their attempts by run.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from scrapeline.errors import ConfigError, LedgerError
from scrapeline.ledger.base import Ledger, RunInfo, RunStatus, RunTally, StageTally
from scrapeline.observe.summary import host_rows, hosts_dict
from scrapeline.pipeline import Pipeline
from scrapeline.workspace.opened import Workspace

FAILURES_SHOWN = 1000
"""Failed items ``runs show`` lists at most."""


def status(pipeline: Pipeline, data_dir: Path) -> dict[str, Any]:
    """Per-stage task counts, items per kind, the records kept from an earlier run
    whose task is not done now (per table), the records in quarantine (per table),
    and the last run. DataDirError in one
    line when there is no ledger."""
    with Workspace.read(data_dir, pipeline) as ws:
        last = settle_crashed(ws, ws.ledger.runs(1))
        return {
            "pipeline": pipeline.name,
            "data_dir": str(data_dir),
            "stages": ws.ledger.counts(),
            "items": ws.ledger.items_per_kind(),
            "kept": ws.ledger.kept_records(),
            "quarantined": ws.ledger.quarantined(),
            "last_run": _summaries(ws.ledger, last)[0] if last else None,
        }


QUARANTINE_LISTED = 1000
"""Quarantined records ``quarantine`` lists at most."""


def quarantine(
    pipeline: Pipeline, data_dir: Path, table: str | None = None, limit: int = QUARANTINE_LISTED
) -> dict[str, Any]:
    """The records in quarantine (of ``table``, when given), oldest first: each with
    its table, key, item, stage, run, rules, reason and the record as the stage gave
    it; and how many each table holds. ConfigError for a table the pipeline does not
    declare; DataDirError in one line when there is no ledger."""
    if table is not None and table not in pipeline.tables:
        declared = ", ".join(pipeline.tables) or "none"
        raise ConfigError(f"--table {table!r}: no such table in {pipeline.name} ({declared})")
    with Workspace.read(data_dir, pipeline) as ws:
        entries = ws.ledger.quarantine(table, limit)
        counts = ws.ledger.quarantined()
    return {
        "pipeline": pipeline.name,
        "data_dir": str(data_dir),
        "counts": counts if table is None else {t: n for t, n in counts.items() if t == table},
        "records": [
            {
                "table": e.table,
                "key": None if e.pk is None else _json_or_text(e.pk),
                "kind": e.kind,
                "item": e.key,
                "stage": e.stage,
                "run": e.run_id,
                "rules": list(e.rules),
                "reason": e.reason,
                "record": _json_or_text(e.record),
                "at": utc(e.at),
            }
            for e in entries
        ],
    }


def _json_or_text(text: str) -> Any:
    """Stored JSON read back; the text itself should redaction have cut through it."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def runs(pipeline: Pipeline, data_dir: Path, limit: int = 20) -> list[dict[str, Any]]:
    """The most recent ``limit`` runs, newest first (see the module doc)."""
    with Workspace.read(data_dir, pipeline) as ws:
        return _summaries(ws.ledger, settle_crashed(ws, ws.ledger.runs(limit)))


def show(pipeline: Pipeline, data_dir: Path, run_id: int) -> dict[str, Any]:
    """One run as :func:`runs` has it, with the items it failed (stage, kind, key,
    its category, the task's message while it is still failed, and its status now;
    at most :data:`FAILURES_SHOWN`) and its failures by category. ConfigError for a
    run the ledger does not have."""
    with Workspace.read(data_dir, pipeline) as ws:
        found = ws.ledger.run(run_id)
        if found is None:
            raise ConfigError(
                f"no run {run_id} in {data_dir}: `scrapeline runs` lists the runs it has"
            )
        (run,) = settle_crashed(ws, [found])
        (summary,) = _summaries(ws.ledger, [run])
        failures = [
            {
                "stage": f.stage,
                "kind": f.kind,
                "key": f.key,
                "category": f.category,
                "status": f.status.value,
                "message": f.message,
            }
            for f in ws.ledger.run_failures(run_id, FAILURES_SHOWN)
        ]
        return {**summary, "failures": failures}


def record_end(ledger: Ledger, run_id: int) -> RunInfo:
    """Note in the run's summary what it did per stage (``stages``: done, failed,
    records), its failures by category and the stage that failed, read from its
    attempts: what ``runs`` shows once ``prune`` has forgotten them. Returns the run
    as it is now. Called once the run has ended."""
    info = ledger.run(run_id)
    if info is None:
        raise LedgerError(f"no run {run_id} to note the end of")
    tally = ledger.tallies([run_id]).get(run_id)
    ledger.note_run(run_id, end_note(info.status, tally))
    noted = ledger.run(run_id)
    if noted is None:
        raise LedgerError(f"run {run_id} went while its end was noted")
    return noted


def end_note(status: RunStatus, tally: RunTally | None) -> dict[str, Any]:
    """What :func:`record_end` adds to a run's summary, from its tally.

    >>> from scrapeline.ledger.base import StageTally
    >>> t = RunTally(run_id=1, stages={"overview": StageTally(done=9, failed=1, records=9,
    ...     categories={"parse": 1})}, last_failed_stage="overview")
    >>> end_note(RunStatus.FAILED, t)["failed_stage"]
    'overview'
    """
    stages = dict(tally.stages) if tally else {}
    categories: dict[str, int] = {}
    for counts in stages.values():
        for name, n in counts.categories.items():
            categories[name] = categories.get(name, 0) + n
    return {
        "stages": {stage: _stage_counts(t) for stage, t in stages.items()},
        "categories": dict(sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))),
        "failed_stage": failed_stage(
            status,
            {stage: t.failed for stage, t in stages.items()},
            tally.last_failed_stage if tally else None,
        ),
    }


def failed_stage(
    status: RunStatus, failed: Mapping[str, int], last_failed: str | None
) -> str | None:
    """The stage a run failed in: for a halted run, the stage of its last failure
    (the one that halted it); otherwise the stage with the most failed items (the
    first of them on a tie); None when nothing failed. Pure.

    >>> failed_stage(RunStatus.FAILED, {"overview": 2, "half_stats": 5}, "overview")
    'half_stats'
    >>> failed_stage(RunStatus.HALTED, {"overview": 2, "half_stats": 5}, "overview")
    'overview'
    >>> failed_stage(RunStatus.DONE, {"overview": 0}, None) is None
    True
    """
    if not any(failed.values()):
        return None
    if status is RunStatus.HALTED and last_failed is not None:
        return last_failed
    most = max(failed.values())
    return next(stage for stage, n in failed.items() if n == most)


def gone(run: RunInfo, *, host: str, alive: Callable[[int], bool]) -> bool:
    """Whether a run the ledger says is running has lost its process: it ran on
    ``host`` (a run recorded without a host counts as this one's) and its pid is not
    ``alive`` there. A run on another host cannot be told from here: not gone. Pure.

    >>> from scrapeline.ledger.base import RunInfo
    >>> r = RunInfo(id=1, pipeline="p", started_at=0.0, ended_at=None,
    ...     status=RunStatus.RUNNING, pid=41, options={"invocation": {"host": "a"}}, summary={})
    >>> gone(r, host="a", alive=lambda pid: False), gone(r, host="b", alive=lambda pid: False)
    (True, False)
    """
    if run.status is not RunStatus.RUNNING:
        return False
    recorded = _invocation(run).get("host") or host
    if recorded != host:
        return False
    return run.pid is None or not alive(run.pid)


def utc(ts: float | None) -> str | None:
    """A Unix time as ISO 8601 in UTC, with its offset.

    >>> utc(0.0)
    '1970-01-01T00:00:00+00:00'
    """
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def run_summary(run: RunInfo, tally: RunTally | None = None) -> dict[str, Any]:
    """One run as ``runs`` and ``status`` show it (see the module doc). Its counts
    per stage are those noted as it ended, else ``tally``'s (its attempts); ``hosts``
    is what it sent to each ``host:port`` (empty for a run that stored nothing)."""
    summary = run.summary
    call = _invocation(run)
    if "stages" in summary:
        counts = summary["stages"]
        categories = summary.get("categories", {})
        failing = summary.get("failed_stage")
    else:
        note = end_note(run.status, tally)
        counts, categories, failing = note["stages"], note["categories"], note["failed_stage"]
    return {
        "id": run.id,
        "command": call.get("command"),
        "args": call.get("args", []),
        "profile": call.get("profile"),
        "host": call.get("host"),
        "version": call.get("version"),
        "started": utc(run.started_at),
        "ended": utc(run.ended_at),
        "seconds": summary.get("wall")
        if summary.get("wall") is not None or run.ended_at is None
        else round(run.ended_at - run.started_at, 3),
        "status": run.status.value,
        "pid": run.pid,
        "stages_asked": call.get("stages", []),
        "failed_stage": failing,
        "done": summary.get("done"),
        "failed": summary.get("failed"),
        "exit_code": summary.get("exit_code"),
        "reason": summary.get("reason"),
        "stages": counts,
        "categories": categories,
        "hosts": hosts_dict(host_rows(summary)),
        "warnings": summary.get("warnings", {}),
        "quarantined": summary.get("quarantined", {}),
    }


def _summaries(ledger: Ledger, found: Sequence[RunInfo]) -> list[dict[str, Any]]:
    """Runs as :func:`run_summary` has them; the attempts are read (one query) only
    for the runs that never noted their counts."""
    unnoted = [r.id for r in found if "stages" not in r.summary]
    tallies = ledger.tallies(unnoted) if unnoted else {}
    return [run_summary(r, tallies.get(r.id)) for r in found]


def settle_crashed(ws: Workspace, found: Sequence[RunInfo]) -> list[RunInfo]:
    """``found`` with the runs whose process is gone marked crashed (and written back
    when the ledger may be written: see the module doc)."""
    host = socket.gethostname()
    dead = [r.id for r in found if gone(r, host=host, alive=_alive)]
    if not dead:
        return list(found)
    ws.mark_crashed(dead)
    return [replace(r, status=RunStatus.CRASHED) if r.id in dead else r for r in found]


def _invocation(run: RunInfo) -> Mapping[str, Any]:
    value = run.options.get("invocation")
    return value if isinstance(value, Mapping) else {}


def _stage_counts(tally: StageTally) -> dict[str, int]:
    return {"done": tally.done, "failed": tally.failed, "records": tally.records}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OSError:
        return False
    return True
