"""robots.txt: the decisions the other tables leave open, in tables of their own.

Wildcards that must be matched left to right, a final ``$`` after several ``*``,
comments, bad Crawl-delay lines, the status codes at the edge of 2xx, URLs with an
empty path, and paths with characters that are not valid UTF-8.
"""

from __future__ import annotations

import pytest

from scrapeline.fetch.robots import (
    ALLOW_ALL,
    Rule,
    normalise_path,
    parse_robots,
    robots_url,
    rules_for_status,
)

AGENT = "mybot/1.0 (+mailto:me@example.org)"


def star(*lines: str) -> str:
    return "User-agent: *\n" + "".join(line + "\n" for line in lines)


@pytest.mark.parametrize(
    ("text", "path", "allowed"),
    [
        # '*' pieces are found left to right, each after the one before
        pytest.param(star("Disallow: /*a*b"), "/aba", False, id="leftmost-piece-first"),
        pytest.param(star("Disallow: /*a*b"), "/ba", True, id="pieces-in-order"),
        pytest.param(star("Disallow: /a*a"), "/ab", True, id="piece-after-the-prefix"),
        pytest.param(star("Disallow: /a*a"), "/aba", False, id="piece-after-the-prefix-found"),
        pytest.param(star("Disallow: /*a*a"), "/ab", True, id="second-piece-after-the-first"),
        pytest.param(star("Disallow: /*a*a"), "/aa", False, id="two-pieces-found"),
        pytest.param(star("Disallow: */a"), "/a/b", False, id="piece-at-the-very-start"),
        pytest.param(star("Disallow: */a"), "/b/a", False, id="piece-later"),
        pytest.param(star("Disallow: */a"), "/b", True, id="piece-missing"),
        # a final '$' after several '*': the pieces before the last one are checked too
        pytest.param(star("Disallow: /a*b*c$"), "/axc", True, id="middle-piece-missing"),
        pytest.param(star("Disallow: /a*b*c$"), "/abc", False, id="all-pieces-anchored"),
        pytest.param(star("Disallow: /a*b*c$"), "/abcd", True, id="anchored-end-differs"),
        pytest.param(star("Disallow: /*c*c$"), "/c", True, id="last-piece-not-reused"),
        pytest.param(star("Disallow: /*c*c$"), "/cc", False, id="two-pieces-anchored"),
        pytest.param(star("Disallow: /*c*c$"), "/xcxc", False, id="anchored-with-gaps"),
        # precedence: a final '$' counts as one character of the pattern's length
        pytest.param(
            star("Allow: /page$", "Disallow: /*page*"), "/page", False, id="longer-disallow"
        ),
        pytest.param(star("Allow: /page$", "Disallow: /*page"), "/page", True, id="tie-allows"),
        pytest.param(star("Allow: /page*$", "Disallow: /*page*"), "/page", True, id="longer-allow"),
        # comments: everything from the first '#' on
        pytest.param(star("Disallow: /x # one # two"), "/x/y", False, id="comment"),
        pytest.param(star("Disallow: /x#y#z"), "/x", False, id="comment-without-spaces"),
        # an unreadable Crawl-delay is skipped, and the group goes on
        pytest.param(star("Crawl-delay: soon", "Disallow: /x"), "/x", False, id="bad-delay"),
        pytest.param(
            "User-agent: *\nCrawl-delay: soon\nUser-agent: otherbot\nDisallow: /x\n",
            "/x",
            False,
            id="bad-delay-keeps-the-agent-list-open",
        ),
        # '*' is only the wildcard agent when it is the whole value
        pytest.param("User-agent: XX*XX\nDisallow: /\n", "/", True, id="star-inside-a-name"),
    ],
)
def test_allow_and_deny(text: str, path: str, allowed: bool) -> None:
    assert parse_robots(text, AGENT).allows(path) is allowed


@pytest.mark.parametrize(
    ("text", "delay"),
    [
        pytest.param(star("Crawl-delay: 0"), 0.0, id="zero-is-a-delay"),
        pytest.param(star("Crawl-delay: 0.0", "Disallow: /x"), 0.0, id="zero-with-rules"),
        pytest.param(star("Crawl-delay: -1"), None, id="negative-ignored"),
        pytest.param(star("Crawl-delay: soon", "Crawl-delay: 3"), 3.0, id="bad-then-good"),
        pytest.param(star("Crawl-delay: 2", "Crawl-delay: nan"), 2.0, id="nan-ignored"),
    ],
)
def test_crawl_delay(text: str, delay: float | None) -> None:
    assert parse_robots(text, AGENT).crawl_delay == delay


@pytest.mark.parametrize(
    ("status", "allowed"),
    [(199, True), (200, False), (299, False), (300, True), (301, True), (304, True)],
)
def test_only_a_2xx_answer_has_rules(status: int, allowed: bool) -> None:
    rules = rules_for_status(status, star("Disallow: /"), AGENT)
    assert rules.allows("/x") is allowed
    assert (rules == ALLOW_ALL) is allowed


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://h.test?a=1", False),  # an empty path with a query is '/?a=1'
        ("https://h.test/?a=1", False),
        ("https://h.test/", True),
        ("https://h.test", True),
    ],
)
def test_allows_url_with_an_empty_path(url: str, allowed: bool) -> None:
    assert parse_robots(star("Disallow: /?"), AGENT).allows_url(url) is allowed


@pytest.mark.parametrize("url", ["https://h.test/", "https://h.test/a?b", "http://h.test"])
def test_no_rules_allow_every_url(url: str) -> None:
    assert ALLOW_ALL.allows_url(url) is True
    assert parse_robots(star("Allow: /"), AGENT).allows_url(url) is True


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/a/b", "https://example.org/robots.txt"),
        ("http://h.test:8080", "http://h.test:8080/robots.txt"),
        ("https://u:p@w@h.test/x", "https://h.test/robots.txt"),
    ],
)
def test_robots_url(url: str, expected: str) -> None:
    assert robots_url(url) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/\udce8", "/%E8"),  # a byte that was not UTF-8, decoded with surrogateescape
        ("/a\udc80b", "/a%80b"),
        ("/\ud800", "/%ED%A0%80"),  # a lone surrogate that no decoder made
        ("/\udfff", "/%ED%BF%BF"),
    ],
)
def test_paths_that_are_not_valid_utf8(path: str, expected: str) -> None:
    assert normalise_path(path) == expected


def test_undecodable_paths_match_their_escapes() -> None:
    rules = parse_robots(star("Disallow: /%E8", "Disallow: /%ED%A0%80"), AGENT)
    assert rules.allows("/\udce8x") is False
    assert rules.allows("/\ud800") is False
    assert rules.allows("/\ud801") is True


@pytest.mark.parametrize(
    ("pattern", "path", "matched"),
    [
        ("/a", "/a/b", True),
        ("/a", "/b", False),
        ("/a", "/", False),
        ("/a*c", "/abc", True),
        ("/a*c", "/ab", False),
        ("/a*c", "/b/c", False),
        ("/a$", "/a", True),
        ("/a$", "/ab", False),
        ("/*.pdf$", "/x.pdf", True),
        ("/*.pdf$", "/x.pdf?y", False),
    ],
)
def test_rule_matches(pattern: str, path: str, matched: bool) -> None:
    rule = Rule.compile(False, pattern)
    assert rule.matches(path) is matched
    assert rule.pattern == pattern


def test_a_rule_keeps_its_pattern_as_written() -> None:
    rules = parse_robots(star("Disallow: /%7Ejoe/*.pdf$"), AGENT)
    assert [rule.pattern for rule in rules.rules] == ["/%7Ejoe/*.pdf$"]
    assert rules.rules[0].key == "/~joe/*.pdf$"
