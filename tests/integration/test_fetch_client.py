"""FetchClient against a real aiohttp server on 127.0.0.1: retries, politeness,
Retry-After, the allow-list, timeouts, the breaker and contracts, as a site sees them."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from scrapeline.errors import (
    Blocked,
    Category,
    ContractError,
    FetchTimeout,
    HostNotAllowed,
    HTTPError,
    NetworkError,
    RateLimited,
)
from scrapeline.fetch.breaker import BreakerPolicy, BreakerState, HostDown
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.contract import Expect
from scrapeline.fetch.events import (
    BreakerClosed,
    BreakerOpened,
    Fetched,
    FetchEvent,
    HostPaused,
    RetryScheduled,
)
from scrapeline.fetch.limits import Politeness
from scrapeline.fetch.retry import RetryPolicy
from scrapeline.fetch.transport import HttpFetcher

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05)
CHALLENGE = "<html><head><title>Just a moment...</title></head><body></body></html>"


class Site:
    """A tiny site with a route per failure mode; it records what arrived, and when."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.arrivals: dict[str, list[float]] = {}
        self.release = asyncio.Event()
        self.rate_limited = asyncio.Event()
        self.app = web.Application()
        add = self.app.router.add_get
        add("/ok", self.ok)
        add("/flaky/{times}", self.flaky)
        add("/limited", self.limited)
        add("/status/{code}", self.status)
        add("/challenge", self.challenge)
        add("/hang", self.hang)
        add("/drop", self.drop)
        add("/redirect", self.redirect)
        add("/redirect-out", self.redirect_out)
        add("/loop", self.loop)

    def arrived(self, request: web.Request) -> None:
        self.hits[request.path] += 1
        self.arrivals.setdefault(request.path, []).append(time.monotonic())

    async def ok(self, request: web.Request) -> web.Response:
        self.arrived(request)
        return web.Response(text="<p class=a>ok</p>", content_type="text/html")

    async def flaky(self, request: web.Request) -> web.Response:
        """503 for the first ``times`` requests, then 200."""
        self.arrived(request)
        if self.hits[request.path] <= int(request.match_info["times"]):
            return web.Response(status=503, text="busy")
        return web.Response(text="<p class=a>finally</p>", content_type="text/html")

    async def limited(self, request: web.Request) -> web.Response:
        """429 with Retry-After: 1 the first time, then 200."""
        self.arrived(request)
        if self.hits[request.path] == 1:
            self.rate_limited.set()
            return web.Response(status=429, headers={"Retry-After": "1"}, text="slow down")
        return web.Response(text="<p>ok</p>", content_type="text/html")

    async def status(self, request: web.Request) -> web.Response:
        self.arrived(request)
        return web.Response(status=int(request.match_info["code"]), text="status page")

    async def challenge(self, request: web.Request) -> web.Response:
        self.arrived(request)
        return web.Response(text=CHALLENGE, content_type="text/html")

    async def hang(self, request: web.Request) -> web.Response:
        self.arrived(request)
        await self.release.wait()
        return web.Response()

    async def drop(self, request: web.Request) -> web.Response:
        self.arrived(request)
        assert request.transport is not None
        request.transport.close()
        await self.release.wait()
        return web.Response()

    async def redirect(self, request: web.Request) -> web.Response:
        self.arrived(request)
        raise web.HTTPFound("/ok")

    async def redirect_out(self, request: web.Request) -> web.Response:
        self.arrived(request)
        raise web.HTTPFound("http://elsewhere.invalid/steal")

    async def loop(self, request: web.Request) -> web.Response:
        self.arrived(request)
        raise web.HTTPFound("/loop")


@pytest.fixture
async def site() -> AsyncIterator[tuple[Site, str]]:
    site = Site()
    runner = web.AppRunner(site.app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    try:
        yield site, f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        site.release.set()
        await runner.cleanup()


@asynccontextmanager
async def client_for(base: str, **kwargs: object) -> AsyncIterator[FetchClient]:
    kwargs.setdefault("retry", FAST_RETRY)
    client = FetchClient(base_url=base, **kwargs)  # type: ignore[arg-type]
    try:
        yield client
    finally:
        await client.close()


def most_in_window(times: Sequence[float], window: float = 1.0) -> int:
    """The largest number of times falling in any half-open window [t, t + window)."""
    ordered = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(ordered):
        while j < len(ordered) and ordered[j] < t + window:
            j += 1
        best = max(best, j - i)
    return best


async def test_transient_failures_are_retried_until_success(
    site: tuple[Site, str], caplog: pytest.LogCaptureFixture
) -> None:
    server, base = site
    caplog.set_level(logging.DEBUG, logger="scrapeline.fetch")
    events: list[FetchEvent] = []
    async with client_for(base, on_event=events.append) as client:
        response = await client.get("/flaky/2", stage="overview", item_key="7")
    assert response.status == 200 and response.one("p.a").text() == "finally"
    assert response.attempts == 3 and server.hits["/flaky/2"] == 3
    retries = [e for e in events if isinstance(e, RetryScheduled)]
    assert [r.attempt for r in retries] == [1, 2]
    assert all(r.stage == "overview" and r.item_key == "7" for r in retries)
    assert "http_5xx" in retries[0].reason and "503" in retries[0].reason
    fetched = [e for e in events if isinstance(e, Fetched)]
    assert len(fetched) == 1 and fetched[0].attempts == 3 and fetched[0].status == 200
    # a listener hears the retries; the client's own log stays quiet about them
    assert not [r for r in caplog.records if "attempt 1 of 4" in r.getMessage()]


async def test_with_nobody_listening_the_client_logs_its_retries(
    site: tuple[Site, str], caplog: pytest.LogCaptureFixture
) -> None:
    server, base = site
    caplog.set_level(logging.DEBUG, logger="scrapeline.fetch")
    async with client_for(base) as client:
        response = await client.get("/flaky/2")
    assert response.status == 200 and server.hits["/flaky/2"] == 3
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    first = next(m for m in logged if "attempt 1 of 4" in m)
    assert f"{base}/flaky/2" in first and "http_5xx" in first and "503" in first
    assert any("attempt 2 of 4" in m for m in logged)


async def test_retries_give_up_with_attempts_url_and_status(site: tuple[Site, str]) -> None:
    server, base = site
    async with client_for(base) as client:
        with pytest.raises(HTTPError) as info:
            await client.get("/flaky/10")
    error = info.value
    assert (error.attempts, error.status, error.url) == (4, 503, f"{base}/flaky/10")
    assert error.category is Category.HTTP_5XX and server.hits["/flaky/10"] == 4
    assert "after 4 attempts" in str(error)


@pytest.mark.parametrize(
    ("path", "error", "category"),
    [
        ("/status/404", HTTPError, Category.HTTP_4XX),
        ("/status/400", HTTPError, Category.HTTP_4XX),
        ("/status/403", Blocked, Category.BLOCKED),
        ("/challenge", Blocked, Category.BLOCKED),
        ("/status/501", HTTPError, Category.HTTP_5XX),
    ],
)
async def test_permanent_failures_are_not_retried(
    site: tuple[Site, str], path: str, error: type[Exception], category: Category
) -> None:
    server, base = site
    async with client_for(base) as client:
        with pytest.raises(error) as info:
            await client.get(path)
    assert info.value.category is category  # type: ignore[attr-defined]
    assert info.value.attempts == 1  # type: ignore[attr-defined]
    assert server.hits[path] == 1


async def test_retry_after_is_honoured_and_slows_the_whole_host(site: tuple[Site, str]) -> None:
    server, base = site
    events: list[FetchEvent] = []
    patient = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=2.0)
    async with client_for(base, retry=patient, on_event=events.append) as client:
        limited = asyncio.create_task(client.get("/limited"))
        await asyncio.wait_for(server.rate_limited.wait(), timeout=2.0)
        told_at = server.arrivals["/limited"][0]
        other = await client.get("/ok")  # another item, same host
        response = await limited
    assert response.status == 200 and response.attempts == 2
    assert server.arrivals["/ok"][0] >= told_at + 1.0  # waited for Retry-After too
    assert server.arrivals["/limited"][1] >= told_at + 1.0
    assert other.status == 200
    paused = [e for e in events if isinstance(e, HostPaused)]
    assert len(paused) == 1 and paused[0].seconds == 1.0 and paused[0].host == "127.0.0.1"


async def test_retry_after_longer_than_max_delay_fails_the_item(site: tuple[Site, str]) -> None:
    server, base = site
    patience = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.5)
    async with client_for(base, retry=patience) as client:
        with pytest.raises(RateLimited) as info:
            await client.get("/limited")
    assert info.value.retry_after == 1.0 and info.value.attempts == 1
    assert server.hits["/limited"] == 1


async def test_rate_is_never_exceeded_in_any_second_and_nearly_reached(
    site: tuple[Site, str],
) -> None:
    server, base = site
    rate, n = 20, 40
    async with client_for(base, politeness=Politeness(rate=f"{rate}/s", concurrency=4)) as client:
        responses = await asyncio.gather(*(client.get("/ok") for _ in range(n)))
    assert all(r.status == 200 for r in responses)
    arrivals = server.arrivals["/ok"]
    assert len(arrivals) == n
    assert most_in_window(arrivals) <= rate
    achieved = (n - 1) / (max(arrivals) - min(arrivals))
    # The scheduler itself reaches the full rate (tests/unit/test_fetch_limits.py, fake
    # clock); here a loaded machine wakes the loop late, so this only guards against
    # a gross loss. The 95% figure is measured in bench/ (rate fidelity).
    assert achieved >= 0.85 * rate, achieved


async def test_delay_range_spaces_requests(site: tuple[Site, str]) -> None:
    server, base = site
    async with client_for(base, politeness=Politeness(delay=(0.05, 0.1))) as client:
        await asyncio.gather(*(client.get("/ok") for _ in range(6)))
    arrivals = sorted(server.arrivals["/ok"])
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert all(g >= 0.045 for g in gaps), gaps


@pytest.mark.parametrize(
    "url",
    ["http://localhost:{port}/ok", "http://elsewhere.invalid/ok", "ftp://127.0.0.1/ok"],
)
async def test_undeclared_hosts_are_refused_without_a_request(
    site: tuple[Site, str], url: str
) -> None:
    server, base = site
    port = base.rsplit(":", 1)[1]
    async with client_for(base) as client:
        with pytest.raises(HostNotAllowed) as info:
            await client.get(url.format(port=port))
    assert sum(server.hits.values()) == 0
    assert info.value.category is Category.FORBIDDEN_HOST


async def test_refusal_message_names_the_host_and_the_fix(site: tuple[Site, str]) -> None:
    _, base = site
    async with client_for(base, hosts=["cdn.example.org"]) as client:
        with pytest.raises(HostNotAllowed) as info:
            await client.get("http://elsewhere.invalid/x")
    message = str(info.value)
    assert "'elsewhere.invalid'" in message
    assert "declared: 127.0.0.1, cdn.example.org" in message and "hosts" in message


async def test_redirects_are_followed_within_declared_hosts(site: tuple[Site, str]) -> None:
    server, base = site
    async with client_for(base) as client:
        response = await client.get("/redirect")
        with pytest.raises(HostNotAllowed, match=r"redirected from .*/redirect-out"):
            await client.get("/redirect-out")
        with pytest.raises(NetworkError, match="more than 10 redirects"):
            await client.get("/loop")
    assert response.status == 200 and response.url == f"{base}/ok"
    assert server.hits["/redirect-out"] == 1 and server.hits["/loop"] == 11


async def test_timeouts_become_fetch_timeout(site: tuple[Site, str]) -> None:
    server, base = site
    retry = RetryPolicy(max_attempts=2, base_delay=0.01)
    async with client_for(base, retry=retry, fetcher=HttpFetcher(timeout=0.2)) as client:
        await client.get("/ok")  # the host answered: a timeout now is this request's
        started = time.monotonic()
        with pytest.raises(FetchTimeout) as info:
            await client.get("/hang")
    assert info.value.attempts == 2 and server.hits["/hang"] == 2
    assert info.value.category is Category.TIMEOUT
    assert time.monotonic() - started < 1.0


async def test_dropped_connections_become_network_errors(site: tuple[Site, str]) -> None:
    server, base = site
    retry = RetryPolicy(max_attempts=3, base_delay=0.01)
    async with client_for(base, retry=retry) as client:
        await client.get("/ok")  # the host answered: a dropped connection is this request's
        with pytest.raises(NetworkError) as info:
            await client.get("/drop")
    assert info.value.attempts == 3 and server.hits["/drop"] == 3
    assert info.value.category is Category.NETWORK


async def test_breaker_opens_after_n_failures_then_a_trial_closes_it(
    site: tuple[Site, str],
) -> None:
    server, base = site
    events: list[FetchEvent] = []
    policy = BreakerPolicy(threshold=3, cooldown=0.3, max_trips=3)
    once = RetryPolicy(max_attempts=1)
    async with client_for(base, retry=once, breaker=policy, on_event=events.append) as client:
        for _ in range(3):
            with pytest.raises(HTTPError):
                await client.get("/status/503")
        breaker = client.breaker_of("127.0.0.1")
        assert breaker.state is BreakerState.OPEN and breaker.failures == 3
        started = time.monotonic()
        response = await client.get("/ok")  # waits the cooldown, then goes as the trial
        waited = time.monotonic() - started
        assert client.breaker_of("127.0.0.1").state is BreakerState.CLOSED
    assert response.status == 200 and 0.25 <= waited < 1.0
    assert server.hits["/status/503"] == 3
    opened = [e for e in events if isinstance(e, BreakerOpened)]
    assert len(opened) == 1 and opened[0].trips == 1 and opened[0].cooldown == 0.3
    assert any(isinstance(e, BreakerClosed) for e in events)


async def test_a_host_that_stays_down_halts_the_run(site: tuple[Site, str]) -> None:
    server, base = site
    policy = BreakerPolicy(threshold=2, cooldown=0.05, max_trips=2)
    once = RetryPolicy(max_attempts=1)
    async with client_for(base, retry=once, breaker=policy) as client:
        for _ in range(2):
            with pytest.raises(HTTPError):
                await client.get("/status/502")
        with pytest.raises(HostDown) as info:  # the failed trial is the second trip
            await client.get("/status/502")
        with pytest.raises(HostDown):  # and nothing more is sent to it
            await client.get("/ok")
    down = info.value
    assert down.exit_code == 3 and down.host == "127.0.0.1"
    assert "likely banned or site down" in str(down) and "502" in str(down)
    assert isinstance(down.__cause__, HTTPError)
    assert server.hits["/status/502"] == 3 and server.hits["/ok"] == 0


async def test_breaker_waiters_share_one_trial(site: tuple[Site, str]) -> None:
    server, base = site
    policy = BreakerPolicy(threshold=1, cooldown=0.1, max_trips=5)
    once = RetryPolicy(max_attempts=1)
    async with client_for(base, retry=once, breaker=policy) as client:
        with pytest.raises(HTTPError):
            await client.get("/status/500")
        responses = await asyncio.gather(*(client.get("/ok") for _ in range(5)))
    assert all(r.status == 200 for r in responses)
    arrivals = sorted(server.arrivals["/ok"])
    assert len(arrivals) == 5
    trial, *rest = arrivals  # the others were let through only after the trial succeeded
    assert all(t > trial for t in rest)


async def test_contract_is_checked_and_not_retried(site: tuple[Site, str]) -> None:
    server, base = site
    async with client_for(base) as client:
        ok = await client.get("/ok", expect=Expect(selectors=("p.a",)))
        with pytest.raises(ContractError, match=r"no element matches 'table\.stats'") as info:
            await client.get("/ok", expect=Expect(selectors=("table.stats",)))
        gone = await client.get("/status/404", expect=Expect(status={200, 404}))
    assert ok.status == 200 and gone.status == 404
    assert info.value.attempts == 1 and info.value.url == f"{base}/ok"
    assert server.hits["/ok"] == 2 and server.hits["/status/404"] == 1


async def test_client_without_base_url_needs_absolute_urls(site: tuple[Site, str]) -> None:
    _, base = site
    client = FetchClient(hosts=[base], retry=FAST_RETRY)  # the origin, port included
    async with client:
        assert (await client.get(f"{base}/ok")).status == 200
        with pytest.raises(HostNotAllowed, match="needs a base_url"):
            await client.get("/ok")
