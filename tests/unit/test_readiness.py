"""The readiness rules as tables: when a task waits, when it is ready."""

from __future__ import annotations

import pytest

from scrapeline.ledger.base import Status
from scrapeline.ledger.readiness import (
    ItemRef,
    first_status,
    owner,
    reset_status,
    task_status,
    unblocks,
)
from scrapeline.model import Dependency, Graph, StageNode


def same(stage: str, kind: str = "match") -> Dependency:
    return Dependency(stage=stage, same_item=True, kind=kind)


def up(stage: str, kind: str) -> Dependency:
    return Dependency(stage=stage, same_item=False, kind=kind)


OVERVIEW = StageNode(name="overview", kind="match", deps=())
LINEUPS = StageNode(name="lineups", kind="match", deps=())
REPORT = StageNode(name="report", kind="match", deps=(same("overview"), same("lineups")))
HALF_STATS = StageNode(name="half_stats", kind="half", deps=(up("overview", "match"),))
EVENTS = StageNode(name="events", kind="event", deps=(up("lineups", "match"),))
SHOTS = StageNode(
    name="shots", kind="event", deps=(up("half_stats", "half"), up("overview", "match"))
)
GRAPH = Graph(stages={n.name: n for n in (OVERVIEW, LINEUPS, REPORT, HALF_STATS, EVENTS, SHOTS)})

MATCH: ItemRef = ("match", 1)
OTHER: ItemRef = ("match", 2)
HALF: ItemRef = ("half", "1-1")
EVENT: ItemRef = ("event", "e1")


@pytest.mark.parametrize(
    ("node", "item", "lineage", "done", "expected"),
    [
        # no dependencies: ready at once
        (OVERVIEW, MATCH, [], set(), Status.PENDING),
        # same-item dependencies: every one done
        (REPORT, MATCH, [], {(MATCH, "overview"), (MATCH, "lineups")}, Status.PENDING),
        (REPORT, MATCH, [], {(MATCH, "overview")}, Status.WAITING),
        (REPORT, MATCH, [], set(), Status.WAITING),
        # another item's stage does not count for the same-item rule
        (REPORT, MATCH, [], {(OTHER, "overview"), (OTHER, "lineups")}, Status.WAITING),
        # ancestor-kind dependency: the parent's, or a grandparent's
        (HALF_STATS, HALF, [MATCH], {(MATCH, "overview")}, Status.PENDING),
        (EVENTS, EVENT, [HALF, MATCH], {(MATCH, "lineups")}, Status.PENDING),
        (EVENTS, EVENT, [HALF, MATCH], {(MATCH, "overview")}, Status.WAITING),
        # another match's stage is not this item's ancestor's
        (HALF_STATS, HALF, [MATCH], {(OTHER, "overview")}, Status.WAITING),
        # no ancestor of the kind the dependency names: waits for ever
        (HALF_STATS, HALF, [], {(MATCH, "overview")}, Status.WAITING),
        (EVENTS, EVENT, [HALF], {(MATCH, "lineups")}, Status.WAITING),
        # several ancestor dependencies: all of them
        (SHOTS, EVENT, [HALF, MATCH], {(HALF, "half_stats"), (MATCH, "overview")}, Status.PENDING),
        (SHOTS, EVENT, [HALF, MATCH], {(HALF, "half_stats")}, Status.WAITING),
        # a failed (or pending, running) dependency is not done
        (REPORT, MATCH, [], {(MATCH, "lineups")}, Status.WAITING),
    ],
)
def test_task_status(
    node: StageNode,
    item: ItemRef,
    lineage: list[ItemRef],
    done: set[tuple[ItemRef, str]],
    expected: Status,
) -> None:
    assert task_status(node, item, lineage, done) is expected


def test_the_nearest_ancestor_of_the_kind_is_the_one_that_counts() -> None:
    inner, outer = ("match", "inner"), ("match", "outer")
    dep = up("overview", "match")
    assert owner(dep, HALF, [inner, outer]) == inner
    assert task_status(HALF_STATS, HALF, [inner, outer], {(outer, "overview")}) is Status.WAITING


@pytest.mark.parametrize(
    ("node", "emitted_by", "expected"),
    [
        (OVERVIEW, None, Status.PENDING),  # no dependencies
        (OVERVIEW, "overview", Status.PENDING),
        (REPORT, None, Status.WAITING),  # a new item has none of its own stages done
        (REPORT, "overview", Status.WAITING),
        (HALF_STATS, "overview", Status.PENDING),  # its parent just finished that stage
        (HALF_STATS, "lineups", None),  # another stage of the parent: read it
        (HALF_STATS, None, None),  # discovered, or naming its own parent: read it
        (EVENTS, "overview", None),
        (SHOTS, "half_stats", None),  # one dependency is the grandparent's: read it
    ],
)
def test_first_status_of_a_new_items_task(
    node: StageNode, emitted_by: str | None, expected: Status | None
) -> None:
    assert first_status(node, emitted_by=emitted_by, graph=GRAPH) is expected


@pytest.mark.parametrize("node", list(GRAPH.stages.values()), ids=lambda n: n.name)
@pytest.mark.parametrize("emitted_by", [None, *GRAPH.stages])
def test_first_status_agrees_with_the_rule_whenever_it_decides(
    node: StageNode, emitted_by: str | None
) -> None:
    decided = first_status(node, emitted_by=emitted_by, graph=GRAPH)
    if decided is None:
        return
    item: ItemRef = (node.kind, "new")
    lineage: list[ItemRef] = []
    done: set[tuple[ItemRef, str]] = set()
    if emitted_by is not None:  # the parent, with the stage that emitted it done
        parent: ItemRef = (GRAPH.stages[emitted_by].kind, "p")
        lineage, done = [parent], {(parent, emitted_by)}
    assert task_status(node, item, lineage, done) is decided


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (
            "overview",
            [("report", True, True), ("half_stats", False, False), ("shots", False, False)],
        ),
        ("lineups", [("report", True, True), ("events", False, False)]),
        ("half_stats", [("shots", False, False)]),
        ("report", []),
    ],
)
def test_unblocks_names_each_dependent_and_where_its_tasks_are(
    after: str, expected: list[tuple[str, bool, bool]]
) -> None:
    got = [(u.stage, u.same_item, u.local) for u in unblocks(GRAPH, after)]
    assert got == expected


@pytest.mark.parametrize(
    ("node", "item", "lineage", "done", "reset", "expected"),
    [
        # rescrape: the item's stages are all reset; the later one waits again
        (
            REPORT,
            MATCH,
            [],
            {(MATCH, "overview"), (MATCH, "lineups"), (MATCH, "report")},
            {(MATCH, "overview"), (MATCH, "lineups"), (MATCH, "report")},
            Status.WAITING,
        ),
        (
            OVERVIEW,
            MATCH,
            [],
            {(MATCH, "overview")},
            {(MATCH, "overview"), (MATCH, "report")},
            Status.PENDING,
        ),
        # rescrape of a match resets its half too: the half waits for the match
        (
            HALF_STATS,
            HALF,
            [MATCH],
            {(MATCH, "overview"), (HALF, "half_stats")},
            {(MATCH, "overview"), (HALF, "half_stats")},
            Status.WAITING,
        ),
        # redo of one stage: its dependencies stay done, so it is ready at once
        (
            REPORT,
            MATCH,
            [],
            {(MATCH, "overview"), (MATCH, "lineups"), (MATCH, "report")},
            {(MATCH, "report")},
            Status.PENDING,
        ),
        # redo of a stage whose ancestor dependency is not done: it waits
        (HALF_STATS, HALF, [MATCH], {(HALF, "half_stats")}, {(HALF, "half_stats")}, Status.WAITING),
        # reset of a failed task whose dependencies are done
        (HALF_STATS, HALF, [MATCH], {(MATCH, "overview")}, {(HALF, "half_stats")}, Status.PENDING),
    ],
)
def test_reset_status(
    node: StageNode,
    item: ItemRef,
    lineage: list[ItemRef],
    done: set[tuple[ItemRef, str]],
    reset: set[tuple[ItemRef, str]],
    expected: Status,
) -> None:
    assert reset_status(node, item, lineage, done, reset) is expected
