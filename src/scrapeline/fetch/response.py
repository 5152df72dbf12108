"""Requests and responses: the values that cross the fetcher interface.

>>> r = Response(url="http://127.0.0.1/x", status=200, headers={}, body=b"<p class=a>hi</p>")
>>> r.one("p.a").text()
'hi'

A page's elements are :class:`PageNode` objects: they can be searched in turn, and
an element that is not there is a ``parse`` failure naming the selector and the page:

>>> row = r.css("p")[0]
>>> row.text_of("span", default="-")
'-'
>>> row.one("span")
Traceback (most recent call last):
...
scrapeline.errors.ParseError: no element matches 'span' · http://127.0.0.1/x
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson
from selectolax.lexbor import LexborHTMLParser, LexborNode

from scrapeline.errors import ParseError


class _Missing:
    """The type of "no default given" (None and "" are defaults a stage may want)."""

    __slots__ = ()


_MISSING = _Missing()


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
    """A response as the stage sees it. Parsing happens on first use, once.

    ``unchanged`` is True when the site answered a conditional request with 304 Not
    Modified: this is then the archived response it referred to (its status, headers
    and body as stored), not a new one."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float = 0.0
    attempts: int = 1
    unchanged: bool = False

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
        """The parsed document (selectolax's parser), for what the page nodes do not offer."""
        return LexborHTMLParser(self.body)

    def css(self, selector: str) -> list[PageNode]:
        """Every element matching the CSS selector, in document order (possibly none)."""
        url = self.url
        return [PageNode(node, url) for node in self.html.css(selector)]

    def css_first(self, selector: str) -> PageNode | None:
        """The first element matching, or None."""
        node = self.html.css_first(selector)
        return None if node is None else PageNode(node, self.url)

    first = css_first

    def one(self, selector: str) -> PageNode:
        """The first element matching; ParseError (category ``parse``) naming the
        selector and the page's URL when there is none."""
        node = self.html.css_first(selector)
        if node is None:
            raise ParseError(f"no element matches {selector!r}", url=self.url)
        return PageNode(node, self.url)

    def text_of(self, selector: str, default: str | _Missing = _MISSING) -> str:
        """Stripped text of the first element matching; ``default`` when there is none,
        or ParseError (category ``parse``) naming the selector and URL without one."""
        node = self.html.css_first(selector)
        if node is None:
            if isinstance(default, _Missing):
                raise ParseError(f"no element matches {selector!r}", url=self.url)
            return default
        return node.text(strip=True)


class PageNode:
    """One element of a fetched page: selectolax's node, plus the page's URL so that
    a missing element is reported as a ``parse`` failure of that page.

    Made on demand by :meth:`Response.css` and friends; it holds no copy of the
    document. Not JSON: put its text or attributes into item data, never the node
    (the run fails such an item as ``validation``, naming the field).
    """

    __slots__ = ("node", "url")

    def __init__(self, node: LexborNode, url: str) -> None:
        self.node = node
        """The selectolax node itself, for what this class does not offer."""
        self.url = url
        """The URL of the page the node belongs to."""

    def css(self, selector: str) -> list[PageNode]:
        """Every element under this one matching the CSS selector (possibly none)."""
        url = self.url
        return [PageNode(node, url) for node in self.node.css(selector)]

    def css_first(self, selector: str) -> PageNode | None:
        """The first element under this one matching, or None."""
        node = self.node.css_first(selector)
        return None if node is None else PageNode(node, self.url)

    first = css_first

    def one(self, selector: str) -> PageNode:
        """The first element under this one matching; ParseError (category ``parse``)
        naming the selector and the page's URL when there is none."""
        node = self.node.css_first(selector)
        if node is None:
            raise ParseError(f"no element matches {selector!r}", url=self.url)
        return PageNode(node, self.url)

    def text_of(self, selector: str, default: str | _Missing = _MISSING) -> str:
        """Stripped text of the first element under this one matching; ``default``
        when there is none, or ParseError naming the selector and the URL without one."""
        node = self.node.css_first(selector)
        if node is None:
            if isinstance(default, _Missing):
                raise ParseError(f"no element matches {selector!r}", url=self.url)
            return default
        return node.text(strip=True)

    def text(self, deep: bool = True, separator: str = "", strip: bool = False) -> str:
        """The element's text (with its descendants' when ``deep``), as selectolax gives it."""
        return self.node.text(deep=deep, separator=separator, strip=strip)

    @property
    def attributes(self) -> dict[str, str | None]:
        """The element's attributes (a fresh dict; an attribute without a value is None)."""
        return self.node.attributes

    @property
    def tag(self) -> str | None:
        """The element's tag name, in lower case."""
        return self.node.tag

    @property
    def html(self) -> str | None:
        """The element's outer HTML."""
        return self.node.html

    @property
    def parent(self) -> PageNode | None:
        """The element this one is in (None at the top)."""
        node = self.node.parent
        return None if node is None else PageNode(node, self.url)

    def __repr__(self) -> str:
        return f"<PageNode {self.tag} of {self.url}>"
