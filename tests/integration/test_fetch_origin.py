"""Credentials go only to the origin (scheme, host, port) they were declared for: a
redirect to another port of a declared host is refused like an undeclared host, and
nothing reaches that port. Real servers on 127.0.0.1, through the client a run uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from scrapeline.errors import Category, HostNotAllowed, RobotsDisallowed
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.transport import FakeFetcher, HttpFetcher
from scrapeline.pipeline import Pipeline
from tests.servers import serve

TOKEN = "Bearer s3cret-token-for-the-api"
API_KEY = "k3y-for-the-declared-origin"


class Recorder:
    """A server that keeps every request's path, headers and cookies."""

    def __init__(self, redirect_to: str | None = None) -> None:
        self.redirect_to = redirect_to
        self.seen: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.app = web.Application()
        self.app.router.add_get("/{tail:.*}", self.page)

    async def page(self, request: web.Request) -> web.Response:
        self.seen.append((request.path, dict(request.headers), dict(request.cookies)))
        if request.path.startswith("/go") and self.redirect_to is not None:
            suffix = request.path.removeprefix("/go")  # /go/é goes on to .../internal/é
            raise web.HTTPFound(f"{self.redirect_to}/internal{suffix}")
        return web.Response(text=f"<p>{request.path}</p>", content_type="text/html")


@asynccontextmanager
async def client_of(pipe: Pipeline) -> AsyncIterator[FetchClient]:
    client = FetchClient.from_settings(pipe.fetch)
    try:
        yield client
    finally:
        await client.close()


def credentialled(base: str, **options: object) -> Pipeline:
    return Pipeline(
        "p",
        base_url=base,
        headers={"Authorization": TOKEN, "X-Api-Key": API_KEY},
        cookies={"session": "declared-cookie"},
        robots=False,
        max_attempts=1,
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("path", ["/go", "/go/é"])  # the lean client, then aiohttp
async def test_a_redirect_to_another_port_of_the_declared_host_is_refused(path: str) -> None:
    internal = Recorder()
    async with serve(internal.app) as other:
        site = Recorder(redirect_to=other)
        async with serve(site.app) as base, client_of(credentialled(base)) as client:
            with pytest.raises(HostNotAllowed) as info:
                await client.get(path)
            fetcher = client._fetcher
            assert isinstance(fetcher, HttpFetcher)
            assert (fetcher._session is None) == (path == "/go")
    error = info.value
    assert error.category == Category.FORBIDDEN_HOST and not error.retryable
    assert f"redirected from {base}{path}" in str(error)
    assert f"undeclared origin '{other}'" in str(error)
    assert [seen[0] for seen in site.seen] == [path]
    assert site.seen[0][1]["Authorization"] == TOKEN  # the declared origin got them
    assert internal.seen == []  # the other port got nothing: no headers, no cookies


async def test_a_redirect_to_a_declared_origin_is_followed() -> None:
    internal = Recorder()
    async with serve(internal.app) as other:
        site = Recorder(redirect_to=other)
        async with serve(site.app) as base:
            pipe = credentialled(base, hosts=[other.removeprefix("http://")])
            async with client_of(pipe) as client:
                page = await client.get("/go")
    assert page.status == 200 and page.text == "<p>/internal</p>"
    assert [seen[0] for seen in internal.seen] == ["/internal"]


@pytest.mark.parametrize(
    ("declared", "url", "allowed"),
    [
        ("127.0.0.1", "http://127.0.0.1/", True),  # no port: the scheme's default
        ("127.0.0.1", "https://127.0.0.1/", True),
        ("127.0.0.1", "http://127.0.0.1:8080/", False),
        ("127.0.0.1:8080", "http://127.0.0.1:8080/", True),
        ("127.0.0.1:8080", "https://127.0.0.1:8080/", True),
        ("127.0.0.1:8080", "http://127.0.0.1/", False),
        ("https://127.0.0.1", "https://127.0.0.1/", True),
        ("https://127.0.0.1", "http://127.0.0.1/", False),
        ("https://127.0.0.1", "https://127.0.0.1:443/", True),
    ],
)
async def test_declared_hosts_are_origins(declared: str, url: str, allowed: bool) -> None:
    fake = FakeFetcher(lambda request: (200, {}, b"ok"))
    async with FetchClient(hosts=[declared], fetcher=fake) as client:
        if allowed:
            assert (await client.get(url)).status == 200
        else:
            with pytest.raises(HostNotAllowed, match="undeclared origin"):
                await client.get(url)
    assert len(fake.requests) == int(allowed)


# --- robots.txt: matched against the crawler's name, not the browser it claims to be --

BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
ROBOTS = "User-agent: statsbot\nDisallow: /private\n\nUser-agent: *\nAllow: /\n"


class RobotsSite(Recorder):
    async def page(self, request: web.Request) -> web.Response:
        if request.path == "/robots.txt":
            return web.Response(text=ROBOTS)
        return await super().page(request)


@pytest.mark.parametrize("agent", ["statsbot", "StatsBot/2.1"])
async def test_robots_groups_are_matched_against_robots_agent(agent: str) -> None:
    site = RobotsSite()
    async with serve(site.app) as base:
        client = FetchClient(base_url=base, user_agent=BROWSER_UA, robots=True, robots_agent=agent)
        async with client:
            with pytest.raises(RobotsDisallowed, match="'statsbot'"):
                await client.get("/private/1")
            assert (await client.get("/public")).status == 200
    assert [seen[0] for seen in site.seen] == ["/public"]
    assert all(seen[1]["User-Agent"] == BROWSER_UA for seen in site.seen)


async def test_robots_agent_defaults_to_the_user_agent_token_in_the_client() -> None:
    site = RobotsSite()
    async with serve(site.app) as base:
        client = FetchClient(base_url=base, user_agent="statsbot/1.0", robots=True)
        async with client:
            with pytest.raises(RobotsDisallowed):
                await client.get("/private/1")
    assert site.seen == []


def test_a_pipeline_s_robots_agent_is_its_name_unless_given() -> None:
    assert Pipeline("statsbot", user_agent=BROWSER_UA).robots_agent == "statsbot"
    assert Pipeline("p", robots_agent="statsbot").robots_agent == "statsbot"
