"""More of the ledger contract: limits, orders, counts and history a user sees.

Both backends run every test here, through the fixtures of the main contract suite.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from scrapeline.errors import LedgerError, PipelineError
from scrapeline.ledger.base import Failure, Ledger, NewItem, RecordRow, RunStatus, Status, Task
from scrapeline.ledger.memory import MemoryLedger
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.model import Graph
from scrapeline.pipeline import Pipeline
from tests.contract.test_ledger_contract import (
    BACKENDS,
    _listing,
    _noop,
    by_stage,
    claim_all,
    done,
    football_graph,
    matches,
    open_ledger,
    record,
    settle_all,
)


@pytest.fixture(params=BACKENDS)
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    backend = open_ledger(request.param, tmp_path)
    yield backend
    backend.close()


def fail(task, owner: str = "w1", category: str = "http", message: str = "HTTP 503") -> Failure:  # type: ignore[no-untyped-def]
    return Failure(task=task, owner=owner, category=category, message=message)


# -- claiming ----------------------------------------------------------------------


def test_claim_takes_stages_in_the_graphs_claim_order_oldest_first(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    # overview and lineups are of the same depth: declared order, overview first
    assert ledger.graph.claim_order[:3] == ("report", "overview", "lineups")  # type: ignore[attr-defined]
    first = ledger.claim("w1", 2, 0.0, lease=60.0)
    assert [(t.stage, t.key) for t in first] == [("overview", 1), ("overview", 2)]
    assert first[0].id < first[1].id
    rest = ledger.claim("w1", 1, 0.0, lease=60.0)
    assert [(t.stage, t.key) for t in rest] == [("lineups", 1)]
    assert ledger.claim("w1", 0, 0.0, lease=60.0) == []


def test_claimed_tasks_carry_their_item(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items([NewItem(kind="match", key=1, data={"a": [1]}, date="2024-05-01")], run)
    task = by_stage(claim_all(ledger), "overview")[0]
    assert (task.kind, task.key, task.date, task.parent) == ("match", 1, "2024-05-01", None)
    assert task.data == {"a": [1]}
    task.data["a"].append(2)  # type: ignore[index]
    ledger.release([task], "w1")
    again = by_stage(claim_all(ledger), "overview")[0]
    assert again.data == {"a": [1]}


def test_a_lease_ends_exactly_at_its_expiry_and_pending_comes_first(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    held = ledger.claim("w1", 2, 0.0, lease=5.0)
    assert {t.stage for t in held} == {"lineups", "overview"}
    assert ledger.claim("w2", 10, 4.999, lease=5.0) == []
    ledger.add_items(matches(2), run)
    # at t=5 both leases have ended; the new pending tasks are taken first
    got = ledger.claim("w2", 3, 5.0, lease=5.0)
    assert [(t.stage, t.key) for t in got] == [("overview", 2), ("lineups", 2), ("overview", 1)]
    assert [t.attempts for t in got if t.key == 1] == [2]
    rest = ledger.claim("w3", 3, 5.0, lease=5.0)
    assert [(t.stage, t.key, t.attempts) for t in rest] == [("lineups", 1, 2)]
    # the new lease runs from the time of the claim
    assert ledger.claim("w4", 10, 9.0, lease=5.0) == []
    assert len(ledger.claim("w4", 10, 10.0, lease=5.0)) == 4


def test_expired_leases_are_taken_in_stage_order_up_to_the_limit(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    claim_all(ledger)
    got = ledger.claim("w2", 3, 100.0, lease=5.0)
    assert [(t.stage, t.key) for t in got] == [("overview", 1), ("overview", 2), ("lineups", 1)]
    assert all(t.attempts == 2 for t in got)
    assert [(t.stage, t.key) for t in ledger.claim("w3", 3, 100.0, lease=5.0)] == [("lineups", 2)]


def test_claim_limited_to_stages_takes_expired_leases_of_those_stages_only(
    ledger: Ledger,
) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    claim_all(ledger)
    got = ledger.claim("w2", 10, 100.0, lease=5.0, stages=["overview"])
    assert [t.stage for t in got] == ["overview"]


# -- completing, failing, releasing --------------------------------------------------


def test_complete_is_refused_for_a_task_not_running_or_held_by_another(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    tasks = claim_all(ledger)
    overview, lineups = by_stage(tasks, "overview")[0], by_stage(tasks, "lineups")[0]
    assert ledger.complete([done(overview, owner="w2"), done(lineups)], run, 1.0) == [False, True]
    assert ledger.complete([done(lineups)], run, 1.0) == [False]  # done already
    assert ledger.counts()["overview"]["running"] == 1
    assert ledger.report(run).done_this_run == {"lineups": 1}


def test_fail_is_refused_for_a_task_not_running_or_held_by_another(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    tasks = claim_all(ledger)
    overview, lineups = by_stage(tasks, "overview")[0], by_stage(tasks, "lineups")[0]
    ledger.complete([done(lineups)], run, 1.0)
    assert ledger.fail([fail(overview, owner="w2"), fail(lineups)], run, 1.0) == [False, False]
    assert ledger.fail([fail(overview)], run, 1.0) == [True]
    assert ledger.fail([fail(overview)], run, 2.0) == [False]
    assert ledger.counts()["lineups"]["done"] == 1
    assert ledger.report(run).failed_this_run == {"overview": 1}


def test_a_task_given_twice_in_one_batch_is_completed_once(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    lineups = by_stage(claim_all(ledger), "lineups")[0]
    assert ledger.complete([done(lineups), done(lineups)], run, 1.0) == [True, False]
    assert ledger.report(run).done_this_run == {"lineups": 1}


def test_a_failure_sent_by_another_owner_is_refused_in_a_batch_with_the_holder(
    ledger: Ledger,
) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    overview = by_stage(claim_all(ledger), "overview")[0]
    assert ledger.fail([fail(overview, owner="w2"), fail(overview)], run, 1.0) == [False, True]
    assert ledger.report(run).failed_this_run == {"overview": 1}


def test_failures_report_category_message_and_attempts(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    a, b = by_stage(claim_all(ledger), "overview")
    ledger.fail([fail(a, category="parse", message="no h1")], run, 1.0)
    ledger.reset_failed()
    a = by_stage(claim_all(ledger, now=2.0), "overview")[0]
    ledger.fail(
        [
            Failure(task=a, owner="w1", category="parse", message="no h1", duration=0.25),
            Failure(task=b, owner="w1", category="http", message="HTTP 500", duration=0.5),
        ],
        run,
        3.0,
    )
    report = ledger.report(run)
    assert report.categories == {"parse": 1, "http": 1}
    failures = sorted(report.failures, key=lambda f: str(f.key))
    assert [(f.stage, f.kind, f.key, f.category, f.message, f.attempts) for f in failures] == [
        ("overview", "match", 1, "parse", "no h1", 2),
        ("overview", "match", 2, "http", "HTTP 500", 1),
    ]
    assert report.failed_this_run == {"overview": 3}
    assert report.done_this_run == {}
    assert sorted(report.durations["overview"]) == [0.0, 0.25, 0.5]


def test_reset_failed_clears_the_failure_and_keeps_dependents_waiting(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    tasks = claim_all(ledger)
    ledger.complete([done(t) for t in by_stage(tasks, "lineups")], run, 1.0)
    ledger.fail([fail(t) for t in by_stage(tasks, "overview")], run, 1.0)
    assert ledger.reset_failed() == 2
    assert ledger.reset_failed() == 0
    report = ledger.report(run)
    assert report.failures == [] and report.categories == {}
    counts = ledger.counts()
    assert counts["overview"]["pending"] == 2 and counts["overview"]["failed"] == 0
    assert counts["report"]["waiting"] == 2
    again = by_stage(claim_all(ledger, now=2.0), "overview")
    assert all(t.attempts == 2 for t in again)
    # a dependent that failed goes back to pending, its dependencies being done
    ledger.complete([done(t) for t in again], run, 3.0)
    reports = by_stage(claim_all(ledger, now=4.0), "report")
    ledger.fail([fail(t) for t in reports], run, 5.0)
    assert ledger.reset_failed() == 2
    assert ledger.counts()["report"]["pending"] == 2


def test_release_counts_and_refuses_what_it_does_not_hold(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    tasks = claim_all(ledger)
    overview, lineups = by_stage(tasks, "overview")[0], by_stage(tasks, "lineups")[0]
    ledger.complete([done(lineups)], run, 1.0)
    assert ledger.release([overview, lineups], "w1") == 1
    assert ledger.release([overview], "w1") == 0  # pending now
    assert ledger.counts()["overview"]["pending"] == 1
    assert ledger.counts()["lineups"]["done"] == 1
    # released three times in a row, the attempt count does not fall below 0 or grow
    for _ in range(3):
        task = by_stage(claim_all(ledger, now=2.0), "overview")[0]
        assert task.attempts == 1
        assert ledger.release([task], "w1") == 1
    assert ledger.complete([done(overview)], run, 3.0) == [False]  # no longer held


def test_release_all_running_counts_only_running_and_drops_the_owner(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    tasks = claim_all(ledger)
    overview, lineups = by_stage(tasks, "overview")[0], by_stage(tasks, "lineups")[0]
    ledger.complete([done(lineups)], run, 1.0)
    assert ledger.release_all_running() == 1
    assert ledger.release_all_running() == 0
    assert ledger.complete([done(overview)], run, 2.0) == [False]
    again = by_stage(claim_all(ledger, "w2", 2.0), "overview")[0]
    assert again.id == overview.id
    assert ledger.complete([done(again, owner="w2")], run, 3.0) == [True]


# -- readiness of dependent tasks ---------------------------------------------------------


def test_a_grandchild_waits_for_its_grandparents_stage(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    tasks = claim_all(ledger)
    overview = by_stage(tasks, "overview")[0]
    half = NewItem(kind="half", key="1-1")
    event = NewItem(kind="event", key="e1", parent=("half", "1-1"))
    ledger.complete([done(overview, children=[half, event])], run, 1.0)
    assert ledger.counts()["events"]["waiting"] == 1
    ledger.complete([done(by_stage(tasks, "lineups")[0])], run, 1.0)
    events = by_stage(claim_all(ledger, now=2.0), "events")
    assert [(t.key, t.parent) for t in events] == [("e1", ("half", "1-1"))]


def test_an_item_without_the_ancestor_its_stage_needs_stays_waiting(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items([NewItem(kind="event", key="lost"), NewItem(kind="half", key="h")], run)
    assert ledger.counts()["events"]["waiting"] == 1
    assert ledger.counts()["half_stats"]["waiting"] == 1
    assert claim_all(ledger) == []


def test_a_child_added_before_its_parent_is_done_becomes_ready_later(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    ledger.add_items([NewItem(kind="half", key="1-1", parent=("match", 1))], run)
    assert ledger.counts()["half_stats"]["waiting"] == 1
    tasks = by_stage(claim_all(ledger), "overview")
    ledger.complete([done(t) for t in tasks if t.key == 2], run, 1.0)
    assert ledger.counts()["half_stats"]["waiting"] == 1  # another match's overview
    ledger.complete([done(t) for t in tasks if t.key == 1], run, 1.0)
    halves = by_stage(claim_all(ledger, now=2.0), "half_stats")
    assert [t.key for t in halves] == ["1-1"]


def test_children_emitted_by_a_completion_have_it_as_parent_unless_they_say(
    ledger: Ledger,
) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    one, two = by_stage(claim_all(ledger), "overview")
    kids = [NewItem(kind="half", key="a"), NewItem(kind="half", key="b", parent=("match", 2))]
    ledger.complete([done(two), done(one, children=kids)], run, 1.0)
    halves = sorted(by_stage(claim_all(ledger, now=2.0), "half_stats"), key=lambda t: t.key)
    assert [(t.key, t.parent) for t in halves] == [("a", ("match", 1)), ("b", ("match", 2))]


# -- items and records ----------------------------------------------------------------------


def test_adding_a_known_item_again_updates_its_data_and_date(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items([NewItem(kind="match", key=1, data={"v": 1}, date="2024-01-01")], run)
    assert (
        ledger.add_items([NewItem(kind="match", key=1, data={"v": 2}, date="2024-02-02")], run) == 0
    )
    task = by_stage(claim_all(ledger), "overview")[0]
    assert (task.data, task.date) == ({"v": 2}, "2024-02-02")
    assert ledger.counts()["overview"] == {
        "waiting": 0,
        "pending": 0,
        "running": 1,
        "done": 0,
        "failed": 0,
    }


def test_counts_list_every_stage_and_every_status(ledger: Ledger) -> None:
    zero = {"waiting": 0, "pending": 0, "running": 0, "done": 0, "failed": 0}
    assert ledger.counts() == {
        s: zero for s in ("overview", "lineups", "report", "half_stats", "events")
    }
    assert ledger.pending_count() == 0
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2, 3), run)
    assert ledger.pending_count() == 9
    tasks = claim_all(ledger)
    overviews = by_stage(tasks, "overview")
    ledger.complete([done(overviews[0])], run, 1.0)
    ledger.fail([fail(overviews[1])], run, 1.0)
    counts = ledger.counts()
    assert counts["overview"] == {**zero, "running": 1, "done": 1, "failed": 1}
    assert counts["report"] == {**zero, "waiting": 3}
    assert ledger.pending_count() == 7  # 3 reports, 3 lineups, 1 overview running


def test_records_are_read_in_key_order_and_copies_change_nothing(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    task = by_stage(claim_all(ledger), "overview")[0]
    rows = [record("t", pk, id=pk, tags=[pk]) for pk in ("b", "c", "a")]
    ledger.complete([done(task, records=rows)], run, 1.0)
    got = list(ledger.records("t"))
    assert [r["id"] for r in got] == ["a", "b", "c"]
    got[0]["tags"].append("x")
    assert next(iter(ledger.records("t"))) == {"id": "a", "tags": ["a"]}
    assert list(ledger.records("nothing")) == []


def test_adopted_table_keys_decide_which_record_is_replaced(ledger: Ledger) -> None:
    ledger.adopt_tables({"goals": ["match", "n"]})
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    tasks = claim_all(ledger)
    one, two = by_stage(tasks, "overview")
    ledger.complete([done(one, records=[record("goals", "x", match=1, n=1, v=1)])], run, 1.0)
    ledger.complete([done(two, records=[record("goals", "y", match=1, n=1, v=2)])], run, 1.0)
    assert list(ledger.records("goals")) == [{"match": 1, "n": 1, "v": 2}]
    ledger.adopt_tables({"goals": ["match", "n"]})  # the same key again: fine
    lineups = by_stage(tasks, "lineups")[0]
    with pytest.raises(LedgerError):
        ledger.complete([done(lineups, records=[record("goals", "z", match=1)])], run, 2.0)
    assert ledger.counts()["lineups"]["running"] == 2


# -- rescrape and redo ----------------------------------------------------------------------


def test_rescrape_ignores_unknown_keys_and_clears_attempts_and_leases(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    tasks = claim_all(ledger)
    overview = by_stage(tasks, "overview")[0]
    ledger.fail([fail(overview)], run, 1.0)
    assert ledger.rescrape("match", [9]) == 0
    assert ledger.rescrape("half", [1]) == 0
    assert ledger.rescrape("match", [1, 9]) == 3
    assert ledger.report(run).failures == []
    counts = ledger.counts()
    assert counts["overview"]["pending"] == 1 and counts["lineups"]["pending"] == 1
    assert counts["report"]["waiting"] == 1
    # the lease the rescrape took back can no longer be completed
    assert ledger.complete([done(by_stage(tasks, "lineups")[0])], run, 2.0) == [False]
    again = claim_all(ledger, now=2.0)
    assert sorted((t.stage, t.attempts) for t in again) == [("lineups", 1), ("overview", 1)]


def test_rescrape_reaches_grandchildren(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    tasks = claim_all(ledger)
    half = NewItem(kind="half", key="1-1")
    event = NewItem(kind="event", key="e1", parent=("half", "1-1"))
    ledger.complete([done(by_stage(tasks, "overview")[0], children=[half, event])], run, 1.0)
    ledger.complete([done(by_stage(tasks, "lineups")[0])], run, 1.0)
    settle_all(ledger, run, now=2.0)
    assert ledger.pending_count() == 0
    assert ledger.rescrape("match", [1]) == 5
    counts = ledger.counts()
    assert counts["events"]["waiting"] == 1 and counts["half_stats"]["waiting"] == 1


def test_redo_clears_attempts_and_a_task_without_a_version_counts_as_version_1(
    ledger: Ledger,
) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    a, b = by_stage(claim_all(ledger), "overview")
    ledger.fail([fail(a)], run, 1.0)
    ledger.reset_failed()
    a = by_stage(claim_all(ledger, now=2.0), "overview")[0]
    assert a.attempts == 2
    ledger.complete([done(a, version=1), done(b, version=2)], run, 3.0)
    assert ledger.redo("overview", older_than_version=1) == 0
    assert ledger.redo("overview", older_than_version=2) == 1
    again = by_stage(claim_all(ledger, now=4.0), "overview")
    assert [(t.key, t.attempts) for t in again] == [(1, 1)]
    assert ledger.redo("overview") == 1  # only the done one; match 1 is running


# -- runs and their history -------------------------------------------------------------------


def test_runs_are_numbered_and_listed_newest_first_up_to_a_limit(ledger: Ledger) -> None:
    ids = [ledger.begin_run("pipe", {"n": n}, float(n), 100 + n) for n in range(22)]
    assert ids == list(range(1, 23))
    runs = ledger.runs()
    assert [r.id for r in runs] == list(range(22, 2, -1))
    assert [r.id for r in ledger.runs(limit=2)] == [22, 21]
    newest = runs[0]
    assert (newest.pipeline, newest.started_at, newest.ended_at, newest.pid) == (
        "pipe",
        21.0,
        None,
        121,
    )
    assert newest.status is RunStatus.RUNNING and newest.options == {"n": 21}
    assert all(r.status is RunStatus.CRASHED for r in runs[1:])


def test_ending_a_run_records_its_end_and_a_new_run_leaves_it_alone(ledger: Ledger) -> None:
    first = ledger.begin_run("p", {}, 1.0, 1)
    ledger.end_run(first, RunStatus.DONE, 5.0, {"done": 3})
    second = ledger.begin_run("p", {}, 6.0, 2)
    info = {r.id: r for r in ledger.runs()}
    assert info[first].status is RunStatus.DONE
    assert (info[first].ended_at, info[first].summary) == (5.0, {"done": 3})
    assert info[second].status is RunStatus.RUNNING
    assert ledger.report(second).run.id == second


def test_forget_attempts_counts_what_it_drops_and_dates_a_crashed_run_by_its_start(
    ledger: Ledger,
) -> None:
    crashed = ledger.begin_run("p", {}, 10.0, 1)
    ledger.add_items(matches(1, 2, 3), crashed)
    a, b, c = by_stage(claim_all(ledger), "overview")
    ledger.complete([done(a, duration=1.0)], crashed, 11.0)
    ledger.fail([fail(b)], crashed, 12.0)
    current = ledger.begin_run("p", {}, 50.0, 2)  # marks the first as crashed, never ended
    ledger.complete([done(c, duration=2.0)], current, 51.0)
    assert ledger.forget_attempts(10.0) == 0
    assert ledger.forget_attempts(10.5) == 2
    assert ledger.forget_attempts(100.0) == 0  # the current run is still running
    report = ledger.report(crashed)
    assert (report.done_this_run, report.failed_this_run, report.durations) == ({}, {}, {})
    assert ledger.report(current).done_this_run == {"overview": 1}
    assert ledger.report(current).failures[0].key == 2  # the failure itself stays


# -- record tables and their keys ---------------------------------------------------------


def test_records_written_before_a_key_is_adopted_are_filed_under_it(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    tasks = claim_all(ledger)
    one, two = by_stage(tasks, "overview")
    rows = [record("goals", "old-1", match=1, n=1, v=1), record("goals", "odd", v=0)]
    ledger.complete([done(one, records=rows)], run, 1.0)
    ledger.adopt_tables({"goals": ["match", "n"], "empty": ["id"]})
    ledger.complete([done(two, records=[record("goals", "new", match=1, n=1, v=2)])], run, 2.0)
    # the row with the key is replaced; the one without keeps its place
    assert sorted(orjson.dumps(r).decode() for r in ledger.records("goals")) == [
        '{"match":1,"n":1,"v":2}',
        '{"v":0}',
    ]


def test_a_table_with_records_keeps_its_key_and_an_empty_one_may_change(
    ledger: Ledger,
) -> None:
    ledger.adopt_tables({"goals": ["match"], "teams": ["name"]})
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    task = by_stage(claim_all(ledger), "overview")[0]
    ledger.complete([done(task, records=[record("goals", "g", match=1)])], run, 1.0)
    with pytest.raises(PipelineError, match="table goals: key changed"):
        ledger.adopt_tables({"teams": ["id"], "goals": ["match", "n"]})
    ledger.adopt_tables({"teams": ["id"]})
    ledger.adopt_tables({"goals": ["match"]})
    assert list(ledger.records("goals")) == [{"match": 1}]


def test_a_record_without_its_key_is_refused_by_name(ledger: Ledger) -> None:
    ledger.adopt_tables({"goals": ["match", "n"]})
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    task = by_stage(claim_all(ledger), "overview")[0]
    with pytest.raises(LedgerError, match="record for table 'goals' lacks its key"):
        ledger.complete([done(task, records=[record("goals", "g", match=1)])], run, 1.0)
    with pytest.raises(LedgerError):
        ledger.complete(
            [done(task, records=[RecordRow(table="goals", pk="g", json="[1]")])], run, 1.0
        )
    assert ledger.counts()["overview"]["running"] == 1


# -- odd inputs a caller can send ------------------------------------------------------------


def test_tasks_are_numbered_from_1_in_the_order_they_are_made(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    tasks = claim_all(ledger)
    assert sorted(t.id for t in tasks) == [1, 2, 4, 5]  # 3 and 6 are the waiting reports


def test_settling_a_task_the_ledger_never_handed_out_is_refused(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    real = by_stage(claim_all(ledger), "overview")[0]
    ghost = Task(
        id=999, stage="overview", kind="match", key=9, data={}, date=None, parent=None, attempts=1
    )
    assert ledger.complete([done(ghost)], run, 1.0) == [False]
    assert ledger.fail([fail(ghost)], run, 1.0) == [False]
    assert ledger.release([ghost], "w1") == 0
    assert ledger.complete([done(real)], run, 1.0) == [True]


def test_an_item_whose_parent_is_unknown_waits(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items([NewItem(kind="event", key="e", parent=("half", "ghost"))], run)
    assert ledger.counts()["events"]["waiting"] == 1
    assert ledger.known("event", ["e"]) == {"e"}


def test_a_failure_without_category_or_message_is_reported_as_an_error(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    task = by_stage(claim_all(ledger), "overview")[0]
    ledger.fail([fail(task, category="", message="")], run, 1.0)
    report = ledger.report(run)
    assert report.categories == {"error": 1}
    assert [(f.category, f.message) for f in report.failures] == [("error", "")]


def test_release_gives_back_exactly_one_attempt(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    task = by_stage(claim_all(ledger), "overview")[0]
    ledger.fail([fail(task)], run, 1.0)
    ledger.reset_failed()
    task = by_stage(claim_all(ledger, now=2.0), "overview")[0]
    assert task.attempts == 2
    assert ledger.release([task], "w1") == 1
    assert by_stage(claim_all(ledger, now=3.0), "overview")[0].attempts == 2


def test_kept_records_add_up_over_items(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2, 3), run)
    settle_all(ledger, run)
    assert ledger.rescrape("match", [1, 2]) == 8
    assert ledger.kept_records() == {"half_stats": 2, "lineups": 2, "overview": 2, "report": 2}


def test_preparing_a_larger_graph_adds_tasks_for_known_items(
    ledger: Ledger, tmp_path: Path
) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    pipe = Pipeline("contract")
    pipe.discover("match")(_listing)
    pipe.stage("overview", on="match")(_noop)
    pipe.stage("odds", on="match", after="overview")(_noop)
    ledger.prepare(pipe.graph())
    counts = ledger.counts()
    assert counts["odds"]["waiting"] == 2
    tasks = by_stage(claim_all(ledger), "overview")
    ledger.complete([done(t) for t in tasks], run, 1.0)
    assert [t.stage for t in claim_all(ledger, now=2.0)] == ["odds", "odds"]


def test_counts_keep_the_tasks_of_a_stage_the_graph_no_longer_has(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    pipe = Pipeline("contract")
    pipe.discover("match")(_listing)
    pipe.stage("overview", on="match")(_noop)
    ledger.prepare(pipe.graph())
    zero = {"waiting": 0, "pending": 0, "running": 0, "done": 0, "failed": 0}
    assert ledger.counts() == {
        "overview": {**zero, "pending": 2},
        "lineups": {**zero, "pending": 2},
        "report": {**zero, "waiting": 2},
    }
    assert ledger.pending_count() == 6


def test_the_report_adds_up_failures_of_one_category(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2, 3), run)
    tasks = by_stage(claim_all(ledger), "overview")
    ledger.fail([fail(t, category="http") for t in tasks[:2]], run, 1.0)
    ledger.fail([fail(tasks[2], category="parse")], run, 1.0)
    assert ledger.report(run).categories == {"http": 2, "parse": 1}


def test_the_report_counts_items_settled_by_this_run_apart_from_tasks(ledger: Ledger) -> None:
    run1 = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run1)
    first = [t for t in claim_all(ledger) if t.stage in ("overview", "lineups")]
    ledger.complete([done(t) for t in first], run1, 1.0)
    report1 = ledger.report(run1)
    assert report1.done_this_run == {"overview": 2, "lineups": 2}
    assert report1.items_settled == 2
    run2 = ledger.begin_run("p", {}, 2.0, 1)
    reports = by_stage(claim_all(ledger, now=2.0), "report")
    ledger.complete([done(reports[0])], run2, 3.0)
    assert ledger.report(run2).items_settled == 1
    run3 = ledger.begin_run("p", {}, 4.0, 1)
    ledger.fail([fail(reports[1])], run3, 5.0)
    report3 = ledger.report(run3)
    assert report3.failed_this_run == {"report": 1}
    assert report3.items_settled == 1
    assert ledger.report(run1).items_settled == 2


# -- what status and the record views read -------------------------------------------------


def test_items_per_kind_counts_every_item_by_kind(ledger: Ledger) -> None:
    assert ledger.items_per_kind() == {}
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2, 3), run)
    ledger.add_items([NewItem(kind="half", key="1-1", parent=("match", 1))], run)
    ledger.add_items(matches(3), run)  # known: not counted twice
    assert ledger.items_per_kind() == {"half": 1, "match": 3}


def test_a_read_only_ledger_given_the_graph_counts_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    writer = SqliteLedger(path)
    writer.prepare(football_graph())
    run = writer.begin_run("p", {}, 0.0, 1)
    writer.add_items(matches(1, 2), run)
    writer.close()
    before = path.read_bytes()
    reader = SqliteLedger(path, read_only=True)
    reader.use_graph(_with_extra_stage())
    counts = reader.counts()
    assert counts["overview"]["pending"] == 2
    # a stage the file has no tasks for yet is listed, and no task is made for it
    assert counts["extra"] == {s.value: 0 for s in Status}
    assert reader.items_per_kind() == {"match": 2}
    reader.close()
    assert path.read_bytes() == before


def _with_extra_stage() -> Graph:
    pipe = Pipeline("contract")
    pipe.discover("match")(_listing)
    for name in ("overview", "lineups", "extra"):
        pipe.stage(name, on="match")(_noop)
    pipe.stage("report", on="match", after=("overview", "lineups"))(_noop)
    pipe.stage("half_stats", on="half", after="overview")(_noop)
    pipe.stage("events", on="event", after="lineups")(_noop)
    return pipe.graph()


def _view(path: Path, sql: str) -> list[tuple[object, ...]]:
    """Read the file as someone with the sqlite3 shell would, apart from the ledger."""
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_a_declared_tables_view_is_readable_before_any_completion(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = SqliteLedger(path)
    ledger.prepare(football_graph())
    ledger.adopt_tables({"matches": ("match_id",), "bad name": ("id",)})
    assert _view(path, "SELECT * FROM matches") == []
    assert _view(path, "SELECT match_id FROM matches") == []
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    one, two = by_stage(claim_all(ledger), "overview")
    first = record("matches", "1", match_id=1, home="Arsenal")
    ledger.complete([done(one, records=[first])], run, 1.0)
    # the first records give the view their columns, as a user reads it
    assert _view(path, "SELECT * FROM matches") == [(1, "Arsenal")]
    ledger.complete([done(two, records=[record("matches", "2", match_id=2, home="Spurs")])], run, 1)
    assert _view(path, "SELECT home FROM matches ORDER BY match_id") == [("Arsenal",), ("Spurs",)]
    ledger.close()
    again = SqliteLedger(path)
    again.prepare(football_graph())
    again.adopt_tables({"matches": ("match_id",)})
    assert _view(path, "SELECT match_id, home FROM matches ORDER BY match_id") == [
        (1, "Arsenal"),
        (2, "Spurs"),
    ]
    again.close()


def test_a_view_is_never_made_over_a_users_own_table(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = SqliteLedger(path)
    ledger.prepare(football_graph())
    ledger.db.execute("CREATE TABLE notes(text)")
    ledger.adopt_tables({"notes": ("id",)})
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    task = by_stage(claim_all(ledger), "overview")[0]
    ledger.complete([done(task, records=[record("notes", "1", id=1, text="x")])], run, 1.0)
    assert _view(path, "SELECT * FROM notes") == []
    assert list(ledger.records("notes")) == [{"id": 1, "text": "x"}]
    ledger.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_ledger_has_a_schema_once_prepared(backend: str, tmp_path: Path) -> None:
    fresh: Ledger = MemoryLedger() if backend == "memory" else SqliteLedger(tmp_path / "l.db")
    assert not fresh.has_schema()
    fresh.prepare(football_graph())
    assert fresh.has_schema()
    fresh.close()
