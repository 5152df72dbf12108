"""What a FetchClient sent to each host and what came back, counted as the server
counted it; and a host that never answered halts the run at its first given-up request."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from scrapeline.errors import HTTPError, NetworkError, ProxyError, RateLimited, RunHalted
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.down import HostUnreachable
from scrapeline.fetch.retry import RetryPolicy
from scrapeline.fetch.transport import HttpFetcher

from .test_fetch_client import FAST_RETRY, Site, client_for


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


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_every_request_is_counted_per_host_as_the_server_saw_it(
    site: tuple[Site, str],
) -> None:
    server, base = site
    async with client_for(base) as client:
        await client.get("/ok")
        await client.get("/flaky/2")  # 503, 503, then 200: two retries
        with pytest.raises(RateLimited):  # 429, Retry-After 1 s: longer than max_delay
            await client.get("/limited")
        await client.get("/redirect")  # a hop, then /ok
        with pytest.raises(HTTPError):
            await client.get("/status/404")  # not retried
        with pytest.raises(NetworkError):
            await client.get("/drop")  # dropped 4 times
        counts = client.requests_by_host()
    port = base.rsplit(":", 1)[1]
    assert list(counts) == [f"127.0.0.1:{port}"]
    assert counts[f"127.0.0.1:{port}"] == {
        "requests": sum(server.hits.values()),
        "retries": 2 + 3,
        "rate_limited": 1,
        "server_errors": 2,
        "network_errors": 4,
    }
    assert sum(server.hits.values()) == 1 + 3 + 1 + 2 + 1 + 4


async def test_hosts_are_named_without_credentials_or_query(site: tuple[Site, str]) -> None:
    server, base = site
    with_user = base.replace("http://", "http://scraper:hunter2@")
    async with client_for(base, hosts=["127.0.0.1"]) as client:
        await client.get(f"{with_user}/ok?token=abc")
        await client.get("/ok?token=def")
        counts = client.requests_by_host()
    assert list(counts) == [f"127.0.0.1:{base.rsplit(':', 1)[1]}"]
    assert next(iter(counts.values()))["requests"] == 2 == server.hits["/ok"]
    assert "hunter2" not in repr(counts) and "token" not in repr(counts)


async def test_a_host_refusing_from_the_first_request_is_down() -> None:
    port = closed_port()
    async with client_for(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(HostUnreachable) as info:
            await client.get("/results?offset=0")
        counts = client.requests_by_host()
    assert isinstance(info.value, RunHalted) and info.value.exit_code == 3
    assert str(info.value).startswith(f"127.0.0.1:{port} is down: connection refused (4 attempts")
    assert isinstance(info.value.__cause__, NetworkError)
    assert counts[f"127.0.0.1:{port}"] == {
        "requests": 4,
        "retries": 3,
        "rate_limited": 0,
        "server_errors": 0,
        "network_errors": 4,
    }


async def test_a_host_that_accepts_but_never_answers_is_down(site: tuple[Site, str]) -> None:
    server, base = site
    retry = RetryPolicy(max_attempts=2, base_delay=0.01)
    async with client_for(base, retry=retry, fetcher=HttpFetcher(timeout=0.2)) as client:
        with pytest.raises(HostUnreachable) as info:
            await client.get("/hang")
    assert "is down: no answer in time (2 attempts" in str(info.value)
    assert server.hits["/hang"] == 2


async def test_a_host_that_answered_once_is_not_down_when_it_stops(
    site: tuple[Site, str],
) -> None:
    _, base = site
    async with client_for(base) as client:
        await client.get("/ok")
        with pytest.raises(NetworkError) as info:
            await client.get("/drop")
    assert not isinstance(info.value, RunHalted)


async def test_a_host_answering_errors_from_the_start_is_not_down(
    site: tuple[Site, str],
) -> None:
    server, base = site
    async with client_for(base) as client:
        with pytest.raises(HTTPError) as five:
            await client.get("/status/503")
        with pytest.raises(HTTPError) as four:
            await client.get("/status/404")
    assert five.value.status == 503 and four.value.status == 404
    assert server.hits["/status/503"] == 4


async def test_proxies_that_all_fail_do_not_make_the_host_down(site: tuple[Site, str]) -> None:
    _, base = site
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    client = FetchClient(base_url=base, retry=FAST_RETRY, proxies=[dead_proxy])
    try:
        with pytest.raises(ProxyError) as info:
            await client.get("/ok")
    finally:
        await client.close()
    assert not isinstance(info.value, RunHalted)
