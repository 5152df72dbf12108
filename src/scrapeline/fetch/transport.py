"""Fetchers: the transports that turn a :class:`Request` into a :class:`Response`.

A fetcher does one thing: send one request and return what came back. Politeness,
retries, the breaker, status handling and contracts are the client's job
(:mod:`scrapeline.fetch.client`), the same for every fetcher.

Contract, held by one shared test for every implementation:

- ``fetch`` returns a :class:`Response` for **every** HTTP status (404, 500, 429 ...),
  with ``url`` equal to the request's URL, and never follows redirects: a 3xx comes
  back as it is, ``Location`` header included (the client follows it, so that every
  hop passes the host allow-list and the host's limits).
- It raises only :class:`NetworkError` (connection refused, reset, dropped, DNS),
  :class:`FetchTimeout` (no complete response in time), :class:`ResponseTooLarge` (the
  body, as sent or decoded, passed ``max_body``; nothing more is read) or
  :class:`BadEncoding` (a body that does not decode with its Content-Encoding); the
  underlying exception is kept as ``__cause__``. Nothing above this module sees
  ``aiohttp`` exceptions.
  Through a proxy (``request.proxy``), a proxy that cannot be reached, refuses the
  tunnel or answers 407 (our credentials) raises :class:`ProxyError`, a NetworkError.
  No message carries credentials from a URL.
- ``close`` is idempotent; ``fetch`` after ``close`` raises RuntimeError.

:class:`HttpFetcher` is the real one (pooled, kept-alive connections: scrapeline's own
HTTP/1.1 client for direct GETs, aiohttp for the rest).
:class:`FakeFetcher` answers in-process from a dict or a function, for engine tests
and benchmarks::

    >>> import asyncio
    >>> from scrapeline.fetch.response import Request
    >>> page = (200, {"Content-Type": "text/html"}, b"<b>hi</b>")
    >>> fake = FakeFetcher({"http://site.test/a": page})
    >>> response = asyncio.run(fake.fetch(Request(url="http://site.test/a")))
    >>> response.status, response.one("b").text()
    (200, 'hi')

The real one, with a server at hand::

    fetcher = HttpFetcher(
        timeout=10.0,
        user_agent="mybot/1.0 (+mailto:me@example.org)",
        cookies={"consent": "yes"},           # sent to cookie_url's host (all hosts if None)
        cookie_url="http://127.0.0.1:8000",
    )
    try:
        response = await fetcher.fetch(Request(url="http://127.0.0.1:8000/"))
    finally:
        await fetcher.close()
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import lru_cache
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Protocol, TypeAlias
from urllib.parse import urlsplit

from scrapeline.errors import (
    BadEncoding,
    FetchTimeout,
    NetworkError,
    ProxyError,
    ResponseTooLarge,
)
from scrapeline.fetch.http1 import (
    ACCEPT_ENCODING,
    DEFAULT_MAX_BODY,
    BadResponse,
    BodyTooLarge,
    Headers,
    Http1Client,
    Origin,
    UndecodableBody,
    decode_body,
    split_authority,
)
from scrapeline.fetch.limits import Sleep
from scrapeline.fetch.response import Request, Response
from scrapeline.secrets import strip_credentials

if TYPE_CHECKING:  # aiohttp is imported on first use: most runs never need it
    import aiohttp

DEFAULT_USER_AGENT = "scrapeline/0.1 (+https://github.com/scrapeline)"
DEFAULT_HEADERS: Mapping[str, str] = {
    "Accept": "text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8",
    "Accept-Language": "en;q=0.9,*;q=0.5",
}


class Fetcher(Protocol):
    """Sends one request, returns the response; see the module docstring for the contract."""

    async def fetch(self, request: Request) -> Response: ...

    async def close(self) -> None: ...


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return strip_credentials(f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__)


def _headers(raw: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Response headers (name, value pairs) as a plain dict; repeated headers are
    joined with ', '."""
    headers: dict[str, str] = {}
    for name, value in raw:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


class HttpFetcher:
    """The real fetcher: pools of kept-alive connections, and one cookie jar.

    Direct GET requests go through scrapeline's own HTTP/1.1 client
    (:mod:`scrapeline.fetch.http1`, a fifth of aiohttp's CPU time per request);
    requests through a proxy, other methods and URLs that need quoting go through
    aiohttp. Both share the headers, the cookie jar and the error contract.

    ``limit`` caps open connections across all hosts (size it to the total
    concurrency); ``timeout`` is the total seconds for one request, body included;
    ``max_body`` the bytes a body may have, as sent and as decoded (both transports
    decode with :mod:`scrapeline.fetch.http1`'s bounded decoder).
    Idle connections are closed after ``keepalive_timeout`` seconds, shorter than the
    5 s many servers use, so that a slow, polite crawl rarely sends a request down a
    connection the server has just closed. The session is created on first use,
    inside the running event loop. Each ``fetch`` puts exactly one request on the wire.

    Every request carries ``user_agent`` and ``headers`` (over :data:`DEFAULT_HEADERS`).
    The session has one cookie jar, for the fetcher's lifetime (a run): cookies a site
    sets are sent back to it, and ``cookies`` are sent from the start to ``cookie_url``'s
    host (to every host when None). The jar accepts cookies from IP-address hosts too
    (aiohttp's default jar refuses them): the client only talks to declared hosts.
    """

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        user_agent: str = DEFAULT_USER_AGENT,
        headers: Mapping[str, str] | None = None,
        limit: int = 100,
        keepalive_timeout: float = 4.0,
        cookies: Mapping[str, str] | None = None,
        cookie_url: str | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.timeout = timeout
        self.max_body = max_body
        self.user_agent = user_agent
        self.limit = limit
        self.keepalive_timeout = keepalive_timeout
        self._headers = {**DEFAULT_HEADERS, **(headers or {}), "User-Agent": user_agent}
        self._cookies = dict(cookies or {})
        self._cookie_url = cookie_url
        self._session: aiohttp.ClientSession | None = None
        self._jar: aiohttp.CookieJar | None = None
        self._wire: Http1Client | None = None
        self._wire_headers: Headers = list(self._headers.items())
        if not any(name.lower() == "accept-encoding" for name in self._headers):
            self._wire_headers.append(("Accept-Encoding", ACCEPT_ENCODING))
        self._closed = False

    def _cookie_jar(self) -> aiohttp.CookieJar:
        import aiohttp
        from yarl import URL

        if self._closed:
            raise RuntimeError("HttpFetcher is closed")
        if self._jar is None:
            self._jar = aiohttp.CookieJar(unsafe=True)
            if self._cookies:
                where = URL(self._cookie_url) if self._cookie_url else URL()
                self._jar.update_cookies(self._cookies, response_url=where)
        return self._jar

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        jar = self._cookie_jar()
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.limit, limit_per_host=0, keepalive_timeout=self.keepalive_timeout
            )
            session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=jar,
                headers=dict(self._wire_headers),  # the Accept-Encoding we can decode
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                raise_for_status=False,
                # We decode, bounded by max_body: aiohttp's decoder has no output limit.
                auto_decompress=False,
            )
            # aiohttp silently sends a request a second time when the connection drops
            # (aio-libs/aiohttp#10790), past our limiter and breaker. One request per
            # attempt: the client's retry loop decides, with backoff. aiohttp's own test
            # client turns it off the same way; there is no public switch.
            if hasattr(session, "_retry_connection"):
                session._retry_connection = False
            self._session = session
        return self._session

    async def fetch(self, request: Request) -> Response:
        if request.proxy is None and request.method == "GET":
            origin = _plain_origin(request.url)
            if origin is not None and _safe_headers(request.headers):
                return await self._fetch_direct(request, origin)
        import aiohttp

        session = self._open()
        started = time.perf_counter()
        try:
            async with session.request(
                request.method,
                request.url,
                headers=request.headers or None,
                allow_redirects=False,
                proxy=request.proxy,
            ) as raw:
                if raw.status == 407 and request.proxy is not None:
                    raise ProxyError(
                        f"proxy {strip_credentials(request.proxy)} refused our credentials "
                        "(407 Proxy Authentication Required)",
                        url=request.url,
                    )
                body = await self._read(raw, request)
                return Response(
                    url=request.url,
                    status=raw.status,
                    headers=_headers(raw.headers.items()),
                    body=decode_body(raw.headers.items(), body, self.max_body),
                    elapsed=time.perf_counter() - started,
                )
        except BodyTooLarge as exc:
            raise _too_large(exc, request.url) from exc
        except UndecodableBody as exc:
            raise BadEncoding(str(exc), url=request.url) from exc
        except TimeoutError as exc:  # also aiohttp's ServerTimeoutError; before OSError
            raise FetchTimeout(
                f"no complete response within {self.timeout:g} s", url=request.url
            ) from exc
        except aiohttp.InvalidURL as exc:
            raise NetworkError(
                f"invalid URL: {_one_line(exc)}", url=request.url, retryable=False
            ) from exc
        except (aiohttp.ClientProxyConnectionError, aiohttp.ClientHttpProxyError) as exc:
            proxy = strip_credentials(request.proxy or "")
            raise ProxyError(f"proxy {proxy} failed: {_one_line(exc)}", url=request.url) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise NetworkError(_one_line(exc), url=request.url) from exc

    async def _fetch_direct(self, request: Request, origin: tuple[Origin, str]) -> Response:
        """One GET through the lean HTTP/1.1 client (no proxy, a plain ASCII URL)."""
        if self._closed:
            raise RuntimeError("HttpFetcher is closed")
        jar = self._cookie_jar() if self._cookies else self._jar  # None until a site sets one
        if self._wire is None:
            self._wire = Http1Client(
                limit=self.limit, keepalive_timeout=self.keepalive_timeout, max_body=self.max_body
            )
        headers = self._wire_headers
        if request.headers:
            mine = {name.lower() for name in request.headers}
            headers = [h for h in headers if h[0].lower() not in mine]
            headers.extend(request.headers.items())
        if jar is not None and len(jar):
            from yarl import URL

            cookies = jar.filter_cookies(URL(request.url))
            if cookies:
                value = "; ".join(f"{m.key}={m.coded_value}" for m in cookies.values())
                if request.headers and any(k.lower() == "cookie" for k in request.headers):
                    # one Cookie header, the request's own cookies first, as aiohttp sends
                    theirs = [v for k, v in headers if k.lower() == "cookie"]
                    headers = [h for h in headers if h[0].lower() != "cookie"]
                    value = "; ".join([*theirs, value])
                headers = [*headers, ("Cookie", value)]
        started = time.perf_counter()
        where, target = origin
        try:
            status, raw, body = await self._wire.get(where, target, headers, self.timeout)
        except TimeoutError as exc:
            raise FetchTimeout(
                f"no complete response within {self.timeout:g} s", url=request.url
            ) from exc
        except BodyTooLarge as exc:
            raise _too_large(exc, request.url) from exc
        except UndecodableBody as exc:
            raise BadEncoding(str(exc), url=request.url) from exc
        except (OSError, BadResponse) as exc:
            raise NetworkError(_one_line(exc), url=request.url) from exc
        for name, value in raw:
            if name.lower() == "set-cookie":
                _keep_cookie(self._cookie_jar(), value, request.url)
        return Response(
            url=request.url,
            status=status,
            headers=_headers(raw),
            body=body,
            elapsed=time.perf_counter() - started,
        )

    async def _read(self, raw: aiohttp.ClientResponse, request: Request) -> bytes:
        """The body as sent, read chunk by chunk: BodyTooLarge once it passes max_body."""
        limit = self.max_body
        length = raw.content_length
        bodiless = request.method == "HEAD" or raw.status in (204, 304)
        if length is not None and length > limit and not bodiless:
            raise BodyTooLarge(limit, length=length)
        chunks: list[bytes] = []
        size = 0
        async for chunk in raw.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(limit)
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def close(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        wire, self._wire = self._wire, None
        if wire is not None:
            await wire.close()
        if session is not None:
            await session.close()


def _too_large(exc: BodyTooLarge, url: str) -> ResponseTooLarge:
    sent = f", Content-Length {exc.length}" if exc.length is not None else ""
    how = " once decompressed" if exc.decoded else ""
    return ResponseTooLarge(
        f"response body larger than max_body ({exc.limit} bytes{how}{sent}); "
        "Pipeline(max_body=...) raises the limit",
        url=url,
    )


@lru_cache(maxsize=4096)
def _origin_of(scheme_host: str) -> Origin | None:
    """``"http://host:port"`` → (scheme, host, port); None for what the lean client
    leaves to aiohttp (credentials in the URL, IPv6 literals, no host, a bad port)."""
    parts = urlsplit(scheme_host)
    if parts.scheme not in ("http", "https") or "@" in parts.netloc or "[" in parts.netloc:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if not host:
        return None
    return (parts.scheme, host, port or (443 if parts.scheme == "https" else 80))


def _plain_origin(url: str) -> tuple[Origin, str] | None:
    """(origin, path and query) of a URL the lean client can send as it is: ASCII,
    no whitespace or control characters. None otherwise (aiohttp quotes it)."""
    if not url.isascii() or not url.isprintable() or " " in url:
        return None
    parts = split_authority(url)
    origin = _origin_of(parts[0]) if parts is not None else None
    if parts is None or origin is None:
        return None
    target = parts[1].partition("#")[0]
    if not target.startswith("/"):
        target = "/" + target
    return origin, target


def _safe_headers(headers: Mapping[str, str]) -> bool:
    """Headers the lean client can send as they are: no line breaks in names or values
    (aiohttp refuses those, with a clear error), and no Host (the lean client writes its
    own; aiohttp lets the request's replace it)."""
    return not headers or all(
        "\r" not in f"{k}{v}" and "\n" not in f"{k}{v}" and k.lower() != "host"
        for k, v in headers.items()
    )


def _keep_cookie(jar: aiohttp.CookieJar, header: str, url: str) -> None:
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(header)
    except CookieError:
        return  # a malformed Set-Cookie is ignored, as browsers and aiohttp do
    from yarl import URL

    jar.update_cookies(cookie, URL(url))


FakeReply: TypeAlias = tuple[int, Mapping[str, str], bytes | str]
"""What a fake route answers: status, headers, body (a str is encoded as UTF-8)."""

FakeHandler: TypeAlias = Callable[[Request], FakeReply | Awaitable[FakeReply]]
"""A function answering any request; it may raise NetworkError or FetchTimeout."""

FakeRoutes: TypeAlias = Mapping[str, FakeReply | NetworkError | FetchTimeout]
"""Exact URL → reply, or the transport error to raise. Unknown URLs answer 404."""


class FakeFetcher:
    """An in-process fetcher answering from a dict of URLs or from a function.

    Every request is appended to ``requests`` (unless ``keep_requests=False``, for
    benchmarks). ``latency`` seconds are slept (with ``sleep``) before each answer.
    """

    def __init__(
        self,
        routes: FakeRoutes | FakeHandler | None = None,
        *,
        latency: float = 0.0,
        sleep: Sleep = asyncio.sleep,
        keep_requests: bool = True,
    ) -> None:
        self._routes = routes if routes is not None else {}
        self._latency = latency
        self._sleep = sleep
        self._keep = keep_requests
        self.requests: list[Request] = []
        self.closed = False

    async def fetch(self, request: Request) -> Response:
        if self.closed:
            raise RuntimeError("FakeFetcher is closed")
        if self._keep:
            self.requests.append(request)
        started = time.perf_counter()
        if self._latency:
            await self._sleep(self._latency)
        reply = await self._answer(request)
        status, headers, body = reply
        return Response(
            url=request.url,
            status=status,
            headers=dict(headers),
            body=body.encode() if isinstance(body, str) else body,
            elapsed=time.perf_counter() - started,
        )

    async def _answer(self, request: Request) -> FakeReply:
        routes = self._routes
        if callable(routes):
            reply = routes(request)
            return await reply if inspect.isawaitable(reply) else reply
        found = routes.get(request.url)
        if found is None:
            return (404, {"Content-Type": "text/plain"}, b"not found")
        if isinstance(found, BaseException):
            # A fresh copy each time: raising one instance twice chains tracebacks.
            error = copy.copy(found)
            error.url = error.url or request.url
            raise error
        return found

    async def close(self) -> None:
        self.closed = True
