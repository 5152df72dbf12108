"""Waiting for the host's sake: telling whoever runs the item that it waits.

A request sometimes waits because of the host, not because of the item: a retry's
backoff, a 429's pause, the breaker's cooldown, a politeness slot (rate, delay,
concurrency), the host's robots.txt being fetched by another request. The fetch
client wraps each of those waits in :func:`waited`, which tells the current
:class:`Waiter` (a context variable: one per task, inherited by the tasks it starts)
that the item is about to wait and that it is done waiting. A run uses it to let
another item work meanwhile and to stop the waiting item's clock
(``--item-timeout`` counts the item's own work). With no waiter set (the client
used on its own) a wait is only a wait.

A waiter's two calls are plain functions: they must not block or await, so a wait
that is cancelled (or whose awaitable fails) still ends, and nothing the wait took
(a politeness slot, a lock) is left held.

    >>> import asyncio
    >>> class Noted:
    ...     def began(self, *, keeps_worker: bool = False) -> None:
    ...         print("waiting")
    ...     def ended(self, *, keeps_worker: bool = False) -> None:
    ...         print("back")
    >>> async def main() -> str:
    ...     set_waiter(Noted())
    ...     return await waited(asyncio.sleep(0, "slept"))
    >>> asyncio.run(main())
    waiting
    back
    'slept'
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable
from typing import Protocol, TypeVar

__all__ = ["Waiter", "current_waiter", "set_waiter", "waited"]

T = TypeVar("T")


class Waiter(Protocol):
    """Told when the current item begins and ends a wait for the host's sake.

    Waits may nest or overlap (a stage that fetches several pages at once): every
    :meth:`began` is followed by exactly one :meth:`ended`, on every path."""

    def began(self, *, keeps_worker: bool = False) -> None: ...

    def ended(self, *, keeps_worker: bool = False) -> None: ...


_waiter: contextvars.ContextVar[Waiter | None] = contextvars.ContextVar(
    "scrapeline_waiter", default=None
)


def set_waiter(waiter: Waiter | None) -> contextvars.Token[Waiter | None]:
    """Make ``waiter`` the current task's (and the tasks it starts from now on)."""
    return _waiter.set(waiter)


def current_waiter() -> Waiter | None:
    """The current task's waiter, if any."""
    return _waiter.get()


async def waited(awaitable: Awaitable[T], *, keeps_worker: bool = False) -> T:
    """Await ``awaitable`` as a wait for the host's sake: the current waiter, if any,
    hears :meth:`~Waiter.began` before and :meth:`~Waiter.ended` after, whatever
    happens. Returns what ``awaitable`` returns and raises what it raises.

    ``keeps_worker``: a short wait behind this run's own requests (the host's
    concurrency is full). It is not the item's work either, but handing its worker
    to another item would only queue one more behind the same requests."""
    waiter = _waiter.get()
    if waiter is None:
        return await awaitable
    waiter.began(keeps_worker=keeps_worker)
    try:
        return await awaitable
    finally:
        waiter.ended(keeps_worker=keeps_worker)
