"""The prospects rehearsal site: three sources about one draft class, and their truth.

:class:`ProspectsSite` serves a generated class of draft prospects (about 1,000 by
default) as three sources that describe overlapping subsets of them, each in its
own shape, over real HTTP (aiohttp.web on 127.0.0.1), deterministically for
``(size, seed)``. ``site.truth`` says exactly what a correct multi-source
reconciliation of them ends with.

=====================================  ==============================================
``GET /combine?page=N``                the combine listing (from 1; no ``page``: 1),
                                       ``combine_page_size`` rows by ``combine_id``,
                                       a ``<a rel="next">`` link on every page but
                                       the last; past the end 404, a bad page 400
``GET /combine/players/{id}``          a combine detail page (404 unknown)
``GET /api/players?cursor=TOKEN``      the college-stats API: ``{"players": [...],
                                       "next_cursor": TOKEN | null}``, by
                                       ``player_id``, ``stats_page_size`` a page;
                                       no cursor: the first page; a cursor that
                                       names no player 400
``GET /injuries``                      the injury report: one HTML table
``GET /robots.txt``, ``GET /``         allow all; links to the three sources
=====================================  ==============================================

**The combine** (HTML): a listing row is ``tr.player[data-id]`` with ``td.name``
(a link to the detail page), ``td.college``, ``td.position``. The detail page is
``#player[data-id]`` with ``h1.name`` (``First Last [Suffix]``) and ``dd.college``,
``dd.position``, ``dd.height`` (``6-2``: feet-inches), ``dd.weight`` (lb),
``dd.forty`` (seconds, two decimals), ``dd.measured_on`` (ISO date); a missing
value is an empty ``dd``.

**The college-stats API** (JSON): a player is ``{"id", "name": "Last, First
[Suffix]", "college", "position", "height_in" (null: not given), "weight": {"lb",
"as_of"}, "stats": {"games", "yards" (null: not given), "touchdowns"}}``. Cursors
are opaque (urlsafe base64 of ``after:<id>``).

**The injury report** (HTML): ``table#injuries``, a row ``tr.injury[data-id]``
(``INJ-0001``...) with ``td.name`` (in full or ``J. Nunez``), ``td.college``
(empty: not given), ``td.status``, ``td.updated`` (ISO date).

Generation rules (:func:`~scrapeline.testing.draft.draft_class`; one random source
seeded with ``seed``, nothing drawn at run time). With ``F = max(1, size // 200)``
and ``N = max(1, size // 250)``:

- **Prospects.** ``size`` of them, each with a first and last name from fixed pools
  (some with accents: ``José``, ``Núñez``; some with punctuation: ``D'Andre``,
  ``St. Brown``, ``Smith-Jones``), a suffix (``Jr.``, ``II``, ``III``) for about 8%,
  a college of 26 and a position of 11 with heights, weights, 40-yard times and
  college stats in that position's range. Folded name and college are unique;
  the last ``N`` prospects are *namesakes*: the first and last name of an earlier
  prospect, at another college.
- **Coverage.** Each prospect is in the combine with chance 0.85 and in the API
  with chance 0.85 (in the API when in neither). About 22% of the prospects with
  a clean combine or API record have an injury report line.
- **The combine** prints the true name. Height is missing for 2%, weight for 3%,
  the 40-yard time for 6%. ``measured_on`` is in combine week (2026-02-26 to
  03-02) or, for 15%, at a pro day (2026-03-10 to 04-05).
- **The API** writes ``Last, First``; for a prospect with a combine record it may
  drop the accents (half of those with any), the punctuation (half: apostrophes and
  hyphens, initials keep their dots), the suffix or
  its dot (half), or shout in capitals (3%). A college with an alias of
  :data:`COLLEGE_ALIASES` is named by it 70% of the time. Height is missing for
  25%, yards for 4%. Its weight is as of an in-season day (2025-08-25 to 12-06)
  or, for 30%, a spring update (2026-04-08 to 04-20, after every pro day).
- **Conflicts** (only between a combine and an API record both kept): position
  differs for 3% (the combine wins); height is one inch off for 12% of those
  with both heights (the combine wins); weight differs for 40% of those with both
  weights: the older of the two dates carries a stale weight, 3 to 12 lb off
  (the later date wins). The winner is always the true value.
- **The injury report** names a prospect in full (accents dropped 60% of the time
  when there are any, suffix dropped half the time, capitals 15%) or, 40% of the
  time, as an initial and last name (``J. Nunez``; the last name in capitals 10% of
  those times); it gives the college (its alias half the time
  there is one) except for 12% of lines; each namesake's earlier twin has a line
  ``J. Last`` without a college: ambiguous on purpose. (Any other line by an
  initial without a college is ambiguous, or unconfirmed when it fits one entity:
  an initial alone never matches.) ``F`` lines name nobody in
  the class (a name and college no prospect has): they match no entity, and an
  injury line needs one.
- **Rule breakers**, ``F`` each, on distinct prospects with no other fault: a
  combine record with a negative weight (``weight_positive``), with a 40-yard time
  of 0 (``forty_positive``), with an empty name (``name_present``); an API record
  with an empty name, with a negative weight; an injury line with an empty name.
- **Ids.** ``combine_id`` is a distinct number from 1001 to ``1000 + 3 * size``,
  ``player_id`` six hex digits, drawn at random; injury lines are numbered in
  report order, which is shuffled.

The truth (:class:`~scrapeline.testing.draft_truth.Truth`) is computed from the
generated records by the rules of :mod:`scrapeline.testing.draft_truth`, so it
stays exact for any size and seed.

Counting (``hits``, ``served``), latency and faults are those of
:class:`~scrapeline.testing.serving.LocalSite`.

Example::

    from scrapeline.testing import ProspectsSite, serve_in_thread

    site = ProspectsSite(size=300, latency=None)
    with serve_in_thread(site) as base_url:
        ...  # scrape f"{base_url}/combine", f"{base_url}/api/players", f"{base_url}/injuries"
    site.truth.conflicts[0]  # Conflict(entity=..., field="weight_lb", values=..., winner=...)

Or, from a shell: ``python -m scrapeline.testing.prospects --port 8000``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import html
import re
from collections.abc import Sequence
from typing import Any

import orjson
from aiohttp import web

from scrapeline.testing.draft import DraftClass, Injected, draft_class
from scrapeline.testing.draft_truth import (
    COLLEGE_ALIASES,
    FIELD_RULES,
    QUALITY_RULES,
    CombineRecord,
    InjuryLine,
    StatsRecord,
    Truth,
)
from scrapeline.testing.faults import Faults
from scrapeline.testing.serving import DEFAULT_LATENCY, ErrorAnswers, LocalSite, serve_forever

__all__ = [
    "COLLEGE_ALIASES",
    "DEFAULT_SIZE",
    "FIELD_RULES",
    "QUALITY_RULES",
    "ProspectsSite",
    "combine_listing_page",
    "combine_player_page",
    "decode_cursor",
    "encode_cursor",
    "feet_inches",
    "injury_page",
    "player_document",
]

DEFAULT_SIZE = 1000
_HTML = "text/html"
_JSON = "application/json"
_WHOLE = re.compile(r"[0-9]+")
_CURSOR = re.compile(r"after:([0-9a-f]{6})")


# -- pages ----------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape("" if text is None else str(text))


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title></head><body>\n{body}</body></html>\n"
    )


def feet_inches(inches: int | None) -> str:
    """A height as the combine prints it; empty when not given.

    >>> feet_inches(74), feet_inches(71), feet_inches(None)
    ('6-2', '5-11', '')
    """
    return "" if inches is None else f"{inches // 12}-{inches % 12}"


def combine_listing_page(rows: Sequence[CombineRecord], next_page: int | None) -> str:
    """A page of the combine listing, with a ``rel="next"`` link unless it is the last."""
    lines = ['<table id="combine">\n']
    for r in rows:
        lines.append(
            f'<tr class="player" data-id="{r.combine_id}">'
            f'<td class="name"><a href="/combine/players/{r.combine_id}">{_e(r.name)}</a></td>'
            f'<td class="college">{_e(r.college)}</td>'
            f'<td class="position">{_e(r.position)}</td></tr>\n'
        )
    lines.append("</table>\n")
    if next_page is None:
        lines.append("<nav></nav>\n")
    else:
        lines.append(f'<nav><a rel="next" href="/combine?page={next_page}">next</a></nav>\n')
    return _document("Combine results", "".join(lines))


def combine_player_page(r: CombineRecord) -> str:
    """A combine detail page; a missing measurement is an empty ``dd``."""
    forty = "" if r.forty is None else f"{r.forty:.2f}"
    body = (
        f'<div id="player" data-id="{r.combine_id}">\n<h1 class="name">{_e(r.name)}</h1>\n'
        f'<dl><dt>College</dt><dd class="college">{_e(r.college)}</dd>'
        f'<dt>Position</dt><dd class="position">{_e(r.position)}</dd>'
        f'<dt>Height</dt><dd class="height">{feet_inches(r.height_in)}</dd>'
        f'<dt>Weight</dt><dd class="weight">{_e(r.weight_lb)}</dd>'
        f'<dt>40-yard dash</dt><dd class="forty">{forty}</dd>'
        f'<dt>Measured on</dt><dd class="measured_on">{_e(r.measured_on)}</dd></dl>\n</div>\n'
    )
    return _document(r.name or "Combine player", body)


def player_document(r: StatsRecord) -> dict[str, Any]:
    """A player as the college-stats API answers it."""
    return {
        "id": r.player_id,
        "name": r.name,
        "college": r.college,
        "position": r.position,
        "height_in": r.height_in,
        "weight": {"lb": r.weight_lb, "as_of": r.weight_as_of},
        "stats": {"games": r.games, "yards": r.yards, "touchdowns": r.touchdowns},
    }


def injury_page(lines: Sequence[InjuryLine]) -> str:
    """The injury report: one table, a row per line, an empty cell for no college."""
    rows = [
        '<table id="injuries">\n<tr><th>Player</th><th>College</th><th>Status</th>'
        "<th>Updated</th></tr>\n"
    ]
    for line in lines:
        rows.append(
            f'<tr class="injury" data-id="{_e(line.report_id)}">'
            f'<td class="name">{_e(line.name)}</td><td class="college">{_e(line.college)}</td>'
            f'<td class="status">{_e(line.status)}</td>'
            f'<td class="updated">{_e(line.updated)}</td></tr>\n'
        )
    rows.append("</table>\n")
    return _document("Injury report", "".join(rows))


def encode_cursor(player_id: str) -> str:
    """The opaque cursor of the page after player ``player_id``.

    >>> encode_cursor("a1b2c3"), decode_cursor(encode_cursor("a1b2c3"))
    ('YWZ0ZXI6YTFiMmMz', 'a1b2c3')
    >>> decode_cursor("nonsense"), decode_cursor("")
    (None, None)
    """
    return base64.urlsafe_b64encode(f"after:{player_id}".encode()).decode().rstrip("=")


def decode_cursor(token: str) -> str | None:
    """The player id a cursor names, or ``None`` if ``token`` is not a cursor."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    found = _CURSOR.fullmatch(raw)
    return None if found is None else found.group(1)


_INDEX_PAGE = _document(
    "Draft prospects",
    '<ul><li><a href="/combine">Combine results</a></li>'
    '<li><a href="/api/players">College stats API</a></li>'
    '<li><a href="/injuries">Injury report</a></li></ul>\n',
)
_BLOCKED_PAGE = _document("Access denied", '<div id="challenge"><h1>Access denied</h1></div>\n')


def _page(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type=_HTML, charset="utf-8")


def _error_page(status: int, title: str) -> web.Response:
    return _page(_document(title, f"<h1>{_e(title)}</h1>\n"), status)


def _json(document: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(document), status=status, content_type=_JSON)


def _json_error(status: int, message: str) -> web.Response:
    return _json({"error": {"code": status, "message": message}}, status)


_ANSWERS = ErrorAnswers(error=_error_page, blocked=lambda: _page(_BLOCKED_PAGE, 403))


# -- the site --------------------------------------------------------------------------


class ProspectsSite(LocalSite):
    """Three sources about one generated draft class, on 127.0.0.1. See the module doc.

    ``size`` (at least 40) prospects for ``seed``; ``combine_page_size`` and
    ``stats_page_size`` must be >= 1 (:class:`ValueError` otherwise). ``latency`` is
    a ``(low, high)`` range in seconds, a fixed delay, or ``None``/``0`` for none.
    ``draft`` holds everything generated; ``truth`` is ``draft.truth``.
    """

    kind = "prospects site"

    def __init__(
        self,
        size: int = DEFAULT_SIZE,
        *,
        seed: int = 0,
        combine_page_size: int = 50,
        stats_page_size: int = 100,
        latency: tuple[float, float] | float | None = DEFAULT_LATENCY,
        faults: Faults | None = None,
    ) -> None:
        if combine_page_size < 1 or stats_page_size < 1:
            raise ValueError("page sizes must be >= 1")
        super().__init__(latency=latency, faults=faults, seed=seed, answers=_ANSWERS)
        self.draft: DraftClass = draft_class(size, seed=seed)
        self.combine_page_size = combine_page_size
        self.stats_page_size = stats_page_size
        self._combine = {r.combine_id: r for r in self.draft.combine}
        self._stats_at = {r.player_id: i for i, r in enumerate(self.draft.college_stats)}

    @property
    def truth(self) -> Truth:
        """What a correct reconciliation of the three sources ends with."""
        return self.draft.truth

    @property
    def injected(self) -> Injected:
        """How many of each fault the generation put in."""
        return self.draft.injected

    @property
    def combine_pages(self) -> int:
        """How many pages the combine listing has (at least 1)."""
        return max(1, -(-len(self.draft.combine) // self.combine_page_size))

    # -- request handling ---------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._index)
        app.router.add_get("/robots.txt", self._robots)
        app.router.add_get("/combine", self._combine_listing)
        app.router.add_get(r"/combine/players/{id:\d+}", self._combine_player)
        app.router.add_get("/api/players", self._players)
        app.router.add_get("/injuries", self._injuries)

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return _page(_INDEX_PAGE)

    async def _robots(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="User-agent: *\nAllow: /\n", content_type="text/plain")

    async def _combine_listing(self, request: web.Request) -> web.StreamResponse:
        raw = request.query.get("page", "1")
        if _WHOLE.fullmatch(raw) is None or int(raw) < 1:
            return _error_page(400, f"page must be a whole number >= 1: {raw!r}")
        page = int(raw)
        if page > self.combine_pages:
            return _error_page(404, f"no page {page}")
        size = self.combine_page_size
        rows = self.draft.combine[(page - 1) * size : page * size]
        return _page(combine_listing_page(rows, page + 1 if page < self.combine_pages else None))

    async def _combine_player(self, request: web.Request) -> web.StreamResponse:
        record = self._combine.get(int(request.match_info["id"]))
        if record is None:
            return _error_page(404, f"no combine player {request.match_info['id']}")
        return _page(combine_player_page(record))

    async def _players(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("cursor", "")
        start = 0
        if token:
            after = decode_cursor(token)
            position = None if after is None else self._stats_at.get(after)
            if position is None:
                return _json_error(400, f"not a cursor of this listing: {token!r}")
            start = position + 1
        shown = self.draft.college_stats[start : start + self.stats_page_size]
        more = start + self.stats_page_size < len(self.draft.college_stats)
        return _json(
            {
                "players": [player_document(r) for r in shown],
                "next_cursor": encode_cursor(shown[-1].player_id) if more else None,
            }
        )

    async def _injuries(self, request: web.Request) -> web.StreamResponse:
        return _page(injury_page(self.draft.injury_report))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m scrapeline.testing.prospects``: serve until Ctrl+C, print the URL."""
    parser = argparse.ArgumentParser(
        prog="python -m scrapeline.testing.prospects",
        description="Serve the draft-prospects rehearsal site (three sources) on 127.0.0.1.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="prospects in the class")
    parser.add_argument("--no-latency", action="store_true", help="answer without delay")
    args = parser.parse_args(argv)
    try:
        site = ProspectsSite(
            args.size, seed=args.seed, latency=None if args.no_latency else DEFAULT_LATENCY
        )
    except ValueError as exc:
        parser.error(str(exc))
    serve_forever(site, args.host, args.port, on_ready=lambda url: print(url, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
