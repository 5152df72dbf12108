from __future__ import annotations

import asyncio
import itertools
import math
import random
from collections.abc import Callable, Sequence

import pytest

from scrapeline.errors import ConfigError
from scrapeline.fetch.limits import (
    RATE_MARGIN,
    RATE_TOLERANCE,
    HostLimiter,
    Politeness,
    RateMeter,
    Slowdown,
    advance,
    draw_gap,
    next_start,
    parse_rate,
    recovered,
    slowed,
)


class FakeClock:
    """A monotonic clock that only moves when someone sleeps on it.

    ``oversleep`` makes every sleep wake late by up to that many seconds, the way
    a busy event loop does.
    """

    def __init__(
        self,
        start: float = 100.0,
        oversleep: float = 0.0,
        seed: int = 0,
        late: Sequence[float] = (),
    ) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self.oversleep = oversleep
        self.rng = random.Random(seed)
        self.late = list(late)
        """Exact lateness of the first sleeps, in order (then ``oversleep`` applies)."""
        self.on_sleep: Callable[[], None] | None = None

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.on_sleep is not None:
            self.on_sleep()
        late = self.late.pop(0) if self.late else self.rng.uniform(0.0, self.oversleep)
        self.now += seconds + late
        await asyncio.sleep(0)


def most_in_window(times: Sequence[float], window: float = 1.0, eps: float = 1e-9) -> int:
    """The largest number of times falling in any half-open window [t, t + window)."""
    ordered = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(ordered):
        while j < len(ordered) and ordered[j] < t + window - eps:
            j += 1
        best = max(best, j - i)
    return best


class Extremes(random.Random):
    def __init__(self, top: bool) -> None:
        super().__init__(0)
        self.top = top

    def uniform(self, a: float, b: float) -> float:
        return b if self.top else a


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2/s", 2.0),
        ("30/m", 0.5),
        ("1/5s", 0.2),
        ("100/h", 100 / 3600),
        (" 3 / s ", 3.0),
        ("2/sec", 2.0),
        ("2/second", 2.0),
        ("2/seconds", 2.0),
        ("6/min", 0.1),
        ("1/2m", 1 / 120),
        ("1/1.5s", 1 / 1.5),
        ("0.5/s", 0.5),
        ("10/S", 10.0),
        ("4", 4.0),
        ("2.5", 2.5),
        (5, 5.0),
        (0.25, 0.25),
    ],
)
def test_parse_rate(text: str | float, expected: float) -> None:
    assert parse_rate(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text",
    [
        *("", "fast", "0/s", "-1/s", "2/x", "1/0s", "2/", "/s", "2 per second", "1e3"),
        *(0, -1.0, math.inf, math.nan, True),
    ],
)
def test_parse_rate_rejects_garbage_in_one_line(text: str | float) -> None:
    with pytest.raises(ConfigError) as info:
        parse_rate(text)
    message = str(info.value)
    assert "\n" not in message and repr(text) in message and "2/s" in message


DELAY_HELP = "expected seconds ≥ 0, or a range (low, high) with low ≤ high"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": "often"}, "invalid rate 'often': expected e.g. '2/s', '30/m', '1/5s'"),
        ({"rate": 0}, "invalid rate 0: expected e.g."),
        ({"delay": -1.0}, f"invalid delay -1.0: {DELAY_HELP}"),
        ({"delay": (2.0, 1.0)}, f"invalid delay (2.0, 1.0): {DELAY_HELP}"),
        ({"delay": (-0.5, 1.0)}, f"invalid delay (-0.5, 1.0): {DELAY_HELP}"),
        ({"delay": (0.0, math.inf)}, f"invalid delay (0.0, inf): {DELAY_HELP}"),
        ({"concurrency": 0}, "invalid concurrency 0: expected at least 1"),
        ({"concurrency": True}, "invalid concurrency True: expected at least 1"),
    ],
)
def test_politeness_rejects_nonsense_naming_the_value(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Politeness(**kwargs)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("kwargs", "delay_range"),
    [
        ({"delay": 0}, (0.0, 0.0)),
        ({"delay": 0.0}, (0.0, 0.0)),
        ({"delay": (0, 2)}, (0.0, 2.0)),  # from "no wait" up to 2 s
        ({"delay": (1.5, 1.5)}, (1.5, 1.5)),
        ({"concurrency": 1}, None),
    ],
)
def test_politeness_accepts_the_edges(
    kwargs: dict[str, object], delay_range: tuple[float, float] | None
) -> None:
    assert Politeness(**kwargs).delay_range == delay_range  # type: ignore[arg-type]


async def test_the_defaults_users_rely_on() -> None:
    """Four requests in flight per host, no rate, no delay: starts are not spaced."""
    politeness = Politeness()
    assert (politeness.rate, politeness.delay, politeness.concurrency) == (None, None, 4)
    assert politeness.min_interval == 0.0
    assert RATE_MARGIN == 1.01 and RATE_TOLERANCE == 0.005
    limiter = HostLimiter()
    assert limiter.politeness == Politeness()
    assert (limiter.in_flight, limiter.min_gap, limiter.paused_until) == (0, 0.0, -math.inf)
    gate = asyncio.Event()

    async def hold() -> None:
        async with limiter.slot():
            await gate.wait()

    tasks = [asyncio.create_task(hold()) for _ in range(6)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert limiter.in_flight == 4
    gate.set()
    await asyncio.gather(*tasks)
    assert limiter.in_flight == 0


@pytest.mark.parametrize(
    ("politeness", "rps", "delay", "interval"),
    [
        (Politeness(), None, None, 0.0),
        (Politeness(rate="2/s"), 2.0, None, 0.5 * RATE_MARGIN),
        (Politeness(delay=1.5), None, (1.5, 1.5), 1.5),
        (Politeness(delay=(1, 3)), None, (1.0, 3.0), 1.0),
        (Politeness(rate=10, delay=(0.5, 1.0)), 10.0, (0.5, 1.0), 0.5),
        (Politeness(rate="1/5s", delay=0.1), 0.2, (0.1, 0.1), 5.0 * RATE_MARGIN),
    ],
)
def test_politeness_values(
    politeness: Politeness,
    rps: float | None,
    delay: tuple[float, float] | None,
    interval: float,
) -> None:
    assert politeness.requests_per_second == rps
    assert politeness.delay_range == delay
    assert politeness.min_interval == pytest.approx(interval)


@pytest.mark.parametrize(
    ("now", "due", "paused_until", "expected"),
    [
        (10.0, None, -math.inf, 10.0),  # first request: now
        (10.0, 9.5, -math.inf, 10.0),  # already due
        (10.0, 10.3, -math.inf, 10.3),  # wait until due
        (10.0, 10.3, 12.0, 12.0),  # paused longer than the schedule
        (10.0, 10.3, 10.1, 10.3),  # schedule later than the pause
        (10.0, None, 11.0, 11.0),  # paused before the first request
        (10.0, 9.0, 9.5, 10.0),  # pause already over
    ],
)
def test_next_start(now: float, due: float | None, paused_until: float, expected: float) -> None:
    assert next_start(now=now, due=due, paused_until=paused_until) == expected


@pytest.mark.parametrize(
    ("due", "started", "gap", "tolerance", "expected"),
    [
        (None, 10.0, 0.5, 0.005, 10.5),  # first start anchors the grid
        (10.0, 10.0, 0.5, 0.005, 10.5),  # on time
        (10.0, 10.004, 0.5, 0.005, 10.5),  # a little late: stay on the grid
        (10.0, 10.2, 0.5, 0.005, 10.7),  # much later (idle, paused): re-anchor, no burst
        (10.0, 10.004, 0.5, 0.0, 10.504),  # delays get no tolerance
        (10.0, 10.25, 1.0, 0.25, 11.0),  # exactly the tolerance late: still on the grid
        (10.0, 10.5, 1.0, 0.25, 11.5),
        (10.0, 9.5, 1.0, 0.25, 11.0),  # early (cannot happen, but never re-anchor earlier)
    ],
)
def test_advance(
    due: float | None, started: float, gap: float, tolerance: float, expected: float
) -> None:
    assert advance(due=due, started=started, gap=gap, tolerance=tolerance) == pytest.approx(
        expected
    )


@pytest.mark.parametrize(
    ("interval", "delay", "top", "expected"),
    [
        (0.0, None, True, 0.0),
        (0.5, None, True, 0.5),
        (0.0, (1.0, 3.0), True, 3.0),
        (0.0, (1.0, 3.0), False, 1.0),
        (2.0, (1.0, 3.0), False, 2.0),  # the rate wins over a short delay draw
        (2.0, (1.0, 3.0), True, 3.0),
        (0.1, (0.4, 0.4), True, 0.4),
    ],
)
def test_draw_gap(
    interval: float, delay: tuple[float, float] | None, top: bool, expected: float
) -> None:
    assert draw_gap(interval, delay, Extremes(top=top)) == expected


async def starts_of(limiter: HostLimiter, clock: FakeClock, n: int) -> list[float]:
    """Start times of ``n`` concurrent requests that each hold their slot only briefly."""
    starts: list[float] = []

    async def one() -> None:
        async with limiter.slot():
            starts.append(clock())

    await asyncio.gather(*(one() for _ in range(n)))
    return starts


async def test_starts_are_spaced_by_the_rate() -> None:
    clock = FakeClock()
    limiter = HostLimiter(Politeness(rate="5/s"), clock=clock, sleep=clock.sleep)
    starts = await starts_of(limiter, clock, 6)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert starts[0] == 100.0
    assert gaps == pytest.approx([0.2 * RATE_MARGIN] * 5)  # on time: exactly the interval


@pytest.mark.parametrize(
    ("rate", "oversleep", "min_fraction"),
    [
        (3, 0.0, 0.98),
        (10, 0.0, 0.98),
        (20, 0.0, 0.98),
        (10, 0.002, 0.98),  # a loop that wakes up to 2 ms late loses nothing
        (20, 0.002, 0.98),
        (20, 0.008, 0.93),  # up to 8 ms late, under heavy load
        (10, 0.05, 0.6),  # a very late loop: slower, but still never too fast
        (1000, 0.002, 0.2),  # sleeps longer than the interval: the loop is the limit
    ],
)
async def test_never_more_than_rate_in_any_window_and_close_to_rate(
    rate: int, oversleep: float, min_fraction: float
) -> None:
    clock = FakeClock(oversleep=oversleep, seed=rate)
    limiter = HostLimiter(Politeness(rate=rate, concurrency=8), clock=clock, sleep=clock.sleep)
    starts = await starts_of(limiter, clock, 5 * rate)
    assert most_in_window(starts) <= rate
    achieved = (len(starts) - 1) / (max(starts) - min(starts))
    assert achieved >= min_fraction * rate


@pytest.mark.parametrize("oversleep", [0.0, 0.001, 0.004, 0.006, 0.03])
async def test_any_n_plus_one_starts_span_n_intervals_minus_the_tolerance(
    oversleep: float,
) -> None:
    rate = 20
    clock = FakeClock(oversleep=oversleep, seed=7)
    limiter = HostLimiter(Politeness(rate=rate), clock=clock, sleep=clock.sleep)
    starts = sorted(await starts_of(limiter, clock, 200))
    interval = RATE_MARGIN / rate
    for n in (1, 2, 5, rate):
        spans = [b - a for a, b in zip(starts, starts[n:], strict=False)]
        assert min(spans) >= n * interval - RATE_TOLERANCE - 1e-9
    assert min(b - a for a, b in zip(starts, starts[rate:], strict=False)) >= 1.005 - 1e-9


async def test_delay_range_is_jittered_and_honoured() -> None:
    clock = FakeClock()
    limiter = HostLimiter(
        Politeness(delay=(1.0, 2.0)), clock=clock, sleep=clock.sleep, rng=random.Random(3)
    )
    starts = await starts_of(limiter, clock, 30)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(1.0 <= g <= 2.0 for g in gaps)
    assert max(gaps) - min(gaps) > 0.5  # jittered, not a fixed beat


async def test_pause_delays_the_next_start() -> None:
    clock = FakeClock()
    limiter = HostLimiter(Politeness(rate="10/s"), clock=clock, sleep=clock.sleep)
    async with limiter.slot():
        pass
    limiter.pause_until(clock() + 5.0)
    async with limiter.slot():
        assert clock() == pytest.approx(105.0)


async def test_pause_set_while_waiting_is_honoured() -> None:
    clock = FakeClock()
    limiter = HostLimiter(Politeness(rate="1/s"), clock=clock, sleep=clock.sleep)
    async with limiter.slot():
        pass

    def pause_once() -> None:  # a 429 on another request arrives during our wait
        clock.on_sleep = None
        limiter.pause_until(clock() + 30.0)

    clock.on_sleep = pause_once
    async with limiter.slot():
        assert clock() == pytest.approx(130.0)


def test_pause_only_extends() -> None:
    limiter = HostLimiter()
    assert limiter.paused_until == -math.inf
    limiter.pause_until(50.0)
    limiter.pause_until(20.0)
    assert limiter.paused_until == 50.0


async def test_concurrency_is_bounded() -> None:
    limiter = HostLimiter(Politeness(concurrency=2))
    gate = asyncio.Event()
    peak = 0

    async def one() -> None:
        nonlocal peak
        async with limiter.slot():
            peak = max(peak, limiter.in_flight)
            await gate.wait()

    tasks = [asyncio.create_task(one()) for _ in range(5)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert limiter.in_flight == 2
    gate.set()
    await asyncio.gather(*tasks)
    assert peak == 2 and limiter.in_flight == 0


async def test_cancelled_waiter_gives_its_place_up() -> None:
    limiter = HostLimiter(Politeness(concurrency=1))
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    limiter.release()
    await asyncio.wait_for(limiter.acquire(), timeout=1.0)
    assert limiter.in_flight == 1
    limiter.release()


async def test_cancelled_while_sleeping_for_its_turn_gives_the_only_slot_back() -> None:
    """With one slot, a request cancelled during its wait for the schedule must hand the
    slot back: otherwise every later request to the host waits forever."""
    clock = FakeClock()
    limiter = HostLimiter(Politeness(rate="1/s", concurrency=1), clock=clock, sleep=clock.sleep)
    async with limiter.slot():  # starts at 100.0: the next start is due at 101.01
        pass
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)  # it took the slot and is sleeping for its turn
    assert clock.sleeps == [pytest.approx(RATE_MARGIN)]
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter.in_flight == 0
    await asyncio.wait_for(limiter.acquire(), timeout=5.0)
    assert limiter.in_flight == 1
    assert clock() == pytest.approx(100.0 + RATE_MARGIN)  # the cancelled one used no start
    limiter.release()
    assert limiter.in_flight == 0


async def test_an_error_inside_the_slot_gives_it_back() -> None:
    limiter = HostLimiter(Politeness(concurrency=1))
    with pytest.raises(ValueError):
        async with limiter.slot():
            raise ValueError("the request failed")
    assert limiter.in_flight == 0
    await asyncio.wait_for(limiter.acquire(), timeout=5.0)
    limiter.release()


@pytest.mark.parametrize(
    ("politeness", "late", "expected_gap"),
    [
        # the 2nd start wakes late; the 3rd is on time: is it on the grid or re-anchored?
        (Politeness(rate=10), 0.004, RATE_MARGIN / 10 - 0.004),  # within 5 ms: grid kept
        (Politeness(rate=10), 0.006, RATE_MARGIN / 10),  # later: re-anchored, no burst
        (Politeness(rate=200), 0.002, RATE_MARGIN / 200 - 0.002),  # within half an interval
        (Politeness(rate=200), 0.004, RATE_MARGIN / 200),  # over half an interval: re-anchor
        (Politeness(delay=0.1), 0.001, 0.1),  # delays are kept exactly
        (Politeness(rate=20, delay=0.1), 0.001, 0.1),  # the delay is longer than the rate
        (Politeness(delay=(0.2, 0.2)), 0.0001, 0.2),
    ],
)
async def test_a_late_wake_keeps_the_grid_only_within_the_tolerance(
    politeness: Politeness, late: float, expected_gap: float
) -> None:
    clock = FakeClock(late=[late, 0.0])
    limiter = HostLimiter(politeness, clock=clock, sleep=clock.sleep)
    starts = await starts_of(limiter, clock, 3)
    assert starts[1] - starts[0] == pytest.approx(politeness.min_interval + late, abs=1e-9)
    assert starts[2] - starts[1] == pytest.approx(expected_gap, abs=1e-9)


@pytest.mark.parametrize("rate", [1.01, 0.5, 2, 100])
async def test_every_rate_is_scheduled(rate: float) -> None:
    clock = FakeClock()
    limiter = HostLimiter(Politeness(rate=rate), clock=clock, sleep=clock.sleep)
    starts = await starts_of(limiter, clock, 4)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps == pytest.approx([RATE_MARGIN / rate] * 3)


async def test_a_delay_range_works_without_a_random_source_given() -> None:
    clock = FakeClock()
    limiter = HostLimiter(Politeness(delay=(1.0, 2.0)), clock=clock, sleep=clock.sleep)
    starts = await starts_of(limiter, clock, 20)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(1.0 <= g <= 2.0 for g in gaps) and len(set(gaps)) > 1


async def test_starts_are_handed_out_in_arrival_order_even_without_a_schedule() -> None:
    """A request arriving just as a pause ends still queues behind those already waiting."""
    clock = FakeClock()
    limiter = HostLimiter(Politeness(), clock=clock, sleep=clock.sleep)
    limiter.pause_until(102.5)
    order: list[int] = []

    async def one(n: int) -> None:
        async with limiter.slot():
            order.append(n)

    await asyncio.gather(*(one(n) for n in range(4)))
    assert order == [0, 1, 2, 3]
    assert clock.sleeps == [2.5]


@pytest.mark.parametrize(
    ("politeness", "floors", "expected_starts", "min_gap"),
    [
        # a Crawl-delay on a host without rules: the next start is 2 s after the news
        (Politeness(), [2.0], [102.0, 104.0, 106.0], 2.0),
        (Politeness(), [2.0, 1.0], [102.0, 104.0, 106.0], 2.0),  # only raises the floor
        (Politeness(), [1.0, 3.0], [103.0, 106.0, 109.0], 3.0),
        (Politeness(), [0.0], [100.0, 100.0, 100.0], 0.0),  # zero changes nothing
        (Politeness(), [-1.0], [100.0, 100.0, 100.0], 0.0),
        (Politeness(rate=2), [3.0], [103.0, 106.0, 109.0], 3.0),  # longer than the rate
        (Politeness(rate=1), [0.5], [100.5, 100.5 + RATE_MARGIN, 100.5 + 2 * RATE_MARGIN], 0.5),
        (Politeness(delay=4.0), [1.0], [101.0, 105.0, 109.0], 1.0),
    ],
)
async def test_at_least_sets_a_floor_between_starts(
    politeness: Politeness, floors: list[float], expected_starts: list[float], min_gap: float
) -> None:
    clock = FakeClock()
    limiter = HostLimiter(politeness, clock=clock, sleep=clock.sleep)
    for seconds in floors:
        limiter.at_least(seconds)
    assert limiter.min_gap == min_gap
    assert await starts_of(limiter, clock, 3) == pytest.approx(expected_starts)


async def test_at_least_does_not_bring_a_later_start_forward() -> None:
    clock = FakeClock()
    limiter = HostLimiter(Politeness(rate="1/10s"), clock=clock, sleep=clock.sleep)
    async with limiter.slot():  # at 100.0; the next is due at 110.1
        pass
    limiter.at_least(2.0)
    starts = await starts_of(limiter, clock, 2)
    assert starts == pytest.approx([110.1, 120.2])


async def test_at_least_is_kept_exactly_not_within_the_rate_tolerance() -> None:
    clock = FakeClock(late=[0.0, 0.004, 0.0])
    limiter = HostLimiter(Politeness(rate=2), clock=clock, sleep=clock.sleep)
    limiter.at_least(3.0)
    starts = await starts_of(limiter, clock, 3)
    assert starts == pytest.approx([103.0, 106.004, 109.004])


async def test_a_pause_holds_even_a_host_without_rate_or_delay() -> None:
    clock = FakeClock()
    limiter = HostLimiter(Politeness(), clock=clock, sleep=clock.sleep)
    starts = await starts_of(limiter, clock, 3)
    assert starts == [100.0, 100.0, 100.0]  # nothing to schedule: no waiting at all
    limiter.pause_until(102.5)
    starts = await starts_of(limiter, clock, 3)
    assert starts == [102.5, 102.5, 102.5]


async def test_hearing_the_same_crawl_delay_again_does_not_push_the_schedule() -> None:
    clock = FakeClock()
    limiter = HostLimiter(Politeness(), clock=clock, sleep=clock.sleep)
    limiter.at_least(2.0)
    assert await starts_of(limiter, clock, 1) == [102.0]  # the next is due at 104.0
    clock.now = 103.5  # robots.txt fetched again, with the same Crawl-delay
    limiter.at_least(2.0)
    assert await starts_of(limiter, clock, 2) == pytest.approx([104.0, 106.0])


# --- the adaptive rate: a 429 slows the host, which recovers slowly ---------------


@pytest.mark.parametrize(
    ("current", "configured", "observed", "expected"),
    [
        # (rate, step, ceiling, lifts)
        # no rate: 0.85 of the observed one, back up to 0.9 of it (and no further)
        (None, None, 200.0, (170.0, 6.0, 180.0, False)),
        (None, None, 7.0, (5.95, 0.5, 6.3, False)),  # the least step
        (None, None, 0.0, (0.5, 0.5, 0.5, False)),  # nothing seen: the least rate
        (100.0, None, 3.0, (85.0, 3.0, 90.0, False)),  # a rate in force wins over a lull
        (20.0, 20.0, 35.0, (17.0, 0.6, 20.0, False)),  # back up to the configured rate
        (10.0, 20.0, 9.0, (8.5, 0.5, 20.0, False)),  # slowed again while slowed
        (0.55, 20.0, 0.0, (0.5, 0.5, 20.0, False)),  # never below the least rate
        (0.2, 0.2, 0.2, (0.2, 0.5, 0.2, False)),  # ... unless the configured one is lower
    ],
)
def test_slowed(
    current: float | None,
    configured: float | None,
    observed: float,
    expected: tuple[float, float, float, bool],
) -> None:
    got = slowed(current=current, configured=configured, observed=observed, since=5.0)
    assert (got.rate, got.step, got.ceiling, got.lifts) == pytest.approx(expected)
    assert got.since == 5.0


@pytest.mark.parametrize(
    ("current", "configured", "expected_rate"),
    [(100.0, None, 60.0), (20.0, 20.0, 12.0), (0.6, None, 0.5)],
)
def test_a_429_at_once_after_a_slowdown_drops_the_rate_further(
    current: float, configured: float | None, expected_rate: float
) -> None:
    got = slowed(current=current, configured=configured, observed=0.0, since=5.0, at_once=True)
    assert got.rate == pytest.approx(expected_rate)


async def test_a_host_that_refuses_again_right_after_its_pause_is_slowed_more() -> None:
    clock = FakeClock()
    limiter = HostLimiter(clock=clock, sleep=clock.sleep)
    for _ in range(11):
        await limiter.acquire()
        limiter.release()
    clock.now += 1.0
    limiter.pause_until(clock() + 1.0)
    assert limiter.slow_down(started=clock()) == pytest.approx(8.5)
    clock.now += 1.2  # 0.2 s after the pause ended: refused again at once
    started = await limiter.acquire()
    limiter.release()
    assert limiter.slow_down(started=started) == pytest.approx(0.6 * 8.6)


@pytest.mark.parametrize(
    ("slowdown", "now", "expected"),
    [
        (Slowdown(rate=10.0, since=5.0, step=1.0, ceiling=20.0, lifts=False), 3.0, 10.0),
        (Slowdown(rate=10.0, since=5.0, step=1.0, ceiling=20.0, lifts=False), 5.0, 10.0),
        (Slowdown(rate=10.0, since=5.0, step=1.0, ceiling=20.0, lifts=False), 9.5, 14.5),
        (Slowdown(rate=10.0, since=5.0, step=1.0, ceiling=20.0, lifts=False), 15.0, 20.0),
        (Slowdown(rate=10.0, since=5.0, step=1.0, ceiling=20.0, lifts=False), 99.0, 20.0),
        (Slowdown(rate=10.0, since=5.0, step=1.0, ceiling=40.0, lifts=True), 34.0, 39.0),
        (Slowdown(rate=10.0, since=5.0, step=1.0, ceiling=40.0, lifts=True), 35.0, None),
    ],
)
def test_recovered(slowdown: Slowdown, now: float, expected: float | None) -> None:
    assert recovered(slowdown, now) == expected


@pytest.mark.parametrize(
    ("events", "now", "expected"),
    [
        ((), 0.0, 0.0),
        ((0.0, 0.1, 0.2), 0.5, 6.0),  # younger than its window: over the time it has seen
        ((0.0, 0.0, 0.0), 0.01, 30.0),  # ... at least a tenth of the window
        ((0.0, 0.1, 0.2), 1.25, 2.25),  # a quarter of the last window has slid out
        ((0.0, 0.1, 0.2, 1.1), 1.5, 2.5),
        ((0.0, 0.1, 0.2), 2.5, 0.0),
    ],
)
def test_rate_meter(events: tuple[float, ...], now: float, expected: float) -> None:
    meter = RateMeter()
    for t in events:
        meter.add(t)
    assert meter.rate(now) == pytest.approx(expected)


async def test_after_a_pause_queued_requests_start_spaced_even_without_a_rate() -> None:
    """The burst after a 429: eight requests queued behind a pause must not all start
    the moment it ends."""
    clock = FakeClock()
    limiter = HostLimiter(Politeness(concurrency=8), clock=clock, sleep=clock.sleep)
    first = [await limiter.acquire() for _ in range(8)]  # unbounded: all at once
    assert first == [100.0] * 8
    limiter.pause_until(101.0)  # the client pauses the host on a 429 ...
    limiter.pause_until(101.0)
    clock.now = 100.5
    rate = limiter.slow_down(started=first[0])  # ... and slows it, half a second later
    assert rate == pytest.approx(0.85 * 7 / 0.5)  # 7 answered in the half second seen
    assert limiter.slow_down(started=first[1]) is None  # in flight already: counted once
    for _ in range(8):
        limiter.release()
    starts = await asyncio.gather(*(limiter.acquire() for _ in range(8)))
    assert min(starts) == pytest.approx(101.0)
    gaps = [b - a for a, b in itertools.pairwise(sorted(starts))]
    # spaced at the slowed rate, growing back to 0.9 of 14/s (12.6/s) at most meanwhile
    assert all(RATE_MARGIN / 12.6 - 1e-9 <= g <= RATE_MARGIN / rate + 1e-9 for g in gaps), gaps
    assert gaps == sorted(gaps, reverse=True)  # recovering: ever closer


async def test_a_configured_rate_is_slowed_and_recovers_to_it() -> None:
    clock = FakeClock()
    recoveries: list[float | None] = []
    limiter = HostLimiter(
        Politeness(rate="20/s"), clock=clock, sleep=clock.sleep, on_recovered=recoveries.append
    )
    started = await limiter.acquire()
    limiter.release()
    assert limiter.slow_down(started=started) == 17.0
    assert limiter.rate == 17.0
    clock.now += 2.5
    assert limiter.rate == pytest.approx(18.5)  # +0.6/s per second (3 % of 20)
    clock.now += 2.5
    assert limiter.rate == 20.0 and recoveries == [20.0]
    clock.now += 50.0
    assert limiter.rate == 20.0 and recoveries == [20.0]  # never past the configured rate


async def test_without_a_rate_it_grows_back_to_just_under_the_rate_of_the_429() -> None:
    clock = FakeClock()
    recoveries: list[float | None] = []
    limiter = HostLimiter(clock=clock, sleep=clock.sleep, on_recovered=recoveries.append)
    for _ in range(11):
        await limiter.acquire()
        limiter.release()
    clock.now += 1.0
    assert limiter.slow_down(started=clock()) == pytest.approx(8.5)  # 10 answered a second
    clock.now += 0.5
    assert limiter.rate == pytest.approx(8.75)  # 8.5 + 0.5 * 0.5 (the least step)
    clock.now += 1.0
    assert limiter.rate == pytest.approx(9.0) and recoveries == [pytest.approx(9.0)]
    clock.now += 60.0
    assert limiter.rate == pytest.approx(9.0)  # the host took 10/s: never sent more again


async def test_a_wait_only_for_a_concurrency_slot_is_not_a_wait_for_the_schedule() -> None:
    clock = FakeClock()
    unbounded = HostLimiter(Politeness(concurrency=1), clock=clock, sleep=clock.sleep)
    assert not unbounded.scheduled_wait()
    await unbounded.acquire()  # the one slot is taken: acquire would wait, for it only
    assert not unbounded.ready() and not unbounded.scheduled_wait()
    paced = HostLimiter(Politeness(rate="2/s", concurrency=4), clock=clock, sleep=clock.sleep)
    await paced.acquire()  # the next start is half a second away
    assert not paced.ready() and paced.scheduled_wait()
    clock.now += 1.0
    assert paced.ready() and not paced.scheduled_wait()
    paced.pause_until(clock() + 5.0)
    assert paced.scheduled_wait()
