"""``status`` and ``runs``: what a data dir holds and what its runs did, read through
the ledger's run-history port, read-only and without the lock (a run may be writing).

    info = status(pipe, Path("data/football"))
    info["stages"]["overview"]["done"], info["items"]["match"]
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from scrapeline.ledger.base import RunInfo
from scrapeline.observe.summary import host_rows, hosts_dict
from scrapeline.pipeline import Pipeline
from scrapeline.workspace.opened import Workspace


def status(pipeline: Pipeline, data_dir: Path) -> dict[str, Any]:
    """Per-stage task counts, items per kind, the records kept from an earlier run
    whose task is not done now (per table), and the last run. DataDirError in one
    line when there is no ledger."""
    with Workspace.read(data_dir, pipeline) as ws:
        last = ws.ledger.runs(1)
        return {
            "pipeline": pipeline.name,
            "data_dir": str(data_dir),
            "stages": ws.ledger.counts(),
            "items": ws.ledger.items_per_kind(),
            "kept": ws.ledger.kept_records(),
            "last_run": run_summary(last[0]) if last else None,
        }


def runs(pipeline: Pipeline, data_dir: Path, limit: int = 20) -> list[dict[str, Any]]:
    """The most recent runs, newest first."""
    with Workspace.read(data_dir, pipeline) as ws:
        return [run_summary(r) for r in ws.ledger.runs(limit)]


def run_summary(run: RunInfo) -> dict[str, Any]:
    """One run as ``runs`` and ``status`` show it, times in local ISO form; ``hosts``
    is what it sent to each ``host:port`` (empty for a run that stored nothing)."""

    def iso(ts: float | None) -> str | None:
        return None if ts is None else datetime.fromtimestamp(ts).isoformat(timespec="seconds")

    alive = run.status == "running" and run.pid is not None and _alive(run.pid)
    return {
        "id": run.id,
        "started": iso(run.started_at),
        "ended": iso(run.ended_at),
        "status": "running" if alive else run.status.value,
        "pid": run.pid,
        "done": run.summary.get("done"),
        "failed": run.summary.get("failed"),
        "exit_code": run.summary.get("exit_code"),
        "reason": run.summary.get("reason"),
        "hosts": hosts_dict(host_rows(run.summary)),
    }


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
