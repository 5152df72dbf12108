"""Secrets stay out of text: URL credentials, sensitive headers, collected values."""

from __future__ import annotations

import logging

import pytest

from scrapeline.errors import NetworkError, PipelineError
from scrapeline.observe.logfile import RedactingFilter
from scrapeline.pipeline import Pipeline
from scrapeline.secrets import (
    basic_credentials,
    collect_secrets,
    is_sensitive_header,
    redact,
    redact_headers,
    strip_credentials,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://u:p@h:1/x", "http://***@h:1/x"),
        ("via https://only-user@h/x and http://a:b@c", "via https://***@h/x and http://***@c"),
        ("mail me@example.org", "mail me@example.org"),  # not a URL
        ("http://h/x?to=a@b", "http://h/x?to=a@b"),  # '@' after the path is not userinfo
        ("no at sign", "no at sign"),
    ],
)
def test_strip_credentials(text: str, expected: str) -> None:
    assert strip_credentials(text) == expected


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("key=abcdef1234", ["abcdef1234"], "key=***"),
        ("abcdef and abcdefgh", ["abcdef", "abcdefgh"], "*** and ***"),  # longest first
        ("nothing here", ["abcdef"], "nothing here"),
        ("empty ignored", [""], "empty ignored"),
        ("http://u:tok3n@h tok3n", ["tok3n"], "http://***@h ***"),
    ],
)
def test_redact(text: str, secrets: list[str], expected: str) -> None:
    assert redact(text, secrets) == expected


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [
        ("Authorization", True),
        ("proxy-authorization", True),
        ("Cookie", True),
        ("Set-Cookie", True),
        ("X-Api-Key", True),
        ("X-Auth-Token", True),
        ("X-Client-Secret", True),
        ("X-Session-Id", True),
        ("Accept", False),
        ("User-Agent", False),
        ("Keep-Alive", False),
        ("Location", False),
    ],
)
def test_is_sensitive_header(name: str, sensitive: bool) -> None:
    assert is_sensitive_header(name) is sensitive


def test_redact_headers_hides_sensitive_values_and_url_credentials() -> None:
    headers = {
        "Authorization": "Bearer t0ken",
        "Set-Cookie": "sid=abc",
        "Location": "http://u:p@h/next?k=sekrit99",
        "Content-Type": "text/html",
    }
    assert redact_headers(headers, ["sekrit99"]) == {
        "Authorization": "***",
        "Set-Cookie": "***",
        "Location": "http://***@h/next?k=***",
        "Content-Type": "text/html",
    }


def test_collect_secrets_finds_header_cookie_and_proxy_secrets() -> None:
    basic = "Basic " + basic_credentials("ann", "pa55word")
    found = collect_secrets(
        headers={
            "X-Api-Key": "key-123456",
            "Authorization": basic,
            "Accept": "text/html",  # not sensitive
        },
        cookies={"session": "c00kie-value", "lang": "en"},  # 'en' too short
        proxies=["http://bob:s%40cret@127.0.0.1:3128", "http://127.0.0.1:3129"],
        extra=["extra-secret"],
    )
    for value in (
        "key-123456",
        basic,
        basic_credentials("ann", "pa55word"),
        "ann:pa55word",
        "pa55word",
        "c00kie-value",
        "s@cret",
        "s%40cret",
        "bob:s@cret",
        basic_credentials("bob", "s@cret"),
        "extra-secret",
    ):
        assert value in found, value
    assert "en" not in found and "text/html" not in found
    assert list(found) == sorted(found, key=len, reverse=True)
    assert len(found) == len(set(found))


def test_collect_secrets_adds_the_percent_encoded_form() -> None:
    assert "a%2Fb%3Dc" in collect_secrets(extra=["a/b=c"])


def test_item_error_messages_never_carry_url_credentials() -> None:
    error = NetworkError("refused by http://u:p@proxy:1", url="http://v:q@site.test/x")
    assert "u:p" not in str(error) and "v:q" not in str(error)
    assert "http://***@site.test/x" in str(error)


def test_log_filter_hides_secrets_and_url_credentials() -> None:
    record = logging.LogRecord(
        "scrapeline.x",
        logging.INFO,
        __file__,
        1,
        "via %s with %s",
        ("http://u:p@h", "t0ken!"),
        None,
    )
    assert RedactingFilter(["t0ken!"]).filter(record)
    assert record.getMessage() == "via http://***@h with ***"


def test_pipeline_collects_its_secrets() -> None:
    pipe = Pipeline(
        "p",
        base_url="http://127.0.0.1:1",
        headers={"X-Api-Key": "api-key-9"},
        cookies={"sid": "cookie-9"},
        proxies=["http://u:proxy-pw-9@127.0.0.1:2"],
        secrets=["extra-9999"],
    )
    found = pipe.secret_values()
    assert {"api-key-9", "cookie-9", "proxy-pw-9", "extra-9999"} <= set(found)


def test_pipeline_refuses_a_secret_too_short_to_hide_without_showing_it() -> None:
    with pytest.raises(PipelineError, match="secret number 2 is shorter") as info:
        Pipeline("p", secrets=["long-enough", "xy"])
    assert "xy" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("id9http://u:p@h/x", "id9http://***@h/x"),  # a URL right after a digit
        ("_http://u:p@h/x", "_http://***@h/x"),  # ... or an underscore
        ("key=1https://u:p@h", "key=1https://***@h"),
    ],
)
def test_credentials_are_stripped_wherever_a_url_starts(text: str, shown: str) -> None:
    assert strip_credentials(text) == shown
