"""The browser keeps to the declared origins (scheme, host, port), like the HTTP client:
whatever the page asks for (navigation, redirect, script, XHR) on another origin is
aborted before anything is sent, the pipeline's headers go to declared origins only,
and the main document is held to ``max_body``. Real servers on 127.0.0.1: one port
declared, one not, each keeping what it received."""

from __future__ import annotations

import pytest
from aiohttp import web

from scrapeline.errors import Category, ConfigError, HostNotAllowed, ResponseTooLarge
from scrapeline.fetch.response import Request
from tests.browsers import needs_browser
from tests.servers import serve

pytestmark = [needs_browser, pytest.mark.timeout(120)]

TOKEN = "Bearer s3cret-token-for-the-api"


def browser(**kwargs: object):  # type: ignore[no-untyped-def]
    from scrapeline.fetch.browser import BrowserFetcher

    return BrowserFetcher(**kwargs)  # type: ignore[arg-type]


class Recorder:
    """A server that keeps every request's path and headers. ``other`` is the base URL
    its pages point to (set once both servers run)."""

    def __init__(self) -> None:
        self.other = ""
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.app = web.Application()
        self.app.router.add_get("/{tail:.*}", self.page)

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.seen if path != "/favicon.ico"]

    async def page(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.path, dict(request.headers)))
        path = request.path
        if path == "/go":  # the main document, redirected to the other server
            raise web.HTTPFound(f"{self.other}/landed")
        if path == "/hop":  # a redirect on this server first, then to the other one
            raise web.HTTPFound("/go")
        if path == "/script-redirect.js":
            raise web.HTTPFound(f"{self.other}/redirected.js")
        if path == "/page":  # a page asking the other server for a script, an XHR, a frame
            return html(
                f'<script src="{self.other}/script.js"></script>'
                '<script src="/script-redirect.js"></script>'
                f'<iframe src="{self.other}/frame"></iframe>'
                f'<script>fetch("{self.other}/xhr").catch(() => null);'
                'fetch("/own-xhr").then(() => document.body.dataset.done = "1")</script>'
                "<p id=main>main</p>"
            )
        if path == "/big":
            return html("<p>" + "x" * 50_000 + "</p>")
        if path == "/big-chunked":
            response = web.StreamResponse(headers={"Content-Type": "text/html"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            for _ in range(50):
                await response.write(b"<p>" + b"y" * 1000 + b"</p>")
            await response.write_eof()
            return response
        return html(f"<p id=path>{path}</p>")


def html(text: str) -> web.Response:
    return web.Response(
        text=f"<!doctype html><html><body>{text}</body></html>", content_type="text/html"
    )


def authority(url: str) -> str:
    return url.removeprefix("http://")


async def test_a_redirect_to_an_undeclared_port_is_refused_and_nothing_reaches_it() -> None:
    declared, undeclared = Recorder(), Recorder()
    async with serve(declared.app) as base, serve(undeclared.app) as other:
        declared.other = other
        fetcher = browser(base_url=base, hosts=["127.0.0.1"], headers={"Authorization": TOKEN})
        try:
            for path in ("/go", "/hop"):  # first hop, and a later one
                with pytest.raises(HostNotAllowed) as info:
                    await fetcher.fetch(Request(url=f"{base}{path}"))
                assert info.value.category == Category.FORBIDDEN_HOST
                assert f"undeclared origin '{other}'" in str(info.value)
        finally:
            await fetcher.close()
    assert declared.paths == ["/go", "/hop", "/go"]
    assert all(headers.get("Authorization") == TOKEN for _, headers in declared.seen)
    assert undeclared.seen == []


async def test_a_page_on_an_undeclared_port_is_refused() -> None:
    undeclared = Recorder()
    async with serve(undeclared.app) as other:
        fetcher = browser(hosts=["127.0.0.1"])  # port 80 and 443 only
        try:
            with pytest.raises(HostNotAllowed, match="undeclared origin"):
                await fetcher.fetch(Request(url=f"{other}/page"))
        finally:
            await fetcher.close()
    assert undeclared.seen == []


async def test_scripts_xhr_frames_and_their_redirects_to_an_undeclared_port_are_aborted() -> None:
    declared, undeclared = Recorder(), Recorder()
    async with serve(declared.app) as base, serve(undeclared.app) as other:
        declared.other = other
        fetcher = browser(
            base_url=base, headers={"Authorization": TOKEN}, ready_selector="body[data-done]"
        )
        try:
            page = await fetcher.fetch(Request(url=f"{base}/page", headers={"X-Extra": "1"}))
        finally:
            await fetcher.close()
    assert page.status == 200 and page.text_of("#main") == "main"
    assert sorted(declared.paths) == ["/own-xhr", "/page", "/script-redirect.js"]
    for _, headers in declared.seen:
        assert headers.get("Authorization") == TOKEN and headers.get("X-Extra") == "1"
    assert undeclared.seen == []


async def test_headers_go_to_every_declared_origin_and_no_other() -> None:
    declared, second = Recorder(), Recorder()
    async with serve(declared.app) as base, serve(second.app) as other:
        declared.other = other
        fetcher = browser(
            base_url=base,
            hosts=[authority(other)],
            headers={"Authorization": TOKEN},
            ready_selector="body[data-done], #path",
        )
        try:
            landed = await fetcher.fetch(Request(url=f"{base}/go"))  # a declared redirect
            await fetcher.fetch(Request(url=f"{base}/page"))
        finally:
            await fetcher.close()
    assert landed.status == 200 and landed.text_of("#path") == "/landed"
    assert {"/landed", "/script.js", "/xhr", "/frame"} <= set(second.paths)
    assert all(headers.get("Authorization") == TOKEN for _, headers in second.seen)


async def test_without_an_allow_list_headers_go_only_to_the_page_s_own_origin() -> None:
    declared, third = Recorder(), Recorder()
    async with serve(declared.app) as base, serve(third.app) as other:
        declared.other = other
        fetcher = browser(headers={"Authorization": TOKEN}, ready_selector="body[data-done]")
        try:
            await fetcher.fetch(Request(url=f"{base}/page"))
        finally:
            await fetcher.close()
    assert all(headers.get("Authorization") == TOKEN for _, headers in declared.seen)
    assert "/script.js" in third.paths  # no limit on where the page may go ...
    assert all("Authorization" not in headers for _, headers in third.seen)  # ... but no token


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])  # Content-Length, then none
async def test_a_main_document_past_max_body_is_response_too_large(path: str) -> None:
    site = Recorder()
    async with serve(site.app) as base:
        fetcher = browser(base_url=base, max_body=20_000)
        try:
            with pytest.raises(ResponseTooLarge, match="max_body") as info:
                await fetcher.fetch(Request(url=f"{base}{path}"))
            assert info.value.category == Category.TOO_LARGE and not info.value.retryable
            small = await fetcher.fetch(Request(url=f"{base}/small"))
            assert small.text_of("#path") == "/small"
        finally:
            await fetcher.close()


def test_max_body_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="max_body"):
        browser(max_body=0)
