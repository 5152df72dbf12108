"""A run's start and end look up by index, however large the ledger and whatever its
statistics say: the refresh of the items dated (or first seen) within a window, and
the summary's failed tasks and their categories.

The statistics are the worst a ledger gets: taken (ANALYZE, which ``PRAGMA optimize``
runs on close) when every task was done, so they say a status matches every task and
the planner would rather scan the whole table than seek a status it takes for common.
A scan costs a daily run tens of milliseconds on a 100,000-item ledger, a second on
ten million: the statements are checked here by their query plans."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from scrapeline.ledger.base import NewItem
from scrapeline.ledger.sqlite import SqliteLedger
from tests.contract.test_ledger_contract import claim_all, done, football_graph

DATED, UNDATED = 300, 100


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SqliteLedger]:
    """Matches, dated and undated, every task done, then analysed."""
    ledger = SqliteLedger(tmp_path / "ledger.db")
    ledger.prepare(football_graph())
    run = ledger.begin_run("contract", {}, now=1000.0, pid=1)
    items = [NewItem(kind="match", key=k, date=f"2020-01-{k % 28 + 1:02d}") for k in range(DATED)]
    items += [NewItem(kind="match", key=DATED + k) for k in range(UNDATED)]
    ledger.add_items(items, run)
    while tasks := claim_all(ledger):
        ledger.complete([done(t) for t in tasks], run, now=1001.0)
    ledger.db.execute("ANALYZE")
    yield ledger
    ledger.close()


def statements(ledger: SqliteLedger, call: object) -> list[str]:
    """The SQL ``call()`` ran on the ledger's connection, parameters filled in."""
    seen: list[str] = []
    ledger.db.set_trace_callback(seen.append)
    try:
        call()  # type: ignore[operator]
    finally:
        ledger.db.set_trace_callback(None)
    return [s for s in seen if s.lstrip().upper().startswith(("SELECT", "UPDATE"))]


PARTIAL = ("tasks_failed", "tasks_running", "items_dated", "items_undated")
"""Indexes of only the rows a statement asks for: reading one whole is no scan."""


def plan(db: sqlite3.Connection, sql: str) -> list[str]:
    return [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql)]


def scans(db: sqlite3.Connection, sql: str) -> list[str]:
    """The full scans of ``tasks`` or ``items`` in the plan of ``sql``."""
    steps = plan(db, sql)
    return [
        s
        for s in steps
        if s.split()[:2] in (["SCAN", "tasks"], ["SCAN", "t"], ["SCAN", "items"], ["SCAN", "i"])
        and not any(index in s for index in PARTIAL)
    ]


def test_the_statistics_are_the_worst_case(ledger: SqliteLedger) -> None:
    (stat,) = ledger.db.execute(
        "SELECT stat FROM sqlite_stat1 WHERE idx='tasks_status_stage'"
    ).fetchone()
    total, per_status = map(int, stat.split()[:2])
    assert per_status == total  # "a status matches every task"


def test_a_refresh_seeks_the_items_in_its_window(ledger: SqliteLedger) -> None:
    def refresh() -> None:
        ledger.refresh("overview", dated_from="2020-01-20", seen_since=999.0)

    ran = statements(ledger, refresh)
    updates = [s for s in ran if s.lstrip().startswith("UPDATE tasks") and "FROM items" in s]
    assert updates, ran
    # run on the ledger as the refresh left it: the plan is the same either way
    for sql in updates:
        steps = plan(ledger.db, sql)
        assert scans(ledger.db, sql) == [], sql
        # not every item of the kind read (the key index, by kind alone) but those in
        # the window: by date, or undated by the run that first saw them
        assert any("items_dated (kind=? AND date>?)" in s for s in steps), steps
        assert any("items_undated (kind=? AND first_run=?)" in s for s in steps), steps


def test_the_refresh_finds_both_dated_and_undated_items(ledger: SqliteLedger) -> None:
    # the indexes serve the statement; they must not change what it selects
    dated = sum(1 for k in range(DATED) if k % 28 + 1 >= 20)
    count = ledger.refresh("overview", dated_from="2020-01-20", seen_since=999.0)
    assert count == dated + UNDATED


def test_the_summary_seeks_the_failed_tasks(ledger: SqliteLedger) -> None:
    run = ledger.begin_run("contract", {}, now=2000.0, pid=1)
    ran = statements(ledger, lambda: ledger.report(run))
    failed = [s for s in ran if "failed" in s]
    assert len(failed) >= 2, ran  # the categories and the listed failures
    for sql in failed:
        assert scans(ledger.db, sql) == [], sql
