"""FetchClient set-up and URL handling, in-process (FakeFetcher); the behaviour on the
wire is in tests/integration/test_fetch_client.py."""

from __future__ import annotations

import pytest

from scrapeline.errors import ConfigError, HostNotAllowed
from scrapeline.fetch.client import FetchClient, host_name
from scrapeline.fetch.limits import Politeness
from scrapeline.fetch.response import Request
from scrapeline.fetch.transport import FakeFetcher, FakeReply


def ok(request: Request) -> FakeReply:
    return (200, {"Content-Type": "text/html"}, "<p>ok</p>")


@pytest.mark.parametrize(
    ("entry", "name"),
    [
        ("example.com", "example.com"),
        ("Example.COM", "example.com"),
        (" example.com ", "example.com"),
        ("example.com:8080", "example.com"),
        ("https://Example.com/path?q=1", "example.com"),
        ("127.0.0.1:8000", "127.0.0.1"),
        ("[::1]:8080", "::1"),
    ],
)
def test_host_name(entry: str, name: str) -> None:
    assert host_name(entry) == name


@pytest.mark.parametrize("entry", ["", "   ", "http://", "[::1"])
def test_host_name_rejects_garbage(entry: str) -> None:
    with pytest.raises(ConfigError, match="invalid host"):
        host_name(entry)


@pytest.mark.parametrize(
    ("base_url", "url", "sent"),
    [
        ("http://site.test", "/m/1", "http://site.test/m/1"),
        ("http://site.test/", "/m/1?x=1#f", "http://site.test/m/1?x=1#f"),
        ("http://site.test/a/b", "/m/1", "http://site.test/m/1"),
        ("http://site.test/a/b", "c", "http://site.test/a/c"),
        ("http://site.test/a/b/", "../c", "http://site.test/a/c"),
        ("http://site.test/a/b", "?page=2", "http://site.test/a/b?page=2"),
        ("http://site.test:8080/a", "/m", "http://site.test:8080/m"),
        ("https://site.test", "//site.test/x", "https://site.test/x"),
        ("http://site.test", "http://site.test/abs", "http://site.test/abs"),
        ("http://site.test", "HTTP://SITE.test/abs", "http://SITE.test/abs"),
    ],
)
async def test_relative_urls_resolve_against_base_url(base_url: str, url: str, sent: str) -> None:
    fake = FakeFetcher(ok)
    async with FetchClient(base_url=base_url, fetcher=fake) as client:
        response = await client.get(url)
    assert [r.url for r in fake.requests] == [sent] and response.url == sent


async def test_request_labels_and_headers_reach_the_fetcher() -> None:
    fake = FakeFetcher(ok)
    async with FetchClient(base_url="http://site.test", fetcher=fake) as client:
        await client.get("/m/1", stage="overview", item_key="1", headers={"X-A": "b"})
    (request,) = fake.requests
    assert (request.stage, request.item_key, request.headers) == ("overview", "1", {"X-A": "b"})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_url": "site.test"}, "invalid base_url"),
        ({"base_url": "ftp://site.test"}, "invalid base_url"),
        ({"hosts": ["http://"]}, "invalid host"),
        (
            {"hosts": ["a.test"], "politeness": {"b.test": Politeness(rate=1)}},
            "not a declared host",
        ),
    ],
)
def test_bad_configuration_is_one_line(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        FetchClient(fetcher=FakeFetcher(), **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


async def test_politeness_per_host_with_a_default() -> None:
    fake = FakeFetcher(ok)
    slow, default = Politeness(rate="1/10s"), Politeness(concurrency=2)
    client = FetchClient(
        hosts=["a.test", "B.test"],
        politeness={"b.test:443": slow, "*": default},
        fetcher=fake,
    )
    async with client:
        await client.get("http://a.test/")
        await client.get("http://b.test/")
        limits = {h: client._hosts[h].limiter.politeness for h in ("a.test", "b.test")}
    assert limits == {"a.test": default, "b.test": slow}
    assert client.hosts == frozenset({"a.test", "b.test"})


async def test_undeclared_host_is_refused_before_the_fetcher_sees_it() -> None:
    fake = FakeFetcher(ok)
    async with FetchClient(hosts=["a.test"], fetcher=fake) as client:
        with pytest.raises(HostNotAllowed, match=r"'b\.test'"):
            await client.get("http://b.test/x")
        with pytest.raises(HostNotAllowed, match="needs a base_url"):
            await client.get("/x")
        with pytest.raises(HostNotAllowed, match="only http and https"):
            await client.get("file:///etc/passwd")
    assert fake.requests == []
