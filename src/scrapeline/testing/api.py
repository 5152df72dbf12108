"""The rehearsal site's JSON-API mode: football results as a sports-statistics API.

:class:`ApiSite` serves the same :class:`~scrapeline.testing.football.Match`
values as :class:`~scrapeline.testing.site.RehearsalSite`, shaped like a real
statistics API (tournaments → seasons → events → details), over real HTTP
(aiohttp.web), deterministically for a given seed:

=============================================  ================================================
``GET /api/tournaments?page=N``                ``{"tournaments": [{"id", "name", "slug"}],
                                               "page", "hasNextPage"}``, by name; one per
                                               league of the data
``GET /api/tournaments/{tid}/seasons?page=N``  ``{"seasons": [{"id", "name": "2025/26",
                                               "year": "25/26"}], "page", "hasNextPage"}``,
                                               newest first
``GET /api/seasons/{sid}/events?page=N``       ``{"events": [summary], "page",
                                               "hasNextPage"}``, newest first
``GET /api/events?cursor=TOKEN``               ``{"events": [summary], "nextCursor", "next"}``:
                                               every event, newest first; no cursor: the
                                               first page
``GET /api/events/{eid}``                      ``{"event": detail}``; 404 unknown or held back
``GET /robots.txt``                            ``robots_txt`` (text/plain)
=============================================  ================================================

A *summary* is ``{"id", "homeTeam": {"name", "slug"}, "awayTeam": {...},
"startDate": "YYYY-MM-DD", "startTime": "HH:MM" or null, "round": str or null}``;
a *detail* adds ``"homeScore"``, ``"awayScore"`` (null when not played),
``"status"`` (``"finished"`` or ``"notstarted"``), ``"season"`` and
``"tournament"`` (their ids) and ``"halves"``: ``[{"home", "away"}, {...}]``
(goals of each half) or null when unknown. Answers are ``application/json``;
errors are ``{"error": {"code", "message"}}``.

Contracts:

- **Ids are stable.** An event's id is its match id. Tournament and season ids
  come from a hash of the league (``"en.1"``) and of league and season, so the
  same data always gives the same ids and a tournament keeps its id in any
  data set (the sample, the full set) unless two hashes collide.
- **Pages** start at 0 and hold ``page_size`` rows (default 20, every
  listing); ``hasNextPage`` is false on the last one. A page past the end is
  404, as real APIs answer; page 0 always exists (empty when nothing is
  published). A page that is not a whole number ``>= 0`` is 400, an unknown
  tournament or season 404.
- **Cursors** are opaque (urlsafe base64) and name "after event X", not an
  offset: publishing an event never shifts the pages after a cursor. ``next``
  is the absolute URL of the next page, null (like ``nextCursor``) on the last.
  A cursor that names no listed event is 400.
- **Conditional requests.** Every JSON 200 carries an ``ETag`` (a hash of the
  body) and ``Last-Modified`` (when the resource last changed; all start at
  one instant derived from the seed). A matching ``If-None-Match`` (or ``*``)
  answers ``304 Not Modified`` without a body; without ``If-None-Match``, an
  ``If-Modified-Since`` not older than ``Last-Modified`` does too.
  ``not_modified`` counts the 304s per target, ``hits`` every request,
  ``served`` the 200s.
- **Publishing.** ``unpublished=K`` holds back the K newest events of the
  *newest season* (the season of the newest event): 404 on their detail,
  absent from every listing. :meth:`ApiSite.publish` shows the oldest of them:
  they take their place by date (the top of their season's listing; the top of
  the cursor listing when no other season has newer events), shifting the
  page-number listings as a live site does; their season's listing, the cursor
  listing and their details change ``Last-Modified``. ``Faults.new_results_every``
  publishes one on arrival of every (N+1)-th, (2N+1)-th ... event-listing request.
- **Corrections.** :meth:`ApiSite.correct` changes an event's final score: its
  detail's body, ``ETag`` and ``Last-Modified`` change, listings do not (they
  carry no scores).
- :meth:`ApiSite.expected` and :meth:`ApiSite.events_of` are what a correct
  scrape ends with: the published events, with their current scores.
- Counting, latency, faults (503, 429 with ``Retry-After``, 403, drops, slow
  answers, ``fail_paths``; ``broken`` applies to HTML match pages only) and
  binding 127.0.0.1 are those of :class:`~scrapeline.testing.serving.LocalSite`.

Example::

    from scrapeline.testing import ApiSite, Faults, serve_in_thread

    site = ApiSite(latency=None, unpublished=3, faults=Faults(rate_limit=0.1))
    with serve_in_thread(site) as base_url:
        ...  # scrape f"{base_url}/api/tournaments", then tomorrow's run:
        site.publish(2)
        ...  # scrape again; compare with site.expected()

Or, from a shell: ``python -m scrapeline.testing.api --port 8000``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import email.utils
import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from aiohttp import web

from scrapeline.testing.faults import Faults
from scrapeline.testing.football import Match, listing_key, load_full, load_sample
from scrapeline.testing.serving import DEFAULT_LATENCY, ErrorAnswers, LocalSite, serve_forever

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "ApiSite",
    "Season",
    "Tournament",
    "decode_cursor",
    "encode_cursor",
    "entity_tag",
    "page_of",
    "slug",
    "stable_ids",
    "still_fresh",
    "tournament_name",
]

DEFAULT_PAGE_SIZE = 20
"""Rows a listing page holds unless ``page_size`` is given."""

_ROBOTS_TXT = "User-agent: *\nAllow: /\n"
_JSON = "application/json"
_START = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp())
"""Last-Modified of everything at seed 0, in seconds since the epoch."""
_TICK = 60  # seconds the site's clock moves on each change, so dates differ
_WHOLE = re.compile(r"[0-9]+")
_CURSOR = re.compile(r"after:([0-9]+)")
_SEASON_SUFFIX = re.compile(r"\s+\d{4}(?:[/-]\d{2,4})?$")
_SPLIT_SEASON = re.compile(r"(\d{4})-(\d{2})")
_TOURNAMENT_IDS = (1, 9_999)  # (low, span): ids 1..9999
_SEASON_IDS = (10_000, 90_000)  # ids 10000..99999
_EVENT_LISTING = re.compile(r"/api/events|/api/seasons/[0-9]+/events")

T = TypeVar("T")


# -- pure pieces ------------------------------------------------------------------------


def slug(text: str) -> str:
    """Lower-case ASCII words joined by ``-``, as URLs of sports sites spell names.

    >>> slug("Österr. 2. Liga"), slug("Spain Primera División"), slug("***")
    ('osterr-2-liga', 'spain-primera-division', '')
    """
    folded = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(c for c in folded if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def tournament_name(competition: str) -> str:
    """A competition's name without its season.

    >>> tournament_name("English Premier League 2025/26"), tournament_name("Copa Libertadores 2025")
    ('English Premier League', 'Copa Libertadores')
    >>> tournament_name("2025")
    '2025'
    """
    return _SEASON_SUFFIX.sub("", competition) or competition


def _season_names(key: str) -> tuple[str, str]:
    """``(name, year)`` of a season folder: ``"2025-26"`` → ``("2025/26", "25/26")``."""
    split = _SPLIT_SEASON.fullmatch(key)
    if split is None:
        return key, key
    first, second = split.groups()
    return f"{first}/{second}", f"{first[2:]}/{second}"


def stable_ids(keys: Iterable[str], *, low: int, span: int) -> dict[str, int]:
    """An id in ``[low, low + span)`` for each key, from a hash of the key.

    The same keys always get the same ids; a key keeps its id in any set of
    keys where its hash does not collide. On a collision the later key (in
    sorted order) takes the next free id. Raises :class:`ValueError` when
    there are more keys than ids.

    >>> stable_ids(["en.1", "de.1"], low=1, span=9999) == stable_ids(
    ...     ["de.1", "en.1", "en.1"], low=1, span=9999)
    True
    >>> sorted(stable_ids(["a", "b", "c"], low=5, span=3).values())
    [5, 6, 7]
    """
    unique = sorted(set(keys))
    if len(unique) > span:
        raise ValueError(f"{len(unique)} keys do not fit in {span} ids")
    taken: set[int] = set()
    ids: dict[str, int] = {}
    for key in unique:
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        n = int.from_bytes(digest, "big") % span
        while low + n in taken:
            n = (n + 1) % span
        taken.add(low + n)
        ids[key] = low + n
    return ids


def page_of(items: Sequence[T], page: int, size: int) -> tuple[Sequence[T], bool] | None:
    """The rows of page ``page`` (from 0) and whether a next page exists; ``None`` past
    the end. Page 0 always exists, empty when there are no items.

    >>> page_of("abcde", 0, 2), page_of("abcde", 2, 2), page_of("", 0, 2)
    (('ab', True), ('e', False), ('', False))
    >>> page_of("abcd", 2, 2) is None
    True
    """
    start = page * size
    if page > 0 and start >= len(items):
        return None
    return items[start : start + size], start + size < len(items)


def encode_cursor(event_id: int) -> str:
    """The opaque cursor of the page after event ``event_id``.

    >>> encode_cursor(192899)
    'YWZ0ZXI6MTkyODk5'
    >>> decode_cursor(encode_cursor(7)), decode_cursor("not a cursor"), decode_cursor("")
    (7, None, None)
    """
    return base64.urlsafe_b64encode(f"after:{event_id}".encode()).decode().rstrip("=")


def decode_cursor(token: str) -> int | None:
    """The event id a cursor names, or ``None`` if ``token`` is not a cursor."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    found = _CURSOR.fullmatch(raw)
    return None if found is None else int(found.group(1))


def entity_tag(body: bytes) -> str:
    """The strong ``ETag`` of a body: a quoted hash of its bytes."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def http_date(seconds: int) -> str:
    """An HTTP-date (RFC 9110 §5.6.7): ``Mon, 01 Jun 2026 00:00:00 GMT``.

    >>> http_date(_START)
    'Mon, 01 Jun 2026 00:00:00 GMT'
    """
    return email.utils.formatdate(seconds, usegmt=True)


def _parse_http_date(value: str) -> int | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


def still_fresh(
    etag: str, last_modified: int, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    """Whether the client's copy is still fresh, so a GET is answered 304 Not Modified.

    The headers are evaluated in RFC 9110 §13.2.2's order.

    ``If-None-Match``, when given, decides alone: 304 when it is ``*`` or lists
    ``etag`` (weak comparison: a ``W/`` prefix is ignored). Otherwise
    ``If-Modified-Since`` decides: 304 when it is a valid HTTP-date not older
    than ``last_modified`` (seconds since the epoch). An invalid date is ignored.

    >>> tag, t = '"abc"', _START
    >>> still_fresh(tag, t, '"x", W/"abc"', None), still_fresh(tag, t, '"x"', http_date(t))
    (True, False)
    >>> still_fresh(tag, t, None, http_date(t)), still_fresh(tag, t, None, http_date(t - 1))
    (True, False)
    >>> still_fresh(tag, t, None, "yesterday"), still_fresh(tag, t, "*", None)
    (False, True)
    """
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag.removeprefix("W/") in tags
    if if_modified_since is not None:
        since = _parse_http_date(if_modified_since)
        return since is not None and last_modified <= since
    return False


# -- what the API lists -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Season:
    """One season of a tournament: a data folder (``key``, ``"2025-26"``) of one league."""

    id: int
    tournament: int
    key: str
    name: str
    """``"2025/26"`` (or ``"2025"`` for a calendar-year season)."""
    year: str
    """``"25/26"`` (or ``"2025"``)."""


@dataclass(frozen=True, kw_only=True)
class Tournament:
    """One league of the data (``league``, ``"en.1"``) with its seasons, newest first."""

    id: int
    name: str
    slug: str
    league: str
    seasons: tuple[Season, ...]


def _tournaments(ordered: Sequence[Match]) -> list[Tournament]:
    """The tournaments of ``ordered`` (newest first), by name; names from the newest match."""
    newest: dict[str, Match] = {}
    season_keys: dict[str, set[str]] = {}
    for m in ordered:
        newest.setdefault(m.league, m)
        season_keys.setdefault(m.league, set()).add(m.season)
    tournament_ids = stable_ids(newest, low=_TOURNAMENT_IDS[0], span=_TOURNAMENT_IDS[1])
    season_ids = stable_ids(
        (f"{league}/{key}" for league, keys in season_keys.items() for key in keys),
        low=_SEASON_IDS[0],
        span=_SEASON_IDS[1],
    )
    tournaments = []
    for league, match in newest.items():
        tid = tournament_ids[league]
        seasons = tuple(
            Season(
                id=season_ids[f"{league}/{key}"],
                tournament=tid,
                key=key,
                name=_season_names(key)[0],
                year=_season_names(key)[1],
            )
            for key in sorted(season_keys[league], reverse=True)
        )
        name = tournament_name(match.competition)
        tournaments.append(
            Tournament(id=tid, name=name, slug=slug(name), league=league, seasons=seasons)
        )
    tournaments.sort(key=lambda t: (t.name, t.id))
    return tournaments


def _team(name: str) -> dict[str, str]:
    return {"name": name, "slug": slug(name)}


def _summary(m: Match) -> dict[str, Any]:
    return {
        "id": m.id,
        "homeTeam": _team(m.team1),
        "awayTeam": _team(m.team2),
        "startDate": m.date,
        "startTime": m.time,
        "round": m.round,
    }


def _error(status: int, message: str) -> web.Response:
    body = orjson.dumps({"error": {"code": status, "message": message}})
    return web.Response(body=body, status=status, content_type=_JSON)


_ANSWERS = ErrorAnswers(
    error=_error, blocked=lambda: _error(403, "Access denied: automated access is not allowed")
)


# -- the site --------------------------------------------------------------------------


class ApiSite(LocalSite):
    """Football results as a JSON API on 127.0.0.1, for rehearsing scrapes. See the module doc.

    ``matches`` defaults to :func:`load_sample`; ids must be unique.
    ``page_size`` must be >= 1 and ``unpublished`` at most the number of
    events of the newest season (:class:`ValueError` otherwise). ``latency``
    is a ``(low, high)`` range in seconds, a fixed delay, or ``None``/``0``.
    """

    kind = "API site"

    def __init__(
        self,
        matches: Sequence[Match] | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        latency: tuple[float, float] | float | None = DEFAULT_LATENCY,
        faults: Faults | None = None,
        seed: int = 0,
        unpublished: int = 0,
        robots_txt: str = _ROBOTS_TXT,
    ) -> None:
        ordered = sorted(load_sample() if matches is None else matches, key=listing_key)
        ordered.reverse()
        events = {m.id: m for m in ordered}
        if len(events) != len(ordered):
            raise ValueError("match ids must be unique")
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        super().__init__(latency=latency, faults=faults, seed=seed, answers=_ANSWERS)
        self.page_size = page_size
        self.robots_txt = robots_txt
        self.not_modified: Counter[str] = Counter()
        """304 answers per target."""
        self._tournaments = _tournaments(ordered)
        self._tournament = {t.id: t for t in self._tournaments}
        self._season = {s.id: s for t in self._tournaments for s in t.seasons}
        season_id = {(s.tournament, s.key): s.id for s in self._season.values()}
        league_id = {t.league: t.id for t in self._tournaments}
        self._season_of = {m.id: season_id[league_id[m.league], m.season] for m in ordered}
        self._events = events  # current scores, corrections included
        self._order = [m.id for m in ordered]
        self._season_order: dict[int, list[int]] = {sid: [] for sid in self._season}
        for m in ordered:
            self._season_order[self._season_of[m.id]].append(m.id)

        newest = self._season_order[self._season_of[ordered[0].id]] if ordered else []
        if not 0 <= unpublished <= len(newest):
            raise ValueError(f"unpublished must be between 0 and {len(newest)}")
        self._held = newest[:unpublished]  # newest first
        self._clock = _START + seed
        self._started = self._clock
        self._event_changed: dict[int, int] = {}
        self._season_changed: dict[int, int] = {}
        self._listing_changed = self._clock
        self._listing_requests = 0
        self._relist()

    def _relist(self) -> None:
        held = set(self._held)
        self._listed = [i for i in self._order if i not in held]
        self._listed_at = {event_id: n for n, event_id in enumerate(self._listed)}
        self._season_listed = {
            sid: [i for i in ids if i not in held] for sid, ids in self._season_order.items()
        }

    # -- state a test can read or change ------------------------------------------------

    @property
    def tournaments(self) -> Sequence[Tournament]:
        """Every tournament with its seasons, in the order of ``/api/tournaments``."""
        return tuple(self._tournaments)

    @property
    def unpublished(self) -> int:
        """How many events of the newest season are still held back."""
        return len(self._held)

    def season_of(self, event_id: int) -> int:
        """The id of the season event ``event_id`` belongs to (:class:`KeyError` if none)."""
        return self._season_of[event_id]

    def expected(self) -> list[Match]:
        """Every published event, newest first, with its current score."""
        return [self._events[i] for i in self._listed]

    def events_of(self, season_id: int) -> list[Match]:
        """The published events of a season, newest first, with their current scores.

        Raises :class:`ValueError` for an unknown season.
        """
        if season_id not in self._season_listed:
            raise ValueError(f"no season {season_id}")
        return [self._events[i] for i in self._season_listed[season_id]]

    def publish(self, n: int = 1) -> list[int]:
        """Publish the ``n`` oldest held-back events; return their ids, oldest first.

        Fewer are published when fewer are held back. Their details, their
        season's listing and the cursor listing get a new ``Last-Modified``.
        Raises :class:`ValueError` for a negative ``n``.
        """
        if n < 0:
            raise ValueError("publish(n) needs n >= 0")
        count = min(n, len(self._held))
        if count == 0:
            return []
        published = self._held[len(self._held) - count :][::-1]
        del self._held[len(self._held) - count :]
        now = self._tick()
        for event_id in published:
            self._event_changed[event_id] = now
            self._season_changed[self._season_of[event_id]] = now
        self._listing_changed = now
        self._relist()
        return published

    def correct(self, event_id: int, *, home: int, away: int) -> None:
        """Change the final score of event ``event_id`` to ``home``-``away``.

        The half-time score stays, so halves become unknown when the correction
        makes a second half negative. Held-back events may be corrected too.
        Raises :class:`ValueError` for an unknown event or a negative score.
        """
        match = self._events.get(event_id)
        if match is None:
            raise ValueError(f"no event {event_id}")
        if home < 0 or away < 0:
            raise ValueError(f"a score cannot be negative: {home}-{away}")
        self._events[event_id] = replace(match, ft=(home, away))
        self._event_changed[event_id] = self._tick()

    def _tick(self) -> int:
        self._clock += _TICK
        return self._clock

    # -- request handling ---------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/robots.txt", self._robots)
        app.router.add_get("/api/tournaments", self._tournament_listing)
        app.router.add_get(r"/api/tournaments/{tid:\d+}/seasons", self._season_listing)
        app.router.add_get(r"/api/seasons/{sid:\d+}/events", self._season_events)
        app.router.add_get("/api/events", self._cursor_events)
        app.router.add_get(r"/api/events/{eid:\d+}", self._event)

    def arrived(self, request: web.Request) -> None:
        if _EVENT_LISTING.fullmatch(request.path):
            every = self.faults.new_results_every
            if every and self._listing_requests and self._listing_requests % every == 0:
                self.publish(1)
            self._listing_requests += 1

    def _answer(self, request: web.Request, document: Any, last_modified: int) -> web.Response:
        body = orjson.dumps(document)
        etag = entity_tag(body)
        headers = {"ETag": etag, "Last-Modified": http_date(last_modified)}
        if still_fresh(
            etag,
            last_modified,
            request.headers.get("If-None-Match"),
            request.headers.get("If-Modified-Since"),
        ):
            self.not_modified[request.raw_path] += 1
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, content_type=_JSON, headers=headers)

    def _listing(
        self, request: web.Request, name: str, rows: Sequence[Any], last_modified: int
    ) -> web.Response:
        raw = request.query.get("page", "0")
        if _WHOLE.fullmatch(raw) is None:
            return _error(400, f"page must be a whole number >= 0: {raw!r}")
        page = int(raw)
        found = page_of(rows, page, self.page_size)
        if found is None:
            return _error(404, f"no page {page}")
        shown, more = found
        document = {name: list(shown), "page": page, "hasNextPage": more}
        return self._answer(request, document, last_modified)

    async def _robots(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=self.robots_txt, content_type="text/plain", charset="utf-8")

    async def _tournament_listing(self, request: web.Request) -> web.StreamResponse:
        rows = [{"id": t.id, "name": t.name, "slug": t.slug} for t in self._tournaments]
        return self._listing(request, "tournaments", rows, self._started)

    async def _season_listing(self, request: web.Request) -> web.StreamResponse:
        tournament = self._tournament.get(int(request.match_info["tid"]))
        if tournament is None:
            return _error(404, f"no tournament {request.match_info['tid']}")
        rows = [{"id": s.id, "name": s.name, "year": s.year} for s in tournament.seasons]
        return self._listing(request, "seasons", rows, self._started)

    async def _season_events(self, request: web.Request) -> web.StreamResponse:
        season_id = int(request.match_info["sid"])
        listed = self._season_listed.get(season_id)
        if listed is None:
            return _error(404, f"no season {season_id}")
        rows = [_summary(self._events[i]) for i in listed]
        changed = self._season_changed.get(season_id, self._started)
        return self._listing(request, "events", rows, changed)

    async def _cursor_events(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("cursor", "")
        start = 0
        if token:
            after = decode_cursor(token)
            position = None if after is None else self._listed_at.get(after)
            if position is None:
                return _error(400, f"not a cursor of this listing: {token!r}")
            start = position + 1
        shown = self._listed[start : start + self.page_size]
        more = start + self.page_size < len(self._listed)
        cursor = encode_cursor(shown[-1]) if more else None
        document = {
            "events": [_summary(self._events[i]) for i in shown],
            "nextCursor": cursor,
            "next": None if cursor is None else str(request.url.with_query(cursor=cursor)),
        }
        return self._answer(request, document, self._listing_changed)

    async def _event(self, request: web.Request) -> web.StreamResponse:
        event_id = int(request.match_info["eid"])
        if event_id not in self._listed_at:
            return _error(404, f"no event {event_id}")
        m = self._events[event_id]
        season = self._season[self._season_of[event_id]]
        halves = m.halves
        detail = {
            **_summary(m),
            "homeScore": None if m.ft is None else m.ft[0],
            "awayScore": None if m.ft is None else m.ft[1],
            "status": "notstarted" if m.ft is None else "finished",
            "season": season.id,
            "tournament": season.tournament,
            "halves": None
            if halves is None
            else [{"home": home, "away": away} for home, away in halves],
        }
        changed = self._event_changed.get(event_id, self._started)
        return self._answer(request, {"event": detail}, changed)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m scrapeline.testing.api``: serve until Ctrl+C, print the URL."""
    parser = argparse.ArgumentParser(
        prog="python -m scrapeline.testing.api",
        description="Serve the football results as a JSON API on 127.0.0.1.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE)
    parser.add_argument("--unpublished", type=int, default=0, metavar="K")
    parser.add_argument("--no-latency", action="store_true", help="answer without delay")
    parser.add_argument("--full", metavar="DIR", help="serve the full openfootball directory")
    args = parser.parse_args(argv)
    site = ApiSite(
        load_full(args.full) if args.full else None,
        page_size=args.page_size,
        latency=None if args.no_latency else DEFAULT_LATENCY,
        seed=args.seed,
        unpublished=args.unpublished,
    )
    serve_forever(site, args.host, args.port, on_ready=lambda url: print(url, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
