"""What a response says about itself: ok, an HTTP error, rate limiting, or a block.

Pure functions over a :class:`Response`; the client calls :func:`classify` on every
response (after each redirect hop) and :func:`is_host_failure` to feed the breaker.

Rules, in order:

1. 429 → :class:`RateLimited`, ``retry_after`` read from the ``Retry-After`` header.
2. An HTML page that looks like an anti-bot challenge or denial (Cloudflare,
   DataDome, PerimeterX, Imperva/Incapsula, Akamai, Sucuri, DDoS-Guard), whatever
   its status → :class:`Blocked`. See :class:`BlockMarkers`: the ``<title>`` is
   checked on every HTML page (cheap: one search in the head), vendor strings only
   in small pages, which is what those pages are. A few microseconds a page.
3. 403 → :class:`Blocked`.
4. Any other 4xx → :class:`HTTPError` (``http_4xx``); 5xx → ``http_5xx``.
5. Everything else (1xx, 2xx, 3xx) → ``None``: the response is usable.

A status the caller lists in ``wanted`` (a stage's ``Expect.status``, e.g. 404 for
"no such match") is usable too; an anti-bot page is a block whatever its status.

    >>> from datetime import UTC, datetime
    >>> r = Response(url="http://h/x", status=429, headers={"Retry-After": "2"}, body=b"")
    >>> error = classify(r, now=datetime.now(UTC))
    >>> type(error).__name__, error.retry_after
    ('RateLimited', 2.0)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus

from scrapeline.errors import (
    Blocked,
    FetchError,
    FetchTimeout,
    HTTPError,
    NetworkError,
    ProxyError,
    RateLimited,
)
from scrapeline.fetch.response import Response
from scrapeline.fetch.retry import RETRY_STATUSES, parse_retry_after

REDIRECT_STATUSES: frozenset[int] = frozenset({301, 302, 303, 307, 308})

CHALLENGE_TITLES: tuple[str, ...] = (
    "just a moment...",  # Cloudflare challenge
    "attention required! | cloudflare",
    "please wait... | cloudflare",
    "cloudflare to restrict access",
    "access to this page has been denied",  # PerimeterX / HUMAN
    "pardon our interruption",  # Imperva / Distil
    "sucuri website firewall",
    "ddos-guard",
)
"""Lower-case pieces of the ``<title>`` of challenge and denial pages."""

CHALLENGE_STRINGS: tuple[str, ...] = (
    "cf_chl_opt",  # Cloudflare
    "cf-browser-verification",
    "captcha-delivery.com",  # DataDome
    "px-captcha",  # PerimeterX / HUMAN
    "_Incapsula_Resource",  # Imperva Incapsula
    "Incapsula incident ID",
    "errors.edgesuite.net",  # Akamai "Access Denied" reference
    "distil_r_captcha",  # Distil Networks
)
"""Exact strings found in the body of challenge pages and not in ordinary pages."""

_SCANNED_TYPES = frozenset({"", "text/html", "application/xhtml+xml"})
_HEAD_BYTES = 4096
_TITLE_BYTES = 512


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockMarkers:
    """How to recognise an anti-bot page: title pieces (any case), body strings (exact)
    looked for only in pages of at most ``small_page`` bytes."""

    titles: tuple[str, ...] = CHALLENGE_TITLES
    strings: tuple[str, ...] = CHALLENGE_STRINGS
    small_page: int = 8192
    _titles: re.Pattern[bytes] | None = field(init=False, repr=False, compare=False)
    _strings: tuple[bytes, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pieces = [re.escape(t.lower().encode()) for t in self.titles if t]
        titles = re.compile(b"|".join(pieces)) if pieces else None
        object.__setattr__(self, "_titles", titles)
        object.__setattr__(self, "_strings", tuple(m.encode() for m in self.strings if m))


DEFAULT_BLOCK_MARKERS = BlockMarkers()


def _title(body: bytes) -> bytes | None:
    start = body.find(b"<title", 0, _HEAD_BYTES)
    if start == -1:
        start = body.find(b"<TITLE", 0, _HEAD_BYTES)
        if start == -1:
            return None
    opened = body.find(b">", start, start + _TITLE_BYTES)
    if opened == -1:
        return None
    closed = body.find(b"<", opened, opened + _TITLE_BYTES)
    return body[opened + 1 : closed if closed != -1 else opened + _TITLE_BYTES].lower()


def blocked_marker(
    response: Response, markers: BlockMarkers | None = DEFAULT_BLOCK_MARKERS
) -> str | None:
    """The anti-bot marker found in an HTML response, or None."""
    if markers is None or response.content_type not in _SCANNED_TYPES:
        return None
    body = response.body
    if markers._titles is not None:
        title = _title(body)
        if title and markers._titles.search(title):
            return f"title {title.strip().decode(errors='replace')!r}"
    if len(body) <= markers.small_page:
        for string in markers._strings:
            if string in body:
                return string.decode()
    return None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever the case of its name."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _reason(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def classify(
    response: Response,
    *,
    now: datetime,
    markers: BlockMarkers | None = DEFAULT_BLOCK_MARKERS,
    wanted: Set[int] = frozenset(),
) -> HTTPError | None:
    """The error a response amounts to, or None if it is usable (see the module rules).

    ``now`` (wall clock) is needed to read a ``Retry-After`` given as an HTTP-date.
    """
    status = response.status
    url = response.url
    if status == 429 and status not in wanted:
        retry_after = parse_retry_after(header(response.headers, "Retry-After"), now)
        message = _reason(status)
        if retry_after is not None:
            message += f", retry after {retry_after:g} s"
        return RateLimited(message, url=url, retry_after=retry_after)
    marker = blocked_marker(response, markers)
    if marker is not None:
        return Blocked(f"blocked: anti-bot page ({marker})", status=status, url=url)
    if status in wanted:
        return None
    if status == 403:
        return Blocked(f"blocked: {_reason(status)}", status=status, url=url)
    if status >= 400:
        return HTTPError(_reason(status), status=status, url=url)
    return None


def is_host_failure(error: FetchError | None) -> bool:
    """Whether a failure says the *host* is in trouble (counts toward its breaker).

    Connection errors, timeouts, 5xx and blocks do; a 404 or a broken contract is
    the host answering normally, as does any usable response (``None``). A 429 does
    not either: a host that asks us to slow down is answering, not down (the client
    pauses and slows it instead). A :class:`ProxyError` says nothing about the host:
    the client handles it apart.
    """
    if isinstance(error, ProxyError | RateLimited):
        return False
    if isinstance(error, NetworkError):
        return error.retryable  # an invalid URL says nothing about the host
    if isinstance(error, FetchTimeout | Blocked):
        return True
    if isinstance(error, HTTPError):
        return error.status is not None and (error.status >= 500 or error.status in RETRY_STATUSES)
    return False
