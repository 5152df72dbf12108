"""What a body may be: no larger than ``max_body`` (as sent and as decompressed), a
content encoding that decodes, and a charset that may be wrong without failing the
item. Every test talks to a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import resource
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from scrapeline.errors import BadEncoding, Category, ResponseTooLarge
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.http1 import DEFAULT_MAX_BODY
from scrapeline.fetch.retry import RetryPolicy
from scrapeline.fetch.transport import FakeFetcher, HttpFetcher
from tests.servers import serve

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05)


# --- charsets ---------------------------------------------------------------------------


def charset_app() -> web.Application:
    pages = {
        "/bogus": ("text/html; charset=bogus-xyz", "<p>café</p>".encode()),
        "/not-text": ("text/html; charset=base64", "<p>café</p>".encode()),
        "/mislabelled": ("text/html; charset=us-ascii", "<p>café</p>".encode()),
        "/latin-1": ("text/html; charset=iso-8859-1", "<p>café</p>".encode("latin-1")),
        "/invalid-utf-8": ("text/html; charset=utf-8", b"<p>caf\xe9</p>"),
    }

    async def page(request: web.Request) -> web.Response:
        ctype, body = pages[request.path]
        return web.Response(body=body, headers={"Content-Type": ctype})

    app = web.Application()
    for path in pages:
        app.router.add_get(path, page)
    return app


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/bogus", "<p>café</p>"),  # an unknown charset: UTF-8
        ("/not-text", "<p>café</p>"),  # a codec that is not a text encoding: UTF-8
        ("/mislabelled", "<p>café</p>"),  # bytes invalid in the declared charset: UTF-8
        ("/latin-1", "<p>café</p>"),  # a sound declaration is followed
        ("/invalid-utf-8", "<p>caf\ufffd</p>"),  # invalid UTF-8: replaced, not an error
    ],
)
async def test_a_wrong_charset_falls_back_to_utf_8_with_replacement(path: str, text: str) -> None:
    async with (
        serve(charset_app()) as base,
        FetchClient(base_url=base, retry=FAST_RETRY) as client,
    ):
        page = await client.get(path)
        assert page.text == text


# --- max_body ---------------------------------------------------------------------------

MIB = 1024 * 1024
LIMIT = 1 * MIB
BOMB = 128 * MIB  # of zeros, gzipped to about 130 kB
LEAN, AIOHTTP = "/lean", "/via-aiohttp/é"  # a URL the lean client leaves to aiohttp


def peak_rss() -> int:
    """The process's peak resident size so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def gzip_bomb() -> Iterator[bytes]:
    """``BOMB`` zeros, gzipped, a piece at a time (never held whole)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MIB)
    for _ in range(BOMB // MIB):
        yield packer.compress(zeros)
    yield packer.flush()


class BigSite:
    """A gzip bomb, an endless chunked body, a huge Content-Length and a bad gzip body,
    each at a lean path and at one the lean client leaves to aiohttp."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.app = web.Application()
        for kind in ("bomb", "endless", "announced", "bad-gzip", "small-gzip"):
            for prefix in (LEAN, AIOHTTP):
                self.app.router.add_get(f"{prefix}/{kind}", getattr(self, kind.replace("-", "_")))

    async def bomb(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] += 1
        response = web.StreamResponse(headers={"Content-Encoding": "gzip"})
        response.content_type = "text/plain"
        await response.prepare(request)
        for piece in gzip_bomb():
            await response.write(piece)
        await response.write_eof()
        return response

    async def endless(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] += 1
        response = web.StreamResponse()
        response.content_type = "text/plain"
        await response.prepare(request)
        chunk = b"x" * (64 * 1024)
        with contextlib.suppress(ConnectionError):
            while True:  # until the client hangs up
                await response.write(chunk)
                self.sent[request.path] += len(chunk)
        return response

    async def announced(self, request: web.Request) -> web.StreamResponse:
        """10 GiB announced; a first kilobyte sent, then nothing: a client that reads on
        waits until its timeout."""
        self.hits[request.path] += 1
        response = web.StreamResponse(headers={"Content-Length": str(10 * 1024 * MIB)})
        response.content_type = "text/plain"
        await response.prepare(request)
        await response.write(b"x" * 1024)
        await asyncio.sleep(30)
        return response

    async def bad_gzip(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        body = b"\x1f\x8b\x08\x00" + b"this is no gzip stream" * 3
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    async def small_gzip(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        body = gzip.compress(bytes(LIMIT))  # exactly at the limit once decoded: fine
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})


@asynccontextmanager
async def big_site(**options: Any) -> AsyncIterator[tuple[BigSite, str, FetchClient]]:
    site = BigSite()
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("max_body", LIMIT)
    async with serve(site.app) as base, FetchClient(base_url=base, **options) as client:
        yield site, base, client


def went_lean(client: FetchClient, prefix: str) -> bool:
    fetcher = client._fetcher
    assert isinstance(fetcher, HttpFetcher)
    return (fetcher._session is None) == (prefix == LEAN)


@pytest.mark.parametrize("prefix", [LEAN, AIOHTTP])
async def test_a_gzip_bomb_fails_at_max_body_without_expanding(prefix: str) -> None:
    async with big_site() as (site, base, client):
        before = peak_rss()
        with pytest.raises(ResponseTooLarge) as info:
            await client.get(f"{prefix}/bomb")
        grew = peak_rss() - before
        fine = await client.get(f"{prefix}/small-gzip")  # at the limit: still read
        assert went_lean(client, prefix)
    error = info.value
    assert error.category == Category.TOO_LARGE and not error.retryable
    assert error.attempts == 1 and site.hits[str(error.url).removeprefix(base)] == 1
    assert f"max_body ({LIMIT} bytes once decompressed)" in str(error)
    assert str(error.url).endswith("/bomb")
    assert grew < 32 * MIB, f"peak RSS grew by {grew / MIB:.0f} MiB for a {BOMB // MIB} MiB bomb"
    assert fine.body == bytes(LIMIT)


@pytest.mark.parametrize("prefix", [LEAN, AIOHTTP])
async def test_an_endless_chunked_body_fails_as_it_passes_max_body(prefix: str) -> None:
    async with big_site() as (site, _, client):
        before, started = peak_rss(), time.monotonic()
        with pytest.raises(ResponseTooLarge) as info:
            await client.get(f"{prefix}/endless")
        took, grew = time.monotonic() - started, peak_rss() - before
        assert went_lean(client, prefix)
    error = info.value
    assert error.category == Category.TOO_LARGE and error.attempts == 1
    assert f"max_body ({LIMIT} bytes)" in str(error) and str(error.url).endswith("/endless")
    assert took < 5.0  # not the request timeout (30 s)
    assert grew < 32 * MIB, f"peak RSS grew by {grew / MIB:.0f} MiB"
    assert sum(site.hits.values()) == 1


@pytest.mark.parametrize("prefix", [LEAN, AIOHTTP])
async def test_a_content_length_past_max_body_fails_before_the_body_is_read(prefix: str) -> None:
    async with big_site() as (site, _, client):
        started = time.monotonic()
        with pytest.raises(ResponseTooLarge) as info:
            await client.get(f"{prefix}/announced")
        took = time.monotonic() - started
        assert went_lean(client, prefix)
    error = info.value
    assert error.category == Category.TOO_LARGE and error.attempts == 1
    assert f"Content-Length {10 * 1024 * MIB}" in str(error)
    assert took < 5.0  # the server sends the rest never: nothing waited for it
    assert sum(site.hits.values()) == 1


async def test_max_body_defaults_to_32_mib() -> None:
    async with big_site(max_body=DEFAULT_MAX_BODY) as (_, _base, client):
        with pytest.raises(ResponseTooLarge, match=rf"max_body \({32 * MIB} bytes"):
            await client.get(f"{LEAN}/bomb")
    assert DEFAULT_MAX_BODY == 32 * MIB


# --- content encodings ------------------------------------------------------------------


@pytest.mark.parametrize("prefix", [LEAN, AIOHTTP])
async def test_a_body_that_does_not_decode_fails_once_as_bad_encoding(prefix: str) -> None:
    async with big_site() as (site, base, client):
        with pytest.raises(BadEncoding) as info:
            await client.get(f"{prefix}/bad-gzip")
        assert went_lean(client, prefix)
    error = info.value
    assert error.category == Category.BAD_ENCODING and not error.retryable
    assert error.attempts == 1 and site.hits[str(error.url).removeprefix(base)] == 1
    assert "gzip" in str(error) and "\n" not in str(error)


async def test_a_fetcher_that_cannot_stop_early_is_held_to_max_body_by_the_client() -> None:
    """A browser reads the whole page before handing it over: the client refuses it."""
    fake = FakeFetcher(lambda request: (200, {"Content-Type": "text/html"}, bytes(LIMIT + 1)))
    async with FetchClient(base_url="http://site.test", fetcher=fake, max_body=LIMIT) as client:
        with pytest.raises(ResponseTooLarge, match=rf"max_body \({LIMIT} bytes\)") as info:
            await client.get("/page")
    assert info.value.attempts == 1 and len(fake.requests) == 1
