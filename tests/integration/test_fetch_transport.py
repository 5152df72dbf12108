"""One contract for every fetcher: the real HttpFetcher against a real local aiohttp
server, and the FakeFetcher scripted to play the same site in-process."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from scrapeline.errors import FetchTimeout, NetworkError
from scrapeline.fetch.response import Request
from scrapeline.fetch.transport import (
    DEFAULT_USER_AGENT,
    FakeFetcher,
    FakeReply,
    Fetcher,
    HttpFetcher,
)
from tests.servers import serve

PAGE = "<html><body><p class=a>héllo</p></body></html>"
HTML = "text/html; charset=utf-8"


def contract_app(release: asyncio.Event, peers: list[object]) -> web.Application:
    async def page(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return web.Response(body=PAGE.encode(), headers={"Content-Type": HTML, "X-Site": "c"})

    async def echo(request: web.Request) -> web.Response:
        return web.json_response(dict(request.headers))

    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404, text="no such page")

    async def error(request: web.Request) -> web.Response:
        return web.Response(status=500, text="oops")

    async def slow_down(request: web.Request) -> web.Response:
        return web.Response(status=429, headers={"Retry-After": "3"}, text="slow down")

    async def moved(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/page"})

    async def drop(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        await release.wait()
        return web.Response()

    async def hang(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response()

    app = web.Application()
    for path, handler in [
        ("/page", page),
        ("/echo", echo),
        ("/missing", missing),
        ("/error", error),
        ("/slow-down", slow_down),
        ("/moved", moved),
        ("/drop", drop),
        ("/hang", hang),
    ]:
        app.router.add_get(path, handler)
    return app


def fake_site(base: str) -> FakeFetcher:
    """The same site as ``contract_app``, scripted in-process."""

    def answer(request: Request) -> FakeReply:
        path = request.url.removeprefix(base)
        if path == "/page":
            return (200, {"Content-Type": HTML, "X-Site": "c"}, PAGE)
        if path == "/echo":
            return (200, {"Content-Type": "application/json"}, orjson.dumps(request.headers))
        if path == "/error":
            return (500, {}, "oops")
        if path == "/slow-down":
            return (429, {"Retry-After": "3"}, "slow down")
        if path == "/moved":
            return (302, {"Location": "/page"}, b"")
        if path == "/drop":
            raise NetworkError("ServerDisconnectedError: Server disconnected", url=request.url)
        if path == "/hang":
            raise FetchTimeout("no complete response within 0.5 s", url=request.url)
        return (404, {"Content-Type": "text/plain"}, "no such page")

    return FakeFetcher(answer)


@pytest.fixture(params=["http", "fake"])
async def site(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Fetcher, str]]:
    release = asyncio.Event()
    if request.param == "fake":
        base = "http://site.test"
        fake = fake_site(base)
        yield fake, base
        await fake.close()
        return
    async with serve(contract_app(release, [])) as base:
        fetcher = HttpFetcher(timeout=0.5)
        try:
            yield fetcher, base
        finally:
            await fetcher.close()
            release.set()


def header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


async def test_ok_page(site: tuple[Fetcher, str]) -> None:
    fetcher, base = site
    response = await fetcher.fetch(Request(url=f"{base}/page"))
    assert response.status == 200
    assert response.url == f"{base}/page"
    assert response.text == PAGE and response.one("p.a").text() == "héllo"
    assert response.content_type == "text/html"
    assert header(response.headers, "X-Site") == "c"
    assert response.elapsed >= 0.0


@pytest.mark.parametrize(
    ("path", "status", "header_name", "header_value"),
    [
        ("/missing", 404, None, None),
        ("/nowhere", 404, None, None),
        ("/error", 500, None, None),
        ("/slow-down", 429, "Retry-After", "3"),
        ("/moved", 302, "Location", "/page"),  # returned as is, not followed
    ],
)
async def test_every_status_is_a_response(
    site: tuple[Fetcher, str],
    path: str,
    status: int,
    header_name: str | None,
    header_value: str | None,
) -> None:
    fetcher, base = site
    response = await fetcher.fetch(Request(url=f"{base}{path}"))
    assert response.status == status
    assert response.url == f"{base}{path}"
    if header_name:
        assert header(response.headers, header_name) == header_value


async def test_request_headers_are_sent(site: tuple[Fetcher, str]) -> None:
    fetcher, base = site
    response = await fetcher.fetch(Request(url=f"{base}/echo", headers={"X-Custom": "42"}))
    assert header(response.json(), "X-Custom") == "42"


@pytest.mark.parametrize(("path", "error"), [("/drop", NetworkError), ("/hang", FetchTimeout)])
async def test_transport_failures_raise_fetch_errors(
    site: tuple[Fetcher, str], path: str, error: type[Exception]
) -> None:
    fetcher, base = site
    with pytest.raises(error) as info:
        await fetcher.fetch(Request(url=f"{base}{path}"))
    assert type(info.value) is error
    assert info.value.url == f"{base}{path}"  # type: ignore[attr-defined]
    assert info.value.retryable  # type: ignore[attr-defined]


async def test_close_is_idempotent_and_final(site: tuple[Fetcher, str]) -> None:
    fetcher, base = site
    await fetcher.close()
    await fetcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        await fetcher.fetch(Request(url=f"{base}/page"))


# --- what only the real fetcher can show -------------------------------------------------


async def test_http_keeps_the_transport_error_as_cause() -> None:
    release = asyncio.Event()
    async with serve(contract_app(release, [])) as base:
        fetcher = HttpFetcher(timeout=0.3)
        try:
            with pytest.raises(NetworkError) as dropped:
                await fetcher.fetch(Request(url=f"{base}/drop"))
            assert isinstance(dropped.value.__cause__, OSError)
            with pytest.raises(FetchTimeout) as hung:
                await fetcher.fetch(Request(url=f"{base}/hang"))
            assert isinstance(hung.value.__cause__, TimeoutError)
            assert "0.3 s" in str(hung.value)
        finally:
            await fetcher.close()
            release.set()


async def test_http_connection_refused_is_a_network_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    fetcher = HttpFetcher(timeout=2.0)
    try:
        with pytest.raises(NetworkError) as info:
            await fetcher.fetch(Request(url=f"http://127.0.0.1:{port}/"))
    finally:
        await fetcher.close()
    assert info.value.retryable and isinstance(info.value.__cause__, OSError)
    assert "\n" not in str(info.value)


async def test_http_invalid_url_is_not_retryable() -> None:
    fetcher = HttpFetcher()
    try:
        with pytest.raises(NetworkError) as info:
            await fetcher.fetch(Request(url="http://"))
    finally:
        await fetcher.close()
    assert not info.value.retryable


async def test_http_sends_user_agent_and_reuses_connections() -> None:
    release, peers = asyncio.Event(), list[object]()
    async with serve(contract_app(release, peers)) as base:
        fetcher = HttpFetcher()
        custom = HttpFetcher(user_agent="mybot/2.0", headers={"Accept-Language": "fr"})
        try:
            echoed = (await fetcher.fetch(Request(url=f"{base}/echo"))).json()
            assert echoed["User-Agent"] == DEFAULT_USER_AGENT
            echoed = (await custom.fetch(Request(url=f"{base}/echo"))).json()
            assert echoed["User-Agent"] == "mybot/2.0" and echoed["Accept-Language"] == "fr"
            for _ in range(5):
                await fetcher.fetch(Request(url=f"{base}/page"))
        finally:
            await fetcher.close()
            await custom.close()
            release.set()
    assert len(peers) == 5 and len(set(peers)) == 1  # one kept-alive connection


async def test_http_puts_one_request_on_the_wire_per_fetch_even_when_dropped() -> None:
    arrivals = 0
    release = asyncio.Event()

    async def drop(request: web.Request) -> web.Response:
        nonlocal arrivals
        arrivals += 1
        assert request.transport is not None
        request.transport.close()
        await release.wait()
        return web.Response()

    app = web.Application()
    app.router.add_get("/drop", drop)
    async with serve(app) as base:
        fetcher = HttpFetcher(timeout=1.0)
        try:
            await fetcher.fetch(Request(url=f"{base}/page"))  # a kept-alive connection first
            with pytest.raises(NetworkError):
                await fetcher.fetch(Request(url=f"{base}/drop"))
        finally:
            await fetcher.close()
            release.set()
    assert arrivals == 1  # not silently sent again, past the limiter
