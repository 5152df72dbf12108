"""Identity and routing as a real server sees them: user agent and headers, one cookie
jar per run, proxies (rotation, benching, credentials) through real local proxies,
and robots.txt (disallowed paths, Crawl-delay, turning it off)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from scrapeline.errors import Category, ProxyError, RobotsDisallowed
from scrapeline.fetch.breaker import BreakerState
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.retry import RetryPolicy
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.model import Item
from scrapeline.pipeline import Pipeline, offsets
from scrapeline.runner.run import RunOptions
from scrapeline.testing import ForwardProxy, RehearsalSite
from scrapeline.workspace.run import FetchOptions
from scrapeline.workspace.run import run as run_pipeline

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05)


class Site:
    """Records every request's headers and cookies, and when it arrived."""

    def __init__(self, robots: str = "User-agent: *\nAllow: /\n", robots_status: int = 200):
        self.robots = robots
        self.robots_status = robots_status
        self.hits: Counter[str] = Counter()
        self.arrivals: dict[str, list[float]] = {}
        self.headers: list[dict[str, str]] = []
        self.cookies: list[dict[str, str]] = []
        self.app = web.Application()
        self.app.router.add_get("/robots.txt", self.robots_txt)
        self.app.router.add_get("/login", self.login)
        self.app.router.add_get("/{tail:.*}", self.page)

    def arrived(self, request: web.Request) -> None:
        self.hits[request.path] += 1
        self.arrivals.setdefault(request.path, []).append(time.monotonic())
        self.headers.append(dict(request.headers))
        self.cookies.append(dict(request.cookies))

    async def robots_txt(self, request: web.Request) -> web.Response:
        self.arrived(request)
        return web.Response(status=self.robots_status, text=self.robots)

    async def login(self, request: web.Request) -> web.Response:
        self.arrived(request)
        response = web.Response(text="<p>welcome</p>", content_type="text/html")
        response.set_cookie("sid", "site-session-1", path="/")
        return response

    async def page(self, request: web.Request) -> web.Response:
        self.arrived(request)
        return web.Response(text=f"<p>{request.path}</p>", content_type="text/html")


@asynccontextmanager
async def serving(site: Site) -> AsyncIterator[str]:
    runner = web.AppRunner(site.app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def proxies(*proxies: ForwardProxy) -> AsyncIterator[None]:
    for proxy in proxies:
        await proxy.start()
    try:
        yield
    finally:
        for proxy in proxies:
            await proxy.stop()


@asynccontextmanager
async def client_of(pipe: Pipeline) -> AsyncIterator[FetchClient]:
    client = FetchClient.from_settings(pipe.fetch)
    client._retry = FAST_RETRY  # keep the retry tests fast; everything else as declared
    try:
        yield client
    finally:
        await client.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# -- identity --------------------------------------------------------------------------


async def test_user_agent_and_headers_reach_every_request() -> None:
    site = Site()
    async with serving(site) as base:
        pipe = Pipeline(
            "p",
            base_url=base,
            user_agent="mybot/2.0 (+mailto:me@example.org)",
            headers={"X-Api-Key": "key-0001", "Accept-Language": "de"},
        )
        async with client_of(pipe) as client:
            await client.get("/a")
            await client.get("/b")
    assert site.hits == {"/robots.txt": 1, "/a": 1, "/b": 1}
    for headers in site.headers:  # robots.txt included
        assert headers["User-Agent"] == "mybot/2.0 (+mailto:me@example.org)"
        assert headers["X-Api-Key"] == "key-0001" and headers["Accept-Language"] == "de"


async def test_default_user_agent_names_scrapeline() -> None:
    site = Site()
    async with serving(site) as base, client_of(Pipeline("p", base_url=base)) as client:
        await client.get("/a")
    assert all(h["User-Agent"].startswith("scrapeline/") for h in site.headers)


async def test_cookies_are_sent_kept_for_the_run_and_not_beyond() -> None:
    site = Site()
    async with serving(site) as base:
        pipe = Pipeline("p", base_url=base, cookies={"consent": "yes"}, robots=False)
        async with client_of(pipe) as client:  # one run
            await client.get("/first")
            await client.get("/login")
            await client.get("/after")
        async with client_of(pipe) as client:  # the next run: a fresh jar
            await client.get("/next-run")
    first, login, after, next_run = site.cookies
    assert first == {"consent": "yes"} and login == {"consent": "yes"}
    assert after == {"consent": "yes", "sid": "site-session-1"}  # set on 127.0.0.1, sent back
    assert next_run == {"consent": "yes"}


async def test_initial_cookies_go_to_the_base_host_only() -> None:
    site, other = Site(), Site()
    async with serving(site) as base, serving(other) as elsewhere:
        elsewhere = elsewhere.replace("127.0.0.1", "localhost")
        pipe = Pipeline(
            "p",
            base_url=base,
            hosts=[elsewhere.removeprefix("http://")],  # localhost, its port
            cookies={"consent": "yes"},
            robots=False,
        )
        async with client_of(pipe) as client:
            await client.get("/a")
            await client.get(f"{elsewhere}/b")
    assert site.cookies == [{"consent": "yes"}] and other.cookies == [{}]


# -- proxies ---------------------------------------------------------------------------


async def test_requests_rotate_across_proxies() -> None:
    site, one, two = Site(), ForwardProxy(), ForwardProxy()
    async with serving(site) as base, proxies(one, two):
        pipe = Pipeline("p", base_url=base, proxies=[one.url, two.url], robots=False)
        async with client_of(pipe) as client:
            for n in range(4):
                await client.get(f"/page/{n}")
    assert (one.forwarded, two.forwarded) == (2, 2)
    assert sorted(one.requests) == [f"{base}/page/0", f"{base}/page/2"]
    assert site.hits.total() == 4


async def test_a_dead_proxy_is_benched_and_the_crawl_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    site, live = Site(), ForwardProxy()
    dead = f"http://127.0.0.1:{closed_port()}"
    async with serving(site) as base, proxies(live):
        pipe = Pipeline("p", base_url=base, proxies=[dead, live.url], robots=False)
        async with client_of(pipe) as client:
            for n in range(8):
                response = await client.get(f"/page/{n}")
                assert response.status == 200
            pool = client.proxies
            assert pool is not None
            health = pool.health(pool.proxies[0])
            assert health.benched_until is not None and health.failures == 3
            assert client.breaker_of(base).state is BreakerState.CLOSED  # not the host's fault
    assert live.forwarded == 8 and site.hits.total() == 8
    assert any("benched" in r.getMessage() for r in caplog.records)


async def test_a_proxy_that_drops_connections_is_benched_too() -> None:
    site, broken, live = Site(), ForwardProxy(broken=True), ForwardProxy()
    async with serving(site) as base, proxies(broken, live):
        pipe = Pipeline("p", base_url=base, proxies=[broken.url, live.url], robots=False)
        async with client_of(pipe) as client:
            for n in range(8):
                await client.get(f"/page/{n}")
            pool = client.proxies
            assert pool is not None
            assert pool.health(pool.proxies[0]).benched_until is not None
    assert broken.requests.total() == 3 and live.forwarded == 8


async def test_proxy_credentials_are_sent_and_a_refusal_hides_them() -> None:
    site = Site()
    guarded = ForwardProxy(credentials=("bob", "s3cret-pw"))
    async with serving(site) as base, proxies(guarded):
        good = Pipeline("p", base_url=base, proxies=[guarded.proxy_url], robots=False)
        async with client_of(good) as client:
            assert (await client.get("/a")).status == 200
        assert (guarded.forwarded, guarded.refused) == (1, 0)
        assert "Proxy-Authorization" not in site.headers[0]  # not passed on to the site

        wrong = guarded.proxy_url.replace("s3cret-pw", "wrong-pw")
        bad = Pipeline("p", base_url=base, proxies=[wrong], robots=False)
        async with client_of(bad) as client:
            with pytest.raises(ProxyError) as info:
                await client.get("/b")
    assert guarded.refused == 3 and site.hits["/b"] == 0  # benched after 3 refusals
    message = str(info.value)
    assert "all 1 proxy is benched" in message and "refused our credentials (407" in message
    assert "wrong-pw" not in message and "bob" not in message
    assert info.value.category is Category.NETWORK


async def test_all_proxies_benched_is_one_clear_error() -> None:
    site = Site()
    dead = f"http://127.0.0.1:{closed_port()}"
    async with serving(site) as base:
        pipe = Pipeline("p", base_url=base, proxies=[dead], robots=False)
        async with client_of(pipe) as client:
            with pytest.raises(ProxyError, match="all 1 proxy is benched"):
                await client.get("/a")
    assert site.hits.total() == 0


# -- robots.txt --------------------------------------------------------------------------

ROBOTS = "User-agent: *\nDisallow: /private\n"


async def test_a_disallowed_url_is_refused_without_a_request() -> None:
    site = Site(ROBOTS)
    async with serving(site) as base, client_of(Pipeline("p", base_url=base)) as client:
        results = await asyncio.gather(
            *(client.get(f"/private/{n}") for n in range(5)),
            *(client.get(f"/public/{n}") for n in range(5)),
            return_exceptions=True,
        )
    refused, fetched = results[:5], results[5:]
    assert all(isinstance(r, RobotsDisallowed) for r in refused)
    error = refused[0]
    assert isinstance(error, RobotsDisallowed)
    assert error.category is Category.ROBOTS and not error.retryable
    assert "robots.txt" in str(error) and "robots=False" in str(error)
    assert all(not isinstance(r, BaseException) for r in fetched)
    assert site.hits["/robots.txt"] == 1  # once per host, however many ask at once
    assert not any(path.startswith("/private") for path in site.hits)


async def test_crawl_delay_spaces_requests_at_the_server() -> None:
    site = Site("User-agent: *\nCrawl-delay: 0.25\n")
    async with serving(site) as base:
        pipe = Pipeline("p", base_url=base, rate="100/s", concurrency=4)
        async with client_of(pipe) as client:
            await asyncio.gather(*(client.get(f"/page/{n}") for n in range(4)))
    arrivals = sorted(t for times in site.arrivals.values() for t in times)
    assert len(arrivals) == 5  # robots.txt, then the pages
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) >= 0.25 - 0.01, gaps


async def test_a_slower_politeness_wins_over_crawl_delay() -> None:
    site = Site("User-agent: *\nCrawl-delay: 0.01\n")
    async with serving(site) as base:
        pipe = Pipeline("p", base_url=base, delay=0.2)
        async with client_of(pipe) as client:
            await asyncio.gather(*(client.get(f"/page/{n}") for n in range(2)))
    arrivals = sorted(t for times in site.arrivals.values() for t in times)
    assert min(b - a for a, b in itertools.pairwise(arrivals)) >= 0.2 - 0.01


async def test_robots_false_ignores_robots_txt() -> None:
    site = Site("User-agent: *\nDisallow: /\nCrawl-delay: 30\n")
    async with serving(site) as base, client_of(Pipeline("p", base_url=base, robots=False)) as c:
        await c.get("/private/1")
    assert site.hits == {"/private/1": 1}


@pytest.mark.parametrize(("status", "warned"), [(404, False), (403, False), (503, True)])
async def test_robots_txt_that_is_not_there_allows_everything(
    status: int, warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    site = Site("User-agent: *\nDisallow: /\n", robots_status=status)
    async with serving(site) as base, client_of(Pipeline("p", base_url=base)) as client:
        await client.get("/a")
        await client.get("/b")
    assert site.hits == {"/robots.txt": 1, "/a": 1, "/b": 1}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert bool(warnings) is warned
    if warned:
        assert "503 for robots.txt" in warnings[0].getMessage()


async def test_robots_failures_neither_halt_the_run_nor_reach_the_site(
    start_site: Any, tmp_path: Path
) -> None:
    """A run where robots.txt refuses every match page: items fail with category
    robots, the run finishes (no 'consecutive failures' halt), the pages are never hit."""
    site: RehearsalSite = await start_site(robots_txt="User-agent: *\nDisallow: /matches/\n")
    pipe = Pipeline("robots", base_url="http://127.0.0.1:1")
    pipe.table("matches", key="match_id")

    @pipe.discover("match", pages=offsets(step=100))
    async def results(ctx: Any, offset: int) -> AsyncIterator[Item]:
        page = await ctx.fetch(f"/results?offset={offset}")
        for row in page.css("tr.match")[:10]:
            yield Item(key=int(row.attributes["data-id"]))

    @pipe.stage("overview", on="match")
    async def overview(ctx: Any, item: Item) -> None:
        await ctx.fetch(f"/matches/{item.key}")

    outcome = await run_pipeline(
        pipe,
        tmp_path / "d",
        RunOptions(workers=4, end=0, max_consecutive_failures=3),
        fetch_options=FetchOptions(base_url=site.url),
    )
    assert outcome.exit_code == 1 and outcome.reason is None  # failed items, not halted
    ledger = SqliteLedger(tmp_path / "d" / "ledger.db")
    try:
        rows = ledger.db.execute("SELECT category, count(*) FROM tasks GROUP BY 1").fetchall()
    finally:
        ledger.close()
    assert rows == [("robots", 10)]
    assert not any(target.startswith("/matches/") for target in site.hits)
