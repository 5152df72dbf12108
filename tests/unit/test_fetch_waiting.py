"""Waits for the host's sake are told to the current waiter, and only real waits are."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from fnmatch import fnmatch

import pytest

from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.limits import HostLimiter, Politeness
from scrapeline.fetch.response import Request
from scrapeline.fetch.retry import RetryPolicy
from scrapeline.fetch.transport import FakeFetcher, FakeReply
from scrapeline.fetch.waiting import current_waiter, set_waiter, waited

OK: FakeReply = (200, {"Content-Type": "text/html"}, "<p>ok</p>")
UNAVAILABLE: FakeReply = (503, {"Content-Type": "text/html"}, "busy")
LIMITED: FakeReply = (429, {"Retry-After": "2"}, "slow down")


class Notes:
    """A waiter that notes what it hears, beside what the test notes (sleeps)."""

    def __init__(self) -> None:
        self.said: list[str] = []

    def began(self, *, keeps_worker: bool = False) -> None:
        self.said.append("began" + (" (keeps its worker)" if keeps_worker else ""))

    def ended(self, *, keeps_worker: bool = False) -> None:
        self.said.append("ended" + (" (keeps its worker)" if keeps_worker else ""))


class Clock:
    """Monotonic time that moves only when slept on; every sleep is noted."""

    def __init__(self, notes: Notes) -> None:
        self.now = 100.0
        self.notes = notes

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.notes.said.append(f"sleep {seconds:g}")
        self.now += seconds
        await asyncio.sleep(0)


async def test_without_a_waiter_a_wait_is_only_a_wait() -> None:
    assert current_waiter() is None
    assert await waited(asyncio.sleep(0, "done")) == "done"


async def test_a_waiter_hears_the_wait_begin_and_end_on_every_path() -> None:
    notes = Notes()
    set_waiter(notes)

    async def fails() -> None:
        notes.said.append("waiting")
        raise ValueError("gone")

    assert await waited(asyncio.sleep(0, 1)) == 1
    with pytest.raises(ValueError):
        await waited(fails())
    stuck = asyncio.ensure_future(waited(asyncio.sleep(3600)))  # inherits the waiter
    await asyncio.sleep(0)
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck
    assert notes.said == ["began", "ended", "began", "waiting", "ended", "began", "ended"]


def _limiter(politeness: Politeness, clock: Clock) -> HostLimiter:
    return HostLimiter(politeness, clock=clock, sleep=clock.sleep)


Setup = Callable[[HostLimiter, Clock], None]


def _nothing(limiter: HostLimiter, clock: Clock) -> None:
    return None


def _paused(limiter: HostLimiter, clock: Clock) -> None:
    limiter.pause_until(clock.now + 5)


def _pause_over(limiter: HostLimiter, clock: Clock) -> None:
    limiter.pause_until(clock.now - 1)


@pytest.mark.parametrize(
    ("politeness", "taken", "setup", "ready"),
    [
        (Politeness(), 0, _nothing, True),
        (Politeness(concurrency=2), 1, _nothing, True),
        (Politeness(concurrency=2), 2, _nothing, False),  # every concurrency slot held
        (Politeness(), 0, _paused, False),  # a 429's pause is running
        (Politeness(), 0, _pause_over, True),
        (Politeness(rate=2), 0, _nothing, True),  # the first start is due at once
        (Politeness(rate=2, concurrency=4), 1, _nothing, False),  # the next one in 0.5 s
        (Politeness(delay=0.3, concurrency=4), 1, _nothing, False),
    ],
)
async def test_a_limiter_is_ready_only_when_a_slot_would_be_handed_out_at_once(
    politeness: Politeness, taken: int, setup: Setup, ready: bool
) -> None:
    clock = Clock(Notes())
    limiter = _limiter(politeness, clock)
    for _ in range(taken):
        await limiter.acquire()
    clock.notes.said.clear()
    setup(limiter, clock)
    assert limiter.ready() is ready
    if ready:  # and it is right: the slot is handed out without sleeping
        await asyncio.wait_for(limiter.acquire(), timeout=1)
        assert clock.notes.said == []


def _client(answers: list[FakeReply], notes: Notes, politeness: Politeness) -> FetchClient:
    clock = Clock(notes)

    def answer(request: Request) -> FakeReply:
        notes.said.append("request")
        return answers.pop(0) if answers else OK

    return FetchClient(
        base_url="https://site.example",
        politeness=politeness,
        retry=RetryPolicy(max_attempts=3, base_delay=1.0),
        fetcher=FakeFetcher(answer),
        clock=clock,
        sleep=clock.sleep,
        robots=False,
    )


@pytest.mark.parametrize(
    ("answers", "politeness", "said"),
    [
        ([OK], Politeness(), ["request"]),  # nothing waited for: nothing told
        ([UNAVAILABLE], Politeness(), ["request", "began", "sleep *", "ended", "request"]),
        ([LIMITED], Politeness(), ["request", "began", "sleep 2", "ended", "request"]),
    ],
    ids=["no-wait", "retry-backoff", "429-pause"],
)
async def test_the_client_tells_the_waiter_of_each_wait_for_the_host(
    answers: list[FakeReply], politeness: Politeness, said: list[str]
) -> None:
    notes = Notes()
    set_waiter(notes)
    client = _client(answers, notes, politeness)
    try:
        page = await client.get("/a")
    finally:
        await client.close()
    assert page.status == 200
    assert len(notes.said) == len(said), notes.said
    pairs = zip(notes.said, said, strict=True)
    assert all(fnmatch(heard, wanted) for heard, wanted in pairs), notes.said


async def test_a_politeness_slot_not_free_at_once_is_waited_for_as_the_hosts_wait() -> None:
    notes = Notes()
    set_waiter(notes)
    client = _client([], notes, Politeness(rate="1/s"))
    try:
        await client.get("/a")
        await client.get("/b")
    finally:
        await client.close()
    assert notes.said[0] == "request"  # the first start is due at once
    assert notes.said[1] == "began" and notes.said[-2:] == ["ended", "request"]
    assert [s for s in notes.said if s.startswith("sleep")]  # and it was a real wait
