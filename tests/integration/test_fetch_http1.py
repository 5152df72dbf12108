"""The lean HTTP/1.1 client (:mod:`scrapeline.fetch.http1`) as HttpFetcher's users see it:
decoding, framing, keep-alive, one request per fetch, timeouts, cookies, request headers,
the fall-back to aiohttp and the limit. Every test talks to a real server on 127.0.0.1:
aiohttp.web for ordinary answers, a raw asyncio server writing hand-written bytes for
the odd ones."""

from __future__ import annotations

import asyncio
import gzip
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from multidict import CIMultiDict

from scrapeline.errors import BadEncoding, FetchTimeout, NetworkError
from scrapeline.fetch.http1 import ACCEPT_ENCODING, BadResponse, Http1Client
from scrapeline.fetch.response import Request
from scrapeline.fetch.transport import DEFAULT_USER_AGENT, HttpFetcher
from tests.servers import serve

TEXT = b"hello from the lean client\n" * 40
OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


# --- servers -------------------------------------------------------------------------


def peer(request: web.Request) -> object:
    """The client's (host, port): one value per connection."""
    return request.transport.get_extra_info("peername") if request.transport else None


async def echo(request: web.Request) -> web.Response:
    """The request's headers as [name, value] pairs, repeats and spelling kept."""
    return web.json_response([[name, value] for name, value in request.headers.items()])


def values(pairs: list[list[str]], name: str) -> list[str]:
    return [value for key, value in pairs if key.lower() == name.lower()]


@dataclass
class RawConn:
    """One connection to a raw server, as the server sees it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    released: asyncio.Event
    requests: list[bytes] = field(default_factory=list)

    async def request(self) -> bytes | None:
        """The next request's head, or None when the client closed the connection."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        self.requests.append(head)
        return head

    async def send(self, *parts: bytes) -> None:
        for part in parts:  # one write each: the client sees them in separate reads
            self.writer.write(part)
            await self.writer.drain()
            await asyncio.sleep(0)

    async def hold(self) -> None:
        """Wait, connection open, until the test is over."""
        await self.released.wait()


def path_of(head: bytes) -> str:
    return head.split(b" ", 2)[1].decode()


RawHandler = Callable[[RawConn], Awaitable[None]]


@dataclass
class RawSite:
    base: str
    conns: list[RawConn]

    @property
    def requests(self) -> list[int]:
        """How many requests arrived on each connection, in order of connection."""
        return [len(conn.requests) for conn in self.conns]


@asynccontextmanager
async def serve_raw(handler: RawHandler) -> AsyncIterator[RawSite]:
    """Run ``handler`` once per connection on 127.0.0.1; the connection is closed when it
    returns. Yield the site: its base URL and what arrived on each connection."""
    released = asyncio.Event()
    conns: list[RawConn] = []
    tasks: list[asyncio.Task[Any]] = []

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.append(task)
        conn = RawConn(reader, writer, released)
        conns.append(conn)
        try:
            await handler(conn)
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(run, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield RawSite(f"http://127.0.0.1:{port}", conns)
    finally:
        released.set()
        for conn in conns:
            conn.writer.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        server.close()
        await server.wait_closed()


def answer_each(reply: bytes) -> RawHandler:
    """A handler answering every request on the connection with ``reply``."""

    async def handler(conn: RawConn) -> None:
        while await conn.request() is not None:
            await conn.send(reply)

    return handler


@asynccontextmanager
async def fetcher_for(**options: Any) -> AsyncIterator[HttpFetcher]:
    options.setdefault("timeout", 2.0)
    fetcher = HttpFetcher(**options)
    try:
        yield fetcher
    finally:
        await fetcher.close()


def went_lean(fetcher: HttpFetcher) -> bool:
    """Every request so far went through the lean client (aiohttp never opened)."""
    return fetcher._wire is not None and fetcher._session is None


# --- 1. content encodings ------------------------------------------------------------


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


ENCODED = {
    "/gzip": ("gzip", gzip.compress(TEXT)),
    "/x-gzip": ("x-gzip", gzip.compress(TEXT)),
    "/deflate-zlib": ("deflate", zlib.compress(TEXT)),
    "/deflate-raw": ("deflate", _raw_deflate(TEXT)),
    "/unknown": ("x-scrambled", b"\x00\x01 not for us to decode \xff"),
    "/corrupt-gzip": ("gzip", b"\x1f\x8b\x08\x00" + b"this is no gzip stream" * 3),
    "/truncated-gzip": ("gzip", gzip.compress(TEXT)[:-12]),
    "/plain": ("identity", TEXT),
}


def encoding_app(accepted: list[str]) -> web.Application:
    async def encoded(request: web.Request) -> web.Response:
        accepted.append(request.headers.get("Accept-Encoding", ""))
        encoding, body = ENCODED[request.path]
        headers = {"Content-Type": "text/plain", "Content-Encoding": encoding}
        return web.Response(body=body, headers=headers)

    app = web.Application()
    for path in ENCODED:
        app.router.add_get(path, encoded)
    return app


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/gzip", TEXT),
        ("/x-gzip", TEXT),
        ("/deflate-zlib", TEXT),
        ("/deflate-raw", TEXT),
        ("/plain", TEXT),
        ("/unknown", ENCODED["/unknown"][1]),  # passed on as it came
    ],
)
async def test_bodies_are_decoded_and_accept_encoding_is_sent(path: str, expected: bytes) -> None:
    accepted: list[str] = []
    async with serve(encoding_app(accepted)) as base, fetcher_for() as fetcher:
        response = await fetcher.fetch(Request(url=f"{base}{path}"))
        assert went_lean(fetcher)
    assert response.status == 200
    assert response.body == expected
    assert accepted == [ACCEPT_ENCODING]
    assert {"gzip", "deflate"} <= {part.strip() for part in ACCEPT_ENCODING.split(",")}


@pytest.mark.parametrize("path", ["/corrupt-gzip", "/truncated-gzip"])
async def test_a_body_that_does_not_decode_is_a_one_line_bad_encoding_error(path: str) -> None:
    async with serve(encoding_app([])) as base, fetcher_for() as fetcher:
        with pytest.raises(BadEncoding) as info:
            await fetcher.fetch(Request(url=f"{base}{path}"))
        # the framing was sound: the fetcher goes on working
        assert (await fetcher.fetch(Request(url=f"{base}/gzip"))).body == TEXT
    error = info.value
    assert error.url == f"{base}{path}" and not error.retryable
    assert isinstance(error.__cause__, BadResponse)
    assert "gzip" in str(error)
    assert "\n" not in str(error) and "Traceback" not in str(error)


# --- 2. framing ----------------------------------------------------------------------


async def test_chunked_body_is_joined_and_the_connection_kept() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    parts = [head, b"5\r\nhel", b"lo\r\n7\r\n, world\r\n", b"1", b"\r\n!\r\n0\r\n\r\n"]

    async def handler(conn: RawConn) -> None:
        while await conn.request() is not None:
            await conn.send(*parts)

    async with serve_raw(handler) as site, fetcher_for() as fetcher:
        first = await fetcher.fetch(Request(url=f"{site.base}/a"))
        second = await fetcher.fetch(Request(url=f"{site.base}/b"))
    assert first.body == second.body == b"hello, world!"
    assert first.headers["Transfer-Encoding"] == "chunked"
    assert site.requests == [2]  # kept alive after a chunked body


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n",
    ],
    ids=["http-1.0", "http-1.1-close", "http-1.1-no-length"],
)
async def test_a_body_delimited_by_the_connection_closing(head: bytes) -> None:
    async def handler(conn: RawConn) -> None:
        if await conn.request() is not None:
            await conn.send(head, TEXT[:100], TEXT[100:])
        # returning closes the connection: the end of the body

    async with serve_raw(handler) as site, fetcher_for() as fetcher:
        first = await fetcher.fetch(Request(url=f"{site.base}/one"))
        second = await fetcher.fetch(Request(url=f"{site.base}/two"))
    assert first.status == second.status == 200
    assert first.body == second.body == TEXT
    assert site.requests == [1, 1]


async def test_204_and_304_have_no_body_and_keep_the_connection() -> None:
    peers: list[object] = []

    async def no_content(request: web.Request) -> web.Response:
        peers.append(peer(request))
        return web.Response(status=204)

    async def not_modified(request: web.Request) -> web.Response:
        peers.append(peer(request))
        return web.Response(status=304, headers={"ETag": '"v1"'})

    async def page(request: web.Request) -> web.Response:
        peers.append(peer(request))
        return web.Response(body=TEXT)

    app = web.Application()
    app.router.add_get("/204", no_content)
    app.router.add_get("/304", not_modified)
    app.router.add_get("/page", page)
    async with serve(app) as base, fetcher_for(timeout=1.0) as fetcher:
        empty = await fetcher.fetch(Request(url=f"{base}/204"))
        same = await fetcher.fetch(Request(url=f"{base}/304"))
        full = await fetcher.fetch(Request(url=f"{base}/page"))
        assert went_lean(fetcher)
    assert (empty.status, empty.body) == (204, b"")
    assert (same.status, same.body, same.headers["ETag"]) == (304, b"", '"v1"')
    assert full.body == TEXT
    assert len(peers) == 3 and len(set(peers)) == 1


async def test_304_with_a_content_length_has_no_body() -> None:
    # A 304's Content-Length is the size the page would have: no body follows it.
    replies = [
        b'HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\nETag: "v1"\r\n\r\n',
        OK,
    ]

    async def handler(conn: RawConn) -> None:
        for reply in replies:
            if await conn.request() is None:
                return
            await conn.send(reply)
        await conn.hold()

    async with serve_raw(handler) as site, fetcher_for(timeout=1.0) as fetcher:
        same = await fetcher.fetch(Request(url=f"{site.base}/page"))
        after = await fetcher.fetch(Request(url=f"{site.base}/page"))
    assert (same.status, same.body) == (304, b"")
    assert (after.status, after.body) == (200, b"ok")
    assert site.requests == [2]


async def test_head_goes_through_aiohttp_only_get_takes_the_lean_path() -> None:
    # The lean client sends only GET and would wait for the body a HEAD announces.
    methods: list[str] = []

    async def page(request: web.Request) -> web.Response:
        methods.append(request.method)
        return web.Response(body=TEXT)

    app = web.Application()
    app.router.add_get("/page", page)  # HEAD too
    async with serve(app) as base, fetcher_for(timeout=1.0) as fetcher:
        got = await fetcher.fetch(Request(url=f"{base}/page"))
        assert went_lean(fetcher)
        head = await fetcher.fetch(Request(url=f"{base}/page", method="HEAD"))
        assert fetcher._session is not None
    assert methods == ["GET", "HEAD"]
    assert got.body == TEXT
    assert head.status == 200 and head.body == b""
    assert head.headers["Content-Length"] == str(len(TEXT))


# --- 3. keep-alive -------------------------------------------------------------------


def peers_app(peers: list[object]) -> web.Application:
    async def page(request: web.Request) -> web.Response:
        peers.append(peer(request))
        return web.Response(body=TEXT)

    app = web.Application()
    app.router.add_get("/page", page)
    return app


async def test_five_fetches_share_one_connection() -> None:
    peers: list[object] = []
    async with serve(peers_app(peers)) as base, fetcher_for() as fetcher:
        for _ in range(5):
            assert (await fetcher.fetch(Request(url=f"{base}/page"))).body == TEXT
        assert went_lean(fetcher)
    assert len(peers) == 5 and len(set(peers)) == 1


async def test_a_response_with_connection_close_is_not_reused() -> None:
    # The server keeps the socket open and would answer a second request on it.
    reply = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    async with serve_raw(answer_each(reply)) as site, fetcher_for(timeout=1.0) as fetcher:
        for _ in range(2):
            assert (await fetcher.fetch(Request(url=f"{site.base}/page"))).body == b"ok"
    assert site.requests == [1, 1]


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    closed = asyncio.Event()

    async def handler(conn: RawConn) -> None:
        if await conn.request() is not None:
            await conn.send(OK)  # HTTP/1.1 with a length: kept alive, as far as we know
        conn.writer.close()
        await conn.writer.wait_closed()
        closed.set()

    async with serve_raw(handler) as site, fetcher_for(timeout=1.0) as fetcher:
        assert (await fetcher.fetch(Request(url=f"{site.base}/one"))).body == b"ok"
        await closed.wait()
        await asyncio.sleep(0.05)  # a few turns of the loop: the client reads the EOF
        assert (await fetcher.fetch(Request(url=f"{site.base}/two"))).body == b"ok"
    assert site.requests == [1, 1]


async def test_a_connection_idle_past_keepalive_timeout_is_not_reused() -> None:
    peers: list[object] = []
    async with serve(peers_app(peers)) as base, fetcher_for(keepalive_timeout=0.05) as fetcher:
        await fetcher.fetch(Request(url=f"{base}/page"))
        await asyncio.sleep(0.1)
        await fetcher.fetch(Request(url=f"{base}/page"))
    assert len(peers) == 2 and len(set(peers)) == 2


async def test_keepalive_timeout_is_measured_from_the_last_use() -> None:
    peers: list[object] = []
    now = [100.0]
    client = Http1Client(keepalive_timeout=4.0, clock=lambda: now[0])
    async with serve(peers_app(peers)) as base:
        origin = ("http", "127.0.0.1", int(base.rsplit(":", 1)[1]))
        try:
            for advance in (0.0, 3.9, 3.9, 4.1):
                now[0] += advance
                status, _, body = await client.get(origin, "/page", [], 2.0)
                assert (status, body) == (200, TEXT)
        finally:
            await client.close()
    assert peers[0] == peers[1] == peers[2] != peers[3]


# --- 4. one request per fetch --------------------------------------------------------


@pytest.mark.parametrize("warm", [False, True], ids=["fresh", "kept-alive"])
async def test_one_request_on_the_wire_when_the_server_drops_the_connection(
    warm: bool,
) -> None:
    async def handler(conn: RawConn) -> None:
        while (head := await conn.request()) is not None:
            if path_of(head) == "/drop":
                return  # read the request, answered nothing, closed the connection
            await conn.send(OK)

    async with serve_raw(handler) as site, fetcher_for(timeout=1.0) as fetcher:
        if warm:
            await fetcher.fetch(Request(url=f"{site.base}/page"))
        with pytest.raises(NetworkError) as info:
            await fetcher.fetch(Request(url=f"{site.base}/drop"))
    paths = [path_of(head) for conn in site.conns for head in conn.requests]
    assert paths.count("/drop") == 1  # not sent again on a new connection
    assert len(site.conns) == 1
    assert info.value.retryable and isinstance(info.value.__cause__, OSError)
    assert "\n" not in str(info.value)


# --- 5. timeouts and garbage ---------------------------------------------------------


async def test_a_body_that_never_completes_times_out() -> None:
    async def handler(conn: RawConn) -> None:
        while (head := await conn.request()) is not None:
            if path_of(head) == "/stall":
                head_only = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
                await conn.send(head_only, b"only part of it")
                await conn.hold()
                return
            await conn.send(OK)

    timeout = 0.3
    async with serve_raw(handler) as site, fetcher_for(timeout=timeout) as fetcher:
        started = time.perf_counter()
        with pytest.raises(FetchTimeout) as info:
            await fetcher.fetch(Request(url=f"{site.base}/stall"))
        assert time.perf_counter() - started < timeout + 2.0
        # the stalled connection is dropped, not reused: the next fetch gets a new one
        assert (await fetcher.fetch(Request(url=f"{site.base}/page"))).body == b"ok"
    assert isinstance(info.value.__cause__, TimeoutError)
    assert info.value.retryable and "0.3 s" in str(info.value)
    assert site.requests == [1, 1]


@pytest.mark.parametrize("close", [False, True], ids=["left-open", "then-closed"])
async def test_a_response_that_is_not_http_is_a_network_error(close: bool) -> None:
    async def handler(conn: RawConn) -> None:
        if await conn.request() is not None:
            await conn.send(b"SSH-2.0-OpenSSH_9.6\r\n")
            if not close:
                await conn.hold()

    async with serve_raw(handler) as site, fetcher_for(timeout=2.0) as fetcher:
        with pytest.raises(NetworkError) as info:
            await fetcher.fetch(Request(url=f"{site.base}/"))
    assert type(info.value) is NetworkError
    assert "\n" not in str(info.value)
    if not close:  # told from the bytes alone, not from the connection ending
        assert isinstance(info.value.__cause__, BadResponse)


# --- 6. cookies and response headers -------------------------------------------------


def cookie_app() -> web.Application:
    async def login(request: web.Request) -> web.Response:
        response = web.Response(text="welcome")
        response.set_cookie("session", "abc123", path="/")
        return response

    async def twice(request: web.Request) -> web.Response:
        headers = CIMultiDict(
            [
                ("X-Multi", "a"),
                ("X-Multi", "b"),
                ("Set-Cookie", "first=1; Path=/"),
                ("Set-Cookie", "second=2; Path=/; HttpOnly"),
            ]
        )
        return web.Response(text="two of each", headers=headers)

    app = web.Application()
    app.router.add_get("/login", login)
    app.router.add_get("/twice", twice)
    app.router.add_get("/echo", echo)
    return app


async def test_a_cookie_the_site_sets_is_sent_back() -> None:
    async with serve(cookie_app()) as base, fetcher_for() as fetcher:
        before = (await fetcher.fetch(Request(url=f"{base}/echo"))).json()
        await fetcher.fetch(Request(url=f"{base}/login"))
        after = (await fetcher.fetch(Request(url=f"{base}/echo"))).json()
        assert went_lean(fetcher)
    assert values(before, "Cookie") == []
    assert values(after, "Cookie") == ["session=abc123"]


async def test_configured_cookies_are_sent_to_cookie_url_host() -> None:
    async with serve(cookie_app()) as base:
        mine = fetcher_for(cookies={"consent": "yes"}, cookie_url=base)
        other = fetcher_for(cookies={"consent": "yes"}, cookie_url="http://elsewhere.test")
        anywhere = fetcher_for(cookies={"consent": "yes"})
        async with mine as a, other as b, anywhere as c:
            sent = [(await f.fetch(Request(url=f"{base}/echo"))).json() for f in (a, b, c)]
            assert all(went_lean(f) for f in (a, b, c))
    assert [values(pairs, "Cookie") for pairs in sent] == [["consent=yes"], [], ["consent=yes"]]


async def test_repeated_response_headers_are_joined_and_every_cookie_kept() -> None:
    async with serve(cookie_app()) as base, fetcher_for() as fetcher:
        response = await fetcher.fetch(Request(url=f"{base}/twice"))
        echoed = (await fetcher.fetch(Request(url=f"{base}/echo"))).json()
    assert response.headers["X-Multi"] == "a, b"
    assert response.headers["Set-Cookie"] == "first=1; Path=/, second=2; Path=/; HttpOnly"
    cookies = values(echoed, "Cookie")
    assert len(cookies) == 1
    assert sorted(cookies[0].split("; ")) == ["first=1", "second=2"]


async def test_a_cookie_header_in_the_request_joins_the_jar_in_one_header() -> None:
    async with serve(cookie_app()) as base, fetcher_for() as fetcher:
        await fetcher.fetch(Request(url=f"{base}/login"))
        echoed = (
            await fetcher.fetch(Request(url=f"{base}/echo", headers={"Cookie": "a=1"}))
        ).json()
    cookies = values(echoed, "Cookie")
    assert len(cookies) == 1  # servers read one Cookie header
    assert sorted(cookies[0].split("; ")) == ["a=1", "session=abc123"]


# --- 7. request headers --------------------------------------------------------------


def echo_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/echo", echo)
    return app


async def test_request_headers_override_the_defaults_case_insensitively() -> None:
    async with serve(echo_app()) as base, fetcher_for() as fetcher:
        headers = {"user-agent": "x/1", "ACCEPT": "text/plain", "X-Extra": "42"}
        mine = (await fetcher.fetch(Request(url=f"{base}/echo", headers=headers))).json()
        plain = (await fetcher.fetch(Request(url=f"{base}/echo"))).json()
        assert went_lean(fetcher)
    assert values(mine, "User-Agent") == ["x/1"]
    assert values(mine, "Accept") == ["text/plain"]
    assert values(mine, "X-Extra") == ["42"]
    assert values(mine, "Host") == [base.removeprefix("http://")]  # with the port
    # the next request is back to the defaults
    assert values(plain, "User-Agent") == [DEFAULT_USER_AGENT]
    assert values(plain, "X-Extra") == []
    assert values(plain, "Accept-Encoding") == [ACCEPT_ENCODING]


async def test_a_fragment_is_not_sent_even_when_it_holds_a_slash() -> None:
    async def root(request: web.Request) -> web.Response:
        return web.Response(text=f"path {request.path_qs}")

    app = web.Application()
    app.router.add_get("/", root)
    app.router.add_get("/b", root)
    async with serve(app) as base, fetcher_for() as fetcher:
        bare = await fetcher.fetch(Request(url=f"{base}#a/b"))
        query = await fetcher.fetch(Request(url=f"{base}?q=1#a/b"))
        assert went_lean(fetcher)
    assert bare.text == "path /" and query.text == "path /?q=1"


async def test_a_configured_accept_encoding_is_sent_once() -> None:
    async with serve(echo_app()) as base, fetcher_for(headers={"accept-encoding": "gzip"}) as f:
        echoed = (await f.fetch(Request(url=f"{base}/echo"))).json()
        assert went_lean(f)
    assert values(echoed, "Accept-Encoding") == ["gzip"]


async def test_a_host_header_in_the_request_replaces_the_default() -> None:
    # Not two Host headers (a server answers 400): such a request goes through aiohttp.
    async with serve(echo_app()) as base, fetcher_for() as fetcher:
        headers = {"host": "site.example"}
        response = await fetcher.fetch(Request(url=f"{base}/echo", headers=headers))
    assert response.status == 200
    assert values(response.json(), "Host") == ["site.example"]


# --- 8. the fall-back to aiohttp -----------------------------------------------------


async def test_a_url_with_non_ascii_characters_goes_through_aiohttp() -> None:
    seen: list[str] = []

    async def cafe(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        return web.Response(text=f"{request.path} {request.query.get('q')}")

    app = web.Application()
    app.router.add_get("/café", cafe)
    async with serve(app) as base, fetcher_for() as fetcher:
        response = await fetcher.fetch(Request(url=f"{base}/café?q=thé"))
        assert fetcher._session is not None and fetcher._wire is None
    assert response.status == 200
    assert response.url == f"{base}/café?q=thé"
    assert response.text == "/café thé"
    assert seen == ["/caf%C3%A9?q=th%C3%A9"]


# --- 9. the limit --------------------------------------------------------------------


async def test_at_most_limit_requests_are_in_flight() -> None:
    release = asyncio.Event()
    two_in = asyncio.Event()
    active, peak, arrived = 0, 0, 0

    async def held(request: web.Request) -> web.Response:
        nonlocal active, peak, arrived
        active += 1
        arrived += 1
        peak = max(peak, active)
        if active == 2:
            two_in.set()
        try:
            await release.wait()
        finally:
            active -= 1
        return web.Response(text="done")

    app = web.Application()
    app.router.add_get("/held", held)
    client = Http1Client(limit=2)
    async with serve(app) as base:
        origin = ("http", "127.0.0.1", int(base.rsplit(":", 1)[1]))
        try:
            gets = [asyncio.create_task(client.get(origin, "/held", [], 5.0)) for _ in range(5)]
            await asyncio.wait_for(two_in.wait(), 2.0)
            await asyncio.sleep(0.05)  # room for a third to arrive, were it let through
            assert arrived == 2
            release.set()
            results = await asyncio.gather(*gets)
        finally:
            release.set()
            await client.close()
    assert [(status, body) for status, _, body in results] == [(200, b"done")] * 5
    assert peak == 2
