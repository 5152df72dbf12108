"""The heartbeat: ``DATA_DIR/state/last_success.json``, written after every run that
ended ``done``, so that a monitor outside scrapeline can tell how fresh the data are
with one file read::

    {"finished_at": "2024-05-01T06:12:09+00:00", "finished_at_unix": 1714543929.2,
     "run_id": 12, "pipeline": "football", "command": "run",
     "counts": {"done": 412, "records": 380,
                "stages": {"overview": {"done": 400, "failed": 0, "records": 380}}}}

It is written whole or not at all (a temporary file beside it, then ``os.replace``),
and owner-only (0600, in a 0700 directory), like everything in a data dir. Only a
run that ended ``done`` writes it: a run with failed items, halted or interrupted
leaves the last success as it was, so its age keeps growing.

    last = read_last_success(Path("data/football"))
    fresh = freshness(last, now=time.time(), max_age=26 * 3600)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from scrapeline.errors import DataDirError
from scrapeline.ledger.base import RunInfo
from scrapeline.workspace.history import utc

STATE_DIR = "state"
LAST_SUCCESS = "last_success.json"


def last_success_path(data_dir: Path) -> Path:
    return data_dir / STATE_DIR / LAST_SUCCESS


@dataclass(frozen=True, kw_only=True)
class LastSuccess:
    """What the heartbeat file says: when the last run that ended done finished."""

    finished_at: float
    """Unix time."""
    run_id: int
    pipeline: str = ""
    command: str | None = None
    counts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Freshness:
    """How old the last success is, and whether that is older than allowed."""

    age: float
    """Seconds since it finished (0 for a clock that went back)."""
    stale: bool


def freshness(last: LastSuccess, *, now: float, max_age: float | None) -> Freshness:
    """The age of ``last`` at ``now``; stale when older than ``max_age`` seconds
    (never, without one). Pure.

    >>> last = LastSuccess(finished_at=1000.0, run_id=3)
    >>> freshness(last, now=1000.0 + 27 * 3600, max_age=26 * 3600)
    Freshness(age=97200.0, stale=True)
    >>> freshness(last, now=1500.0, max_age=None).stale
    False
    """
    age = max(0.0, now - last.finished_at)
    return Freshness(age=age, stale=max_age is not None and age > max_age)


def write_last_success(data_dir: Path, run: RunInfo) -> Path:
    """Write the heartbeat of ``run`` (ended, noted by ``history.record_end``)
    atomically and owner-only; returns its path. DataDirError when it cannot be
    written (the old file, if any, is then left whole)."""
    summary = run.summary
    stages = summary.get("stages", {})
    body = {
        "finished_at": utc(run.ended_at),
        "finished_at_unix": run.ended_at,
        "run_id": run.id,
        "pipeline": run.pipeline,
        "command": run.options.get("invocation", {}).get("command"),
        "counts": {
            "done": summary.get("done", 0),
            "records": sum(s.get("records", 0) for s in stages.values()),
            "stages": stages,
        },
    }
    path = last_success_path(data_dir)
    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".last_success-", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise DataDirError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o600)
            out.write(orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise DataDirError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def read_last_success(data_dir: Path) -> LastSuccess | None:
    """The heartbeat in ``data_dir``, or None when no run has ended done there.
    DataDirError in one line for a file that is not a heartbeat."""
    path = last_success_path(data_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DataDirError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        body = orjson.loads(raw)
        return LastSuccess(
            finished_at=float(body["finished_at_unix"]),
            run_id=int(body["run_id"]),
            pipeline=str(body.get("pipeline", "")),
            command=body.get("command"),
            counts=body.get("counts") or {},
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DataDirError(f"{path} is not a heartbeat scrapeline wrote: {exc}") from exc
