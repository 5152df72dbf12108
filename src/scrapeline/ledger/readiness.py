"""When a task is ready: the ledger's readiness rules, stated once. Pure, no I/O.

A task is one (item, stage). It is WAITING until every dependency of its stage
is DONE, then PENDING. A dependency names a stage and whose stage it is: the
same item's (``same_item``), or that of the item's nearest ancestor of the
dependency's kind. A dependency nobody can satisfy (no such ancestor, or no
such task) keeps the task WAITING.

Every backend decides readiness with these functions, over plain values; a
backend may do the bulk work in its own query language, but what it does is
generated from the plans here (:func:`unblocks`, :func:`first_status`), so the
rules live in one place:

- :func:`owner` — whose task a dependency points at;
- :func:`task_status` — the status a WAITING task should have now;
- :func:`first_status` — a new item's task, when it can be decided unread;
- :func:`unblocks` — which tasks may be ready once a stage is done for an item;
- :func:`reset_status` — what a reset (``rescrape``, ``redo``, ``reset_failed``)
  leaves a task as: reset tasks count as not done while the others are decided.

    >>> from scrapeline.model import Dependency, Graph, StageNode
    >>> overview = StageNode(name="overview", kind="match", deps=())
    >>> halves = StageNode(
    ...     name="halves", kind="half",
    ...     deps=(Dependency(stage="overview", same_item=False, kind="match"),),
    ... )
    >>> graph = Graph(stages={"overview": overview, "halves": halves})
    >>> half, lineage = ("half", "1-1"), [("match", 1)]
    >>> task_status(halves, half, lineage, done=set())
    <Status.WAITING: 'waiting'>
    >>> task_status(halves, half, lineage, done={(("match", 1), "overview")})
    <Status.PENDING: 'pending'>
    >>> [(u.stage, u.same_item) for u in unblocks(graph, "overview")]
    [('halves', False)]
    >>> first_status(halves, emitted_by="overview", graph=graph)
    <Status.PENDING: 'pending'>
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass

from scrapeline.ledger.base import Status
from scrapeline.model import Dependency, Graph, Key, StageNode

ItemRef = tuple[str, Key]
"""An item as (kind, key)."""
Done = Container[tuple[ItemRef, str]]
"""The (item, stage) pairs whose task is DONE; anything answering ``in``."""


def owner(dep: Dependency, item: ItemRef, lineage: Sequence[ItemRef]) -> ItemRef | None:
    """The item whose ``dep.stage`` task ``dep`` points at, from ``item``.

    ``lineage`` is the item's ancestors, nearest first. None when the dependency
    names an ancestor kind the item has none of."""
    if dep.same_item:
        return item
    for ancestor in lineage:
        if ancestor[0] == dep.kind:
            return ancestor
    return None


def task_status(node: StageNode, item: ItemRef, lineage: Sequence[ItemRef], done: Done) -> Status:
    """The status a not-yet-claimed task of ``node`` on ``item`` should have:
    PENDING when every dependency's task is DONE, else WAITING."""
    for dep in node.deps:
        target = owner(dep, item, lineage)
        if target is None or (target, dep.stage) not in done:
            return Status.WAITING
    return Status.PENDING


@dataclass(frozen=True, slots=True)
class _DoneExcept:
    done: Done
    reset: Container[tuple[ItemRef, str]]

    def __contains__(self, pair: object) -> bool:
        return pair not in self.reset and pair in self.done


def reset_status(
    node: StageNode,
    item: ItemRef,
    lineage: Sequence[ItemRef],
    done: Done,
    reset: Container[tuple[ItemRef, str]],
) -> Status:
    """The status a reset task takes: as :func:`task_status`, with every task of
    the same reset (``reset``, as (item, stage)) counted as not done, whatever
    ``done`` still says of it. So a rescraped item's later stages wait for its
    earlier ones again, and a redone stage's own dependents are not touched."""
    return task_status(node, item, lineage, _DoneExcept(done, reset))


def first_status(node: StageNode, *, emitted_by: str | None, graph: Graph) -> Status | None:
    """A new item's task status when it follows from the graph alone, else None.

    ``emitted_by`` is the stage whose completion, in the same transaction, added
    the item as its child (None for a discovered item, or a child that names
    another parent). A stage without dependencies is PENDING; one with a
    same-item dependency is WAITING (a new item has no task done); one that only
    depends on ``emitted_by`` of the parent's kind is PENDING (the parent is its
    nearest ancestor of that kind, and that task is done now). Anything else
    must be read from the ledger (None): see :func:`task_status`."""
    if not node.deps:
        return Status.PENDING
    if any(d.same_item for d in node.deps):
        return Status.WAITING
    if emitted_by is not None and emitted_by in graph.stages:
        parent_kind = graph.stages[emitted_by].kind
        if all(d.stage == emitted_by and d.kind == parent_kind for d in node.deps):
            return Status.PENDING
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Unblock:
    """Tasks that may become ready once ``after`` is done for an item."""

    stage: str
    """The dependent stage."""
    kind: str
    """The kind of item its tasks are on."""
    same_item: bool
    """True: the task on the item just done. False: tasks on its descendants of ``kind``."""
    local: bool
    """Every dependency of the stage is a same-item one: readiness reads only the
    item's own tasks (one set-wise statement in SQL)."""
    deps: tuple[Dependency, ...]


def unblocks(graph: Graph, after: str) -> tuple[Unblock, ...]:
    """Which WAITING tasks to look at once stage ``after`` is done for an item:
    each dependent stage once per way it depends on ``after`` (the same item's
    stage, or an ancestor's). Whether each is ready is :func:`task_status`."""
    found: list[Unblock] = []
    for node in graph.dependents(after):
        ways = sorted({d.same_item for d in node.deps if d.stage == after}, reverse=True)
        local = all(d.same_item for d in node.deps)
        for same in ways:
            found.append(
                Unblock(
                    stage=node.name, kind=node.kind, same_item=same, local=local, deps=node.deps
                )
            )
    return tuple(found)
