"""A refresh the site said was unchanged, on every backend: the task is done again and
keeps its earlier records, children and parser version; the run counts its refreshes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from scrapeline.ledger.base import Completion, Ledger, NewItem, RecordRow, Task
from scrapeline.ledger.memory import MemoryLedger
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.model import Graph, Item
from scrapeline.pipeline import Pipeline


async def _stage(ctx: object, item: object) -> None:
    return None


async def _matches(ctx: object, position: object):  # type: ignore[no-untyped-def]
    yield Item(key=1)


def graph() -> Graph:
    pipe = Pipeline("refresh")
    pipe.discover("match")(_matches)
    pipe.stage("overview", on="match")(_stage)
    pipe.stage("half_stats", on="half")(_stage)
    return pipe.graph()


@pytest.fixture(params=["memory", "sqlite"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    backend: Ledger = (
        MemoryLedger() if request.param == "memory" else SqliteLedger(tmp_path / "ledger.db")
    )
    backend.prepare(graph())
    backend.adopt_tables({"matches": ("match_id",)})
    yield backend
    backend.close()


def match_row(key: int, title: str) -> RecordRow:
    data = {"match_id": key, "title": title}
    return RecordRow(table="matches", pk=str(key), json=orjson.dumps(data).decode())


def overview_tasks(ledger: Ledger, now: float = 0.0) -> list[Task]:
    return [t for t in ledger.claim("w", 100, now, 60.0) if t.stage == "overview"]


def first_run(ledger: Ledger) -> int:
    """Matches 1 and 2 done by parser version 1, each with a record and a half."""
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items([NewItem(kind="match", key=k, date="2024-05-20") for k in (1, 2)], run)
    completions = [
        Completion(
            task=t,
            owner="w",
            records=[match_row(int(t.key), f"v1 of {t.key}")],
            children=[NewItem(kind="half", key=f"{t.key}-1")],
            version=1,
        )
        for t in overview_tasks(ledger)
    ]
    assert all(ledger.complete(completions, run, 1.0))
    return run


def refreshed(ledger: Ledger, now: float = 10.0) -> tuple[int, dict[object, Task]]:
    run = ledger.begin_run("p", {}, now, 1)
    assert ledger.refresh("overview", dated_from="2024-05-01", seen_since=0.0) == 2
    tasks = {t.key: t for t in overview_tasks(ledger, now)}
    assert all(t.refresh for t in tasks.values())
    return run, tasks


def test_an_unchanged_completion_keeps_the_records_children_and_version(ledger: Ledger) -> None:
    first = first_run(ledger)
    run, tasks = refreshed(ledger)
    assert ledger.kept_records() == {"matches": 2}  # reset: held until they complete
    settled = ledger.complete(
        [
            # the site said match 1 had not changed; version 2 parses match 2 anew
            Completion(task=tasks[1], owner="w", version=2, refresh=True, unchanged=True),
            Completion(
                task=tasks[2],
                owner="w",
                records=[match_row(2, "v2 of 2")],
                version=2,
                refresh=True,
            ),
        ],
        run,
        11.0,
    )
    assert settled == [True, True]
    assert ledger.counts()["overview"]["done"] == 2
    assert list(ledger.records("matches")) == [
        {"match_id": 1, "title": "v1 of 1"},
        {"match_id": 2, "title": "v2 of 2"},
    ]
    assert ledger.kept_records() == {}
    assert ledger.items_per_kind() == {"half": 2, "match": 2}
    # match 1's page was parsed by version 1 only: a re-parse for version 2 takes it
    assert ledger.redo("overview", older_than_version=2) == 1
    assert [t.key for t in overview_tasks(ledger, 20.0)] == [1]
    assert first < run


def test_an_unchanged_completion_writes_no_records_or_children_it_is_given(
    ledger: Ledger,
) -> None:
    first_run(ledger)
    run, tasks = refreshed(ledger)
    stray = Completion(
        task=tasks[1],
        owner="w",
        records=[match_row(1, "not parsed")],
        children=[NewItem(kind="half", key="1-2")],
        refresh=True,
        unchanged=True,
    )
    assert ledger.complete([stray], run, 11.0) == [True]
    assert {"match_id": 1, "title": "v1 of 1"} in list(ledger.records("matches"))
    assert ledger.known("half", ["1-1", "1-2"]) == {"1-1"}


def test_the_report_counts_this_runs_refreshes_unchanged_and_changed(ledger: Ledger) -> None:
    first = first_run(ledger)
    assert (ledger.report(first).refreshed_unchanged, ledger.report(first).refreshed_changed) == (
        0,
        0,
    )
    run, tasks = refreshed(ledger)
    ledger.add_items([NewItem(kind="match", key=3)], run)
    new = overview_tasks(ledger, 10.0)  # a first completion: no refresh
    ledger.complete(
        [
            Completion(task=tasks[1], owner="w", refresh=True, unchanged=True),
            Completion(task=tasks[2], owner="w", records=[match_row(2, "x")], refresh=True),
            *(Completion(task=t, owner="w") for t in new),
        ],
        run,
        11.0,
    )
    report = ledger.report(run)
    assert (report.refreshed_unchanged, report.refreshed_changed) == (1, 1)
    assert report.done_this_run["overview"] == 3
    assert (ledger.report(first).refreshed_unchanged, ledger.report(first).refreshed_changed) == (
        0,
        0,
    )
