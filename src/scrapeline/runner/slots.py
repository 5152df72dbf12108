"""Worker slots: ``--workers N`` items at work at once, not counting those that wait.

An item that waits for the host's sake — a retry's backoff, a 429's pause, the
breaker's cooldown, a politeness slot — does no work: it gives its slot up, so that
another item can run meanwhile, and its time limit stops
(:class:`~scrapeline.runner.execute.Deadlines`). The fetch client says when such a
wait begins and ends (:mod:`scrapeline.fetch.waiting`); :class:`ItemWaits` is what
hears it, one per worker.

A waiting item takes its slot back the moment its wait ends, without waiting for
one: the wait may have taken something only it can give back (the host's politeness
slot, a lock of the stage's own), so holding it up again could leave every slot
with an item that waits for it. While items back from a wait outnumber the slots
(``free < 0``), no new item starts: the next worker to finish an item leaves
instead of taking another, and the count is back to N.

    >>> spawned = []
    >>> slots = WorkerSlots(2, on_free=lambda: spawned.append(slots.free))
    >>> slots.free = 0  # both slots held by workers at work
    >>> slots.give()  # one of them waits for the host: another worker may start
    >>> spawned
    [1]
    >>> slots.take_back(), slots.take_back()  # back from two waits at once
    (None, None)
    >>> slots.over, slots.free
    (True, -1)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from scrapeline.runner.execute import Deadlines

__all__ = ["ItemWaits", "WorkerSlots"]


class WorkerSlots:
    """The run's worker slots. ``free`` is how many nobody holds: below zero while
    more items are at work than there are slots (items just back from a wait).

    ``on_free`` is called when a slot comes free (a worker may start then)."""

    __slots__ = ("_on_free", "free")

    def __init__(self, workers: int, *, on_free: Callable[[], None]) -> None:
        self.free = workers
        self._on_free = on_free

    @property
    def over(self) -> bool:
        """More items at work than slots: the next worker done with an item leaves."""
        return self.free < 0

    def take(self) -> None:
        """A worker starts, holding a slot."""
        self.free -= 1

    def give(self) -> None:
        """A slot's item waits for the host (or its worker leaves)."""
        self.free += 1
        if self.free > 0:
            self._on_free()

    def take_back(self) -> None:
        """An item is back from its wait: it works again at once, holding a slot even
        when none is free (see the module docstring)."""
        self.free -= 1


class ItemWaits:
    """The :class:`~scrapeline.fetch.waiting.Waiter` of one worker's items: while the
    item waits for the host, its slot is given up and its clock is stopped.

    Waits may overlap (a stage fetching several pages at once): the slot is given up
    when the first begins and taken back when the last ends."""

    __slots__ = ("_deadlines", "_depth", "_freed", "_slots", "_task")

    def __init__(self, slots: WorkerSlots, deadlines: Deadlines, task: asyncio.Task[Any]) -> None:
        self._slots = slots
        self._deadlines = deadlines
        self._task = task
        self._depth = 0
        """Waits under way: the item's clock is stopped while there is one."""
        self._freed = 0
        """Waits under way that gave the worker's slot up (not ``keeps_worker``)."""

    def began(self, *, keeps_worker: bool = False) -> None:
        self._depth += 1
        if self._depth == 1:
            self._deadlines.pause(self._task)
        if not keeps_worker:
            self._freed += 1
            if self._freed == 1:
                self._slots.give()

    def ended(self, *, keeps_worker: bool = False) -> None:
        if not keeps_worker:
            self._freed -= 1
            if self._freed == 0:
                self._slots.take_back()
        self._depth -= 1
        if self._depth == 0:
            self._deadlines.resume(self._task)
