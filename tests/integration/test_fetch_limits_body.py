"""What a body may be: no larger than ``max_body`` (as sent and as decompressed), a
content encoding that decodes, and a charset that may be wrong without failing the
item. Every test talks to a real server on 127.0.0.1."""

from __future__ import annotations

import pytest
from aiohttp import web

from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.retry import RetryPolicy
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
