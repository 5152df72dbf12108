"""A host that rate-limits, as a site sees the client: no burst after a pause, a 429
slows the host instead of banning it, and a crawl with no declared rate settles near
the rate the site allows."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from scrapeline import Context, Item, Pipeline, Record
from scrapeline.errors import RateLimited
from scrapeline.fetch.breaker import BreakerPolicy, BreakerState
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.events import BreakerOpened, FetchEvent, HostSlowed
from scrapeline.fetch.limits import Politeness
from scrapeline.fetch.retry import RetryPolicy
from scrapeline.runner.run import RunOptions
from scrapeline.workspace.run import FetchOptions, fetch_settings
from scrapeline.workspace.run import run as run_pipeline


class LimitedSite:
    """A site that answers 429 + ``Retry-After`` when a token bucket of ``rate``
    tokens per second (``burst`` at most) is empty, or to the first ``refuse``
    requests; it records when each request arrived and what it answered."""

    def __init__(
        self, *, rate: float = 1e9, burst: float = 1e9, refuse: int = 0, retry_after: str = "1"
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.refuse = refuse
        self.retry_after = retry_after
        self.tokens = burst
        self.filled_at = time.monotonic()
        self.answers: list[tuple[float, int]] = []
        self.paths: Counter[str] = Counter()
        self.app = web.Application()
        self.app.router.add_get("/{tail:.*}", self.page)

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.filled_at) * self.rate)
        self.filled_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    async def page(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        if len(self.answers) < self.refuse or not self.take(now):
            self.answers.append((now, 429))
            return web.Response(status=429, headers={"Retry-After": self.retry_after})
        self.answers.append((now, 200))
        self.paths[request.path] += 1
        return web.Response(text=f"<p>{request.path}</p>", content_type="text/html")

    def arrivals(self, status: int | None = None) -> list[float]:
        return [t for t, s in self.answers if status is None or s == status]


async def serve(site: LimitedSite) -> AsyncIterator[str]:
    runner = web.AppRunner(site.app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def crawl(
    base: str, paths: list[str], events: list[FetchEvent], **kwargs: object
) -> FetchClient:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=5.0))
    client = FetchClient(base_url=base, on_event=events.append, **kwargs)  # type: ignore[arg-type]
    try:
        responses = await asyncio.gather(*(client.get(p) for p in paths))
    finally:
        await client.close()
    assert [r.status for r in responses] == [200] * len(paths)
    return client


async def test_requests_queued_behind_a_pause_do_not_all_start_when_it_ends() -> None:
    site = LimitedSite(refuse=1, retry_after="1")
    events: list[FetchEvent] = []
    async for base in serve(site):
        await crawl(
            base, [f"/p/{n}" for n in range(16)], events, politeness=Politeness(concurrency=8)
        )
    refused_at = site.arrivals(429)[0]
    after = [t for t in site.arrivals() if t >= refused_at + 0.9]
    assert len(after) >= 8, site.answers  # the ones queued behind the pause, and the retry
    assert min(after) >= refused_at + 1.0  # Retry-After honoured
    slowed = [e for e in events if isinstance(e, HostSlowed)]
    assert len(slowed) == 1 and slowed[0].reason == "429" and slowed[0].host == "127.0.0.1"
    # Without a slowdown all of them start in the same millisecond; slowed, they start
    # spaced at the slowed rate (a few ms of wake-up jitter aside), never two at once.
    gaps = [b - a for a, b in itertools.pairwise(sorted(after))]
    assert min(gaps) >= 0.5 / slowed[0].rate, (slowed[0].rate, gaps)
    assert sum(site.paths.values()) == 16


async def test_429s_neither_open_the_breaker_nor_use_up_attempts() -> None:
    site = LimitedSite(refuse=6, retry_after="0")
    events: list[FetchEvent] = []
    async for base in serve(site):
        client = await crawl(
            base,
            ["/only"],
            events,
            retry=RetryPolicy(max_attempts=1, base_delay=0.01, max_delay=1.0),
            breaker=BreakerPolicy(threshold=2, cooldown=30.0),
            politeness=Politeness(rate="1000/s"),  # slowed six times: still quick
        )
    assert [s for _, s in site.answers] == [429] * 6 + [200]
    assert not [e for e in events if isinstance(e, BreakerOpened)]
    assert client.breaker_of("127.0.0.1").state is BreakerState.CLOSED


async def test_a_host_that_answers_429_forever_fails_the_item_as_rate_limited() -> None:
    site = LimitedSite(refuse=10**6, retry_after="0")
    async for base in serve(site):
        client = FetchClient(
            base_url=base,
            retry=RetryPolicy(max_attempts=1, rate_limited_waits=3, max_delay=1.0),
            politeness=Politeness(rate="1000/s"),
        )
        async with client:
            with pytest.raises(RateLimited) as info:
                await client.get("/forever")
    assert len(site.answers) == 4  # the first try and three waits
    assert info.value.attempts == 4 and info.value.category == "rate_limited"


async def test_with_no_rate_a_crawl_settles_near_what_the_site_allows() -> None:
    """The site allows 20 requests/s (a bucket of 20) and answers 429 + Retry-After: 1
    above it; the pipeline declares no rate and keeps 16 requests in flight."""
    rate = 20.0
    site = LimitedSite(rate=rate, burst=rate, retry_after="1")
    events: list[FetchEvent] = []
    paths = [f"/item/{n}" for n in range(90)]
    async for base in serve(site):
        started = time.monotonic()
        client = await crawl(
            base,
            paths,
            events,
            politeness=Politeness(concurrency=16),
            retry=RetryPolicy(max_attempts=1, base_delay=0.01, max_delay=5.0),
        )
        elapsed = time.monotonic() - started
    assert sorted(site.paths) == sorted(paths)  # every item fetched, with one attempt
    assert not [e for e in events if isinstance(e, BreakerOpened)]
    assert client.breaker_of("127.0.0.1").state is BreakerState.CLOSED
    first = site.answers[0][0]
    later = [s for t, s in site.answers if t >= first + 1.0]
    assert later.count(429) < 0.2 * len(later), Counter(later)
    # 90 items at 20/s are 4.5 s; a collapse (a 1-s pause per few requests) takes far longer
    assert elapsed < 15.0, elapsed


async def test_a_run_given_a_rate_keeps_to_it_and_leaves_the_pipeline_as_declared(
    tmp_path: Path,
) -> None:
    site = LimitedSite()
    pipe = Pipeline("rated", base_url="http://127.0.0.1:1", robots=False)
    pipe.table("pages", key="n")

    @pipe.discover("page")
    async def listing(ctx: Context, offset: int) -> AsyncIterator[Item]:
        if offset == 0:
            for key in range(1, 8):
                yield Item(key=key)

    @pipe.stage("get", on="page")
    async def get(ctx: Context, item: Item) -> Record:
        await ctx.fetch(f"/pages/{item.key}")
        return Record("pages", {"n": item.key})

    async for base in serve(site):
        outcome = await run_pipeline(
            pipe,
            tmp_path / "d",
            RunOptions(workers=4),
            fetch_options=FetchOptions(base_url=base, rate="5/s"),
        )
    assert outcome.exit_code == 0
    arrivals = sorted(site.arrivals(200))
    assert len(arrivals) == 7
    # seven starts at 5/s span at least six intervals (the pipeline alone sets no rate)
    assert arrivals[-1] - arrivals[0] >= 6 * 0.2 - 0.05, arrivals
    assert pipe.fetch.rate is None
    assert fetch_settings(pipe, FetchOptions(rate="5/s")).rate == "5/s"
    assert fetch_settings(pipe, FetchOptions()).rate is None
