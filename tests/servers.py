"""What the fetch tests share: a real aiohttp app served on 127.0.0.1, and a site
that answers conditional requests."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web


@asynccontextmanager
async def serve(app: web.Application, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """Run ``app`` on 127.0.0.1, on a free port (over TLS with ``tls``); yield its base URL."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    scheme = "https" if tls is not None else "http"
    try:
        yield f"{scheme}://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


LAST_MODIFIED = "Wed, 01 May 2024 10:00:00 GMT"


@dataclass
class ConditionalSite:
    """Pages with versions: ``/etag/NAME`` sends an ETag, ``/dated/NAME`` only a
    Last-Modified, ``/plain/NAME`` neither; each answers 304 to its own validators.
    ``/always-304`` answers 304 to anything. Every request's validators are noted."""

    version: dict[str, int] = field(default_factory=dict)
    received: list[tuple[str, str | None, str | None]] = field(default_factory=list)

    def body(self, name: str) -> str:
        return f"<h1>{name} v{self.version.get(name, 1)}</h1>"

    def app(self) -> web.Application:
        async def etag(request: web.Request) -> web.StreamResponse:
            name = self.note(request)
            tag = f'"{name}-v{self.version.get(name, 1)}"'
            if request.headers.get("If-None-Match") == tag:
                return web.Response(status=304, headers={"ETag": tag})
            return web.Response(
                text=self.body(name), content_type="text/html", headers={"ETag": tag}
            )

        async def dated(request: web.Request) -> web.StreamResponse:
            name = self.note(request)
            if request.headers.get("If-Modified-Since") == LAST_MODIFIED:
                return web.Response(status=304)
            return web.Response(
                text=self.body(name),
                content_type="text/html",
                headers={"Last-Modified": LAST_MODIFIED},
            )

        async def plain(request: web.Request) -> web.StreamResponse:
            name = self.note(request)
            return web.Response(text=self.body(name), content_type="text/html")

        async def always_304(request: web.Request) -> web.StreamResponse:
            self.note(request)
            return web.Response(status=304)

        app = web.Application()
        app.router.add_get("/etag/{name}", etag)
        app.router.add_get("/dated/{name}", dated)
        app.router.add_get("/plain/{name}", plain)
        app.router.add_get("/always-304", always_304)
        return app

    def note(self, request: web.Request) -> str:
        self.received.append(
            (
                request.path,
                request.headers.get("If-None-Match"),
                request.headers.get("If-Modified-Since"),
            )
        )
        return request.match_info.get("name", "")
