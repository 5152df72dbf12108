"""A lean HTTP/1.1 client: kept-alive connections per origin, parsed by httptools (C).

:class:`~scrapeline.fetch.transport.HttpFetcher` sends direct GET requests through
this client and everything else (proxies, other methods, URLs that need quoting)
through aiohttp. It exists for speed: a GET here costs a fifth of the CPU time of
one through aiohttp, and on a fast site that is most of a crawl's cost.

Contract (the fetcher's; see :mod:`scrapeline.fetch.transport`):

- :meth:`Http1Client.get` puts exactly one request on the wire and returns
  ``(status, headers, body)`` for every status; the body is decoded from gzip or
  deflate (and br when the ``brotli`` package is installed, which is then offered).
- It raises :class:`OSError` (refused, reset, closed early, TLS), :class:`BadResponse`
  (not HTTP, or a gzip/deflate/br body that does not decode) or :class:`TimeoutError`; the fetcher
  turns them into NetworkError and FetchTimeout.
- A connection is reused only when the server allows it (HTTP/1.1 keep-alive, the
  whole body read) and it was idle for less than ``keepalive_timeout``; one that the
  server closed while idle is never used again. A request that fails is not resent.
- At most ``limit`` requests are in flight at once; idle connections beyond
  ``limit`` are closed.
"""

from __future__ import annotations

import asyncio
import importlib
import ssl
import time
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import httptools

_brotli: Any
try:  # optional, as in aiohttp: offered to servers only when it can be decoded
    _brotli = importlib.import_module("brotli")
except ImportError:  # pragma: no cover - depends on the environment
    _brotli = None

ACCEPT_ENCODING = "gzip, deflate, br" if _brotli is not None else "gzip, deflate"

Origin = tuple[str, str, int]
"""(scheme, host, port)."""
Headers = list[tuple[str, str]]


def split_authority(url: str) -> tuple[str, str] | None:
    """``"http://h:1/p?q#f"`` → (``"http://h:1"``, ``"/p?q#f"``): the URL up to the end
    of its authority, and the rest; None when it has no ``//``. Where ``urlsplit``
    ends the authority (at the first ``/``, ``?`` or ``#``), without splitting the rest.

    >>> split_authority("https://a.b:8/x?y"), split_authority("http://h#f")
    (('https://a.b:8', '/x?y'), ('http://h', '#f'))
    """
    start = url.find("//")
    if start < 0:
        return None
    end = len(url)
    for stop in ("/", "?", "#"):
        at = url.find(stop, start + 2)
        if 0 <= at < end:
            end = at
    return url[:end], url[end:]


class BadResponse(Exception):
    """What came back is not a usable HTTP response."""


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, Headers, bytes]] | None = None
        self.headers: Headers = []
        self.body: list[bytes] = []
        self.status = 0
        self.closed = False
        self.reusable = False
        self.headers_done = False
        self.idle_since = 0.0

    # -- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # bytes nobody asked for: the connection is unusable
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(BadResponse(f"invalid HTTP response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.headers_done and self._until_close():
            self._finish()  # a body delimited by the end of the connection
            return
        self._fail(exc or ConnectionResetError("server closed the connection mid-response"))

    # -- httptools callbacks -------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.reusable = self.parser.should_keep_alive()
        self._finish()

    # -- ours ---------------------------------------------------------------------------

    def send(self, data: bytes) -> asyncio.Future[tuple[int, Headers, bytes]]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.headers, self.body, self.headers_done, self.reusable = [], [], False, False
        self.transport.write(data)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _until_close(self) -> bool:
        for name, value in self.headers:
            lower = name.lower()
            if lower == "content-length" or (
                lower == "transfer-encoding" and "chunked" in value.lower()
            ):
                return False
        return True

    def _finish(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
            waiter.set_result((self.status, self.headers, body))
        self.body = []

    def _fail(self, exc: BaseException) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


class Http1Client:
    """Pools of kept-alive HTTP/1.1 connections, one per origin. Use in one event loop."""

    def __init__(
        self,
        *,
        limit: int = 100,
        keepalive_timeout: float = 4.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.keepalive_timeout = keepalive_timeout
        self._clock = clock
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._slots = asyncio.Semaphore(limit)
        self._busy: set[_Connection] = set()
        self._ssl: ssl.SSLContext | None = None

    async def get(
        self, origin: Origin, target: str, headers: Headers, timeout: float
    ) -> tuple[int, Headers, bytes]:
        """GET ``target`` (path and query) from ``origin`` with ``headers``; see above."""
        scheme, host, port = origin
        default_port = 443 if scheme == "https" else 80
        authority = host if port == default_port else f"{host}:{port}"
        lines = [f"GET {target} HTTP/1.1", f"Host: {authority}"]
        lines.extend(f"{name}: {value}" for name, value in headers)
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._slots:
            conn = self._reuse(origin)
            if conn is None:
                conn = await asyncio.wait_for(self._connect(origin), deadline - loop.time())
            self._busy.add(conn)
            answer = conn.send(data)
            timer = loop.call_at(deadline, _expire, answer)  # cheaper than asyncio.timeout
            try:
                status, got, body = await answer
            except BaseException:
                conn.close()
                raise
            finally:
                timer.cancel()
                self._busy.discard(conn)
            if conn.reusable and not conn.closed:
                conn.idle_since = self._clock()
                self._idle.setdefault(origin, deque()).append(conn)
                self._trim()
            else:
                conn.close()
        return status, got, _decoded(got, body)

    async def close(self) -> None:
        for pool in self._idle.values():
            for conn in pool:
                conn.close()
        self._idle.clear()
        for conn in list(self._busy):
            conn.close()
        await asyncio.sleep(0)  # let the transports run their close callbacks

    def _reuse(self, origin: Origin) -> _Connection | None:
        pool = self._idle.get(origin)
        if not pool:
            return None
        oldest = self._clock() - self.keepalive_timeout
        while pool:
            conn = pool.pop()  # the most recently used: the least likely to be stale
            if not conn.closed and conn.idle_since > oldest:
                return conn
            conn.close()
        return None

    async def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        tls: dict[str, Any] = {}
        if scheme == "https":
            tls = {"ssl": self._ssl_context(), "server_hostname": host}
        _, conn = await loop.create_connection(_Connection, host, port, **tls)
        return conn

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _trim(self) -> None:
        idle = sum(len(pool) for pool in self._idle.values())
        if idle <= self.limit:
            return
        for pool in self._idle.values():
            while idle > self.limit and pool:
                pool.popleft().close()
                idle -= 1


def _expire(answer: asyncio.Future[Any]) -> None:
    if not answer.done():
        answer.set_exception(TimeoutError())


def _decoded(headers: Headers, body: bytes) -> bytes:
    encoding = ""
    for name, value in headers:
        if name.lower() == "content-encoding":
            encoding = value.strip().lower()
    if not body or encoding in ("", "identity"):
        return body
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:  # raw deflate, as some servers send it
                return zlib.decompress(body, -zlib.MAX_WBITS)
        if encoding == "br" and _brotli is not None:
            return bytes(_brotli.decompress(body))
    except Exception as exc:
        raise BadResponse(f"cannot decode the {encoding} body: {exc}") from exc
    return body  # an encoding we did not offer: passed on as it came
