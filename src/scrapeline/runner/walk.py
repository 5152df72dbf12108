"""A discovery's walk through its listing: where to go after each page, and the walk.

Incremental unless ``full``: the walk stops at the first page whose every key is
known, unless an earlier walk was cut short; then it jumps to where that walk got
to and goes on, so an interrupted backfill is finished by the next run. Keys
identify items, so a listing that shifted meanwhile only makes pages overlap.

The listing ends at an empty page, or at a 404 or 410 past the walk's first page
(:func:`after_error`). The decisions are pure (:func:`before_page`,
:func:`after_page`, :func:`after_error`)::

    >>> after_page(new=0, keys=20, position=0, step=20, full=False, furthest=None)
    Stop(reason='known page', finished=True, next_position=20)
    >>> after_page(new=0, keys=20, position=0, step=20, full=False, furthest=400)
    JumpTo(position=400)

:func:`walk_listing` fetches the pages, stores each page's items in one trip to the
ledger, and emits PageDiscovered and DiscoveryFinished.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from scrapeline import events as ev
from scrapeline.context import Context, Fetch
from scrapeline.errors import HTTPError, LedgerError, RunHalted
from scrapeline.ledger.aio import AsyncWorkQueue
from scrapeline.ledger.base import Walk
from scrapeline.pipeline import Discovery
from scrapeline.runner.execute import cancelled_by_us, describe, storable_item

log = logging.getLogger("scrapeline.runner")


@dataclass(frozen=True, slots=True, kw_only=True)
class Continue:
    """Fetch the page at ``next``; the walk has reached it."""

    next: int


@dataclass(frozen=True, slots=True, kw_only=True)
class JumpTo:
    """Nothing new here, but an earlier walk was cut short further on: go there."""

    position: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Stop:
    """The walk ends. ``finished``: the listing was walked to its end (or to the
    known part), so the next run starts from the top; ``next_position`` is stored."""

    reason: str
    finished: bool = False
    next_position: int | None = None


Step: TypeAlias = Continue | JumpTo | Stop


def before_page(*, position: int, end: int | None, stopping: bool) -> Stop | None:
    """Whether to stop before fetching the page at ``position``."""
    if end is not None and position > end:
        return Stop(reason="end offset")
    if stopping:
        return Stop(reason="interrupted")
    return None


def after_page(
    *, new: int, keys: int, position: int, step: int, full: bool, furthest: int | None
) -> Step:
    """Where to go after the page at ``position`` gave ``keys`` distinct keys, ``new``
    of them not seen before. ``furthest`` is where a cut-short earlier walk got to
    (None when it finished, or once the walk jumped there)."""
    if keys == 0:
        return Stop(reason="end of listing", finished=True, next_position=position)
    following = position + step
    if new == 0 and not full:
        if furthest is not None and furthest >= following:
            return JumpTo(position=furthest)
        return Stop(reason="known page", finished=True, next_position=following)
    return Continue(next=following)


ENDS_LISTING: frozenset[int] = frozenset({404, 410})
"""Statuses that a listing answers past its last page."""


def after_error(*, status: int | None, position: int, first: bool) -> Stop | None:
    """Whether a page that failed with HTTP ``status`` ends the listing instead of
    failing the walk: a 404 or 410 past the walk's first page is the end of the
    listing, and nothing past it is kept as a resume point. On the first page the
    walk fetches it is a failure: a wrong URL must not look like an empty listing."""
    if status in ENDS_LISTING and not first:
        return Stop(reason="end of listing", finished=True, next_position=position)
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class WalkOptions:
    start: int | None = None
    end: int | None = None
    full: bool = False
    """Walk on past known pages (``--full``, and ``--force-rescrape``)."""
    rescrape: bool = False
    """Known items found on the way go back to pending (``--force-rescrape``)."""
    config: Mapping[str, Any] | None = None


async def walk_listing(
    d: Discovery,
    *,
    queue: AsyncWorkQueue,
    fetch: Fetch,
    options: WalkOptions,
    run_id: int,
    emit: Callable[[ev.Event], None],
    stopping: Callable[[], bool],
    on_page: Callable[[int], None],
    on_halt: Callable[[str, BaseException], None],
    on_error: Callable[[str], None],
) -> str:
    """Walk ``d``'s listing from the start offset; return why it stopped.

    ``on_page(new)`` after each stored page (its items are claimable now);
    ``on_halt(reason, error)`` when the run must stop (LedgerError, RunHalted);
    ``on_error(message)`` when a page failed (the run will exit 1). The walk's
    progress is saved after each page, so a walk cut short is resumed by the next
    run. The run's own cancellation propagates."""
    previous = await queue.walk(d.name)
    furthest = previous.next_position if previous and not previous.finished else None
    position = d.pages.first if options.start is None else options.start
    pages = new_total = fetched = 0
    full = options.full or options.rescrape
    config = options.config if options.config is not None else {}
    while True:
        stop = before_page(position=position, end=options.end, stopping=stopping())
        if stop is not None:
            break
        ctx = Context(fetch=fetch, config=config, run_id=run_id, expect=d.expect)
        try:
            batch = [storable_item(it, d.kind) async for it in d.fn(ctx, position)]
        except (RunHalted, LedgerError) as exc:
            on_halt(str(exc), exc)
            stop = Stop(reason="halted")
            break
        except BaseException as exc:  # SystemExit too: the user's code fails its page
            if cancelled_by_us(exc):
                raise
            status = exc.status if isinstance(exc, HTTPError) else None
            ended = after_error(status=status, position=position, first=fetched == 0)
            if ended is not None:
                log.info(
                    "discovery %s: HTTP %s at %s, the end of the listing", d.name, status, position
                )
                stop = ended
                break
            category, text = describe(exc)
            on_error(f"{d.name} at {position} ({category}): {text}")
            stop = Stop(reason="error")
            break
        fetched += 1
        keys = len(dict.fromkeys(it.key for it in batch))
        new = 0
        if batch:
            try:
                new = await queue.add_page(d.kind, batch, run_id, rescrape=options.rescrape)
            except LedgerError as exc:
                on_halt(f"cannot write the ledger: {exc}", exc)
                stop = Stop(reason="halted")
                break
            except Exception as exc:
                log.error("discovery %s could not store its page", d.name, exc_info=exc)
                category, text = describe(exc)
                on_error(f"{d.name} at {position} ({category}): {text}")
                stop = Stop(reason="error")
                break
            on_page(new)
            pages += 1
            new_total += new
            emit(ev.PageDiscovered(discovery=d.name, position=position, keys=keys, new=new))
        step = after_page(
            new=new, keys=keys, position=position, step=d.pages.step, full=full, furthest=furthest
        )
        if isinstance(step, Stop):
            stop = step
            break
        if isinstance(step, JumpTo):
            log.info("discovery %s: resuming a cut-short walk at %s", d.name, step.position)
            position, furthest = step.position, None
            continue
        position = step.next
        reached = max(position, furthest or 0)
        await queue.save_walk(Walk(name=d.name, next_position=reached, finished=False))
    if stop.finished and stop.next_position is not None:
        await queue.save_walk(Walk(name=d.name, next_position=stop.next_position, finished=True))
    emit(ev.DiscoveryFinished(discovery=d.name, pages=pages, new=new_total, reason=stop.reason))
    return stop.reason
