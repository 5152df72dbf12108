"""robots.txt: which URLs of a host a crawler may fetch, and how slowly.

Pure: :func:`parse_robots` turns the file's text into :class:`RobotsRules` for one
user agent, :func:`rules_for_status` decides what an answer that is not a 2xx means.
The client fetches ``/robots.txt`` once per host and run and applies the rules to
every request (see :mod:`scrapeline.fetch.client`).

    >>> rules = parse_robots(
    ...     "User-agent: *\\nDisallow: /private\\nAllow: /private/open\\nCrawl-delay: 2\\n",
    ...     "mybot/1.0 (+mailto:me@example.org)",
    ... )
    >>> rules.allows("/private/x"), rules.allows("/private/open/1"), rules.allows("/")
    (False, True, True)
    >>> rules.crawl_delay
    2.0

Matching follows RFC 9309, as the big search engines do, rather than
:mod:`urllib.robotparser` (which takes the *first* matching rule and treats ``*``
literally, so ``Disallow: /*?sort=`` would never apply):

- The group for us is the one whose ``User-agent`` is our product token (the user
  agent up to the first ``/``, case-insensitive); several such groups are merged.
  Without one, the ``*`` group(s); without that, everything is allowed.
- The longest matching ``Allow``/``Disallow`` pattern wins; on a tie, ``Allow``.
  ``*`` matches any run of characters, a final ``$`` anchors the end. Patterns and
  paths are compared percent-decoded. An empty ``Disallow:`` allows everything.
- ``/robots.txt`` itself is always allowed.
- ``Crawl-delay`` (not in the RFC, widely used) is seconds between requests.

What an answer means (:func:`rules_for_status`): 2xx → the rules in the body; 4xx →
no rules (RFC 9309: the file is "unavailable"); 5xx → no rules either, which the
client logs at WARNING (the RFC would have us stop: we prefer to go on and say so).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

ROBOTS_PATH = "/robots.txt"


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``Allow`` or ``Disallow`` line."""

    allow: bool
    pattern: str
    """As written (its length decides which rule wins)."""
    regex: re.Pattern[str] | None
    """Compiled when the pattern has ``*`` or ``$``; None for a plain prefix."""
    prefix: str
    """The percent-decoded pattern, for plain prefixes."""

    def matches(self, path: str) -> bool:
        if self.regex is None:
            return path.startswith(self.prefix)
        return self.regex.match(path) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class RobotsRules:
    """The rules of one host for one user agent. ``RobotsRules()`` allows everything."""

    rules: tuple[Rule, ...] = ()
    crawl_delay: float | None = None

    def allows(self, path: str) -> bool:
        """Whether ``path`` (path and query of a URL, e.g. ``/a?b=1``) may be fetched."""
        if not self.rules:
            return True
        path = unquote(path) or "/"
        if path == ROBOTS_PATH:
            return True
        best: Rule | None = None
        for rule in self.rules:
            if rule.matches(path) and (
                best is None
                or len(rule.pattern) > len(best.pattern)
                or (len(rule.pattern) == len(best.pattern) and rule.allow)
            ):
                best = rule
        return best is None or best.allow

    def allows_url(self, url: str) -> bool:
        """Whether the absolute ``url`` may be fetched (its path and query are checked)."""
        if not self.rules:
            return True
        parts = urlsplit(url)
        return self.allows(f"{parts.path}?{parts.query}" if parts.query else parts.path)


ALLOW_ALL = RobotsRules()


def agent_token(user_agent: str) -> str:
    """The product token robots.txt groups are matched against: ``mybot/1.0 (...)`` →
    ``mybot`` (lower case)."""
    token = re.split(r"[/\s]", user_agent.strip(), maxsplit=1)[0]
    return token.lower()


def robots_url(url: str) -> str:
    """The robots.txt URL of the host serving ``url``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{ROBOTS_PATH}"


def rules_for_status(status: int, body: str, user_agent: str) -> RobotsRules:
    """The rules an answer for robots.txt amounts to (see the module docstring)."""
    if 200 <= status < 300:
        return parse_robots(body, user_agent)
    return ALLOW_ALL


def _compile(allow: bool, pattern: str) -> Rule:
    decoded = unquote(pattern)
    if "*" not in decoded and not decoded.endswith("$"):
        return Rule(allow, pattern, None, decoded)
    anchored = decoded.endswith("$")
    body = decoded[:-1] if anchored else decoded
    regex = ".*".join(re.escape(piece) for piece in body.split("*"))
    return Rule(allow, pattern, re.compile(regex + (r"\Z" if anchored else "")), decoded)


@dataclass(slots=True)
class _Group:
    agents: list[str]
    rules: list[Rule]
    delay: float | None = None


def _groups(text: str) -> list[_Group]:
    groups: list[_Group] = []
    current: _Group | None = None
    in_agents = False  # the last line was a User-agent line: more of them join the group
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "user-agent":
            if current is None or not in_agents:
                current = _Group([], [])
                groups.append(current)
            current.agents.append(agent_token(value) if value != "*" else "*")
            in_agents = True
            continue
        in_agents = False
        if current is None:
            continue  # rules before any User-agent line belong to nobody
        if key in ("allow", "disallow"):
            if value:
                current.rules.append(_compile(key == "allow", value))
        elif key == "crawl-delay":
            try:
                delay = float(value)
            except ValueError:
                continue
            if math.isfinite(delay) and delay >= 0:
                current.delay = delay
    return groups


def parse_robots(text: str, user_agent: str) -> RobotsRules:
    """The rules in a robots.txt ``text`` for ``user_agent`` (see the module docstring).

    Never raises: lines that do not parse are skipped, as crawlers do.
    """
    groups = _groups(text)
    token = agent_token(user_agent)
    mine = [g for g in groups if token in g.agents]
    if not mine:
        mine = [g for g in groups if "*" in g.agents]
    if not mine:
        return ALLOW_ALL
    rules = tuple(rule for group in mine for rule in group.rules)
    if all(rule.allow for rule in rules):
        rules = ()  # nothing disallowed: skip matching on every request
    delays = [g.delay for g in mine if g.delay is not None]
    return RobotsRules(rules=rules, crawl_delay=max(delays) if delays else None)
