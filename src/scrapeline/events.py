"""Typed events of a run. The runner and the fetch layer emit them; reporters subscribe,
and neither emitter knows who listens.

A subscriber is any callable taking an :data:`Event`. It must be quick and must not
raise (an exception from a subscriber is logged and the subscriber is dropped).

One :class:`EventBus` per run carries both kinds; the composition root hands its
``emit`` to the runner and to the fetch client::

    >>> seen = []
    >>> bus = EventBus([seen.append])
    >>> bus.emit(RunHalted(reason="disk full"))
    >>> seen
    [RunHalted(reason='disk full')]
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from scrapeline.fetch.events import FetchEvent
from scrapeline.ledger.base import RunReport
from scrapeline.model import Key


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted:
    run_id: int
    pipeline: str
    data_dir: str
    options: Mapping[str, Any]
    log_path: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PageDiscovered:
    discovery: str
    position: int | str | None
    """The offset, the page number, or the cursor (None: a cursor walk's first page)."""
    keys: int
    new: int
    style: str = "offset"
    """How the listing is paginated: "offset", "page" or "cursor"."""

    @property
    def page(self) -> str:
        """The page as the user knows it: "offset 200", "page 3", "cursor eyJpZCI6…"."""
        return page_label(self.style, self.position)


def page_label(style: str, position: int | str | None) -> str:
    """A listing page in the user's words; a long cursor (or next link) is shortened::

    >>> page_label("page", 3), page_label("offset", 200), page_label("cursor", None)
    ('page 3', 'offset 200', 'first page')
    >>> page_label("cursor", "http://127.0.0.1:8080/list?after=2024-05-01T10:00:00Z")
    'cursor /list?after=2024-05-01T…'
    """
    if style == "cursor":
        if position is None:
            return "first page"
        text = str(position)
        if "://" in text:  # a next link: its host is the pipeline's, the path says more
            text = "/" + text.split("://", 1)[1].partition("/")[2]
        return f"cursor {text if len(text) <= 24 else text[:23] + '…'}"
    return f"{'page' if style == 'page' else 'offset'} {position}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscoveryFinished:
    discovery: str
    pages: int
    new: int
    reason: str
    """Why the walk stopped: "known page", "end of listing" (an empty page, or a 404 or
    410 past the first), "last page" (the response said so), "end offset",
    "interrupted", "error", "halted"."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkQueued:
    """How many tasks are left to settle: the progress bar's total grows with it."""

    remaining: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskDone:
    stage: str
    kind: str
    key: Key
    duration: float
    records: int
    children: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskFailed:
    stage: str
    kind: str
    key: Key
    duration: float
    category: str
    message: str
    attempts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ShutdownRequested:
    """A signal arrived. ``forced`` on the second: in-flight work is cancelled."""

    signal: str
    forced: bool
    in_flight: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RunHalted:
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished:
    status: str
    exit_code: int
    report: RunReport
    reason: str | None
    wall: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Log:
    """A message for humans from the engine (not an item outcome)."""

    level: int
    message: str


RunEvent: TypeAlias = (
    RunStarted
    | PageDiscovered
    | DiscoveryFinished
    | WorkQueued
    | TaskDone
    | TaskFailed
    | ShutdownRequested
    | RunHalted
    | RunFinished
    | Log
)

Event: TypeAlias = RunEvent | FetchEvent
"""Everything a subscriber may be handed: what the run did and what the fetch layer saw."""

Subscriber: TypeAlias = Callable[[Event], None]

_log = logging.getLogger("scrapeline.events")


class EventBus:
    """Hands every event to every subscriber, in the order they subscribed.

    A subscriber that raises is logged once and dropped, so a broken reporter
    never stops a run. Not thread-safe: emit from the event loop's thread."""

    __slots__ = ("_subscribers",)

    def __init__(self, subscribers: Iterable[Subscriber] = ()) -> None:
        self._subscribers: list[Subscriber] = list(subscribers)

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def emit(self, event: Event) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                _log.exception("reporter %r failed; it is dropped", subscriber)
                self._subscribers = [s for s in self._subscribers if s is not subscriber]
