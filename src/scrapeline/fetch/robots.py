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

- A group is one or more ``User-agent`` lines and the rules after them: only an
  ``Allow``/``Disallow`` line ends the list of agents (blank lines, ``Sitemap``,
  ``Crawl-delay`` and unknown lines do not). The group for us is the one whose
  ``User-agent`` is our product token (the user agent up to the first ``/`` or space,
  case-insensitive); several such groups are merged. Without one, the ``*`` group(s);
  without that, everything is allowed.
- The longest matching ``Allow``/``Disallow`` pattern wins; on a tie, ``Allow``.
  ``*`` matches any run of characters, a final ``$`` anchors the end; written as
  ``%2A`` and ``%24`` they are the characters themselves. An empty ``Disallow:``
  allows everything.
- Patterns and paths are compared in one percent-encoded form: escapes of unreserved
  characters (letters, digits, ``-._~``) are decoded, other escapes kept with upper-case
  hex (so ``%2F`` is not ``/``, ``%3F`` not ``?``, ``%E8`` not ``%E9``), other octets
  (non-ASCII as UTF-8, spaces, controls) encoded. A pattern's length is counted in
  that form: ``/%7Ejoe/`` and ``/~joe/`` are the same pattern.
- ``/robots.txt`` itself is always allowed.
- ``Crawl-delay`` (not in the RFC, widely used) is seconds between requests.

    >>> rules = parse_robots("User-agent: *\\nDisallow: /a%2fb\\nDisallow: /*.pdf$\\n", "a")
    >>> rules.allows("/a%2Fb"), rules.allows("/a/b"), rules.allows("/x.pdf")
    (False, True, False)

What an answer means (:func:`rules_for_status`): 2xx → the rules in the body; 4xx →
no rules (RFC 9309: the file is "unavailable"); 5xx → no rules either, which the
client logs at WARNING (the RFC would have us stop: we prefer to go on and say so).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

ROBOTS_PATH = "/robots.txt"

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Characters that stand for themselves in the compared form: unreserved and reserved
# ones (RFC 3986), but for '*' and '$', which a path carries as %2A and %24 so that
# they equal the escapes a pattern must use for them.
_KEPT = r"A-Za-z0-9\-._~:/?#\[\]@!&'()+,;="
_PLAIN_PATH = re.compile(f"[{_KEPT}]*")
_PLAIN_PATTERN = re.compile(f"[{_KEPT}*]*")
_TO_NORMALISE_PATH = re.compile(f"%([0-9A-Fa-f]{{2}})|[^{_KEPT}]")
_TO_NORMALISE_PATTERN = re.compile(f"%([0-9A-Fa-f]{{2}})|[^{_KEPT}*]")


def _octets(char: str) -> bytes:
    try:
        return char.encode("utf-8", "surrogateescape")  # bytes decoded that way come back
    except UnicodeEncodeError:
        return char.encode("utf-8", "surrogatepass")


def _normalise_one(match: re.Match[str]) -> str:
    hexa = match.group(1)
    if hexa is not None:
        char = chr(int(hexa, 16))
        return char if char in _UNRESERVED else "%" + hexa.upper()
    return "".join(f"%{octet:02X}" for octet in _octets(match.group()))


def normalise_path(path: str) -> str:
    """``path`` (path and query of a URL) in the form rules are compared in (see the
    module docstring); an empty path is ``/``."""
    if not path:
        return "/"
    if _PLAIN_PATH.fullmatch(path):
        return path
    return _TO_NORMALISE_PATH.sub(_normalise_one, path)


def _normalise_pattern(pattern: str) -> str:
    """Like :func:`normalise_path`, but a literal ``*`` stays the wildcard."""
    if _PLAIN_PATTERN.fullmatch(pattern):
        return pattern
    return _TO_NORMALISE_PATTERN.sub(_normalise_one, pattern)


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``Allow`` or ``Disallow`` line, ready to match (:meth:`compile`)."""

    allow: bool
    pattern: str
    """As written."""
    key: str
    """Normalised (a final ``$`` included): its length decides which rule wins."""
    prefix: str
    """What a matching path starts with: ``key`` up to its first ``*`` or final ``$``."""
    rest: tuple[str, ...]
    """The pieces of ``key`` after ``*``s (the final ``$`` left out)."""
    anchored: bool
    """Whether the pattern ends with ``$``: the path must end where it does."""
    plain: bool
    """Neither ``*`` nor ``$``: starting with ``prefix`` is matching."""

    @classmethod
    def compile(cls, allow: bool, pattern: str) -> Rule:
        anchored = pattern.endswith("$")
        body = _normalise_pattern(pattern[:-1] if anchored else pattern)
        first, *rest = body.split("*")
        key = body + "$" * anchored
        return cls(allow, pattern, key, first, tuple(rest), anchored, not rest and not anchored)

    def matches(self, path: str) -> bool:
        """Whether the normalised ``path`` (:func:`normalise_path`) matches."""
        return path.startswith(self.prefix) and (self.plain or self._matches_rest(path))

    def _matches_rest(self, path: str) -> bool:
        """The rest of :meth:`matches`, once ``path`` starts with ``prefix``."""
        rest = self.rest
        if not rest:  # anchored, no '*'
            return len(path) == len(self.prefix)
        # Only '*' between the pieces: the leftmost place of each piece is as good as
        # any, so one pass decides (no backtracking, however many '*').
        start, end = len(self.prefix), len(path)
        if self.anchored:
            last = rest[-1]
            end -= len(last)
            if end < start or not path.endswith(last):
                return False
            rest = rest[:-1]
        for piece in rest:
            found = path.find(piece, start, end)
            if found < 0:
                return False
            start = found + len(piece)
        return True


def _specificity(rule: Rule) -> tuple[int, bool]:
    return (-len(rule.key), not rule.allow)


@dataclass(frozen=True, slots=True, kw_only=True)
class RobotsRules:
    """The rules of one host for one user agent. ``RobotsRules()`` allows everything."""

    rules: tuple[Rule, ...] = ()
    """Most specific first: the longest pattern, and of equal ones ``Allow``."""
    crawl_delay: float | None = None

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.rules, key=_specificity))
        if ordered != self.rules:
            object.__setattr__(self, "rules", ordered)

    def allows(self, path: str) -> bool:
        """Whether ``path`` (path and query of a URL, e.g. ``/a?b=1``) may be fetched."""
        if not self.rules:
            return True
        path = normalise_path(path)
        if path == ROBOTS_PATH:
            return True
        for rule in self.rules:  # inlined Rule.matches: most rules fail at the prefix
            if path.startswith(rule.prefix) and (rule.plain or rule._matches_rest(path)):
                return rule.allow
        return True

    def allows_url(self, url: str) -> bool:
        """Whether the absolute ``url`` may be fetched (its path and query are checked;
        the ``?`` of an empty query counts)."""
        if not self.rules:
            return True
        parts = urlsplit(url)
        # The host part cannot hold a '?': one before the fragment starts the query.
        query = "?" in url.partition("#")[0]
        return self.allows(f"{parts.path or '/'}?{parts.query}" if query else parts.path)


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


# Keys as written in the wild: the common misspellings mean what they misspell.
_KEYS = {
    "user-agent": "user-agent",
    "useragent": "user-agent",
    "user agent": "user-agent",
    "allow": "allow",
    "disallow": "disallow",
    "dissallow": "disallow",
    "dissalow": "disallow",
    "disalow": "disallow",
    "diasllow": "disallow",
    "disallaw": "disallow",
    "crawl-delay": "crawl-delay",
}
_LINES = re.compile(r"\r\n|\r|\n")
# What a file's first characters may be besides its text: a UTF-8 byte-order mark,
# as itself, read as Latin-1/cp1252, or cut short and replaced.
_BOM = re.compile("\ufeff|\u00ef\u00bb\u00bf|\ufffd+")


def _key_value(raw: str) -> tuple[str, str] | None:
    line = raw.split("#", 1)[0].strip()
    key, sep, value = line.partition(":")
    if sep:
        return _KEYS.get(key.strip().lower(), ""), value.strip()
    words = line.split()  # 'Disallow /x': a missing colon, accepted as Google does
    if len(words) == 2 and words[0].lower() in _KEYS:
        return _KEYS[words[0].lower()], words[1]
    return None


@dataclass(slots=True)
class _Group:
    agents: list[str]
    rules: list[Rule]
    delay: float | None = None


def _groups(text: str) -> list[_Group]:
    groups: list[_Group] = []
    current: _Group | None = None
    in_agents = False  # no rule since the last User-agent line: more of them join the group
    if match := _BOM.match(text):
        text = text[match.end() :]
    for raw in _LINES.split(text):
        parsed = _key_value(raw)
        if parsed is None:
            continue
        key, value = parsed
        if key == "user-agent":
            if current is None or not in_agents:
                current = _Group([], [])
                groups.append(current)
            current.agents.append(agent_token(value) if value != "*" else "*")
            in_agents = True
        elif current is None:
            continue  # rules before any User-agent line belong to nobody
        elif key in ("allow", "disallow"):
            in_agents = False
            if value:
                current.rules.append(Rule.compile(key == "allow", value))
        elif key == "crawl-delay":
            try:
                delay = float(value)
            except ValueError:
                continue
            if math.isfinite(delay) and delay >= 0:
                current.delay = delay
        # Sitemap and unknown lines belong to no group and end none (RFC 9309 §2.2.4)
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
