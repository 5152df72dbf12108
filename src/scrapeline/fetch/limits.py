"""Per-host politeness: how fast, how spaced and how many requests at once.

A :class:`HostLimiter` (one per host) hands out *slots*. Taking a slot waits until

1. fewer than ``concurrency`` requests to the host are in flight, and
2. the host's *start schedule* allows another start, and no pause set by
   :meth:`HostLimiter.pause_until` is running (a Retry-After slows every request to
   the host, not only the one that got the 429).

The schedule is a strict interval scheduler. After each start the next one is due
``gap`` seconds later, where ``gap`` is the rate's interval (``1 / rate``, stretched
by :data:`RATE_MARGIN`) or, when ``delay`` is set, a fresh draw from the delay range,
whichever is longer. Start times are read from the clock *after* waking. A start
that wakes late by at most :data:`RATE_TOLERANCE` keeps the next one on the original
grid (so a busy event loop does not slowly eat the rate); a later one — after an idle
spell or a pause — re-anchors the grid at the actual start, so nothing bursts.

Guarantee: any ``n + 1`` rate-bound starts span at least ``n * gap - RATE_TOLERANCE``
seconds. With the margin, ``rate + 1`` starts span at least 1.005 s, so no 1-second
window — as measured by the client, or by the server with a few milliseconds of
network jitter — ever sees more than ``rate`` starts, while a host with work waiting
gets about 99% of ``rate``. Delay gaps get no tolerance: they are kept exactly.

Starts are handed out in arrival order (FIFO). The arithmetic lives in
:func:`draw_gap`, :func:`next_start` and :func:`advance`, pure and tested with
tables; the limiter only sleeps. Clock, sleep and random source are injectable.

    >>> import asyncio
    >>> async def main() -> int:
    ...     limiter = HostLimiter(Politeness(rate="20/s", concurrency=2))
    ...     async with limiter.slot():
    ...         return limiter.in_flight
    >>> asyncio.run(main())
    1
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from scrapeline.errors import ConfigError

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]

RATE_MARGIN = 1.01
"""The rate's interval is stretched by this factor: the price of never exceeding ``rate``
in any second as seen by the server, whose arrival times jitter by milliseconds."""

RATE_TOLERANCE = 0.005
"""Seconds a start may wake late and still keep the next start on the grid (at most
half an interval). Must stay below ``RATE_MARGIN - 1`` seconds for the guarantee."""

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(
    r"(?P<count>\d+(?:\.\d+)?)\s*/\s*(?P<per>\d+(?:\.\d+)?)?\s*"
    r"(?P<unit>s|sec|second|m|min|minute|h|hour)s?",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_RATE_HELP = "expected e.g. '2/s', '30/m', '1/5s' or a number of requests per second"


def parse_rate(text: str | float) -> float:
    """Requests per second from ``"2/s"``, ``"30/m"``, ``"1/5s"``, ``"100/h"`` or a number.

    Raises :class:`ConfigError` (one line) for anything else, zero or negative.
    """
    if isinstance(text, bool):
        raise ConfigError(f"invalid rate {text!r}: {_RATE_HELP}")
    if isinstance(text, int | float):
        value = float(text)
    else:
        stripped = text.strip()
        match = _RATE.fullmatch(stripped)
        if match:
            per = float(match["per"]) if match["per"] else 1.0
            seconds = per * _UNITS[match["unit"][0].lower()]
            value = float(match["count"]) / seconds if seconds > 0 else math.nan
        else:
            value = float(stripped) if _NUMBER.fullmatch(stripped) else math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"invalid rate {text!r}: {_RATE_HELP}")
    return value


def _parse_delay(delay: tuple[float, float] | float | None) -> tuple[float, float] | None:
    if delay is None:
        return None
    low, high = (delay, delay) if isinstance(delay, int | float) else delay
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
        raise ConfigError(
            f"invalid delay {delay!r}: expected seconds ≥ 0, or a range (low, high) with low ≤ high"
        )
    return (float(low), float(high))


@dataclass(frozen=True, slots=True, kw_only=True)
class Politeness:
    """How to treat one host.

    ``rate``: at most this many request starts per second (``"2/s"``, ``"30/m"``,
    ``"1/5s"`` or a number). ``delay``: seconds between request starts, a fixed
    number or a ``(low, high)`` range drawn uniformly for each start.
    ``concurrency``: requests in flight at once. Invalid values raise ConfigError.
    """

    rate: str | float | None = None
    delay: tuple[float, float] | float | None = None
    concurrency: int = 4

    def __post_init__(self) -> None:
        if self.rate is not None:
            parse_rate(self.rate)
        _parse_delay(self.delay)
        if isinstance(self.concurrency, bool) or self.concurrency < 1:
            raise ConfigError(f"invalid concurrency {self.concurrency!r}: expected at least 1")

    @property
    def requests_per_second(self) -> float | None:
        return None if self.rate is None else parse_rate(self.rate)

    @property
    def delay_range(self) -> tuple[float, float] | None:
        return _parse_delay(self.delay)

    @property
    def min_interval(self) -> float:
        """The smallest gap between two request starts this politeness allows."""
        rps = self.requests_per_second
        low = self.delay_range[0] if self.delay_range else 0.0
        return max(RATE_MARGIN / rps if rps else 0.0, low)


def draw_gap(
    min_interval: float, delay_range: tuple[float, float] | None, rng: random.Random
) -> float:
    """Seconds between one start and the next: the rate's interval or a delay draw, whichever
    is longer."""
    if delay_range is None:
        return min_interval
    low, high = delay_range
    return max(min_interval, rng.uniform(low, high) if high > low else low)


def next_start(*, now: float, due: float | None, paused_until: float) -> float:
    """The earliest (monotonic) time the next request may start.

    ``due`` is when the schedule allows the next start (None before the first one).
    """
    earliest = now if due is None else max(now, due)
    return max(earliest, paused_until)


def advance(*, due: float | None, started: float, gap: float, tolerance: float) -> float:
    """When the start after one made at ``started`` is due.

    On the grid (``due + gap``) when this start was at most ``tolerance`` late;
    otherwise re-anchored at the actual start (``started + gap``).
    """
    if due is not None and started - due <= tolerance:
        return due + gap
    return started + gap


class HostLimiter:
    """Hands out request slots for one host; see the module docstring for the rules.

    Use ``async with limiter.slot(): ...`` around exactly one request, or pair
    :meth:`acquire` with :meth:`release`. Cancelling a waiting ``acquire`` gives
    its place up cleanly.
    """

    def __init__(
        self,
        politeness: Politeness | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.politeness = politeness or Politeness()
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        rps = self.politeness.requests_per_second
        self._interval = RATE_MARGIN / rps if rps else 0.0
        self._delay = self.politeness.delay_range
        self._floor = 0.0
        self._unscheduled = self._interval == 0.0 and self._delay is None
        self._slots = asyncio.Semaphore(self.politeness.concurrency)
        self._turn = asyncio.Lock()
        self._due: float | None = None
        self._paused_until = -math.inf
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Slots currently held."""
        return self._in_flight

    @property
    def paused_until(self) -> float:
        """The monotonic time before which no request starts (``-inf`` when not paused)."""
        return self._paused_until

    @property
    def min_gap(self) -> float:
        """The floor set by :meth:`at_least` (0 when none)."""
        return self._floor

    def at_least(self, seconds: float) -> None:
        """Keep at least ``seconds`` between request starts from now on, whatever the
        politeness says (a robots.txt ``Crawl-delay``). Kept exactly, like a delay.
        Only raises the floor. The next start is at least ``seconds`` from now: the
        request that brought the news (robots.txt) counts as the last one."""
        if seconds > self._floor:
            self._floor = seconds
            self._unscheduled = False
            soonest = self._clock() + seconds
            self._due = soonest if self._due is None else max(self._due, soonest)

    def pause_until(self, deadline: float) -> None:
        """Start no request to this host before ``deadline`` (monotonic clock). Only extends."""
        self._paused_until = max(self._paused_until, deadline)

    async def acquire(self) -> None:
        """Wait for a concurrency slot and this host's next start time, then take both."""
        await self._slots.acquire()
        try:
            # No rate, no delay, no pause and nobody queued: nothing to schedule.
            if not (
                self._unscheduled
                and not self._turn.locked()
                and self._clock() >= self._paused_until
            ):
                await self._take_turn()
        except BaseException:
            self._slots.release()
            raise
        self._in_flight += 1

    async def _take_turn(self) -> None:
        async with self._turn:
            while True:
                now = self._clock()
                at = next_start(now=now, due=self._due, paused_until=self._paused_until)
                if at <= now:
                    break
                # Re-check after waking: a pause may have been set meanwhile.
                await self._sleep(at - now)
            gap = max(draw_gap(self._interval, self._delay, self._rng), self._floor)
            rate_bound = gap == self._interval and gap > 0
            tolerance = min(RATE_TOLERANCE, gap / 2) if rate_bound else 0.0
            self._due = advance(due=self._due, started=now, gap=gap, tolerance=tolerance)

    def release(self) -> None:
        """Give back a slot taken by :meth:`acquire`."""
        self._in_flight -= 1
        self._slots.release()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one request slot for the duration of the block."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()
