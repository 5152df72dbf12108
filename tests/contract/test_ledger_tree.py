"""Listing trees in the ledger, on every backend: depth-first claims, a run limited to a
subtree (``--only``), and refresh windows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scrapeline.ledger.base import Completion, Ledger, NewItem, Task
from scrapeline.ledger.memory import MemoryLedger
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.model import Graph, Item
from scrapeline.pipeline import Pipeline, page_numbers


async def _stage(ctx: object, item: object) -> None:
    return None


async def _tournaments(ctx: object, position: object):  # type: ignore[no-untyped-def]
    yield Item(key=1)


async def seasons(ctx: object, position: object):  # type: ignore[no-untyped-def]
    yield Item(key=1)


async def events(ctx: object, position: object):  # type: ignore[no-untyped-def]
    yield Item(key=1)


def tree_graph() -> Graph:
    """tournaments → (listing) seasons → (listing) events → detail, lineups; a season
    also has a standings stage."""
    pipe = Pipeline("tree")
    pipe.discover("tournament")(_tournaments)
    pipe.discover("season", on="tournament", pages=page_numbers(0))(seasons)
    pipe.discover("event", on="season", pages=page_numbers(0))(events)
    pipe.stage("standings", on="season")(_stage)
    pipe.stage("detail", on="event")(_stage)
    pipe.stage("lineups", on="event", after="detail")(_stage)
    return pipe.graph()


@pytest.fixture(params=["memory", "sqlite"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    backend: Ledger = (
        MemoryLedger() if request.param == "memory" else SqliteLedger(tmp_path / "ledger.db")
    )
    backend.prepare(tree_graph())
    yield backend
    backend.close()


def season(key: int, tournament: int = 1, date: str | None = None) -> NewItem:
    return NewItem(kind="season", key=key, parent=("tournament", tournament), date=date)


def event(key: int, season_key: int, date: str | None = None) -> NewItem:
    return NewItem(kind="event", key=key, parent=("season", season_key), date=date)


def finish(ledger: Ledger, tasks: list[Task], run: int, now: float = 0.0) -> None:
    """Complete ``tasks``, then everything claimable after them."""
    while tasks:
        assert all(ledger.complete([Completion(task=t, owner="w") for t in tasks], run, now))
        tasks = ledger.claim("w", 100, now, 60.0)


def stages_and_keys(tasks: list[Task]) -> list[tuple[str, object]]:
    return [(t.stage, t.key) for t in tasks]


def test_the_claim_order_is_deepest_first() -> None:
    # an event's later stage, then its first, then the listings above it
    assert tree_graph().claim_order == ("lineups", "detail", "events", "standings", "seasons")
    # a higher priority goes first, whatever its depth
    pipe = Pipeline("p")
    pipe.discover("match")(_tournaments)
    pipe.stage("overview", on="match", emits="map", priority=1)(_stage)
    pipe.stage("stats", on="map")(_stage)
    assert pipe.claim_order() == ("overview", "stats")


def test_an_items_children_are_claimed_before_the_next_items_work(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items([NewItem(kind="tournament", key=1)], run)
    ledger.add_items([season(2020), season(2019)], run)
    first = ledger.claim("w", 1, 0.0, 60.0)
    assert stages_and_keys(first) == [("events", 2020)]  # the newest season's listing
    ledger.add_items([event(7, 2020), event(8, 2020)], run)
    # the found events' work comes before the other season's listing and standings
    assert stages_and_keys(ledger.claim("w", 3, 0.0, 60.0)) == [
        ("detail", 7),
        ("detail", 8),
        ("events", 2019),
    ]


def test_a_claim_within_an_item_takes_only_its_subtree(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items([NewItem(kind="tournament", key=1)], run)
    ledger.add_items([season(2020), season(2019)], run)
    ledger.add_items([event(7, 2020), event(5, 2019), event(6, 2019)], run)
    got = ledger.claim("w", 100, 0.0, 60.0, within=[("season", 2019)])
    assert sorted(stages_and_keys(got), key=str) == sorted(
        [("detail", 5), ("detail", 6), ("events", 2019), ("standings", 2019)], key=str
    )
    # nothing of the other season, nor the tournament's own listing
    assert ledger.claim("w", 100, 0.0, 60.0, within=[("season", 2019)]) == []
    assert ledger.claim("w", 100, 0.0, 60.0, within=[("season", 1999)]) == []
    rest = ledger.claim("w", 100, 0.0, 60.0)
    assert ("seasons", 1) in stages_and_keys(rest) and ("detail", 7) in stages_and_keys(rest)


def test_refresh_resets_done_tasks_of_recent_items_only(ledger: Ledger) -> None:
    old_run = ledger.begin_run("p", {}, 1_000.0, 1)
    ledger.add_items([NewItem(kind="tournament", key=1)], old_run)
    ledger.add_items([season(2020)], old_run)
    ledger.add_items(
        [event(1, 2020, "2024-05-01"), event(2, 2020, "2024-05-20"), event(3, 2020)], old_run
    )
    finish(ledger, ledger.claim("w", 100, 1_000.0, 60.0), old_run, 1_000.0)
    new_run = ledger.begin_run("p", {}, 5_000.0, 1)
    ledger.add_items([event(4, 2020)], new_run)  # found by a later run, no date
    ledger.add_items([event(5, 2020, "2024-01-01")], new_run)  # found lately, dated long ago
    finish(ledger, ledger.claim("w", 100, 5_000.0, 60.0), new_run, 5_000.0)
    assert ledger.pending_count() == 0

    reset = ledger.refresh("detail", dated_from="2024-05-15", seen_since=4_000.0)
    assert reset == 2  # event 2 by its date, event 4 by when it was first seen
    got = ledger.claim("w", 100, 6_000.0, 60.0)
    assert sorted(t.key for t in got) == [2, 4]
    assert all(t.stage == "detail" and t.refresh for t in got)
    # lineups (after detail) of those items stay done: a refresh is per stage
    assert ledger.counts()["lineups"]["done"] == 5
    assert ledger.refresh("detail", dated_from="2024-05-15", seen_since=4_000.0) == 0


def test_refresh_within_a_subtree_leaves_the_rest(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items([NewItem(kind="tournament", key=1)], run)
    ledger.add_items([season(2020), season(2019)], run)
    ledger.add_items([event(7, 2020, "2024-05-20"), event(5, 2019, "2024-05-20")], run)
    finish(ledger, ledger.claim("w", 100, 0.0, 60.0), run)
    within = [("season", 2019)]
    assert ledger.refresh("detail", dated_from="2024-05-01", seen_since=0.0, within=within) == 1
    assert [(t.stage, t.key) for t in ledger.claim("w", 100, 0.0, 60.0)] == [("detail", 5)]


def test_a_rescrape_is_not_a_refresh(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items([NewItem(kind="tournament", key=1)], run)
    ledger.add_items([season(2020, date="2024-05-01")], run)
    finish(ledger, ledger.claim("w", 100, 0.0, 60.0), run)
    assert ledger.refresh("standings", dated_from="2024-01-01", seen_since=10.0) == 1
    ledger.rescrape("season", [2020])
    got = by_stage(ledger.claim("w", 100, 0.0, 60.0), "standings")
    assert [t.refresh for t in got] == [False]


def by_stage(tasks: list[Task], stage: str) -> list[Task]:
    return [t for t in tasks if t.stage == stage]
