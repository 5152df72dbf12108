"""A lean HTTP/1.1 client: kept-alive connections per origin, parsed by httptools (C).

:class:`~scrapeline.fetch.transport.HttpFetcher` sends direct GET requests through
this client and everything else (proxies, other methods, URLs that need quoting)
through aiohttp. It exists for speed: a GET here costs a fifth of the CPU time of
one through aiohttp, and on a fast site that is most of a crawl's cost.

Contract (the fetcher's; see :mod:`scrapeline.fetch.transport`):

- :meth:`Http1Client.get` puts exactly one request on the wire and returns
  ``(status, headers, body)`` for every status; the body is decoded from gzip or
  deflate (and br when the ``brotli`` package is installed, which is then offered).
- No body grows past ``max_body`` bytes, as sent or as decoded: a Content-Length above
  it fails as soon as the headers are in, a body without one (chunked, or delimited by
  the connection closing) as soon as it passes the limit, and decoding stops at the
  limit (a small gzip body may expand a thousandfold). Past it: :class:`BodyTooLarge`,
  and the connection is closed.
- It raises :class:`OSError` (refused, reset, closed early, TLS), :class:`BadResponse`
  (not HTTP), :class:`UndecodableBody` (a gzip/deflate/br body that does not decode),
  :class:`BodyTooLarge` or :class:`TimeoutError`; the fetcher turns them into
  NetworkError, BadEncoding, ResponseTooLarge and FetchTimeout.
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
from collections.abc import Callable, Iterable
from typing import Any, cast

import httptools

_brotli: Any
try:  # optional, as in aiohttp: offered to servers only when it can be decoded
    _brotli = importlib.import_module("brotli")
except ImportError:  # pragma: no cover - depends on the environment
    _brotli = None

ACCEPT_ENCODING = "gzip, deflate, br" if _brotli is not None else "gzip, deflate"

DEFAULT_MAX_BODY = 32 * 1024 * 1024
"""Bytes a response body may have, as sent and as decoded, unless told otherwise."""

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


class UndecodableBody(BadResponse):
    """The response was framed soundly, but its body does not decode with the
    Content-Encoding the server named: asking again gets the same bytes."""


class BodyTooLarge(Exception):
    """The body passed ``limit`` bytes: as sent (``length`` from Content-Length when the
    server announced it), or once decoded (``decoded``)."""

    def __init__(self, limit: int, *, length: int | None = None, decoded: bool = False) -> None:
        self.limit = limit
        self.length = length
        self.decoded = decoded
        how = "once decoded" if decoded else "as sent"
        if length is not None:
            how = f"Content-Length {length}"
        super().__init__(f"the body is larger than {limit} bytes ({how})")


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; one request at a time."""

    def __init__(self, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.max_body = max_body
        self.size = 0
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
        self.status = status = self.parser.get_status_code()
        if status in (204, 304):  # no body, whatever Content-Length says
            return
        for name, value in self.headers:
            if len(name) == 14 and name.lower() == "content-length":
                length = int(value) if value.strip().isdigit() else 0
                if length > self.max_body:
                    self._too_large(BodyTooLarge(self.max_body, length=length))

    def on_body(self, body: bytes) -> None:
        # The limit costs one addition and one comparison per chunk read.
        self.size += len(body)
        if self.size > self.max_body:
            self._too_large(BodyTooLarge(self.max_body))
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.reusable = self.parser.should_keep_alive()
        self._finish()

    # -- ours ---------------------------------------------------------------------------

    def send(self, data: bytes) -> asyncio.Future[tuple[int, Headers, bytes]]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.headers, self.body, self.headers_done, self.reusable = [], [], False, False
        self.size = 0
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

    def _too_large(self, exc: BodyTooLarge) -> None:
        """Stop reading: drop what came, fail the request once, close the connection."""
        self.body = []
        self.size = self.max_body + 1  # later chunks of this feed are dropped too
        self._fail(exc)
        self.close()


class Http1Client:
    """Pools of kept-alive HTTP/1.1 connections, one per origin. Use in one event loop."""

    def __init__(
        self,
        *,
        limit: int = 100,
        keepalive_timeout: float = 4.0,
        max_body: int = DEFAULT_MAX_BODY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.max_body = max_body
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
        return status, got, decode_body(got, body, self.max_body)

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
        max_body = self.max_body
        _, conn = await loop.create_connection(lambda: _Connection(max_body), host, port, **tls)
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


def decode_body(headers: Iterable[tuple[str, str]], body: bytes, max_body: int) -> bytes:
    """``body`` decoded from its Content-Encoding, at most ``max_body`` bytes of it.

    Raises :class:`BodyTooLarge` past the limit (decoding stops there: a gzip bomb costs
    no more memory than ``max_body``) and :class:`UndecodableBody` when it does not
    decode. An encoding we did not offer is passed on as it came. Shared by both
    transports."""
    encoding = ""
    for name, value in headers:
        if name.lower() == "content-encoding":
            encoding = value.strip().lower()
    if not body or encoding in ("", "identity"):
        return body
    try:
        if encoding in ("gzip", "x-gzip"):
            return _inflate(body, 16 + zlib.MAX_WBITS, max_body)
        if encoding == "deflate":
            try:
                return _inflate(body, zlib.MAX_WBITS, max_body)
            except zlib.error:  # raw deflate, as some servers send it
                return _inflate(body, -zlib.MAX_WBITS, max_body)
        if encoding == "br" and _brotli is not None:
            return _unbrotli(body, max_body)
    except BodyTooLarge:
        raise
    except Exception as exc:
        raise UndecodableBody(f"cannot decode the {encoding} body: {exc}") from exc
    return body


def _inflate(data: bytes, wbits: int, max_body: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(data, max_body + 1)
    if len(out) > max_body:
        raise BodyTooLarge(max_body, decoded=True)
    if not inflater.eof:
        raise zlib.error("incomplete or truncated stream")
    return out


def _unbrotli(data: bytes, max_body: int) -> bytes:
    decompressor = _brotli.Decompressor()
    out: list[bytes] = []
    size = 0
    step = 16 * 1024  # a slice of input at a time bounds what one call can expand to
    for start in range(0, len(data), step):
        part = bytes(decompressor.process(data[start : start + step]))
        size += len(part)
        if size > max_body:
            raise BodyTooLarge(max_body, decoded=True)
        out.append(part)
    if not decompressor.is_finished():
        raise ValueError("incomplete or truncated stream")
    return b"".join(out)
