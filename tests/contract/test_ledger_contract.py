"""One contract, every ledger backend: SQLite and in-memory run the same tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scrapeline.errors import LedgerError
from scrapeline.ledger.base import (
    Completion,
    Failure,
    Ledger,
    NewItem,
    RecordRow,
    RunStatus,
    Status,
    Task,
    Walk,
    kept_note,
)
from scrapeline.ledger.memory import MemoryLedger
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.model import Graph, Item
from scrapeline.pipeline import Pipeline


async def _noop(ctx: object, item: object) -> None:
    return None


async def _listing(ctx: object, position: object):  # type: ignore[no-untyped-def]
    yield Item(key=1)


def football_graph() -> Graph:
    pipe = Pipeline("contract")
    pipe.discover("match")(_listing)
    pipe.stage("overview", on="match")(_noop)
    pipe.stage("lineups", on="match")(_noop)
    pipe.stage("report", on="match", after=("overview", "lineups"))(_noop)
    pipe.stage("half_stats", on="half", after="overview")(_noop)
    pipe.stage("events", on="event", after="lineups")(_noop)
    return pipe.graph()


BACKENDS = ["memory", "sqlite"]


def open_ledger(kind: str, tmp_path: Path) -> Ledger:
    ledger: Ledger = MemoryLedger() if kind == "memory" else SqliteLedger(tmp_path / "ledger.db")
    ledger.prepare(football_graph())
    return ledger


@pytest.fixture(params=BACKENDS)
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    backend = open_ledger(request.param, tmp_path)
    yield backend
    backend.close()


def matches(*keys: int) -> list[NewItem]:
    return [NewItem(kind="match", key=k, data={"n": k}) for k in keys]


def record(table: str, pk: str, **data: object) -> RecordRow:
    return RecordRow(table=table, pk=pk, json=orjson.dumps(data).decode())


def claim_all(ledger: Ledger, owner: str = "w1", now: float = 0.0) -> list[Task]:
    return ledger.claim(owner, 1000, now, lease=60.0)


def by_stage(tasks: list[Task], stage: str) -> list[Task]:
    return [t for t in tasks if t.stage == stage]


def done(task: Task, owner: str = "w1", **kw: object) -> Completion:
    return Completion(task=task, owner=owner, **kw)  # type: ignore[arg-type]


def test_add_items_counts_new_keys_and_upserts(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    assert ledger.add_items(matches(1, 2, 3), run) == 3
    assert ledger.add_items(matches(2, 3, 4), run) == 1
    assert ledger.known("match", [1, 4, 5]) == {1, 4}
    assert ledger.known("half", [1]) == set()
    counts = ledger.counts()
    assert counts["overview"]["pending"] == 4
    assert counts["report"]["waiting"] == 4


def test_keys_keep_their_type(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items([NewItem(kind="match", key="a-1"), NewItem(kind="match", key=7)], run)
    keys = {t.key for t in by_stage(claim_all(ledger), "overview")}
    assert keys == {"a-1", 7}


def test_claim_hands_each_task_to_one_owner(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    first = ledger.claim("w1", 3, 0.0, lease=60.0)
    second = ledger.claim("w2", 10, 0.0, lease=60.0)
    assert len(first) == 3
    assert len(second) == 1  # 4 ready tasks (overview, lineups × 2); report waits
    assert {t.id for t in first}.isdisjoint({t.id for t in second})
    assert ledger.claim("w3", 10, 0.0, lease=60.0) == []
    assert all(t.attempts == 1 for t in first + second)


def test_expired_lease_is_claimable_and_old_owner_cannot_complete(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    task = by_stage(ledger.claim("w1", 10, 0.0, lease=5.0), "overview")[0]
    assert ledger.claim("w2", 10, 4.0, lease=5.0) == []
    again = by_stage(ledger.claim("w2", 10, 6.0, lease=5.0), "overview")[0]
    assert again.id == task.id and again.attempts == 2
    late = done(task, owner="w1", records=[record("m", "1", id=1)])
    assert ledger.complete([late], run, 7.0) == [False]
    assert list(ledger.records("m")) == []
    assert ledger.complete([done(again, owner="w2")], run, 7.0) == [True]
    assert ledger.counts()["overview"]["done"] == 1


def test_complete_writes_records_children_and_done_together(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    overview = by_stage(claim_all(ledger), "overview")[0]
    children = [NewItem(kind="half", key=f"1-{n}", data={"half": n}) for n in (1, 2)]
    ok = ledger.complete(
        [done(overview, records=[record("matches", "1", match_id=1)], children=children)], run, 1.0
    )
    assert ok == [True]
    assert list(ledger.records("matches")) == [{"match_id": 1}]
    halves = by_stage(claim_all(ledger, "w1", 2.0), "half_stats")
    assert sorted(str(t.key) for t in halves) == ["1-1", "1-2"]
    assert all(t.parent == ("match", 1) for t in halves)
    assert halves[0].data == {"half": halves[0].data["half"]}


def test_a_bad_completion_rolls_back_the_whole_batch(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    a, b = by_stage(claim_all(ledger), "overview")
    good = done(a, records=[record("matches", "1", match_id=1)])
    bad = done(b, children=[NewItem(kind="half", key="2-1", data={"x": object()})])
    with pytest.raises((LedgerError, TypeError)):
        ledger.complete([good, bad], run, 1.0)
    assert list(ledger.records("matches")) == []
    assert ledger.counts()["overview"]["running"] == 2
    assert ledger.known("half", ["2-1"]) == set()


def test_records_are_upserted_by_primary_key(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    a, b = by_stage(claim_all(ledger), "overview")
    ledger.complete([done(a, records=[record("t", "k", v=1)])], run, 1.0)
    ledger.complete([done(b, records=[record("t", "k", v=2), record("t", "j", v=3)])], run, 1.0)
    assert list(ledger.records("t")) == [{"v": 3}, {"v": 2}]


def test_same_item_dependency_waits_for_every_stage(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    tasks = claim_all(ledger)
    assert {t.stage for t in tasks} == {"overview", "lineups"}
    ledger.complete([done(by_stage(tasks, "overview")[0])], run, 1.0)
    assert ledger.claim("w1", 10, 1.0, 60.0) == []
    ledger.complete([done(by_stage(tasks, "lineups")[0])], run, 1.0)
    assert [t.stage for t in ledger.claim("w1", 10, 1.0, 60.0)] == ["report"]


def test_ancestor_dependency_on_a_stage_that_did_not_emit(ledger: Ledger) -> None:
    # events are emitted by overview but depend on lineups of their match
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    tasks = claim_all(ledger)
    ledger.complete(
        [done(by_stage(tasks, "overview")[0], children=[NewItem(kind="event", key="e1")])],
        run,
        1.0,
    )
    assert ledger.counts()["events"]["waiting"] == 1
    ledger.complete([done(by_stage(tasks, "lineups")[0])], run, 1.0)
    assert {t.stage for t in claim_all(ledger, now=2.0)} == {"events", "report"}


def test_fail_then_reset_failed_makes_it_pending(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    task = by_stage(claim_all(ledger), "overview")[0]
    assert ledger.fail([Failure(task=task, owner="w1", category="parse", message="no h1")], run, 1)
    report = ledger.report(run)
    assert report.categories == {"parse": 1}
    assert [(f.key, f.message) for f in report.failures] == [(1, "no h1")]
    assert report.failed_this_run == {"overview": 1}
    assert ledger.reset_failed() == 1
    assert ledger.counts()["overview"]["pending"] == 1


def test_release_returns_tasks_to_pending_without_counting_an_attempt(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    tasks = claim_all(ledger)
    assert ledger.release(tasks, "other") == 0
    assert ledger.release(tasks, "w1") == 2
    again = claim_all(ledger)
    assert sorted(t.id for t in again) == sorted(t.id for t in tasks)
    assert all(t.attempts == 1 for t in again)


def test_release_all_running_after_a_crash(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    claim_all(ledger)
    assert ledger.release_all_running() == 4
    assert ledger.pending_count() == 6
    assert len(claim_all(ledger, "w2")) == 4


def test_rescrape_resets_items_and_descendants(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    for _ in range(3):
        tasks = claim_all(ledger)
        ledger.complete(
            [
                done(t, children=[NewItem(kind="half", key=f"{t.key}-1")])
                if t.stage == "overview"
                else done(t)
                for t in tasks
            ],
            run,
            1.0,
        )
    assert ledger.pending_count() == 0
    assert ledger.rescrape("match", [1]) == 4  # overview, lineups, report, half_stats of 1-1
    counts = ledger.counts()
    assert counts["overview"] == {**counts["overview"], "pending": 1, "done": 1}
    assert counts["half_stats"]["waiting"] == 1
    assert counts["report"]["waiting"] == 1


def test_prepare_adds_tasks_for_new_stages(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "l.db")
    pipe = Pipeline("p")
    pipe.discover("match")(_listing)
    pipe.stage("overview", on="match")(_noop)
    ledger.prepare(pipe.graph())
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    pipe.stage("odds", on="match")(_noop)
    ledger.prepare(pipe.graph())
    assert ledger.counts()["odds"]["pending"] == 1
    ledger.close()


def test_runs_and_crashed_runs(ledger: Ledger) -> None:
    first = ledger.begin_run("p", {"workers": 2}, 10.0, 111)
    second = ledger.begin_run("p", {}, 20.0, 222)
    ledger.end_run(second, RunStatus.DONE, 30.0, {"done": 5})
    runs = ledger.runs()
    assert [r.id for r in runs] == [second, first]
    assert runs[0].status is RunStatus.DONE and runs[0].summary == {"done": 5}
    assert runs[1].status is RunStatus.CRASHED and runs[1].options == {"workers": 2}


def test_walks_are_remembered(ledger: Ledger) -> None:
    assert ledger.walk("results") is None
    ledger.save_walk(Walk(name="results", next_position=300, finished=False))
    ledger.save_walk(Walk(name="results", next_position=400, finished=True))
    assert ledger.walk("results") == Walk(name="results", next_position=400, finished=True)


@pytest.mark.parametrize("cursor", ["eyJpZCI6IDQyfQ==", "http://h/list?after=7", "123", ""])
def test_a_walk_by_cursor_is_remembered_as_text(ledger: Ledger, cursor: str) -> None:
    ledger.save_walk(Walk(name="events", next_position=0, finished=False, cursor=cursor))
    assert ledger.walk("events") == Walk(
        name="events", next_position=0, finished=False, cursor=cursor
    )
    # a finished walk starts from the top again: no cursor is kept
    ledger.save_walk(Walk(name="events", next_position=0, finished=True))
    assert ledger.walk("events") == Walk(name="events", next_position=0, finished=True)


def test_report_counts_this_run_only(ledger: Ledger) -> None:
    run1 = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run1)
    tasks = by_stage(claim_all(ledger), "overview")
    ledger.complete([done(tasks[0], duration=0.5)], run1, 1.0)
    run2 = ledger.begin_run("p", {}, 2.0, 1)
    ledger.complete([done(tasks[1], duration=1.5)], run2, 3.0)
    report = ledger.report(run2)
    assert report.done_this_run == {"overview": 1}
    assert report.durations == {"overview": [1.5]}
    assert report.counts["overview"]["done"] == 2
    assert report.items_total == 2


def test_sqlite_ledger_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    first = SqliteLedger(path)
    first.prepare(football_graph())
    first.adopt_tables({"matches": ("match_id",)})
    run = first.begin_run("p", {}, 0.0, 1)
    first.add_items(matches(1), run)
    task = by_stage(claim_all(first), "overview")[0]
    first.complete([done(task, records=[record("matches", "1", match_id=1)])], run, 1.0)
    first.close()
    again = SqliteLedger(path)
    again.prepare(football_graph())
    assert list(again.records("matches")) == [{"match_id": 1}]
    assert again.counts()["overview"]["done"] == 1
    # a view per record table, for people who look with sqlite3
    assert again.db.execute("SELECT match_id FROM matches").fetchall() == [(1,)]
    again.close()


# -- both backends agree on any sequence of operations ---------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.lists(st.integers(0, 6), max_size=4)),
        st.tuples(st.just("claim"), st.integers(1, 4)),
        st.tuples(st.just("complete"), st.integers(0, 3)),
        st.tuples(st.just("fail"), st.integers(0, 3)),
        st.tuples(st.just("release"), st.integers(0, 3)),
        st.tuples(st.just("reset"), st.just(0)),
        st.tuples(st.just("rescrape"), st.lists(st.integers(0, 6), max_size=3)),
        st.tuples(st.just("redo"), st.sampled_from(["overview", "report", "half_stats"])),
        st.tuples(st.just("redo_outdated"), st.sampled_from(["overview", "half_stats"])),
    ),
    max_size=25,
)


def apply(ledger: Ledger, ops: list[tuple[str, object]]) -> tuple[object, ...]:
    run = ledger.begin_run("p", {}, 0.0, 1)
    held: list[Task] = []
    for op, arg in ops:
        if op == "add":
            ledger.add_items(matches(*arg), run)  # type: ignore[misc]
        elif op == "claim":
            held += ledger.claim("w", int(arg), 0.0, 60.0)  # type: ignore[call-overload]
        elif op in ("complete", "fail", "release") and held:
            task = held.pop(int(arg) % len(held))  # type: ignore[call-overload]
            if op == "complete":
                kids = (
                    [NewItem(kind="half", key=f"{task.key}h")] if task.stage == "overview" else []
                )
                version = 1 + task.id % 2
                ledger.complete(
                    [
                        done(
                            task,
                            owner="w",
                            records=[record("t", str(task.id))],
                            children=kids,
                            version=version,
                        )
                    ],
                    run,
                    0.0,
                )
            elif op == "fail":
                ledger.fail([Failure(task=task, owner="w", category="x", message="m")], run, 0)
            else:
                ledger.release([task], "w")
        elif op == "reset":
            ledger.reset_failed()
        elif op == "rescrape":
            ledger.rescrape("match", list(arg))  # type: ignore[call-overload]
            held.clear()
            ledger.release_all_running()
        elif op == "redo":
            ledger.redo(str(arg))
        elif op == "redo_outdated":
            ledger.redo(str(arg), older_than_version=2)
    report = ledger.report(run)
    failures = [f.message for f in report.failures]
    kept = ledger.kept_records()
    return (
        ledger.counts(),
        list(ledger.records("t")),
        ledger.pending_count(),
        failures,
        kept,
        report.items_settled,
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_memory_and_sqlite_agree(tmp_path: Path, ops: list[tuple[str, object]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory(dir=tmp_path) as d:
        sqlite = open_ledger("sqlite", Path(d))
        memory = open_ledger("memory", Path(d))
        try:
            assert apply(sqlite, ops) == apply(memory, ops)
        finally:
            sqlite.close()


def test_status_values_are_stable() -> None:
    # Stored in files users keep: renaming one would strand their data.
    assert [s.value for s in Status] == ["waiting", "pending", "running", "done", "failed"]


def test_claim_can_be_limited_to_some_stages(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    only = ledger.claim("w1", 10, 0.0, 60.0, stages=["lineups"])
    assert sorted((t.stage, t.key) for t in only) == [("lineups", 1), ("lineups", 2)]
    assert {t.stage for t in claim_all(ledger)} == {"overview"}


# -- re-parse and retention -------------------------------------------------------


def settle_all(ledger: Ledger, run: int, *, version: int = 1, now: float = 1.0) -> None:
    """Complete every claimable task (overview emits one half per match)."""
    while tasks := claim_all(ledger, now=now):
        ledger.complete(
            [
                done(
                    t,
                    records=[record(t.stage, str(t.key), v=version)],
                    children=[NewItem(kind="half", key=f"{t.key}-1")]
                    if t.stage == "overview"
                    else [],
                    version=version,
                )
                for t in tasks
            ],
            run,
            now,
        )


def test_redo_puts_a_stages_done_tasks_back_to_pending_and_nothing_else(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    settle_all(ledger, run)
    assert ledger.pending_count() == 0
    assert ledger.redo("overview") == 2
    counts = ledger.counts()
    assert counts["overview"] == {**counts["overview"], "pending": 2, "done": 0}
    assert counts["half_stats"]["done"] == 2 and counts["report"]["done"] == 2
    assert list(ledger.records("overview")) == [{"v": 1}, {"v": 1}]  # kept until overwritten
    again = claim_all(ledger, now=2.0)
    assert sorted((t.stage, t.key) for t in again) == [("overview", 1), ("overview", 2)]
    assert all(t.attempts == 1 for t in again)
    # completing again upserts the records and re-emits the children without resetting them
    ledger.complete(
        [done(t, records=[record("overview", str(t.key), v=2)], version=2) for t in again], run, 3
    )
    assert list(ledger.records("overview")) == [{"v": 2}, {"v": 2}]
    assert ledger.counts()["half_stats"]["done"] == 2
    assert ledger.redo("lineups", older_than_version=1) == 0
    assert ledger.redo("nothing-done-here") == 0


def test_redo_outdated_takes_only_tasks_settled_by_a_lower_version(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2, 3), run)
    tasks = by_stage(claim_all(ledger), "overview")
    ledger.complete(
        [done(t, version=1 if t.key == 2 else 3) for t in tasks]
        + [done(t) for t in claim_all(ledger)],
        run,
        1.0,
    )
    assert ledger.redo("overview", older_than_version=3) == 1
    assert [t.key for t in by_stage(claim_all(ledger, now=2.0), "overview")] == [2]
    assert ledger.redo("overview", older_than_version=3) == 0  # running, not done
    assert ledger.redo("overview", older_than_version=4) == 2


def test_redo_waits_for_a_dependency_that_is_not_done(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), run)
    settle_all(ledger, run)
    assert ledger.redo("overview") == 1
    assert ledger.redo("half_stats") == 1
    assert ledger.counts()["half_stats"]["waiting"] == 1
    settle_all(ledger, run, now=2.0)
    assert ledger.pending_count() == 0


def test_forget_attempts_drops_the_history_of_runs_ended_before(ledger: Ledger) -> None:
    old = ledger.begin_run("p", {}, 10.0, 1)
    ledger.add_items(matches(1, 2), old)
    a, b = by_stage(claim_all(ledger), "overview")
    ledger.complete([done(a, duration=0.5)], old, 11.0)
    ledger.end_run(old, RunStatus.DONE, 20.0, {"done": 1})
    new = ledger.begin_run("p", {}, 30.0, 1)
    ledger.complete([done(b, duration=1.5)], new, 31.0)
    assert ledger.forget_attempts(20.0) == 0  # ended at 20: not before 20
    assert ledger.forget_attempts(25.0) == 1
    assert ledger.report(old).durations == {}
    assert ledger.report(new).durations == {"overview": [1.5]}  # still running: kept
    assert [r.summary for r in ledger.runs()] == [{}, {"done": 1}]  # runs themselves stay
    assert ledger.counts()["overview"]["done"] == 2


def test_a_ledger_from_before_task_versions_takes_them_from_its_records(tmp_path: Path) -> None:
    import sqlite3

    from scrapeline.ledger.schema import MIGRATIONS

    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(MIGRATIONS[0] + "PRAGMA user_version=1;")
    db.executescript(
        "INSERT INTO items(id, kind, key) VALUES (1, 'match', 1), (2, 'match', 2), (3, 'match', 3);"
        "INSERT INTO tasks(item_id, stage, status) VALUES (1, 'overview', 'done'),"
        " (2, 'overview', 'done'), (3, 'overview', 'done'), (1, 'lineups', 'pending');"
        "INSERT INTO records(tbl, pk, item_id, stage, version, run_id, data) VALUES"
        " ('m', '1', 1, 'overview', 2, 1, '{}'), ('m', '2', 2, 'overview', 1, 1, '{}');"
    )
    db.close()
    ledger = SqliteLedger(path)
    try:
        ledger.prepare(football_graph())
        # match 2 was parsed by version 1; match 3 left no record: counted as version 1
        assert ledger.redo("overview", older_than_version=2) == 2
        assert sorted(t.key for t in by_stage(claim_all(ledger), "overview")) == [2, 3]
    finally:
        ledger.close()


# -- a task done again: its earlier records are kept, then replaced ----------------


def fail(task: Task, message: str = "HTTP 503") -> Failure:
    return Failure(task=task, owner="w1", category="http", message=message)


def messages(ledger: Ledger, run: int) -> dict[tuple[str, object], str]:
    return {(f.stage, f.key): f.message for f in ledger.report(run).failures}


def test_a_rescraped_task_that_fails_keeps_its_records_and_says_so(ledger: Ledger) -> None:
    first = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), first)
    settle_all(ledger, first)
    second = ledger.begin_run("p", {}, 10.0, 1)
    assert ledger.rescrape("match", [1]) == 4  # overview, lineups, report, its half
    assert ledger.kept_records() == {"half_stats": 1, "lineups": 1, "overview": 1, "report": 1}
    claimed = claim_all(ledger, now=11.0)
    (overview,), (lineups,) = by_stage(claimed, "overview"), by_stage(claimed, "lineups")
    assert ledger.fail([fail(overview)], second, 12.0) == [True]
    assert messages(ledger, second) == {
        ("overview", 1): "HTTP 503 (its 1 record from run 1 is kept)"
    }
    assert list(ledger.records("overview")) == [{"v": 1}, {"v": 1}]  # never lost
    # lineups completes again: replaced, so no longer kept; the rest still is
    ledger.complete([done(lineups, records=[record("lineups", "1", v=2)])], second, 13.0)
    assert ledger.kept_records() == {"half_stats": 1, "overview": 1, "report": 1}


def test_a_rescraped_task_that_completes_replaces_its_records_as_a_whole(ledger: Ledger) -> None:
    first = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), first)
    tasks = by_stage(claim_all(ledger), "overview")
    ledger.complete(
        [
            done(t, records=[record("goals", f"{t.key}-{n}", match=t.key, n=n) for n in (1, 2, 3)])
            for t in tasks
        ],
        first,
        1.0,
    )
    second = ledger.begin_run("p", {}, 10.0, 1)
    ledger.rescrape("match", [1])
    again = by_stage(claim_all(ledger, now=11.0), "overview")
    assert [t.key for t in again] == [1]
    # the page now shows goals 1 and 4: goals 2 and 3 were corrected away
    rows = [record("goals", f"1-{n}", match=1, n=n, v=2) for n in (1, 4)]
    assert ledger.complete([done(again[0], records=rows)], second, 12.0) == [True]
    assert list(ledger.records("goals")) == [
        {"match": 1, "n": 1, "v": 2},
        {"match": 1, "n": 4, "v": 2},
        {"match": 2, "n": 1},
        {"match": 2, "n": 2},
        {"match": 2, "n": 3},
    ]
    assert ledger.kept_records() == {}
    # done once more for the first time since: nothing is removed
    ledger.complete([done(t) for t in claim_all(ledger, now=13.0)], second, 14.0)
    assert len(list(ledger.records("goals"))) == 5


def test_replacing_leaves_a_record_another_item_wrote_since(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    one, two = by_stage(claim_all(ledger), "overview")
    ledger.complete([done(one, records=[record("teams", "ajax", name="Ajax", by=1)])], run, 1.0)
    ledger.complete([done(two, records=[record("teams", "ajax", name="Ajax", by=2)])], run, 2.0)
    ledger.rescrape("match", [1])
    assert ledger.kept_records() == {}  # the record is match 2's now
    again = by_stage(claim_all(ledger, now=3.0), "overview")
    ledger.complete([done(again[0])], run, 4.0)
    assert list(ledger.records("teams")) == [{"name": "Ajax", "by": 2}]


def test_a_failure_between_rescrape_and_success_still_ends_in_a_replacement(
    ledger: Ledger,
) -> None:
    first = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), first)
    settle_all(ledger, first)
    second = ledger.begin_run("p", {}, 10.0, 1)
    ledger.rescrape("match", [1])
    ledger.rescrape("match", [1])  # twice, before any success: still flagged
    overview = by_stage(claim_all(ledger, now=11.0), "overview")[0]
    ledger.fail([fail(overview, "timeout")], second, 12.0)
    assert ledger.reset_failed() == 1
    assert ledger.kept_records()["overview"] == 1
    overview = by_stage(claim_all(ledger, now=13.0), "overview")[0]
    ledger.complete([done(overview, records=[record("overview", "1b", v=3)])], second, 14.0)
    assert list(ledger.records("overview")) == [{"v": 3}]
    assert "overview" not in ledger.kept_records()


def test_a_task_with_no_earlier_records_fails_with_its_message_unchanged(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1, 2), run)
    a, b = by_stage(claim_all(ledger), "overview")
    ledger.complete([done(a)], run, 1.0)  # done, but wrote nothing
    ledger.fail([fail(b, "never done")], run, 1.0)  # failed, never done
    ledger.rescrape("match", [1, 2])
    a, b = by_stage(claim_all(ledger, now=2.0), "overview")
    ledger.fail([fail(a), fail(b)], run, 3.0)
    assert messages(ledger, run) == {("overview", 1): "HTTP 503", ("overview", 2): "HTTP 503"}
    assert ledger.kept_records() == {}


def test_redo_keeps_records_until_replaced_and_a_failure_says_so(ledger: Ledger) -> None:
    first = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(matches(1), first)
    overview = by_stage(claim_all(ledger), "overview")[0]
    rows = [record("overview", f"1-{n}", n=n) for n in (1, 2)]
    ledger.complete([done(overview, records=rows)], first, 1.0)
    later = ledger.begin_run("p", {}, 20.0, 1)
    assert ledger.redo("overview") == 1
    assert ledger.kept_records() == {"overview": 2}
    overview = by_stage(claim_all(ledger, now=21.0), "overview")[0]
    ledger.fail([fail(overview, "ParseError: no score")], later, 22.0)
    assert messages(ledger, later) == {
        ("overview", 1): "ParseError: no score (its 2 records from run 1 are kept)"
    }


@pytest.mark.parametrize(
    ("count", "runs", "note"),
    [
        (1, (3,), "its 1 record from run 3 is kept"),
        (2, (3, 3), "its 2 records from run 3 are kept"),
        (4, (2, 3), "its 4 records from runs 2–3 are kept"),
    ],
)
def test_kept_note(count: int, runs: tuple[int, ...], note: str) -> None:
    assert kept_note(count, runs) == note


def test_a_ledger_from_before_the_redone_flag_keeps_counting_its_kept_records(
    tmp_path: Path,
) -> None:
    import sqlite3

    from scrapeline.ledger.schema import MIGRATIONS

    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(";".join(MIGRATIONS[:5]) + ";PRAGMA user_version=5;")
    # match 1 was rescraped by an older scrapeline: pending, with its old record
    db.executescript(
        "INSERT INTO items(id, kind, key) VALUES (1, 'match', 1), (2, 'match', 2);"
        "INSERT INTO tasks(item_id, stage, status, version) VALUES"
        " (1, 'overview', 'pending', 1), (2, 'overview', 'done', 1);"
        "INSERT INTO records(tbl, pk, item_id, stage, version, run_id, data) VALUES"
        " ('m', '1', 1, 'overview', 1, 4, '{\"k\": 1}'),"
        " ('m', '2', 2, 'overview', 1, 4, '{\"k\": 2}');"
    )
    db.close()
    read_only = SqliteLedger(path, read_only=True)  # status before any run migrated it
    try:
        assert read_only.kept_records() == {"m": 1}
    finally:
        read_only.close()
    ledger = SqliteLedger(path)
    try:
        ledger.prepare(football_graph())
        assert ledger.kept_records() == {"m": 1}
        run = ledger.begin_run("p", {}, 0.0, 1)
        overview = by_stage(claim_all(ledger), "overview")[0]
        ledger.fail([fail(overview)], run, 1.0)
        assert (
            messages(ledger, run)[("overview", 1)] == "HTTP 503 (its 1 record from run 4 is kept)"
        )
    finally:
        ledger.close()
