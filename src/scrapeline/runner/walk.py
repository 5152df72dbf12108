"""A discovery's walk through its listing: where to go after each page, and the walk.

Incremental unless ``full``: the walk stops at the first page whose every key is
known, unless an earlier walk was cut short; then it jumps to where that walk got
to and goes on, so an interrupted backfill is finished by the next run. Keys
identify items, so a listing that shifted meanwhile only makes pages overlap.

Offsets and page numbers go on by a step; cursors go where the discovery said
(``ctx.next_page``). The listing ends at an empty page, at a page the discovery
called the last (``ctx.last_page()``, or no ``ctx.next_page`` over cursors), or at
a 404 or 410 past the walk's first page (:func:`after_error`). The decisions are
pure (:func:`before_page`, :func:`after_page`, :func:`after_error`)::

    >>> after_page(new=0, keys=20, position=0, following=20, full=False, furthest=None)
    Stop(reason='known page', finished=True, next_position=20)
    >>> after_page(new=0, keys=20, position=0, following=20, full=False, furthest=400)
    JumpTo(position=400)
    >>> after_page(new=20, keys=20, position="c1", following=None, full=False, furthest=None)
    Stop(reason='last page', finished=True, next_position='c1')

:func:`walk_listing` fetches the pages, stores each page's items in one trip to the
ledger, and emits PageDiscovered and DiscoveryFinished.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from scrapeline import events as ev
from scrapeline.context import Context, Fetch
from scrapeline.errors import Category, HTTPError, LedgerError, RunHalted
from scrapeline.ledger.aio import AsyncWorkQueue
from scrapeline.ledger.base import Walk
from scrapeline.model import Item, Key
from scrapeline.pipeline import Discovery
from scrapeline.runner.execute import cancelled_by_us, describe, storable_item

log = logging.getLogger("scrapeline.runner")


Position: TypeAlias = int | str | None
"""Where a page is: an offset or a page number; for cursors the cursor (a token or a
URL), None for the first page."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Continue:
    """Fetch the page at ``next``; the walk has reached it."""

    next: Position


@dataclass(frozen=True, slots=True, kw_only=True)
class JumpTo:
    """Nothing new here, but an earlier walk was cut short further on: go there."""

    position: Position


@dataclass(frozen=True, slots=True, kw_only=True)
class Stop:
    """The walk ends. ``finished``: the listing was walked to its end (or to the
    known part), so the next run starts from the top; ``next_position`` is stored."""

    reason: str
    finished: bool = False
    next_position: Position = None


Step: TypeAlias = Continue | JumpTo | Stop


def before_page(*, position: Position, end: int | None, stopping: bool) -> Stop | None:
    """Whether to stop before fetching the page at ``position`` (``end`` bounds
    offsets and page numbers; a cursor has no order to compare)."""
    if end is not None and isinstance(position, int) and position > end:
        return Stop(reason="end offset")
    if stopping:
        return Stop(reason="interrupted")
    return None


def after_page(
    *,
    new: int,
    keys: int,
    position: Position,
    following: Position,
    full: bool,
    furthest: Position,
    resumed: bool = False,
) -> Step:
    """Where to go after the page at ``position`` gave ``keys`` distinct keys, ``new``
    of them not seen before. ``following`` is the next page, None when the response
    said this page is the last. ``furthest`` is where a cut-short earlier walk got to
    (None when it finished, or once the walk jumped there). ``resumed``: this page is
    where the walk jumped to; the cut-short walk may have stored its items just before
    it was cut short (before it could save where it was), so a known page there is
    not the end of the new ones.

    >>> after_page(new=0, keys=20, position=400, following=420, full=False,
    ...            furthest=None, resumed=True)
    Continue(next=420)
    """
    if keys == 0:
        return Stop(reason="end of listing", finished=True, next_position=position)
    if following is None:
        return Stop(reason="last page", finished=True, next_position=position)
    if new == 0 and not full and not resumed:
        if furthest is not None and _not_behind(furthest, following):
            return JumpTo(position=furthest)
        return Stop(reason="known page", finished=True, next_position=following)
    return Continue(next=following)


def _not_behind(furthest: int | str, following: int | str) -> bool:
    """Whether a cut-short walk got at least as far as ``following``. Cursors have
    no order: a cut-short walk's cursor is always worth going to."""
    if isinstance(furthest, int) and isinstance(following, int):
        return furthest >= following
    return True


def resume_point(position: Position, furthest: Position) -> Position:
    """What to save as the place to resume at, the walk being about to fetch
    ``position``: the furthest of it and where a cut-short walk got to (for cursors,
    which have no order, the cut-short walk's until the walk jumps there)."""
    if furthest is None:
        return position
    if isinstance(position, int) and isinstance(furthest, int):
        return max(position, furthest)
    return furthest


ENDS_LISTING: frozenset[int] = frozenset({404, 410})
"""Statuses that a listing answers past its last page."""


def after_error(*, status: int | None, position: Position, first: bool) -> Stop | None:
    """Whether a page that failed with HTTP ``status`` ends the listing instead of
    failing the walk: a 404 or 410 past the walk's first page is the end of the
    listing, and nothing past it is kept as a resume point. On the first page the
    walk fetches it is a failure: a wrong URL must not look like an empty listing."""
    if status in ENDS_LISTING and not first:
        return Stop(reason="end of listing", finished=True, next_position=position)
    return None


def within_limit(keys: Sequence[Key], known: Container[Key], remaining: int) -> int:
    """How many of a page's items (in page order) a walk limited to ``remaining``
    more new items keeps: up to the ``remaining``-th new key, all of them when fewer
    are new. Known keys pass (they add no work); a key twice on the page counts once.

    >>> within_limit([1, 2, 3, 4, 5], known={1, 3}, remaining=2)
    4
    >>> within_limit([1, 2, 2, 3], known=set(), remaining=5), within_limit([7], set(), 1)
    (4, 1)
    """
    new: set[Key] = set()
    for at, key in enumerate(keys):
        if key not in known and key not in new:
            new.add(key)
            if len(new) >= remaining:
                return at + 1
    return len(keys)


@dataclass(frozen=True, slots=True, kw_only=True)
class WalkOptions:
    start: int | None = None
    end: int | None = None
    full: bool = False
    """Walk on past known pages (``--full``, and ``--force-rescrape``)."""
    rescrape: bool = False
    """Known items found on the way go back to pending (``--force-rescrape``)."""
    config: Mapping[str, Any] | None = None
    limit: int | None = None
    """Stop once this many new items are found (``run --limit``): a page's items
    past the last one wanted are left for the next run (:func:`within_limit`)."""


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
    on_error: Callable[[str, str], None],
    parent: Item | None = None,
    on_found: Callable[[Sequence[Key]], None] | None = None,
) -> str:
    """Walk ``d``'s listing from the start offset; return why it stopped.

    With ``parent`` it is that item's listing (``discover(on=...)``): the discovery
    sees the item as ``ctx.item``, what it finds gets it as parent, and the walk is
    kept under :meth:`~scrapeline.pipeline.Discovery.walk_name`. ``--start``/``--end``
    bound only top-level listings.

    ``on_page(new)`` after each stored page (its items are claimable now);
    ``on_halt(reason, error)`` when the run must stop (LedgerError, RunHalted);
    ``on_error(message, category)`` when a page failed. The walk's progress is saved
    after each page, so a walk cut short is resumed by the next run. The run's own
    cancellation propagates.

    With ``options.limit`` the walk stops (reason "limit", not finished: the next run
    resumes there) once that many new items are stored, and ``on_found(keys)`` hears
    each page's new keys."""
    numbered = d.pages.numbered
    ref = None if parent is None else (d.on or parent.kind or "", parent.key)
    name = d.walk_name(ref)
    furthest = stored_position(await queue.walk(name), numbered=numbered)
    position: Position = d.pages.first
    bounded = parent is None
    if numbered and bounded and options.start is not None:
        position = options.start
    end = options.end if bounded else None
    pages = new_total = fetched = 0
    walked: set[Position] = set()
    resumed = False
    """The page about to be fetched is where the walk jumped to."""
    full = options.full or options.rescrape
    config = options.config if options.config is not None else {}
    while True:
        stop = before_page(position=position, end=end, stopping=stopping())
        if stop is not None:
            break
        ctx = Context(fetch=fetch, config=config, run_id=run_id, expect=d.expect, item=parent)
        try:
            batch = [storable_item(it, d.kind, ref) async for it in d.fn(ctx, position)]
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
                    "discovery %s: HTTP %s at %s, the end of the listing", name, status, position
                )
                stop = ended
                break
            category, text = describe(exc)
            on_error(f"{where(d, ref, position)} ({category}): {text}", category)
            stop = Stop(reason="error")
            break
        fetched += 1
        walked.add(position)
        if numbered and ctx.said_next is not None:
            on_error(
                f"{where(d, ref, position)}: ctx.next_page() is for "
                f"listings by cursor or next link: declare pages=cursors()",
                Category.ERROR,
            )
            stop = Stop(reason="error")
            break
        found: list[Key] = []
        if options.limit is not None and batch:
            order = [it.key for it in batch]
            known = await queue.known(d.kind, list(dict.fromkeys(order)))
            batch = batch[: within_limit(order, known, options.limit - new_total)]
            found = [k for k in dict.fromkeys(it.key for it in batch) if k not in known]
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
                log.error("discovery %s could not store its page", name, exc_info=exc)
                category, text = describe(exc)
                on_error(f"{where(d, ref, position)} ({category}): {text}", category)
                stop = Stop(reason="error")
                break
            if on_found is not None and found:
                on_found(found)
            on_page(new)
            pages += 1
            new_total += new
            emit(
                ev.PageDiscovered(
                    discovery=name, position=position, keys=keys, new=new, style=d.pages.style
                )
            )
        if options.limit is not None and new_total >= options.limit:
            stop = Stop(reason="limit")
            break
        following: Position
        if ctx.said_last:
            following = None
        elif numbered:
            assert isinstance(position, int)
            following = position + d.pages.step
        else:
            following = ctx.said_next
        step = after_page(
            new=new,
            keys=keys,
            position=position,
            following=following,
            full=full,
            furthest=furthest,
            resumed=resumed,
        )
        resumed = False
        if isinstance(step, Stop):
            stop = step
            break
        if isinstance(step, JumpTo):
            log.info(
                "discovery %s: resuming a cut-short walk at %s",
                name,
                label(d.pages.style, step.position),
            )
            position, furthest, resumed = step.position, None, True
            continue
        if not numbered and step.next in walked:
            # a listing that points back to a page already walked would go round forever
            log.warning(
                "discovery %s: %s was walked already, the end of the listing",
                name,
                label(d.pages.style, step.next),
            )
            stop = Stop(reason="end of listing", finished=True, next_position=step.next)
            break
        position = step.next
        if position == furthest:
            furthest = None  # reached where the cut-short walk got to
        await queue.save_walk(stored_walk(name, resume_point(position, furthest), finished=False))
    if stop.finished:
        await queue.save_walk(stored_walk(name, stop.next_position, finished=True))
    if parent is None:  # a listing per parent is reported as its task, like a stage
        emit(ev.DiscoveryFinished(discovery=name, pages=pages, new=new_total, reason=stop.reason))
    return stop.reason


def stored_position(walk: Walk | None, *, numbered: bool) -> Position:
    """Where a cut-short earlier walk got to, None when there was none or it finished."""
    if walk is None or walk.finished:
        return None
    return walk.next_position if numbered else walk.cursor


def stored_walk(name: str, position: Position, *, finished: bool) -> Walk:
    """The walk as the ledger keeps it: an offset or page number, or a cursor's text."""
    if isinstance(position, int):
        return Walk(name=name, next_position=position, finished=finished)
    return Walk(name=name, next_position=0, finished=finished, cursor=position)


def where(d: Discovery, parent: tuple[str, Key] | None, position: Position) -> str:
    """A failed page, in its message: "results at 200", "events of season 2019 at page 3"."""
    listing = d.name if parent is None else f"{d.name} of {parent[0]} {parent[1]}"
    return f"{listing} at {label(d.pages.style, position)}"


def label(style: str, position: Position) -> str:
    """A page in a failed page's message: "0" for an offset (as ever), "page 3",
    "cursor eyJpZCI6…", "first page" otherwise."""
    return str(position) if style == "offset" else ev.page_label(style, position)
