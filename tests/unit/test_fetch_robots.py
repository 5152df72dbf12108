"""robots.txt parsing and matching (RFC 9309), in tables; the limiter's Crawl-delay floor."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from scrapeline.fetch.limits import HostLimiter, Politeness
from scrapeline.fetch.robots import (
    ALLOW_ALL,
    RobotsRules,
    agent_token,
    parse_robots,
    robots_url,
    rules_for_status,
)

AGENT = "mybot/1.0 (+mailto:me@example.org)"

SITE = """\
# a comment
User-agent: *
Disallow: /private
Allow: /private/open
Disallow: /*?sort=
Disallow: /*.pdf$
Crawl-delay: 1.5

User-agent: MyBot
User-agent: otherbot
Disallow: /mine-only
Crawl-delay: 4

User-agent: strictbot
Disallow: /
Allow: /public

Sitemap: https://example.org/sitemap.xml
"""


@pytest.mark.parametrize(
    ("agent", "path", "allowed"),
    [
        # the '*' group
        ("somebot/2", "/", True),
        ("somebot/2", "/private", False),
        ("somebot/2", "/private/x", False),
        ("somebot/2", "/private/open/1", True),  # longer Allow beats shorter Disallow
        ("somebot/2", "/list?sort=date", False),  # '*' wildcard
        ("somebot/2", "/list?page=2", True),
        ("somebot/2", "/doc.pdf", False),  # '$' anchor
        ("somebot/2", "/doc.pdf?x=1", True),
        ("somebot/2", "/%70rivate", False),  # compared percent-decoded
        ("somebot/2", "/robots.txt", True),
        # our own group (case-insensitive product token), and only it
        (AGENT, "/mine-only/1", False),
        (AGENT, "/private", True),
        ("OtherBot", "/mine-only", False),
        # Disallow: / with a more specific Allow
        ("strictbot", "/public/page", True),
        ("strictbot", "/elsewhere", False),
        ("strictbot", "/robots.txt", True),
    ],
)
def test_rules_for_an_agent(agent: str, path: str, allowed: bool) -> None:
    assert parse_robots(SITE, agent).allows(path) is allowed


@pytest.mark.parametrize(
    ("text", "agent", "delay"),
    [
        (SITE, "somebot", 1.5),
        (SITE, AGENT, 4.0),
        (SITE, "strictbot", None),
        ("User-agent: *\nCrawl-delay: soon\n", "a", None),
        ("User-agent: *\nCrawl-delay: -1\n", "a", None),
        ("User-agent: *\nCrawl-delay: 0.5\n", "a", 0.5),
    ],
)
def test_crawl_delay(text: str, agent: str, delay: float | None) -> None:
    assert parse_robots(text, agent).crawl_delay == delay


@pytest.mark.parametrize(
    ("text", "path", "allowed"),
    [
        ("", "/x", True),
        ("User-agent: otherbot\nDisallow: /\n", "/x", True),  # no group for us, no '*'
        ("User-agent: *\nDisallow:\n", "/x", True),  # empty Disallow allows all
        ("Disallow: /x\n", "/x", True),  # a rule before any User-agent belongs to nobody
        ("User-agent: *\nDisallow: /x\nnonsense line\nAllow: /x/y\n", "/x/y", True),
        ("User-agent: *\nDisallow: /a\nAllow: /a\n", "/a", True),  # a tie goes to Allow
        ("User-agent: a\nDisallow: /x\nUser-agent: *\nDisallow: /y\n", "/y", True),
        ("User-agent: *\r\nDisallow: /x # trailing comment\r\n", "/x/1", False),
    ],
)
def test_edge_cases(text: str, path: str, allowed: bool) -> None:
    assert parse_robots(text, "a/1").allows(path) is allowed


@pytest.mark.parametrize(
    ("agent", "token"),
    [
        ("scrapeline/0.1 (+https://github.com/scrapeline)", "scrapeline"),
        ("MyBot", "mybot"),
        ("  Some Bot/2", "some"),
    ],
)
def test_agent_token(agent: str, token: str) -> None:
    assert agent_token(agent) == token


def test_allows_url_checks_path_and_query() -> None:
    rules = parse_robots(SITE, "somebot")
    assert not rules.allows_url("http://h:1/list?sort=date")
    assert rules.allows_url("http://h:1/list")


def test_robots_url_drops_path_query_and_credentials() -> None:
    assert robots_url("http://u:p@h.test:8080/a/b?c=1") == "http://h.test:8080/robots.txt"


@pytest.mark.parametrize(
    ("status", "allowed"),
    [(200, False), (204, False), (401, True), (403, True), (404, True), (410, True), (503, True)],
)
def test_rules_for_status(status: int, allowed: bool) -> None:
    rules = rules_for_status(status, "User-agent: *\nDisallow: /\n", "a")
    assert rules.allows("/x") is allowed
    if allowed:
        assert rules == ALLOW_ALL


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def test_limiter_floor_spaces_starts_and_counts_from_now() -> None:
    clock = FakeClock()
    limiter = HostLimiter(Politeness(rate="10/s"), clock=clock, sleep=clock.sleep)
    limiter.at_least(2.0)
    limiter.at_least(1.0)  # only raises
    assert limiter.min_gap == 2.0
    starts = []
    for _ in range(3):
        async with limiter.slot():
            starts.append(clock())
    assert starts[0] == pytest.approx(102.0)  # the robots.txt request counted as the last
    assert [b - a for a, b in itertools.pairwise(starts)] == pytest.approx([2.0, 2.0])


def test_a_file_that_disallows_nothing_costs_nothing_per_request() -> None:
    assert parse_robots("User-agent: *\nAllow: /\nCrawl-delay: 1\n", "a") == RobotsRules(
        crawl_delay=1.0
    )
