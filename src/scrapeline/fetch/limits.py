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

A pause re-bases the schedule: the first start after it is at its end, the next
ones ``gap`` apart, however many requests queued up meanwhile.

**Adaptive rate (AIMD).** A host that answers 429 is *slowed*
(:meth:`HostLimiter.slow_down`): its effective rate drops to :data:`DECREASE` times
the rate in force — or, with no rate in force, times the rate the host was seen to
answer at over the last second (:class:`RateMeter`: starts minus 429s). Only a 429
to a request that started after the last slowdown slows it again, so the answers of
requests already in flight count once. From the end of the pause the rate grows
back linearly (:data:`RECOVERY` of the rate before the slowdown per second) up to
the configured rate; with none configured, up to :data:`HOLD` times the rate the
429 came at, where it stays: a host that limits is not probed above what it took.
The decrease is mild (:data:`DECREASE`) because each 429 also pauses the host for
its Retry-After: against a token bucket of R/s that makes the run settle just
below R instead of sawing between R/2 and R. Starts after a pause are therefore
spaced even when no rate was configured. The arithmetic is :func:`slowed` and :func:`recovered`.

Starts are handed out in arrival order (FIFO). The arithmetic lives in
:func:`draw_gap`, :func:`next_start`, :func:`advance`, :func:`slowed` and
:func:`recovered`, pure and tested with tables; the limiter only sleeps. Clock,
sleep and random source are injectable.

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

DECREASE = 0.85
"""A 429 multiplies the host's effective rate by this."""

RECOVERY = 0.03
"""After a slowdown, the rate grows back by this fraction of the rate before it, per second."""

MIN_STEP = 0.5
"""The least recovery, in requests per second per second."""

MIN_RATE = 0.5
"""No slowdown goes below this many requests per second (or the configured rate, if lower)."""

FAST_DECREASE = 0.6
"""What a 429 multiplies the rate by when it comes within :data:`AT_ONCE` seconds of
the end of the last slowdown's pause: the estimate the rate came from was far off
(the first burst of a run at full concurrency says little of the host's limit)."""

AT_ONCE = 0.5
"""Seconds after a slowdown's pause within which a new 429 means the rate is far off."""

HOLD = 0.9
"""With no configured rate, the rate grows back to this fraction of the rate the 429
came at, and stays there: a host that rate-limits is never sent more than it took."""

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


@dataclass(frozen=True, slots=True, kw_only=True)
class Slowdown:
    """The effective rate of a slowed host: ``rate`` at ``since``, growing by ``step``
    per second up to ``ceiling``, where it ends (``lifts``: the limit is removed,
    otherwise the ceiling, the configured rate, stays in force)."""

    rate: float
    since: float
    step: float
    ceiling: float
    lifts: bool


def slowed(
    *,
    current: float | None,
    configured: float | None,
    observed: float,
    since: float,
    at_once: bool = False,
) -> Slowdown:
    """The slowdown after a 429.

    ``current`` is the rate in force (None: unbounded), ``configured`` the politeness's
    rate, ``observed`` the rate the host answered at lately; the rate grows back from
    ``since`` (the end of the pause). ``at_once``: the host refused again as soon as
    it was sent to after a slowdown, so the rate in force is far off: it drops by
    :data:`FAST_DECREASE` instead."""
    reference = current if current is not None else observed
    floor = min(MIN_RATE, configured) if configured is not None else MIN_RATE
    rate = max(floor, (FAST_DECREASE if at_once else DECREASE) * reference)
    step = max(MIN_STEP, RECOVERY * reference)
    if configured is not None:
        return Slowdown(rate=rate, since=since, step=step, ceiling=configured, lifts=False)
    ceiling = max(HOLD * reference, rate)
    return Slowdown(rate=rate, since=since, step=step, ceiling=ceiling, lifts=False)


def recovered(slowdown: Slowdown, now: float) -> float | None:
    """The effective rate at ``now``: the ceiling once grown back to it (None when the
    limit lifts), else the slowed rate plus the linear recovery since ``since``."""
    rate = slowdown.rate + slowdown.step * max(0.0, now - slowdown.since)
    if rate >= slowdown.ceiling:
        return None if slowdown.lifts else slowdown.ceiling
    return rate


class RateMeter:
    """Events per second over the last ``window`` seconds, as a sliding-window counter:
    the previous window's count weighted by how much of it still overlaps, plus the
    current one's. O(1) per event, no allocation.

    >>> meter = RateMeter()
    >>> for t in (0.0, 0.2, 0.4, 0.6, 0.8):
    ...     meter.add(t)
    >>> meter.rate(1.0), meter.rate(1.5), meter.rate(3.0)
    (5.0, 2.5, 0.0)
    """

    __slots__ = ("_count", "_first", "_previous", "_start", "window")

    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self._start = -math.inf
        self._first = math.inf
        self._count = 0
        self._previous = 0

    def _roll(self, now: float) -> None:
        elapsed = now - self._start
        if elapsed < self.window:
            return
        if elapsed < 2 * self.window:
            self._previous = self._count
            self._start += self.window
        else:
            self._previous = 0
            self._start = now
        self._count = 0

    def add(self, now: float, count: int = 1) -> None:
        self._roll(now)
        self._first = min(self._first, now)
        self._count += count

    def count(self, now: float) -> float:
        """Events in the last window (the previous window's weighted by its overlap)."""
        self._roll(now)
        overlap = max(0.0, 1.0 - (now - self._start) / self.window)
        return self._previous * overlap + self._count

    def span(self, now: float) -> float:
        """The seconds :meth:`rate` divides by: the window, or the time since the first
        event while that is shorter (at least a tenth of the window)."""
        return min(self.window, max(self.window / 10, now - self._first))

    def rate(self, now: float) -> float:
        """Per second over the last window; over the time since the first event while
        that is shorter, so a meter a few milliseconds old does not read its burst as a
        slow rate."""
        return self.count(now) / self.span(now)


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
        on_recovered: Callable[[float | None], None] | None = None,
    ) -> None:
        self.politeness = politeness or Politeness()
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._on_recovered = on_recovered
        self._configured = self.politeness.requests_per_second
        self._rate = self._configured
        self._slowdown: Slowdown | None = None
        self._slowed_at = -math.inf
        self._starts = RateMeter()
        self._limited = RateMeter()
        self._interval = RATE_MARGIN / self._rate if self._rate else 0.0
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
    def rate(self) -> float | None:
        """The effective rate in requests per second (None: unbounded): the configured
        one, or lower while the host is slowed. Reading it applies the recovery."""
        if self._slowdown is not None:
            self._recover(self._clock())
        return self._rate

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

    def slow_down(self, *, started: float, until: float | None = None) -> float | None:
        """The host answered 429 (or keeps failing): lower its effective rate (see the
        module docstring) and return the new one; None when the answer is to a request
        that started no later than the last slowdown (``started``: what :meth:`acquire`
        returned), which changes nothing. The rate grows back from the end of the
        pause, or from ``until`` when later (a breaker's cooldown)."""
        if started <= self._slowed_at:
            return None
        now = self._clock()
        self._limited.add(now)
        if self._slowdown is not None:
            self._recover(now)
        answered = self._starts.count(now) - self._limited.count(now)
        observed = max(0.0, answered) / self._starts.span(now)
        since = max(now, self._paused_until, until if until is not None else now)
        previous = self._slowdown
        at_once = previous is not None and now - previous.since < AT_ONCE
        self._slowdown = slowed(
            current=self._rate,
            configured=self._configured,
            observed=observed,
            since=since,
            at_once=at_once,
        )
        self._slowed_at = now
        self._set_rate(self._slowdown.rate)
        return self._slowdown.rate

    def _set_rate(self, rate: float | None) -> None:
        self._rate = rate
        self._interval = RATE_MARGIN / rate if rate else 0.0
        self._unscheduled = self._interval == 0.0 and self._delay is None and self._floor == 0.0

    def _recover(self, now: float) -> None:
        assert self._slowdown is not None
        rate = recovered(self._slowdown, now)
        if rate is not None and rate < self._slowdown.ceiling:
            self._set_rate(rate)
            return
        self._slowdown = None
        self._set_rate(rate)
        if self._on_recovered is not None:
            self._on_recovered(rate)

    def scheduled_wait(self) -> bool:
        """Would :meth:`acquire`, called now, wait for the host's schedule (its rate,
        delay or a pause, or requests queued for a start), not only for a free
        concurrency slot?"""
        if self._turn.locked():
            return True
        paused = self._paused_until
        if self._unscheduled and paused == -math.inf:
            return False
        now = self._clock()
        return next_start(now=now, due=self._due, paused_until=paused) > now

    def ready(self) -> bool:
        """Would :meth:`acquire`, called now, hand a slot out without waiting? (A
        free concurrency slot, nobody queued for a start, the next start due and no
        pause running.) True only when it would not wait at all."""
        if self._slots.locked() or self._turn.locked():
            return False
        paused = self._paused_until
        if self._unscheduled and paused == -math.inf:
            return True
        now = self._clock()
        return next_start(now=now, due=self._due, paused_until=paused) <= now

    async def acquire(self) -> float:
        """Wait for a concurrency slot and this host's next start time, then take both.

        Returns the start time (the clock's reading), for :meth:`slow_down`."""
        await self._slots.acquire()
        try:
            now = self._clock()
            # No rate, no delay, no pause and nobody queued: nothing to schedule.
            if not (self._unscheduled and not self._turn.locked() and now >= self._paused_until):
                now = await self._take_turn()
            self._starts.add(now)
        except BaseException:
            self._slots.release()
            raise
        self._in_flight += 1
        return now

    async def _take_turn(self) -> float:
        async with self._turn:
            while True:
                now = self._clock()
                at = next_start(now=now, due=self._due, paused_until=self._paused_until)
                if at <= now:
                    break
                # Re-check after waking: a pause may have been set meanwhile.
                await self._sleep(at - now)
            if self._slowdown is not None:
                self._recover(now)
            gap = max(draw_gap(self._interval, self._delay, self._rng), self._floor)
            rate_bound = gap == self._interval and gap > 0
            tolerance = min(RATE_TOLERANCE, gap / 2) if rate_bound else 0.0
            self._due = advance(due=self._due, started=now, gap=gap, tolerance=tolerance)
            return now

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
