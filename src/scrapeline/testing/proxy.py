"""A tiny HTTP forward proxy on 127.0.0.1, to rehearse scrapes that go through proxies.

:class:`ForwardProxy` (aiohttp.web) takes absolute-URI requests (``GET
http://host/path HTTP/1.1``, what a client sends an HTTP proxy for an ``http://``
URL), forwards them to the target and relays the answer, ``Set-Cookie`` included.

- ``credentials=("user", "password")``: a request without the matching
  ``Proxy-Authorization: Basic ...`` is answered 407 and not forwarded.
- ``broken=True`` (settable while running): every connection is dropped unanswered.
- ``requests`` counts every request by target URL (refused and dropped ones too),
  ``forwarded`` only those relayed; ``refused`` counts the 407s.
- A target that cannot be reached is answered 502. ``CONNECT`` (tunnels for
  ``https://``) is not supported: 405.

Example::

    from scrapeline.testing import ForwardProxy, RehearsalSite, serve_in_thread

    proxy = ForwardProxy(credentials=("bob", "s3cret"))
    with serve_in_thread(RehearsalSite(latency=None)) as site, serve_in_thread(proxy):
        pipe = Pipeline("p", base_url=site, proxies=[proxy.proxy_url])
        ...
    print(proxy.forwarded)
"""

from __future__ import annotations

import base64
from collections import Counter
from typing import Self

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

__all__ = ["ForwardProxy"]

# Headers that belong to one connection, not to the message (RFC 9110 §7.6.1), plus
# what aiohttp recomputes for the relayed body.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_SHUTDOWN_TIMEOUT = 0.5
_FORWARD_TIMEOUT = 30.0


class ForwardProxy:
    """An HTTP forward proxy for tests; see the module docstring."""

    def __init__(self, *, credentials: tuple[str, str] | None = None, broken: bool = False) -> None:
        self.credentials = credentials
        self.broken = broken
        self.requests: Counter[str] = Counter()
        """Requests per absolute target URL, refused and dropped ones included."""
        self.forwarded = 0
        self.refused = 0
        self._expected = (
            None
            if credentials is None
            else "Basic " + base64.b64encode(":".join(credentials).encode()).decode("ascii")
        )
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, without credentials. RuntimeError if not started."""
        if self._url is None:
            raise RuntimeError("the proxy is not running; call start() first")
        return self._url

    @property
    def proxy_url(self) -> str:
        """The URL to give a client: with ``user:password@`` when credentials are set."""
        url = self.url
        if self.credentials is None:
            return url
        user, password = self.credentials
        return url.replace("://", f"://{user}:{password}@", 1)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0: any free port) and return :attr:`url`."""
        if self._runner is not None:
            raise RuntimeError("the proxy is already running")
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        # The proxy keeps no cookies of its own: Set-Cookie goes back to the client.
        self._session = aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=_FORWARD_TIMEOUT),
        )
        self._url = f"http://{host}:{runner.addresses[0][1]}"
        return self._url

    async def stop(self) -> None:
        """Stop listening and close connections. Idempotent."""
        runner, self._runner, self._url = self._runner, None, None
        session, self._session = self._session, None
        if runner is not None:
            await runner.cleanup()
        if session is not None:
            await session.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        target = request.raw_path  # absolute-form: the whole URL
        self.requests[target] += 1
        if self.broken:
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=499)
        if request.method == "CONNECT":
            return web.Response(status=405, text="CONNECT is not supported")
        if (
            self._expected is not None
            and request.headers.get("Proxy-Authorization") != self._expected
        ):
            self.refused += 1
            return web.Response(
                status=407,
                text="proxy credentials required",
                headers={"Proxy-Authenticate": 'Basic realm="scrapeline-test"'},
            )
        if not target.startswith(("http://", "https://")):
            return web.Response(status=400, text="a proxy needs an absolute URL")
        assert self._session is not None
        headers = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP
        )
        try:
            async with self._session.request(
                request.method,
                target,
                headers=headers,
                data=await request.read() or None,
                allow_redirects=False,
            ) as answer:
                body = await answer.read()
                relayed = CIMultiDict(
                    (k, v) for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP
                )
                status = answer.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return web.Response(status=502, text=f"proxy could not reach {target}: {exc}")
        self.forwarded += 1
        return web.Response(status=status, headers=relayed, body=body)
