"""What a response says about itself: ok, an HTTP error, rate limiting, or a block.

Pure functions over a :class:`Response`; the client calls :func:`classify` on every
response (after each redirect hop) and :func:`is_host_failure` to feed the breaker.

Rules, in order:

1. 429 → :class:`RateLimited`, ``retry_after`` read from the ``Retry-After`` header.
2. An HTML page carrying a typical anti-bot marker (a Cloudflare, DataDome,
   PerimeterX, Incapsula, Akamai or Sucuri challenge/denial page), whatever its
   status → :class:`Blocked`. Only the first 16 KiB of the body are searched: the
   markers sit in the head of those pages, and a large page costs nothing extra.
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
from collections.abc import Iterable, Mapping, Set
from datetime import datetime
from http import HTTPStatus

from scrapeline.errors import (
    Blocked,
    FetchError,
    FetchTimeout,
    HTTPError,
    NetworkError,
    RateLimited,
)
from scrapeline.fetch.response import Response
from scrapeline.fetch.retry import RETRY_STATUSES, parse_retry_after

REDIRECT_STATUSES: frozenset[int] = frozenset({301, 302, 303, 307, 308})

BLOCK_MARKERS: tuple[str, ...] = (
    "<title>Just a moment...</title>",  # Cloudflare challenge
    "Attention Required! | Cloudflare",
    "cf-browser-verification",
    "cf_chl_opt",
    "captcha-delivery.com",  # DataDome
    "px-captcha",  # PerimeterX / HUMAN
    "_Incapsula_Resource",  # Imperva Incapsula
    "Incapsula incident ID",
    "errors.edgesuite.net",  # Akamai "Access Denied" reference page
    "Sucuri WebSite Firewall - Access Denied",
    "distil_r_captcha",  # Distil Networks
)
"""Strings that appear on anti-bot challenge pages and not on ordinary pages."""

SCAN_BYTES = 16 * 1024
_SCANNED_TYPES = frozenset({"", "text/html", "application/xhtml+xml"})


def compile_markers(markers: Iterable[str]) -> re.Pattern[bytes] | None:
    """One case-insensitive pattern matching any of ``markers`` (None if there are none)."""
    escaped = [re.escape(m.encode()) for m in markers if m]
    return re.compile(b"|".join(escaped), re.IGNORECASE) if escaped else None


_DEFAULT_PATTERN = compile_markers(BLOCK_MARKERS)


def blocked_marker(
    response: Response, pattern: re.Pattern[bytes] | None = _DEFAULT_PATTERN
) -> str | None:
    """The anti-bot marker found in an HTML response, or None."""
    if pattern is None or response.content_type not in _SCANNED_TYPES:
        return None
    found = pattern.search(response.body, 0, SCAN_BYTES)
    return found.group().decode(errors="replace") if found else None


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
    markers: re.Pattern[bytes] | None = _DEFAULT_PATTERN,
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
        return Blocked(f"blocked: anti-bot page ({marker!r})", status=status, url=url)
    if status in wanted:
        return None
    if status == 403:
        return Blocked(f"blocked: {_reason(status)}", status=status, url=url)
    if status >= 400:
        return HTTPError(_reason(status), status=status, url=url)
    return None


def is_host_failure(error: FetchError | None) -> bool:
    """Whether a failure says the *host* is in trouble (counts toward its breaker).

    Connection errors, timeouts, 5xx, 429 and blocks do; a 404 or a broken contract is
    the host answering normally, as does any usable response (``None``).
    """
    if isinstance(error, NetworkError):
        return error.retryable  # an invalid URL says nothing about the host
    if isinstance(error, FetchTimeout | RateLimited | Blocked):
        return True
    if isinstance(error, HTTPError):
        return error.status is not None and (error.status >= 500 or error.status in RETRY_STATUSES)
    return False
