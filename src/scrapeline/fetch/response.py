"""Requests and responses: the values that cross the fetcher interface.

>>> r = Response(url="http://127.0.0.1/x", status=200, headers={}, body=b"<p class=a>hi</p>")
>>> r.one("p.a").text()
'hi'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson
from selectolax.lexbor import LexborHTMLParser, LexborNode

from scrapeline.errors import ParseError


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One HTTP request. ``stage`` and ``item_key`` only label it (logs, archive).

    ``proxy`` is the proxy URL to send it through (credentials included), chosen by
    the client; None goes direct."""

    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    stage: str | None = None
    item_key: str | None = None
    proxy: str | None = field(default=None, repr=False)


@dataclass(kw_only=True, eq=False)
class Response:
    """A response as the stage sees it. Parsing happens on first use, once."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float = 0.0
    attempts: int = 1

    @cached_property
    def text(self) -> str:
        """The body decoded with the declared charset; UTF-8 (invalid bytes replaced)
        when that charset is unknown, is not a text encoding, or does not fit the bytes
        (servers mislabel pages: a wrong header must not fail the item)."""
        try:
            return self.body.decode(self.encoding)
        except (LookupError, UnicodeError):
            return self.body.decode("utf-8", errors="replace")

    @property
    def encoding(self) -> str:
        ctype = self.headers.get("Content-Type") or self.headers.get("content-type") or ""
        for part in ctype.split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                return value.strip('"')
        return "utf-8"

    @property
    def content_type(self) -> str:
        ctype = self.headers.get("Content-Type") or self.headers.get("content-type") or ""
        return ctype.split(";")[0].strip().lower()

    def json(self) -> Any:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"response is not JSON: {exc}", url=self.url) from exc

    @cached_property
    def html(self) -> LexborHTMLParser:
        return LexborHTMLParser(self.body)

    def css(self, selector: str) -> list[LexborNode]:
        """Every element matching the CSS selector (possibly none)."""
        return list(self.html.css(selector))

    def first(self, selector: str) -> LexborNode | None:
        """The first element matching, or None."""
        return self.html.css_first(selector)

    def one(self, selector: str) -> LexborNode:
        """The first element matching; ParseError naming the selector when there is none."""
        node = self.html.css_first(selector)
        if node is None:
            raise ParseError(f"no element matches {selector!r}", url=self.url)
        return node

    def text_of(self, selector: str) -> str:
        """Stripped text of the first element matching; ParseError when there is none."""
        return self.one(selector).text(strip=True)
