"""What a stage or a discovery receives: fetch, emit, log, config.

    async def overview(ctx: Context, item: Item) -> Record:
        page = await ctx.fetch(f"/matches/{item.key}")
        ctx.emit(Item(kind="half", key=f"{item.key}-1"))
        ctx.log.debug("parsed %s", item.key)
        return Record("matches", {"match_id": item.key})

A stage can hand small values to the stages that run after it on the same item
(those declared ``after=`` it): ``ctx.hand_on(economy_url=url)``. When the stage
succeeds they are merged into the item's data, in the transaction that marks it
done, so a later stage reads ``item.data["economy_url"]``; a stage that fails
hands on nothing. They are the pipeline's own values, so they are not counted as
changes of the item (an item found again by a listing or an emit is merged the
same way, and each value that changes is recorded, counted and logged).

A discovery tells the walk where its listing goes: ``ctx.last_page()`` when the
response says this page is the last, ``ctx.next_page(cursor_or_url)`` over
``pages=cursors()``.

The context is the stage's only door to the network (``fetch``), so politeness,
retries, the breaker and the archive hold for every request.

A stage run again for a refresh gets a context with ``refresh=True``: each of its
fetches is conditional (the archive's ETag and Last-Modified go with it), and when
the first one is answered 304 Not Modified, ``ctx.fetch`` raises
:class:`~scrapeline.errors.Unchanged`: nothing new to parse, the item keeps what its
earlier run stored. A later fetch answered 304 returns the archived response
(``response.unchanged``): the first page changed, so the stage parses on.

Blocking code (a synchronous library, ``time.sleep``, heavy parsing) goes through
``await ctx.run_sync(fn, *args)``: it runs in a thread, so the event loop keeps
serving the other items, ``--item-timeout`` and Ctrl+C apply to the awaiting item.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

import orjson

from scrapeline.errors import Unchanged, ValidationError
from scrapeline.fetch.contract import Expect
from scrapeline.fetch.response import Response
from scrapeline.model import Item, Key

log = logging.getLogger("scrapeline.stage")
T = TypeVar("T")


class Fetch(Protocol):
    """The part of the fetch client a context needs."""

    async def get(
        self,
        url: str,
        *,
        stage: str | None = None,
        item_key: str | None = None,
        expect: Any = None,
        headers: Mapping[str, str] | None = None,
        conditional: bool = False,
        unchanged_body: bool = True,
    ) -> Response: ...


class Context:
    """Per-call context. Cheap to create: one per task."""

    __slots__ = (
        "_fetch",
        "children",
        "config",
        "emits",
        "expect",
        "fetches",
        "handed",
        "item",
        "log",
        "refresh",
        "run_id",
        "said_last",
        "said_next",
        "stage",
        "unchanged",
    )

    def __init__(
        self,
        *,
        fetch: Fetch,
        config: Mapping[str, Any],
        run_id: int,
        stage: str | None = None,
        item: Item | None = None,
        emits: str | None = None,
        expect: Expect | None = None,
        refresh: bool = False,
    ) -> None:
        self._fetch = fetch
        self.config = config
        self.run_id = run_id
        self.stage = stage
        self.item = item
        self.emits = emits
        self.expect = expect
        """The declared contract of the stage or discovery, applied to every fetch."""
        self.children: list[Item] = []
        self.handed: dict[str, Any] = {}
        """What the stage handed on (:meth:`hand_on`), for the item's later stages."""
        self.log = log
        self.said_last = False
        """A discovery called :meth:`last_page`: the listing ends with this page."""
        self.said_next: str | None = None
        """Where the discovery said the next page is (:meth:`next_page`)."""
        self.refresh = refresh
        """The stage runs again for a refresh: every fetch is conditional."""
        self.fetches = 0
        """Fetches started so far."""
        self.unchanged = False
        """The first fetch was answered unchanged (and raised :class:`Unchanged`)."""

    async def fetch(
        self,
        url: str,
        *,
        expect: Expect | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """GET ``url`` (relative to the pipeline's base_url) through the fetch layer.

        The response must meet ``expect``, or else the contract the stage (or
        discovery) declared; ``expect=Expect()`` checks only for a 200.
        Raises a FetchError subclass once retries are exhausted or for a
        non-retryable answer (404, 403, a broken contract: ContractError). With
        ``refresh``, raises :class:`Unchanged` when this is the stage's first fetch
        and the site answered that the page has not changed (see the module doc)."""
        key = None if self.item is None else str(self.item.key)
        expect = self.expect if expect is None else expect
        self.fetches += 1
        if not self.refresh:
            return await self._fetch.get(
                url, stage=self.stage, item_key=key, expect=expect, headers=headers
            )
        first = self.fetches == 1
        response = await self._fetch.get(
            url,
            stage=self.stage,
            item_key=key,
            expect=expect,
            headers=headers,
            conditional=True,
            unchanged_body=not first,  # unchanged, the first page stops the stage unread
        )
        if first and response.unchanged:
            self.unchanged = True
            raise Unchanged(response.url)
        return response

    def emit(
        self,
        item: Item | None = None,
        /,
        *,
        key: Key | None = None,
        data: Mapping[str, Any] | None = None,
        date: str | None = None,
        kind: str | None = None,
        **unknown: Any,
    ) -> None:
        """Queue a child item of the current item; stored when the stage succeeds.

        Either an :class:`Item` — ``ctx.emit(Item(kind="half", key="1-2"))`` — or its
        fields by name: ``ctx.emit(key="1-2", data={"half": 2}, date=..., kind=...)``;
        ``kind`` defaults to the stage's ``emits``. Raises TypeError for both at once
        or for any other keyword (the child's data goes in ``data=``), ValidationError
        for neither, or for a child whose kind is neither given nor declared."""
        if unknown:
            names = ", ".join(f"{name}=" for name in unknown)
            raise TypeError(
                f"emit() got {names}: give the child's data as data={{...}} (or emit an Item(...))"
            )
        if item is None:
            if key is None:
                raise ValidationError("emit needs an Item or a key=")
            item = Item(key=key, kind=kind, data=dict(data or {}), date=date)
        elif key is not None or data is not None or date is not None or kind is not None:
            raise TypeError("emit() takes an Item or its fields by name, not both")
        if item.kind is None:
            if self.emits is None:
                raise ValidationError(
                    f"emitted item {item.key!r} has no kind: give Item(kind=...) "
                    "or declare the stage with emits="
                )
            item = Item(key=item.key, kind=self.emits, data=item.data, date=item.date)
        self.children.append(item)

    def hand_on(self, **values: Any) -> None:
        """Hand values on to the stages that run after this one on the same item:
        ``ctx.hand_on(performance_url=url, economy_url=url2)``.

        When the stage succeeds they are merged into the item's data, in the same
        transaction as its done mark: a later stage (``after=`` this one) reads
        ``item.data["performance_url"]``. A failed stage hands on nothing. A value
        given again replaces the one handed before; None hands nothing on (it never
        erases a value the item has). Raises TypeError, at the call, for a value
        that is not JSON (text, numbers, bools, None, lists and dicts of them), and
        ValidationError in a discovery, whose items carry their data themselves."""
        if self.stage is None:
            raise ValidationError(
                "hand_on() is for stages: a discovery gives its items their data in Item(data=...)"
            )
        for name, value in values.items():
            try:
                orjson.dumps(value)
            except TypeError as exc:
                raise TypeError(
                    f"hand_on({name}=...) takes JSON values (text, numbers, bools, None, "
                    f"lists and dicts of them), not {type(value).__name__}: {exc}"
                ) from None
        self.handed.update(values)

    def last_page(self) -> None:
        """In a discovery: this page is the listing's last (``hasNextPage: false``,
        no "next" link). The walk stores this page's items and ends as finished;
        the next run starts from the top again."""
        self.said_last = True

    def next_page(self, cursor: str | int) -> None:
        """In a discovery over ``pages=cursors()``: the next page is at ``cursor``
        (a token from the response, or the URL of its "next" link). The walk calls
        the discovery with it, as text; a page that names no next page is the last.
        Raises TypeError for anything but text or a whole number."""
        if isinstance(cursor, bool) or not isinstance(cursor, (str, int)):
            raise TypeError(
                f"next_page() takes the next page's cursor or URL as text, "
                f"not {type(cursor).__name__}"
            )
        self.said_next = str(cursor)

    async def run_sync(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run the blocking ``fn(*args, **kwargs)`` in a thread and await its result.

        Like :func:`asyncio.to_thread`, but the thread is a daemon of its own: when the
        awaiting item is cancelled (``--item-timeout``, a second Ctrl+C) it fails or is
        released at once, and a call that never returns cannot keep the process alive
        at exit. Python cannot stop a thread: the call itself runs on to its end in the
        background, its result dropped. What ``fn`` raises is raised here."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        context = contextvars.copy_context()

        def settle(result: T | None, error: BaseException | None) -> None:
            if done.cancelled():
                return
            if isinstance(error, StopIteration):  # a future cannot hold one
                done.set_exception(RuntimeError(f"{fn!r} raised StopIteration"))
            elif error is not None:
                done.set_exception(error)
            else:
                done.set_result(result)  # type: ignore[arg-type]

        def work() -> None:
            result: T | None = None
            error: BaseException | None = None
            try:
                result = context.run(fn, *args, **kwargs)
            except BaseException as exc:  # handed to the awaiting stage, whatever it is
                error = exc
            # a closed loop (RuntimeError): nobody waits for this any more
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, result, error)

        name = f"scrapeline-sync-{getattr(fn, '__name__', 'call')}"
        threading.Thread(target=work, name=name, daemon=True).start()
        return await done
