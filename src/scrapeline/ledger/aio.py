"""The work queue as the event loop sees it: async calls, one writer.

The runner and the composition root never call a synchronous ledger from the event
loop: they await an :class:`AsyncWorkQueue`. :class:`AsyncLedger` is that port over
any synchronous :class:`~scrapeline.ledger.base.Ledger` (SQLite, memory): it owns the
one writer thread, and every call is serialised there, in the order it was made. A
backend with a native async driver (PostgreSQL) can implement the port directly.

    >>> import asyncio
    >>> from scrapeline.ledger.memory import MemoryLedger
    >>> async def main() -> int:
    ...     queue = AsyncLedger(MemoryLedger())
    ...     try:
    ...         return await queue.begin_run("demo", {}, 0.0, 1)
    ...     finally:
    ...         queue.close()
    >>> asyncio.run(main())
    1

Contract
    * Calls run one at a time, in the order they were awaited (one thread).
    * :meth:`AsyncLedger.call` runs a small function of several ledger calls in
      one trip to the thread, so it does not queue once per call behind others.
    * :meth:`AsyncLedger.call_blocking` is for a thread other than the loop's
      (the shutdown watchdog, while a stage blocks the loop); it waits at most
      ``timeout`` seconds.
    * :meth:`AsyncLedger.close` waits for the calls already queued, then stops the
      thread; it does not close the ledger (its owner does).
    * Ledger methods raise LedgerError, never a driver exception; so do these.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from scrapeline.ledger.base import (
    Completion,
    Failure,
    Ledger,
    NewItem,
    RunReport,
    RunStatus,
    Task,
    Walk,
)
from scrapeline.model import Key

T = TypeVar("T")


class AsyncWorkQueue(Protocol):
    """What a run asks of the ledger, awaited from the event loop.

    Each method means what the :class:`~scrapeline.ledger.base.Ledger` method of the
    same name means; :meth:`add_page` stores one listing page in one trip."""

    async def begin_run(
        self, pipeline: str, options: Mapping[str, Any], now: float, pid: int
    ) -> int: ...

    async def end_run(
        self, run_id: int, status: RunStatus, now: float, summary: Mapping[str, Any]
    ) -> None: ...

    async def reset_failed(self) -> int: ...

    async def pending_count(self) -> int: ...

    async def claim(
        self,
        owner: str,
        limit: int,
        now: float,
        lease: float,
        stages: Sequence[str] | None = None,
        within: Sequence[tuple[str, Key]] | None = None,
    ) -> list[Task]: ...

    async def complete(
        self, completions: Sequence[Completion], run_id: int, now: float
    ) -> list[bool]: ...

    async def fail(self, failures: Sequence[Failure], run_id: int, now: float) -> list[bool]: ...

    async def release(self, tasks: Sequence[Task], owner: str) -> int: ...

    async def add_items(self, items: Sequence[NewItem], run_id: int) -> int: ...

    async def known(self, kind: str, keys: Sequence[Key]) -> set[Key]: ...

    async def rescrape(self, kind: str, keys: Sequence[Key]) -> int: ...

    async def redo(self, stage: str, *, within: Sequence[tuple[str, Key]] | None = None) -> int: ...

    async def refresh(
        self,
        stage: str,
        *,
        dated_from: str,
        seen_since: float,
        within: Sequence[tuple[str, Key]] | None = None,
    ) -> int: ...

    async def add_page(
        self, kind: str, items: Sequence[NewItem], run_id: int, *, rescrape: bool
    ) -> int:
        """Store a listing page's items in one trip; with ``rescrape``, the items
        already known go back to pending. Returns how many keys were new."""
        ...

    async def walk(self, name: str) -> Walk | None: ...

    async def save_walk(self, walk: Walk) -> None: ...

    async def report(self, run_id: int) -> RunReport: ...

    def call_blocking(self, fn: Callable[[Ledger], T], *, timeout: float) -> T:
        """Run ``fn(ledger)`` from a thread that is not the event loop's, waiting at
        most ``timeout`` seconds (TimeoutError past it)."""
        ...


class AsyncLedger:
    """:class:`AsyncWorkQueue` over a synchronous ledger, through one writer thread."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scrapeline-ledger")

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the writer thread: one trip however many ledger calls it makes."""
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    def call_blocking(self, fn: Callable[[Ledger], T], *, timeout: float) -> T:
        return self._io.submit(fn, self.ledger).result(timeout=timeout)

    def close(self) -> None:
        """Finish what is queued, then stop the thread. Idempotent."""
        self._io.shutdown(wait=True)

    async def begin_run(
        self, pipeline: str, options: Mapping[str, Any], now: float, pid: int
    ) -> int:
        return await self.call(self.ledger.begin_run, pipeline, options, now, pid)

    async def end_run(
        self, run_id: int, status: RunStatus, now: float, summary: Mapping[str, Any]
    ) -> None:
        await self.call(self.ledger.end_run, run_id, status, now, summary)

    async def reset_failed(self) -> int:
        return await self.call(self.ledger.reset_failed)

    async def pending_count(self) -> int:
        return await self.call(self.ledger.pending_count)

    async def claim(
        self,
        owner: str,
        limit: int,
        now: float,
        lease: float,
        stages: Sequence[str] | None = None,
        within: Sequence[tuple[str, Key]] | None = None,
    ) -> list[Task]:
        return await self.call(self.ledger.claim, owner, limit, now, lease, stages, within)

    async def redo(self, stage: str, *, within: Sequence[tuple[str, Key]] | None = None) -> int:
        return await self.call(functools.partial(self.ledger.redo, stage, within=within))

    async def refresh(
        self,
        stage: str,
        *,
        dated_from: str,
        seen_since: float,
        within: Sequence[tuple[str, Key]] | None = None,
    ) -> int:
        return await self.call(
            functools.partial(
                self.ledger.refresh,
                stage,
                dated_from=dated_from,
                seen_since=seen_since,
                within=within,
            )
        )

    async def complete(
        self, completions: Sequence[Completion], run_id: int, now: float
    ) -> list[bool]:
        return await self.call(self.ledger.complete, completions, run_id, now)

    async def fail(self, failures: Sequence[Failure], run_id: int, now: float) -> list[bool]:
        return await self.call(self.ledger.fail, failures, run_id, now)

    async def release(self, tasks: Sequence[Task], owner: str) -> int:
        return await self.call(self.ledger.release, tasks, owner)

    async def add_items(self, items: Sequence[NewItem], run_id: int) -> int:
        return await self.call(self.ledger.add_items, items, run_id)

    async def known(self, kind: str, keys: Sequence[Key]) -> set[Key]:
        return await self.call(self.ledger.known, kind, keys)

    async def rescrape(self, kind: str, keys: Sequence[Key]) -> int:
        return await self.call(self.ledger.rescrape, kind, keys)

    async def add_page(
        self, kind: str, items: Sequence[NewItem], run_id: int, *, rescrape: bool
    ) -> int:
        return await self.call(_add_page, self.ledger, kind, items, run_id, rescrape)

    async def walk(self, name: str) -> Walk | None:
        return await self.call(self.ledger.walk, name)

    async def save_walk(self, walk: Walk) -> None:
        await self.call(self.ledger.save_walk, walk)

    async def report(self, run_id: int) -> RunReport:
        return await self.call(self.ledger.report, run_id)


def _add_page(
    ledger: Ledger, kind: str, items: Sequence[NewItem], run_id: int, rescrape: bool
) -> int:
    """A listing page into the ledger (in the writer thread). Returns how many were new."""
    if not rescrape:
        return ledger.add_items(items, run_id)
    keys = list(dict.fromkeys(it.key for it in items))
    known = ledger.known(kind, keys)
    ledger.add_items(items, run_id)
    if known:
        ledger.rescrape(kind, [k for k in keys if k in known])
    return len(keys) - len(known)
