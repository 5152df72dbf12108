from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scrapeline.errors import (
    Blocked,
    Category,
    ContractError,
    FetchError,
    FetchTimeout,
    HostNotAllowed,
    HTTPError,
    NetworkError,
    RateLimited,
)
from scrapeline.fetch.response import Response
from scrapeline.fetch.status import (
    BlockMarkers,
    blocked_marker,
    classify,
    header,
    is_host_failure,
)

NOW = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
HTML = {"Content-Type": "text/html"}
CHALLENGE = b"<html><head><title>Just a moment...</title></head><body>checking</body></html>"


def resp(status: int, body: bytes = b"<p>ok</p>", **headers: str) -> Response:
    merged = {**HTML, **{k.replace("_", "-"): v for k, v in headers.items()}}
    return Response(url="http://site.test/x", status=status, headers=merged, body=body)


@pytest.mark.parametrize(
    ("response", "kind", "category", "retry_after"),
    [
        (resp(200), None, None, None),
        (resp(204, b""), None, None, None),
        (resp(301, b"", Location="/y"), None, None, None),
        (resp(304, b""), None, None, None),
        (resp(429), RateLimited, Category.RATE_LIMITED, None),
        (resp(429, Retry_After="7"), RateLimited, Category.RATE_LIMITED, 7.0),
        (
            resp(429, Retry_After="Wed, 21 Oct 2015 07:28:30 GMT"),
            RateLimited,
            Category.RATE_LIMITED,
            30.0,
        ),
        (resp(429, Retry_After="whenever"), RateLimited, Category.RATE_LIMITED, None),
        (resp(429, CHALLENGE), RateLimited, Category.RATE_LIMITED, None),  # 429 says it all
        (resp(403), Blocked, Category.BLOCKED, None),
        (resp(200, CHALLENGE), Blocked, Category.BLOCKED, None),  # a 200 challenge page
        (resp(503, CHALLENGE), Blocked, Category.BLOCKED, None),  # not retried as a 5xx
        (resp(200, b"<div id=px-captcha></div>"), Blocked, Category.BLOCKED, None),
        (resp(404), HTTPError, Category.HTTP_4XX, None),
        (resp(410), HTTPError, Category.HTTP_4XX, None),
        (resp(451), HTTPError, Category.HTTP_4XX, None),
        (resp(500), HTTPError, Category.HTTP_5XX, None),
        (resp(503), HTTPError, Category.HTTP_5XX, None),
        (resp(599), HTTPError, Category.HTTP_5XX, None),
    ],
)
def test_classify(
    response: Response,
    kind: type[HTTPError] | None,
    category: Category | None,
    retry_after: float | None,
) -> None:
    error = classify(response, now=NOW)
    if kind is None:
        assert error is None
        return
    assert type(error) is kind
    assert error.category is category
    assert error.status == response.status and error.url == response.url
    if isinstance(error, RateLimited):
        assert error.retry_after == retry_after


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (resp(404), "HTTP 404 Not Found · http://site.test/x"),
        (resp(503), "HTTP 503 Service Unavailable · http://site.test/x"),
        (resp(599), "HTTP 599 · http://site.test/x"),
        (resp(403), "blocked: HTTP 403 Forbidden · http://site.test/x"),
        (
            resp(429, Retry_After="2"),
            "HTTP 429 Too Many Requests, retry after 2 s · http://site.test/x",
        ),
        (
            resp(200, CHALLENGE),
            "blocked: anti-bot page (title 'just a moment...') · status 200 · http://site.test/x",
        ),
    ],
)
def test_classify_messages(response: Response, message: str) -> None:
    assert str(classify(response, now=NOW)) == message


BIG = b"<tr><td>data</td></tr>" * 1000  # a real page is larger than a challenge page


@pytest.mark.parametrize(
    ("body", "headers", "found"),
    [
        (CHALLENGE, HTML, "title 'just a moment...'"),
        (
            b"<html><head><TITLE>Attention Required! | Cloudflare</TITLE></head>",
            HTML,
            "title 'attention required! | cloudflare'",
        ),
        (
            b'<title lang="en">Access denied | x.org used Cloudflare to restrict access</title>',
            HTML,
            "title 'access denied | x.org used cloudflare to restrict access'",
        ),
        (CHALLENGE + BIG, HTML, "title 'just a moment...'"),  # titles are checked on any page
        (b"<SCRIPT>window._cf_chl_opt={}</SCRIPT>", HTML, "cf_chl_opt"),
        (b"<iframe src='https://geo.captcha-delivery.com/x'>", HTML, "captcha-delivery.com"),
        (b"<div id=px-captcha></div>" + BIG, HTML, None),  # strings only in small pages
        (CHALLENGE, {}, "title 'just a moment...'"),  # no content type: still HTML
        (CHALLENGE, {"Content-Type": "application/json"}, None),  # JSON is not scanned
        (b"<title>Captchas and Cloudflare, explained</title>", HTML, None),
        (b"<p>an article about captchas and Cloudflare</p>", HTML, None),
        (b"<title>Just a moment", HTML, None),  # a cut-off title is not the challenge
    ],
)
def test_blocked_marker(body: bytes, headers: dict[str, str], found: str | None) -> None:
    response = Response(url="http://h/", status=200, headers=headers, body=body)
    assert blocked_marker(response) == found


def test_custom_markers() -> None:
    body = b"<html><head><title>You are BANNED</title></head><p>go away, robot</p>"
    response = Response(url="http://h/", status=200, headers=HTML, body=body)
    assert blocked_marker(response, BlockMarkers(titles=("banned",))) == "title 'you are banned'"
    assert blocked_marker(response, BlockMarkers(titles=(), strings=("robot",))) == "robot"
    assert blocked_marker(response, BlockMarkers(titles=(), strings=())) is None
    assert classify(response, now=NOW, markers=None) is None


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (None, False),
        (NetworkError("reset"), True),
        (NetworkError("invalid URL", retryable=False), False),
        (FetchTimeout("slow"), True),
        (RateLimited("429"), False),  # answering, not down: the host is slowed instead
        (Blocked("403", status=403), True),
        (HTTPError("x", status=500), True),
        (HTTPError("x", status=503), True),
        (HTTPError("x", status=408), True),
        (HTTPError("x", status=404), False),
        (HTTPError("x", status=400), False),
        (ContractError("no table"), False),
        (HostNotAllowed("nope"), False),
    ],
)
def test_is_host_failure(error: FetchError | None, expected: bool) -> None:
    assert is_host_failure(error) is expected


@pytest.mark.parametrize(
    ("headers", "name", "value"),
    [
        ({"Retry-After": "3"}, "Retry-After", "3"),
        ({"retry-after": "3"}, "Retry-After", "3"),
        ({"RETRY-AFTER": "3"}, "retry-after", "3"),
        ({}, "Retry-After", None),
    ],
)
def test_header_is_case_insensitive(headers: dict[str, str], name: str, value: str | None) -> None:
    assert header(headers, name) == value


@pytest.mark.parametrize(
    ("response", "wanted", "kind"),
    [
        (resp(404), {200, 404}, None),  # "no such match" is an answer the stage handles
        (resp(403), {403}, None),
        (resp(429), {429}, None),
        (resp(503), {200}, HTTPError),
        (resp(404, CHALLENGE), {404}, Blocked),  # a challenge page is never wanted
        (resp(200, CHALLENGE), {200}, Blocked),
    ],
)
def test_classify_hands_back_wanted_statuses(
    response: Response, wanted: set[int], kind: type[HTTPError] | None
) -> None:
    error = classify(response, now=NOW, wanted=wanted)
    assert (type(error) if error else None) is kind
