"""An item found again is merged, never clobbered, on every backend: the merge rules,
the changes recorded per run, counted and logged; and values a stage hands on to the
later stages of its item."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scrapeline.ledger.base import Completion, Failure, ItemChange, Ledger, NewItem, Task
from scrapeline.ledger.schema import MIGRATIONS
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.model import Graph
from tests.contract.test_ledger_contract import BACKENDS, by_stage, claim_all, open_ledger


@pytest.fixture(params=BACKENDS)
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    backend = open_ledger(request.param, tmp_path)
    yield backend
    backend.close()


def match(key: int = 1, date: str | None = None, **data: Any) -> NewItem:
    return NewItem(kind="match", key=key, data=data, date=date)


def overview_of(ledger: Ledger, key: int = 1) -> Task:
    """The match's overview task, claimed: what the stage would receive."""
    return next(t for t in by_stage(claim_all(ledger), "overview") if t.key == key)


# (stored data, stored date, data found again, date found again) →
# (data after, date after, changes as (field, old, new))
MERGES: list[tuple[str, dict[str, Any], str | None, dict[str, Any], str | None, Any]] = [
    ("a new key is added", {"a": 1}, None, {"b": 2}, None, ({"a": 1, "b": 2}, None, [])),
    (
        "a changed key takes the new value",
        {"score": "1-0", "home": "Arsenal"},
        None,
        {"score": "2-1"},
        None,
        ({"score": "2-1", "home": "Arsenal"}, None, [("score", "1-0", "2-1")]),
    ),
    ("None never erases a value", {"score": "1-0"}, None, {"score": None}, None, ...),
    ("identical data change nothing", {"score": "1-0", "n": 3}, None, {"n": 3}, None, ...),
    ("no data change nothing", {"score": "1-0"}, None, {}, None, ...),
    (
        "a known None is filled in, not changed",
        {"score": None},
        None,
        {"score": "1-0"},
        None,
        ({"score": "1-0"}, None, []),
    ),
    (
        "values compare as JSON: 1 and '1' differ",
        {"round": 1},
        None,
        {"round": "1"},
        None,
        ({"round": "1"}, None, [("round", 1, "1")]),
    ),
    (
        "a nested object is one value",
        {"teams": {"home": "A", "away": "B"}},
        None,
        {"teams": {"away": "B", "home": "C"}},
        None,
        (
            {"teams": {"away": "B", "home": "C"}},
            None,
            [("teams", {"home": "A", "away": "B"}, {"away": "B", "home": "C"})],
        ),
    ),
    (
        "key order inside an object is no change",
        {"teams": {"home": "A", "away": "B"}},
        None,
        {"teams": {"away": "B", "home": "A"}},
        None,
        ...,
    ),
    (
        "a date given replaces the old one",
        {"a": 1},
        "2024-05-01",
        {},
        "2024-05-02",
        ({"a": 1}, "2024-05-02", []),
    ),
    ("a missing date keeps the old one", {"a": 1}, "2024-05-01", {"a": 1}, None, ...),
]


@pytest.mark.parametrize(
    ("old", "old_date", "again", "again_date", "expected"),
    [m[1:] for m in MERGES],
    ids=[m[0] for m in MERGES],
)
def test_an_item_found_again_is_merged(
    ledger: Ledger,
    old: dict[str, Any],
    old_date: str | None,
    again: dict[str, Any],
    again_date: str | None,
    expected: Any,
) -> None:
    if expected is ...:  # nothing changes
        expected = (old, old_date, [])
    data, date, changed = expected
    first = ledger.begin_run("p", {}, 0.0, 1)
    assert ledger.add_items([match(date=old_date, **old)], first) == 1
    second = ledger.begin_run("p", {}, 10.0, 1)
    assert ledger.add_items([match(date=again_date, **again)], second) == 0
    task = overview_of(ledger)
    assert (dict(task.data), task.date) == (data, date)
    assert ledger.changes(second) == [
        ItemChange(run_id=second, kind="match", key=1, field=f, old=o, new=n) for f, o, n in changed
    ]
    assert ledger.report(second).items_changed == len(changed)
    assert ledger.changes(first) == [] and ledger.report(first).items_changed == 0


def test_an_item_twice_in_one_batch_is_merged_in_order(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    found = [match(score="1-0", home="Arsenal"), match(score="2-1", away="Chelsea")]
    assert ledger.add_items(found, run) == 1
    assert dict(overview_of(ledger).data) == {"score": "2-1", "home": "Arsenal", "away": "Chelsea"}
    assert [(c.field, c.old, c.new) for c in ledger.changes(run)] == [("score", "1-0", "2-1")]


def test_changes_are_kept_per_run_in_order(ledger: Ledger) -> None:
    first = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items([match(1, score="0-0"), match(2, score="0-0")], first)
    second = ledger.begin_run("p", {}, 10.0, 1)
    ledger.add_items([match(2, score="1-0"), match(1, score="0-1")], second)
    third = ledger.begin_run("p", {}, 20.0, 1)
    ledger.add_items([match(2, score="2-0")], third)
    assert [(c.key, c.old, c.new) for c in ledger.changes(second)] == [
        (2, "0-0", "1-0"),
        (1, "0-0", "0-1"),
    ]
    assert ledger.changes(third) == [
        ItemChange(run_id=third, kind="match", key=2, field="score", old="1-0", new="2-0")
    ]
    assert [ledger.report(r).items_changed for r in (first, second, third)] == [0, 2, 1]


def test_a_child_emitted_again_is_merged_and_its_changes_are_the_completing_run(
    ledger: Ledger,
) -> None:
    first = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items([match(1)], first)
    # found by a listing first, with no parent
    ledger.add_items([NewItem(kind="half", key="1-1", data={"half": 1, "score": "0-0"})], first)
    second = ledger.begin_run("p", {}, 10.0, 1)
    overview = overview_of(ledger)
    child = NewItem(kind="half", key="1-1", data={"score": "1-0", "shots": 4})
    assert ledger.complete([Completion(task=overview, owner="w1", children=[child])], second, 1.0)
    assert ledger.changes(second) == [
        ItemChange(run_id=second, kind="half", key="1-1", field="score", old="0-0", new="1-0")
    ]
    # the emitting match became its parent: its half_stats (after overview) is ready
    (half,) = by_stage(claim_all(ledger), "half_stats")
    assert half.parent == ("match", 1)
    assert dict(half.data) == {"half": 1, "score": "1-0", "shots": 4}


def test_a_parent_once_set_is_kept(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items([match(1), match(2)], run)
    for task in by_stage(claim_all(ledger), "overview"):
        assert ledger.complete([Completion(task=task, owner="w1")], run, 1.0) == [True]
    ledger.add_items([NewItem(kind="half", key="h", parent=("match", 1))], run)
    ledger.add_items([NewItem(kind="half", key="h", parent=("match", 2))], run)
    (half,) = by_stage(claim_all(ledger), "half_stats")
    assert half.parent == ("match", 1)


def test_each_change_is_logged_once_and_a_big_batch_in_one_more_line(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    first = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items([match(k, rank=k) for k in range(1, 10)], first)
    second = ledger.begin_run("p", {}, 10.0, 1)
    with caplog.at_level(logging.INFO, logger="scrapeline.ledger"):
        ledger.add_items([match(1, rank=1, score="1-0")], second)  # no change: silent
        assert caplog.messages == []
        ledger.add_items([match(1, score="2-1")], second)
        ledger.add_items([match(k, rank=k + 100) for k in range(1, 10)], second)
    assert caplog.messages[:2] == [
        f'item match 1: score changed from "1-0" to "2-1" (run {second})',
        f"item match 1: rank changed from 1 to 101 (run {second})",
    ]
    # nine changes in one batch: five lines, then the rest counted in one
    assert len(caplog.messages) == 1 + 5 + 1
    assert caplog.messages[-1] == f"… and 4 more item value changes (run {second})"
    assert all(r.name == "scrapeline.ledger" and r.levelno == logging.INFO for r in caplog.records)
    assert ledger.report(second).items_changed == 10


# -- values handed on to the later stages of an item --------------------------------


def test_values_handed_on_reach_the_later_stages_of_the_item(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items([match(1, score="1-0"), match(2)], run)
    tasks = claim_all(ledger)
    overview = next(t for t in by_stage(tasks, "overview") if t.key == 1)
    lineups = next(t for t in by_stage(tasks, "lineups") if t.key == 1)
    handed = {"economy_url": "/matches/1/economy", "maps": [1, 2]}
    assert ledger.complete([Completion(task=overview, owner="w1", handed=handed)], run, 1.0) == [
        True
    ]
    assert ledger.complete([Completion(task=lineups, owner="w1")], run, 1.0) == [True]
    (report,) = by_stage(claim_all(ledger), "report")  # after overview and lineups
    assert report.key == 1
    assert dict(report.data) == {"score": "1-0", **handed}
    # the pipeline's own values: no change of the item
    assert ledger.changes(run) == [] and ledger.report(run).items_changed == 0


def test_values_handed_on_by_two_stages_of_one_batch_are_all_kept(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items([match(1, url="/m/1")], run)
    tasks = claim_all(ledger)
    batch = [
        Completion(task=by_stage(tasks, "overview")[0], owner="w1", handed={"a": 1, "url": None}),
        Completion(task=by_stage(tasks, "lineups")[0], owner="w1", handed={"a": 2, "b": 3}),
    ]
    assert ledger.complete(batch, run, 1.0) == [True, True]
    (report,) = by_stage(claim_all(ledger), "report")
    assert dict(report.data) == {"url": "/m/1", "a": 2, "b": 3}


def test_a_failed_or_refused_completion_hands_on_nothing(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items([match(1, score="1-0")], run)
    overview = by_stage(claim_all(ledger, now=0.0), "overview")[0]
    # a completion whose lease is another's writes nothing
    stolen = Completion(task=overview, owner="w2", handed={"economy_url": "/x"})
    assert ledger.complete([stolen], run, 1.0) == [False]
    failure = Failure(task=overview, owner="w1", category="parse", message="no table")
    assert ledger.fail([failure], run, 1.0) == [True]
    ledger.reset_failed()
    again = by_stage(claim_all(ledger, now=2.0), "overview")[0]
    assert dict(again.data) == {"score": "1-0"}


def test_an_old_read_only_ledger_reports_no_changes(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:8], start=1):
        db.executescript(script)
        db.execute(f"PRAGMA user_version={number}")
    db.execute("INSERT INTO runs(pipeline, started_at, status) VALUES ('p', 0, 'done')")
    db.close()
    ledger = SqliteLedger(path, read_only=True)
    try:
        ledger.use_graph(Graph(stages={}))
        assert ledger.report(1).items_changed == 0
        assert ledger.changes(1) == []
    finally:
        ledger.close()
