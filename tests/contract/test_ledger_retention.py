"""Retention of the run history, every backend: runs beyond a kept number go with their
attempts and item changes, never the running run nor the last successful one; what
would go is counted first without writing; the SQLite file gives the space back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from scrapeline.ledger.base import Completion, Ledger, NewItem, RecordRow, RunStatus
from scrapeline.ledger.sqlite import SqliteLedger

from .test_ledger_contract import BACKENDS, by_stage, claim_all, open_ledger


@pytest.fixture(params=BACKENDS)
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    backend = open_ledger(request.param, tmp_path)
    yield backend
    backend.close()


def a_run(
    ledger: Ledger,
    at: float,
    status: RunStatus,
    keys: range,
    *,
    command: str | None = None,
) -> int:
    """A run at ``at`` that finds ``keys`` (their data changed since a run before) and
    settles their overview, ending at ``at + 1`` with ``status``."""
    run = ledger.begin_run("p", {"command": command} if command else {}, at, 1)
    ledger.add_items([NewItem(kind="match", key=k, data={"seen": at}) for k in keys], run)
    tasks = [t for t in by_stage(claim_all(ledger, now=at), "overview") if t.key in keys]
    record = RecordRow(table="matches", pk="", json='{"match_id": 0}')
    ledger.complete(
        [Completion(task=t, owner="w1", records=[record], duration=0.5) for t in tasks], run, at
    )
    ledger.end_run(run, status, at + 1, {})
    return run


def history(ledger: Ledger) -> list[int]:
    return sorted(r.id for r in ledger.runs(limit=1000))


def test_runs_beyond_the_kept_number_go_with_their_attempts_and_changes(ledger: Ledger) -> None:
    first = a_run(ledger, 10.0, RunStatus.DONE, range(1, 4))
    second = a_run(ledger, 20.0, RunStatus.FAILED, range(1, 4))  # changes 1-3 again
    third = a_run(ledger, 30.0, RunStatus.DONE, range(4, 6))
    fourth = a_run(ledger, 40.0, RunStatus.HALTED, range(6, 8))
    assert ledger.changes(second)
    counts = ledger.counts()
    preview = ledger.forgettable(100.0, 2)
    assert (preview.attempts, preview.runs, preview.changes) == (
        sum(sum(ledger.report(r).done_this_run.values()) for r in (first, second, third, fourth)),
        2,
        len(ledger.changes(second)),
    )
    assert history(ledger) == [first, second, third, fourth]  # counting wrote nothing
    assert ledger.forget_runs(100.0, 2) == 2
    assert history(ledger) == [third, fourth]
    assert ledger.changes(second) == []
    assert ledger.counts() == counts  # the work state and the records are untouched
    assert ledger.known("match", list(range(1, 8))) == set(range(1, 8))
    assert len(list(ledger.records("matches"))) == 1
    assert ledger.forget_runs(100.0, 2) == 0  # idempotent


def test_the_last_successful_run_and_a_running_run_are_never_forgotten(ledger: Ledger) -> None:
    done = a_run(ledger, 10.0, RunStatus.DONE, range(1, 2))
    failed = [a_run(ledger, 20.0 + i, RunStatus.FAILED, range(2, 3)) for i in range(3)]
    prune = a_run(ledger, 30.0, RunStatus.DONE, range(3, 3), command="prune")
    running = ledger.begin_run("p", {"command": "prune"}, 40.0, 2)
    assert ledger.forgettable(100.0, 0).runs == 4
    assert ledger.forget_runs(100.0, 0) == 4  # the failed ones and the older prune
    assert history(ledger) == [done, running]
    assert failed and prune not in history(ledger)


def test_only_runs_ended_before_the_cut_off_go(ledger: Ledger) -> None:
    runs = [a_run(ledger, 10.0 * i, RunStatus.FAILED, range(i, i + 1)) for i in range(1, 5)]
    assert ledger.forget_runs(25.0, 0) == 2  # ended at 11 and 21
    assert history(ledger) == runs[2:]


def test_a_kept_number_above_the_history_keeps_everything(ledger: Ledger) -> None:
    for i in range(3):
        a_run(ledger, 10.0 * i, RunStatus.FAILED, range(i, i + 1))
    assert ledger.forgettable(100.0, 3).runs == 0
    assert ledger.forget_runs(100.0, 3) == 0 and len(history(ledger)) == 3


def test_the_sqlite_file_shrinks_when_its_space_is_reclaimed(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = open_ledger("sqlite", tmp_path)
    try:
        for i in range(40):
            a_run(ledger, 10.0 * i, RunStatus.FAILED, range(i * 50, i * 50 + 50))
        ledger.reclaim_space()  # a fresh ledger is rebuilt into a mode that can shrink
        full = os.stat(path).st_size
        preview = ledger.forgettable(1000.0, 5)
        assert preview.runs == 35 and preview.bytes > 0
        ledger.forget_attempts(1000.0)
        ledger.forget_runs(1000.0, 5)
        ledger.reclaim_space()
        shrunk = os.stat(path).st_size
        assert os.stat(f"{path}-wal").st_size == 0  # checkpointed: nothing waits in the WAL
        assert shrunk < full
        # the estimate is of the right size: within a factor of two of what went
        assert (full - shrunk) / 2 <= preview.bytes <= (full - shrunk) * 2
        assert len(ledger.runs(limit=1000)) == 5
    finally:
        ledger.close()


def test_a_read_only_ledger_counts_what_would_go(tmp_path: Path) -> None:
    writer = open_ledger("sqlite", tmp_path)
    for i in range(3):
        a_run(writer, 10.0 * i, RunStatus.FAILED, range(i, i + 1))
    writer.close()
    size = os.stat(tmp_path / "ledger.db").st_size
    reader = SqliteLedger(tmp_path / "ledger.db", read_only=True)
    try:
        assert reader.forgettable(100.0, 1).runs == 2
    finally:
        reader.close()
    assert os.stat(tmp_path / "ledger.db").st_size == size
