"""Each shape of secret is hidden, and nothing else is: the decisions, table by table."""

from __future__ import annotations

import io

import pytest

from scrapeline.secrets import (
    MIN_SECRET_LENGTH,
    REDACTED,
    SENSITIVE_HEADERS,
    RedactingWriter,
    basic_credentials,
    collect_secrets,
    is_sensitive_header,
    redact,
    redact_headers,
    strip_credentials,
)


def test_the_constants_users_see() -> None:
    assert REDACTED == "***"
    assert MIN_SECRET_LENGTH == 4
    assert {"authorization", "proxy-authorization", "cookie", "set-cookie"} == SENSITIVE_HEADERS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://u:p@h/x", "http://***@h/x"),
        ("https://user@h", "https://***@h"),  # a user name alone is hidden too
        ("socks5h://a:b@proxy:1080", "socks5h://***@proxy:1080"),
        ("git+ssh://a:b@h", "git+ssh://***@h"),
        ("(http://a:b@h)", "(http://***@h)"),
        ("x http://a:b@h y https://c:d@i z", "x http://***@h y https://***@i z"),
        ("http://h/p@q", "http://h/p@q"),  # '@' in the path
        ("http://h?u=a:b@c", "http://h?u=a:b@c"),  # '@' in the query
        ("http://h#a:b@c", "http://h#a:b@c"),  # '@' in the fragment
        ("http://a b@h", "http://a b@h"),  # whitespace ends a URL
        ("user:pw@host", "user:pw@host"),  # no scheme, no URL
        ("key=http://a:b@h", "key=http://***@h"),
    ],
)
def test_strip_credentials(text: str, expected: str) -> None:
    assert strip_credentials(text) == expected


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("token a-zz12-b", ["zz12", "a-zz12-b"], "token ***"),  # longest first, not A-Z
        ("token a-zz12-b", ["a-zz12-b", "zz12"], "token ***"),
        ("k=zz12 and a-zz12-b", ["zz12", "a-zz12-b"], "k=*** and ***"),
        ("twice s3cr3t s3cr3t", ["s3cr3t"], "twice *** ***"),
        ("two s3cr3t and pa55", ["pa55", "s3cr3t"], "two *** and ***"),
        ("none", [], "none"),
        ("http://u:p@h key=abcd", ["abcd"], "http://***@h key=***"),
    ],
)
def test_redact(text: str, secrets: list[str], expected: str) -> None:
    assert redact(text, secrets) == expected


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [
        ("AUTHORIZATION", True),
        ("Cookie", True),
        ("x-goog-api-key", True),
        ("X-Amz-Security-Token", True),
        ("X-Hub-Signature-256", True),
        ("X-Db-Password", True),
        ("X-Passwd", True),
        ("X-Csrf-Credential", True),
        ("X-Session", True),
        ("Proxy-Authenticate", True),  # "auth"
        ("X-Secret", True),
        ("Accept-Language", False),
        ("Content-Type", False),
        ("Referer", False),
    ],
)
def test_is_sensitive_header(name: str, sensitive: bool) -> None:
    assert is_sensitive_header(name) is sensitive


def test_redact_headers_keeps_names_and_order_and_redacts_the_rest() -> None:
    class Name(str):
        pass

    headers = {Name("X-Api-Key"): "k-123456", "Link": "<http://a:b@h/next>", "Age": "3"}
    out = redact_headers(headers, ["k-123456"])
    assert out == {"X-Api-Key": "***", "Link": "<http://***@h/next>", "Age": "3"}
    assert [type(name) for name in out] == [str, str, str]  # plain str, JSON-safe
    assert redact_headers({"Age": "3 k-123456"}) == {"Age": "3 k-123456"}  # no secrets given


def test_basic_credentials() -> None:
    assert basic_credentials("ann", "pa55word") == "YW5uOnBhNTV3b3Jk"
    assert basic_credentials("", "s3cret") == "OnMzY3JldA=="
    assert basic_credentials("zoë", "pässword") == "em/Dqzpww6Rzc3dvcmQ="


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Authorization": "Bearer t0ken-xyz"}, ("Bearer t0ken-xyz", "t0ken-xyz")),
        ({"X-Api-Key": "  k-123456  "}, ("  k-123456  ",)),  # no scheme: the value alone
        (
            {"Authorization": 'Digest username="ann", response="abcd1234"'},
            ('Digest username="ann", response="abcd1234"', 'username="ann", response="abcd1234"'),
        ),
        (  # Basic: the token, and what it decodes to
            {"Authorization": "Basic YW5uOnBhNTV3b3Jk"},
            ("Basic YW5uOnBhNTV3b3Jk", "YW5uOnBhNTV3b3Jk", "ann:pa55word", "pa55word"),
        ),
        (  # the scheme's case does not matter; extra spaces do not either
            {"Authorization": "basic   YW5uOnBhNTV3b3Jk"},
            ("basic   YW5uOnBhNTV3b3Jk", "YW5uOnBhNTV3b3Jk", "ann:pa55word", "pa55word"),
        ),
        (  # a password may hold colons; a user name cannot
            {"Authorization": "Basic " + basic_credentials("ann", "pa:ss55")},
            ("Basic YW5uOnBhOnNzNTU=", "YW5uOnBhOnNzNTU=", "ann:pa:ss55", "pa:ss55"),
        ),
        (  # not base64: nothing decoded, nothing guessed, and no crash
            {"Authorization": "Basic YW5u*OnBhNTV3b3Jk"},
            ("Basic YW5u*OnBhNTV3b3Jk", "YW5u*OnBhNTV3b3Jk"),
        ),
        (  # base64, but not user:password
            {"Authorization": "Basic " + "bm9jb2xvbg=="},
            ("Basic bm9jb2xvbg==", "bm9jb2xvbg=="),
        ),
        (  # base64 of bytes that are not UTF-8
            {"Authorization": "Basic //79/A=="},
            ("Basic //79/A==", "//79/A=="),
        ),
        ({"Accept": "Bearer not-a-secret"}, ()),
    ],
)
def test_collect_secrets_from_headers(headers: dict[str, str], expected: tuple[str, ...]) -> None:
    found = collect_secrets(headers=headers)
    encoded = {v for v in (collect_secrets(extra=[e]) for e in expected) for v in v}
    assert set(found) == set(expected) | encoded


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "http://bob:s3cretpw@127.0.0.1:3128",
            {"s3cretpw", "bob:s3cretpw", basic_credentials("bob", "s3cretpw")},
        ),
        (  # no user name: the password still counts, and what Basic makes of it
            "http://:s3cretpw@proxy:1",
            {"s3cretpw", ":s3cretpw", basic_credentials("", "s3cretpw")},
        ),
        (  # percent-encoded in the URL: both spellings
            "http://b%40b:p%2Fss@h",
            {
                "p%2Fss",
                "p/ss",
                "b%40b:p%2Fss",
                "b@b:p/ss",
                basic_credentials("b@b", "p/ss"),
            },
        ),
        ("http://bob@h", set()),  # a user name without a password is not a secret
        ("http://h:1", set()),
        ("http://[::1/", set()),  # unreadable
    ],
)
def test_collect_secrets_from_urls(url: str, expected: set[str]) -> None:
    found = set(collect_secrets(proxies=[url]))
    assert set(collect_secrets(urls=[url])) == found
    assert expected <= found
    extra = found - expected
    assert all(value.count("%") > 0 for value in extra), extra  # only percent-encoded forms


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["abcd"], ("abcd",)),  # exactly the minimum length
        (["abc"], ()),
        (["abc", "abcd", "abcde"], ("abcde", "abcd")),
        (["a/b"], ("a%2Fb",)),  # the encoded form is long enough, the value is not
        (["a b/c"], ("a%20b%2Fc", "a b/c")),
        (["dup1", "dup1"], ("dup1",)),
    ],
)
def test_collect_secrets_lengths_and_spellings(extra: list[str], expected: tuple[str, ...]) -> None:
    assert collect_secrets(extra=extra) == expected


def test_collect_secrets_cookies_all_count() -> None:
    found = collect_secrets(cookies={"lang": "en-GB", "sid": "c00kie"})
    assert found == ("c00kie", "en-GB")


# -- the writer every command prints through ---------------------------------------------


def test_writer_redacts_whole_lines_even_if_a_secret_comes_in_pieces() -> None:
    out = io.StringIO()
    writer = RedactingWriter(out, ["k-381fd"])
    assert writer.write("key=k-38") == len("key=k-38")
    assert out.getvalue() == ""  # held back until the line ends
    writer.write("1fd done\nnext k-3")
    assert out.getvalue() == "key=*** done\n"
    writer.flush()
    assert out.getvalue() == "key=*** done\nnext k-3"
    writer.flush()  # nothing pending: nothing written twice
    assert out.getvalue() == "key=*** done\nnext k-3"


def test_writer_hides_the_json_spelling_and_url_credentials() -> None:
    out = io.StringIO()
    writer = RedactingWriter(out)
    writer.hide(['pa"ss\\w0rd', ""])
    writer.writelines(['{"v": "pa\\"ss\\\\w0rd"}\n', 'raw pa"ss\\w0rd\n', "http://u:p@h\n"])
    assert out.getvalue() == '{"v": "***"}\nraw ***\nhttp://***@h\n'


def test_writer_hide_adds_to_what_it_hides() -> None:
    out = io.StringIO()
    writer = RedactingWriter(out, ["first-1"])
    writer.hide(["second-2"])
    writer.hide(["first-1"])
    print("first-1 second-2 first-12", file=writer)
    assert out.getvalue() == "*** *** ***2\n"


def test_writer_longer_secrets_first() -> None:
    out = io.StringIO()
    writer = RedactingWriter(out, ["zz12", "a-zz12-b"])
    print("a-zz12-b", file=writer)
    assert out.getvalue() == "***\n"


def test_writer_is_the_stream_for_everything_else() -> None:
    out = io.StringIO()
    writer = RedactingWriter(out)
    assert writer.stream is out
    assert writer.isatty() is False and writer.getvalue() == ""
    assert writer.closed is False


def test_writer_passes_every_complete_line_at_once() -> None:
    out = io.StringIO()
    writer = RedactingWriter(out, ["k-381fd"])
    writer.write("one k-381fd\ntwo\nthree k-3")
    assert out.getvalue() == "one ***\ntwo\n"  # both finished lines, the rest held


def test_writer_redacts_what_a_flush_lets_out() -> None:
    out = io.StringIO()
    writer = RedactingWriter(out, ["k-381fd"])
    writer.write("prompt with k-381fd and http://u:p@h")  # no newline: held until flushed
    writer.flush()
    assert out.getvalue() == "prompt with *** and http://***@h"
