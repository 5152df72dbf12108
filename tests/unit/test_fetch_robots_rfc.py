"""robots.txt against RFC 9309: grouping, percent-encoding, special characters, lengths.

Each row is (robots.txt, agent, path, allowed). Paths are what a URL carries: its path
and query, percent-encoded or not.
"""

from __future__ import annotations

import timeit

import pytest

from scrapeline.fetch.robots import RobotsRules, Rule, parse_robots

A = "a/1.0"


def _file(*lines: str) -> str:
    return "".join(line + "\n" for line in lines)


# The defects reported against the parser: each row failed before the fix.
REPORTED = [
    # §2.2.4: a Sitemap or unknown line between User-agent lines does not end the group
    pytest.param(
        _file("User-agent: a", "Sitemap: https://e.com/s.xml", "User-agent: b", "Disallow: /"),
        "a",
        "/x",
        False,
        id="sitemap-inside-agent-lines",
    ),
    pytest.param(
        _file("User-agent: a", "Foo: bar", "User-agent: b", "Disallow: /"),
        "a",
        "/x",
        False,
        id="unknown-line-inside-agent-lines",
    ),
    pytest.param(
        _file("User-agent: a", "Crawl-delay: 3", "User-agent: b", "Disallow: /"),
        "a",
        "/x",
        False,
        id="crawl-delay-inside-agent-lines",
    ),
    # §2.2.2: reserved characters' escapes are not their characters
    pytest.param(
        _file("User-agent: *", "Allow: /a%2fb.html", "Disallow: /"),
        A,
        "/a/b.html",
        False,
        id="escaped-slash-is-not-slash",
    ),
    pytest.param(_file("User-agent: *", "Disallow: /a?"), A, "/a%3Fb", True, id="escaped-query"),
    # §2.2.3: %24 and %2A are a literal $ and *, not the end anchor and the wildcard
    pytest.param(
        _file("User-agent: *", "Disallow: /path/foo-%24"),
        A,
        "/path/foo-$",
        False,
        id="escaped-dollar-is-literal",
    ),
    pytest.param(
        _file("User-agent: *", "Disallow: /path/file-with-a-%2A.html"),
        A,
        "/path/file-with-a-*.html",
        False,
        id="escaped-star-is-literal",
    ),
    # §2.2.2: the length that decides is the normalised pattern's (%7E is ~)
    pytest.param(
        _file("User-agent: *", "Allow: /~joe/", "Disallow: /%7Ejoe/"),
        A,
        "/~joe/a",
        True,
        id="length-of-normalised-pattern",
    ),
    # invalid UTF-8 octets stay distinct
    pytest.param(
        _file("User-agent: *", "Disallow: /caf%E8"), A, "/caf%E9", True, id="distinct-octets"
    ),
    # a UTF-8 byte-order mark does not hide the first line
    pytest.param("\ufeffUser-agent: *\nDisallow: /\n", A, "/x", False, id="byte-order-mark"),
]


@pytest.mark.parametrize(("text", "agent", "path", "allowed"), REPORTED)
def test_reported_cases(text: str, agent: str, path: str, allowed: bool) -> None:
    assert parse_robots(text, agent).allows(path) is allowed


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://h/search?", False),  # the '?' of an empty query is part of the URL
        ("http://h/search?#frag", False),
        ("http://h/search?q=1", False),
        ("http://h/search", True),
        ("http://h/search#a?b", True),  # a '?' in the fragment is no query
        ("http://h", True),
    ],
)
def test_empty_query_is_kept(url: str, allowed: bool) -> None:
    rules = parse_robots(_file("User-agent: *", "Disallow: /search?"), A)
    assert rules.allows_url(url) is allowed


SLASH_VS_ESCAPE = _file("User-agent: *", "Allow: /a%2fb.html", "Disallow: /")
TILDE = _file("User-agent: *", "Disallow: /%7Ejoe/")
CAFE = _file("User-agent: *", "Disallow: /caf%E8")
UNICODE = _file("User-agent: *", "Disallow: /foo/bar/ツ")
UNICODE_ESCAPED = _file("User-agent: *", "Disallow: /foo/bar/%E3%83%84")
UNRESERVED = _file("User-agent: *", "Disallow: /foo/bar/%62%61%7A")
QUERY = _file("User-agent: *", "Disallow: /foo/bar?qux=taz&baz=http://foo.bar?tar&par")
DOLLAR = _file("User-agent: *", "Disallow: /a$b")


@pytest.mark.parametrize(
    ("text", "path", "allowed"),
    [
        (SLASH_VS_ESCAPE, "/a%2Fb.html", True),
        (SLASH_VS_ESCAPE, "/a%2fb.html", True),  # the hex of an escape is case-insensitive
        (SLASH_VS_ESCAPE, "/a/b.html", False),
        (_file("User-agent: *", "Disallow: /a?"), "/a?b", False),
        (TILDE, "/~joe/", False),
        (TILDE, "/%7ejoe/", False),
        (TILDE, "/%7Ejoe/", False),
        (CAFE, "/caf%E8", False),
        (CAFE, "/caf%e8", False),
        (CAFE, "/caf%E9", True),
        (CAFE, "/café", True),  # é is %C3%A9 in UTF-8
        (UNICODE, "/foo/bar/%E3%83%84", False),  # raw UTF-8 in the file is percent-encoded
        (UNICODE, "/foo/bar/ツ", False),  # and in the path
        (UNICODE_ESCAPED, "/foo/bar/ツ", False),
        (UNICODE_ESCAPED, "/foo/bar/%e3%83%84", False),
        (UNRESERVED, "/foo/bar/baz", False),  # %62%61%7A are unreserved: b, a, z
        (UNRESERVED, "/foo/bar/%62%61%7a", False),
        (QUERY, "/foo/bar?qux=taz&baz=http://foo.bar?tar&par", False),
        (QUERY, "/foo/bar?qux=taz", True),
        (DOLLAR, "/a$b", False),  # a '$' that does not end the pattern is a character
        (DOLLAR, "/a%24b", False),
        (DOLLAR, "/a", True),
        (_file("User-agent: *", "Disallow: /a b"), "/a%20b", False),  # spaces are encoded
        (_file("User-agent: *", "Disallow: /100%"), "/100%25", False),  # so is a lone '%'
        (_file("User-agent: *", "Disallow: /path/foo-%24"), "/path/foo-%24", False),
        (_file("User-agent: *", "Disallow: /path/foo-%24"), "/path/foo-", True),
        (_file("User-agent: *", "Disallow: /a%2A"), "/abc", True),  # not a wildcard
        (_file("User-agent: *", "Disallow: /a*"), "/a%2A", False),
    ],
)
def test_percent_encoding(text: str, path: str, allowed: bool) -> None:
    assert parse_robots(text, A).allows(path) is allowed


GROUPS = """\
allow: /foo/bar/

user-agent: FooBot
disallow: /
allow: /x/
user-agent: BarBot
disallow: /
allow: /y/


allow: /w/
user-agent: BazBot

user-agent: FooBot
allow: /z/
disallow: /
"""


@pytest.mark.parametrize(
    ("text", "agent", "path", "allowed"),
    [
        # groups: blank lines end nothing; a rule ends the list of agents; same-agent
        # groups are merged; rules before any User-agent belong to nobody
        (GROUPS, "FooBot", "/x/b", True),
        (GROUPS, "FooBot", "/z/d", True),
        (GROUPS, "FooBot", "/y/c", False),
        (GROUPS, "FooBot", "/foo/bar/", False),
        (GROUPS, "BarBot", "/y/c", True),
        (GROUPS, "BarBot", "/w/a", True),
        (GROUPS, "BarBot", "/z/d", False),
        (GROUPS, "BazBot", "/z/d", True),
        (GROUPS, "BazBot", "/x/b", False),
        # the product token, case-insensitively, on both sides
        ("USER-AGENT: FOOBOT\nDISALLOW: /x\n", "foobot/2.1", "/x", False),
        ("User-agent: FooBot/1.0\nDisallow: /x\n", "FooBot", "/x", False),
        ("User-agent: *\nDisallow: /\nUser-agent: Foo Bar\nAllow: /x/\n", "Foo", "/x/y", True),
        # '*' only without a group of our own, even one with no rules
        ("User-agent: *\nAllow: /\nUser-agent: FooBot\nDisallow: /\n", "FooBot", "/", False),
        ("User-agent: *\nDisallow: /\nUser-agent: FooBot\nCrawl-delay: 1\n", "FooBot", "/", True),
        ("User-agent: FooBot\nDisallow: /\n", "QuxBot", "/", True),
        # lines: a colon may be missing; CR ends a line; keys are case-insensitive
        ("user-agent FooBot\ndisallow /\n", "FooBot", "/x/y", False),
        ("foo: FooBot\nbar: /\n", "FooBot", "/x/y", True),
        ("User-agent: *\rDisallow: /x\r", "FooBot", "/x", False),
        ("User-agent: *\nDisallow: /foo/quz#qux\nAllow: /\n", "a", "/foo/quz", False),
        ("User-agent: *\nDisallow: /foo/quz#qux\nAllow: /\n", "a", "/foo/bar", True),
        # values are case-sensitive
        ("User-agent: *\nDisallow: /X/\n", "a", "/x/", True),
        # longest match, Allow on a tie
        ("User-agent: *\nAllow: /page\nDisallow: /*.html\n", "a", "/page.html", False),
        ("User-agent: *\nAllow: /page\nDisallow: /*.html\n", "a", "/page", True),
        ("User-agent: *\nAllow: /x/page.\nDisallow: /*.html\n", "a", "/x/page.html", True),
        ("User-agent: *\nAllow: /x/page.\nDisallow: /*.html\n", "a", "/x/y.html", False),
        ("User-agent: *\nAllow: /\nDisallow: /\n", "a", "/", True),
        ("User-agent: *\nAllow: /$\nDisallow: /\n", "a", "/", True),
        ("User-agent: *\nAllow: /$\nDisallow: /\n", "a", "/page", False),
        # wildcards and anchors
        ("User-agent: *\nDisallow: /foo/bar/quz\nAllow: /foo/*/qux\n", "a", "/foo/bar/quz", False),
        ("User-agent: *\nDisallow: /foo/bar/quz\nAllow: /foo/*/qux\n", "a", "/foo/quz", True),
        ("User-agent: *\nDisallow: /foo/bar$\n", "a", "/foo/bar", False),
        ("User-agent: *\nDisallow: /foo/bar$\n", "a", "/foo/bar/", True),
        ("User-agent: *\nDisallow: /fish*.php\n", "a", "/fishheads/catfish.php?p=1", False),
        ("User-agent: *\nDisallow: /fish*.php\n", "a", "/Fish.PHP", True),
        ("User-agent: *\nDisallow: /*.php$\n", "a", "/folder/any.php", False),
        ("User-agent: *\nDisallow: /*.php$\n", "a", "/filename.php?parameters", True),
        ("User-agent: *\nDisallow: /*.php$\n", "a", "/filename.php5", True),
        ("User-agent: *\nDisallow: /a*b*c$\n", "a", "/a-b-c", False),
        ("User-agent: *\nDisallow: /a*b*c$\n", "a", "/a-c-b", True),
        ("User-agent: *\nDisallow: /a*bc$\n", "a", "/abc", False),
        ("User-agent: *\nDisallow: /a*bc$\n", "a", "/ab", True),
        ("User-agent: *\nDisallow: *.gif\n", "a", "/i/x.gif", False),
        # the file itself, and an empty Disallow
        ("User-agent: *\nDisallow: /\n", "a", "/robots.txt", True),
        ("User-agent: *\nDisallow:\n", "a", "/x", True),
        ("User-agent: *\nDisallow: /\n", "a", "", False),  # an empty path is '/'
    ],
)
def test_rfc_cases(text: str, agent: str, path: str, allowed: bool) -> None:
    assert parse_robots(text, agent).allows(path) is allowed


@pytest.mark.parametrize(
    ("text", "delay"),
    [
        ("User-agent: a\nCrawl-delay: 3\nUser-agent: b\nDisallow: /\n", 3.0),
        ("User-agent: a\nDisallow: /\nUser-agent: a\nCrawl-delay: 5\n", 5.0),
        ("User-agent: *\nCrawl-delay: 2\n", 2.0),
    ],
)
def test_crawl_delay_belongs_to_its_group(text: str, delay: float) -> None:
    assert parse_robots(text, "a").crawl_delay == delay


def test_bytes_decoded_loosely_still_parse() -> None:
    # a BOM read with the wrong charset, or cut short and replaced
    assert not parse_robots("ï»¿User-agent: *\nDisallow: /\n", A).allows("/x")
    assert not parse_robots("\ufffdUser-agent: *\nDisallow: /\n", A).allows("/x")
    # lone surrogates (bytes decoded with surrogateescape) do not raise
    assert parse_robots("User-agent: *\nDisallow: /\udce8\n", A).allows("/caf")


def test_rules_built_by_hand_are_ordered_by_specificity() -> None:
    rules = RobotsRules(rules=(Rule.compile(False, "/"), Rule.compile(True, "/open")))
    assert rules.allows("/open/1") and not rules.allows("/closed")


def test_a_check_takes_microseconds() -> None:
    lines = ["User-agent: *"]
    lines += [f"Disallow: /section{i}/*/page{i}.html$" for i in range(100)]
    lines += [f"Allow: /section{i}/open" for i in range(100)]
    lines += ["Disallow: /*a*a*a*a*a*a*a*a*a*a*b"]  # no catastrophic backtracking
    rules = parse_robots(_file(*lines), A)
    path = "/" + "a" * 2000 + "?q=%E8%2f"
    assert rules.allows(path)
    seconds = min(timeit.repeat(lambda: rules.allows(path), number=100, repeat=3)) / 100
    assert seconds < 0.005  # the old regex matcher took seconds here
    plain = "/section50/x/y/page7.html"
    seconds = min(timeit.repeat(lambda: rules.allows(plain), number=1000, repeat=3)) / 1000
    assert seconds < 0.001
