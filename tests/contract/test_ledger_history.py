"""The run-history part of the ledger contract: one run, its tallies per stage, the
items it failed, its noted summary, crashed runs. Both backends run every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scrapeline.ledger.base import Failure, Ledger, RunStatus, StageTally, Status
from tests.contract.test_ledger_contract import (
    BACKENDS,
    by_stage,
    claim_all,
    done,
    matches,
    open_ledger,
    record,
)


@pytest.fixture(params=BACKENDS)
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    backend = open_ledger(request.param, tmp_path)
    yield backend
    backend.close()


def a_run(ledger: Ledger, *, fail_keys: tuple[int, ...], now: float = 1.0) -> int:
    """A run that settles every overview task of matches 1–4: the ``fail_keys`` fail
    (parse), the others write two records each."""
    run = ledger.begin_run("p", {}, now, 1)
    ledger.reset_failed()
    ledger.add_items(matches(1, 2, 3, 4), run)
    tasks = by_stage(claim_all(ledger, now=now), "overview")
    ledger.complete(
        [
            done(t, records=[record("m", f"{t.key}a"), record("m", f"{t.key}b")], duration=0.5)
            for t in tasks
            if t.key not in fail_keys
        ],
        run,
        now,
    )
    ledger.fail(
        [
            Failure(task=t, owner="w1", category="parse", message=f"no h1 on {t.key}", duration=2.0)
            for t in tasks
            if t.key in fail_keys
        ],
        run,
        now,
    )
    others = [t for t in claim_all(ledger, now=now)]
    ledger.release(others, "w1")
    ledger.end_run(run, RunStatus.FAILED if fail_keys else RunStatus.DONE, now + 1, {"done": 1})
    return run


def test_tallies_count_each_runs_attempts_per_stage_with_their_records(ledger: Ledger) -> None:
    first = a_run(ledger, fail_keys=(2, 3))
    second = a_run(ledger, fail_keys=())
    tallies = ledger.tallies([first, second, 99])
    assert set(tallies) == {first, second}  # a run with no attempts is left out
    assert tallies[first].stages == {
        "overview": StageTally(done=2, failed=2, records=4, categories={"parse": 2})
    }
    assert tallies[first].last_failed_stage == "overview"
    assert tallies[second].stages == {"overview": StageTally(done=2, failed=0, records=4)}
    assert tallies[second].last_failed_stage is None
    assert sorted(ledger.durations([first])["overview"]) == [0.5, 0.5, 2.0, 2.0]
    assert ledger.durations([]) == {}


def test_run_failures_list_what_a_run_failed_and_what_became_of_it(ledger: Ledger) -> None:
    first = a_run(ledger, fail_keys=(2, 3))
    failures = ledger.run_failures(first)
    assert [(f.stage, f.kind, f.key, f.category, f.status) for f in failures] == [
        ("overview", "match", 2, "parse", Status.FAILED),
        ("overview", "match", 3, "parse", Status.FAILED),
    ]
    assert failures[0].message is not None and "no h1 on 2" in failures[0].message
    assert len(ledger.run_failures(first, limit=1)) == 1
    a_run(ledger, fail_keys=())  # both are done now
    again = ledger.run_failures(first)
    assert [(f.key, f.status, f.message) for f in again] == [
        (2, Status.DONE, None),
        (3, Status.DONE, None),
    ]


def test_one_run_is_read_by_id_and_noted_values_join_its_summary(ledger: Ledger) -> None:
    run = a_run(ledger, fail_keys=())
    ledger.note_run(run, {"stages": {"overview": {"done": 4}}, "done": 4})
    info = ledger.run(run)
    assert info is not None and info.status is RunStatus.DONE
    assert info.summary == {"done": 4, "stages": {"overview": {"done": 4}}}
    assert ledger.run(run + 1) is None


def test_mark_crashed_changes_only_runs_still_running(ledger: Ledger) -> None:
    ended = a_run(ledger, fail_keys=())
    left = ledger.begin_run("p", {}, 5.0, 1)
    assert ledger.mark_crashed([ended, left, 99]) == 1
    assert [(r.id, r.status) for r in ledger.runs(2)] == [
        (left, RunStatus.CRASHED),
        (ended, RunStatus.DONE),
    ]
    assert ledger.mark_crashed([left]) == 0
