"""The rehearsal site: a local football-results website to scrape, with faults on demand.

:class:`RehearsalSite` serves :class:`~scrapeline.testing.football.Match` values
over real HTTP (aiohttp.web), deterministically for a given seed:

=====================================  ==============================================
``GET /results?offset=N``              listing, newest first, ``page_size`` rows;
                                       an offset past the end gives an empty table;
                                       a bad offset gives 400
``GET /matches/{id}``                  one match (404 unknown or held back)
``GET /matches/{id}/halves/{n}``       goals of half ``n`` in 1, 2 (404 when the
                                       match's halves are unknown)
``GET /js/matches/{id}?delay=MS``      the match page built by JavaScript: an empty
                                       shell whose script inserts the ``#match``
                                       block after ``MS`` milliseconds (default
                                       200), for browser fetchers
``GET /robots.txt``                    ``robots_txt`` (text/plain)
``GET /``                              a link to the listing
=====================================  ==============================================

Pages are ``text/html; charset=utf-8`` with the exact markup of
:func:`listing_page`, :func:`match_page` and :func:`half_page`; the example
pipeline parses it, so it only changes together with that pipeline.

Contracts:

- ``hits`` counts every request by its target (path and query as requested),
  faulted ones included; ``served`` counts only 200 answers.
- Latency is a pseudo-random delay drawn from ``(seed, target, nth)``, slept
  with :func:`asyncio.sleep`, so the site stays concurrent and replays the
  same delays for the same seed.
- ``hidden_newest=K`` holds back the K newest matches (404 everywhere);
  :meth:`RehearsalSite.reveal` shows the oldest of them at the top of the
  listing, shifting offsets as a live site does. ``Faults.new_results_every``
  reveals one more on arrival of every (N+1)-th, (2N+1)-th ... listing request.
- Faults follow :func:`scrapeline.testing.faults.decide`.
- The site binds 127.0.0.1 unless told otherwise.

Example::

    from scrapeline.testing import Faults, RehearsalSite, serve_in_thread

    site = RehearsalSite(latency=None, faults=Faults(server_error=0.1), seed=7)
    with serve_in_thread(site) as base_url:
        ...  # scrape f"{base_url}/results"
    print(site.hits.most_common(3))

Or, from a shell: ``python -m scrapeline.testing.site --port 8000``.
"""

from __future__ import annotations

import argparse
import html
import json
import re
from collections.abc import Sequence

from aiohttp import web

from scrapeline.testing.faults import Fault, Faults
from scrapeline.testing.football import Match, listing_key, load_full, load_sample
from scrapeline.testing.serving import (
    DEFAULT_LATENCY,
    ErrorAnswers,
    LocalSite,
    fault_of,
    serve_forever,
    serve_in_thread,
)

__all__ = [
    "DEFAULT_LATENCY",
    "DEFAULT_ROBOTS_TXT",
    "RehearsalSite",
    "half_page",
    "js_match_page",
    "listing_page",
    "match_page",
    "serve_forever",
    "serve_in_thread",
]

DEFAULT_ROBOTS_TXT = "User-agent: *\nAllow: /\n"

_HTML = "text/html"
_CHARSET = "utf-8"
_OFFSET = re.compile(r"[0-9]+")


# -- pages ----------------------------------------------------------------------------


def _e(text: str | None) -> str:
    return html.escape(text or "")


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title></head><body>\n{body}</body></html>\n"
    )


def listing_page(rows: Sequence[Match], next_offset: int | None) -> str:
    """The listing page: one ``tr.match`` per row, a ``next`` link if ``next_offset``."""
    lines = ['<table id="results">\n']
    for m in rows:
        lines.append(
            f'<tr class="match" data-id="{m.id}"><td class="date">{_e(m.date)}</td>'
            f'<td class="competition">{_e(m.competition)}</td>'
            f'<td class="teams"><a href="/matches/{m.id}">{_e(m.team1)} – {_e(m.team2)}</a></td>'
            f'<td class="score">{_e(m.score)}</td></tr>\n'
        )
    lines.append("</table>\n")
    if next_offset is None:
        lines.append("<nav></nav>\n")
    else:
        lines.append(f'<nav><a class="next" href="/results?offset={next_offset}">next</a></nav>\n')
    return _document("Results", "".join(lines))


def match_page(match: Match, *, broken: bool = False) -> str:
    """The match page; ``broken`` leaves out the ``<h1>`` (teams and score)."""
    m = match
    heading = (
        ""
        if broken
        else f'<h1><span class="team1">{_e(m.team1)}</span> <span class="score">{_e(m.score)}'
        f'</span> <span class="team2">{_e(m.team2)}</span></h1>\n'
    )
    details = (
        f'<dl><dt>Date</dt><dd class="date">{_e(m.date)}</dd>'
        f'<dt>Time</dt><dd class="time">{_e(m.time)}</dd>'
        f'<dt>Competition</dt><dd class="competition">{_e(m.competition)}</dd>'
        f'<dt>Season</dt><dd class="season">{_e(m.season)}</dd>'
        f'<dt>Round</dt><dd class="round">{_e(m.round)}</dd></dl>\n'
    )
    halves = (
        ""
        if m.halves is None
        else f'<li><a href="/matches/{m.id}/halves/1">1st half</a></li>'
        f'<li><a href="/matches/{m.id}/halves/2">2nd half</a></li>'
    )
    body = (
        f'<div id="match" data-id="{m.id}">\n{heading}{details}'
        f'<ul class="halves">{halves}</ul>\n</div>\n'
    )
    return _document(f"{m.team1} – {m.team2}", body)


def half_page(match: Match, half: int) -> str:
    """The page of half ``half`` (1 or 2). Raises :class:`ValueError` if it has none."""
    halves = match.halves
    if halves is None or half not in (1, 2):
        raise ValueError(f"match {match.id} has no half {half}")
    goals1, goals2 = halves[half - 1]
    m = match
    body = (
        f'<div id="half" data-match="{m.id}" data-half="{half}">'
        f'<span class="team1">{_e(m.team1)}</span> <span class="goals1">{goals1}</span> '
        f'<span class="goals2">{goals2}</span> <span class="team2">{_e(m.team2)}</span></div>\n'
    )
    return _document(f"{m.team1} – {m.team2}, half {half}", body)


def js_match_page(match: Match, *, delay_ms: int = 200) -> str:
    """The match page as a JavaScript app: the ``#match`` block of :func:`match_page`
    appears ``delay_ms`` after the page loads; before that the body holds ``#app`` only."""
    static = match_page(match)
    block = static[static.index('<div id="match"') : static.rindex("</div>") + len("</div>")]
    literal = json.dumps(block).replace("</", "<\\/")  # no "</script>" inside the script
    body = (
        '<div id="app"></div>\n'
        f"<script>setTimeout(function () {{ document.getElementById('app').outerHTML = "
        f"{literal}; }}, {int(delay_ms)});</script>\n"
    )
    return _document(f"{match.team1} – {match.team2}", body)


_INDEX_PAGE = _document("Rehearsal site", '<p><a href="/results">Results</a></p>\n')
_BLOCKED_PAGE = _document(
    "Access denied",
    '<div id="challenge"><h1>Access denied</h1>'
    "<p>Automated access is not allowed. Complete the challenge to continue.</p></div>\n",
)


def _page(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type=_HTML, charset=_CHARSET)


def _error_page(status: int, title: str) -> web.Response:
    return _page(_document(title, f"<h1>{_e(title)}</h1>\n"), status)


_ANSWERS = ErrorAnswers(error=_error_page, blocked=lambda: _page(_BLOCKED_PAGE, 403))


# -- the site --------------------------------------------------------------------------


class RehearsalSite(LocalSite):
    """A football-results website on 127.0.0.1 for rehearsing scrapes. See the module doc.

    Counting, latency, faults and the lifecycle (``start``, ``stop``, ``url``,
    ``async with``) are those of :class:`~scrapeline.testing.serving.LocalSite`.

    ``matches`` defaults to :func:`load_sample`; ids must be unique
    (:class:`ValueError` otherwise). ``latency`` is a ``(low, high)`` range in
    seconds, a fixed delay, or ``None``/``0`` for none.
    """

    def __init__(
        self,
        matches: Sequence[Match] | None = None,
        *,
        page_size: int = 100,
        latency: tuple[float, float] | float | None = DEFAULT_LATENCY,
        faults: Faults | None = None,
        seed: int = 0,
        hidden_newest: int = 0,
        robots_txt: str = DEFAULT_ROBOTS_TXT,
    ) -> None:
        ordered = sorted(load_sample() if matches is None else matches, key=listing_key)
        ordered.reverse()
        position = {m.id: i for i, m in enumerate(ordered)}
        if len(position) != len(ordered):
            raise ValueError("match ids must be unique")
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        if not 0 <= hidden_newest <= len(ordered):
            raise ValueError(f"hidden_newest must be between 0 and {len(ordered)}")
        super().__init__(latency=latency, faults=faults, seed=seed, answers=_ANSWERS)
        self._ordered = ordered
        self._position = position
        self._hidden = hidden_newest
        self.page_size = page_size
        self.robots_txt = robots_txt
        self._listing_requests = 0

    # -- state a test can read or change ------------------------------------------------

    @property
    def matches(self) -> Sequence[Match]:
        """The matches currently listed, newest first (held-back ones excluded)."""
        return self._ordered[self._hidden :]

    @property
    def hidden(self) -> int:
        """How many of the newest matches are still held back."""
        return self._hidden

    def reveal(self, n: int = 1) -> int:
        """Show ``n`` more held-back matches at the top of the listing.

        The oldest held-back matches come first, so the listing stays in date
        order. Returns how many were revealed (fewer than ``n`` if fewer were
        held back). Raises :class:`ValueError` for a negative ``n``.
        """
        if n < 0:
            raise ValueError("reveal(n) needs n >= 0")
        revealed = min(n, self._hidden)
        self._hidden -= revealed
        return revealed

    # -- request handling ---------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._index)
        app.router.add_get("/robots.txt", self._robots)
        app.router.add_get("/results", self._listing)
        app.router.add_get(r"/matches/{id:\d+}", self._match)
        app.router.add_get(r"/matches/{id:\d+}/halves/{half}", self._half)
        app.router.add_get(r"/js/matches/{id:\d+}", self._js_match)

    def arrived(self, request: web.Request) -> None:
        if request.path == "/results":
            every = self.faults.new_results_every
            if every and self._listing_requests and self._listing_requests % every == 0:
                self.reveal(1)
            self._listing_requests += 1

    def _visible(self, request: web.Request) -> Match:
        match_id = int(request.match_info["id"])
        index = self._position.get(match_id)
        if index is None or index < self._hidden:
            raise web.HTTPNotFound(text=f"no match {match_id}")
        return self._ordered[index]

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return _page(_INDEX_PAGE)

    async def _robots(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=self.robots_txt, content_type="text/plain", charset=_CHARSET)

    async def _listing(self, request: web.Request) -> web.StreamResponse:
        raw_offset = request.query.get("offset", "0")
        if _OFFSET.fullmatch(raw_offset) is None:
            raise web.HTTPBadRequest(text=f"offset must be a whole number >= 0: {raw_offset!r}")
        offset = int(raw_offset)
        visible = self.matches
        rows = visible[offset : offset + self.page_size]
        more = offset + self.page_size < len(visible)
        return _page(listing_page(rows, offset + self.page_size if more else None))

    async def _match(self, request: web.Request) -> web.StreamResponse:
        match = self._visible(request)
        return _page(match_page(match, broken=fault_of(request) is Fault.BROKEN))

    async def _js_match(self, request: web.Request) -> web.StreamResponse:
        match = self._visible(request)
        raw_delay = request.query.get("delay", "200")
        if _OFFSET.fullmatch(raw_delay) is None:
            raise web.HTTPBadRequest(text=f"delay must be whole milliseconds: {raw_delay!r}")
        return _page(js_match_page(match, delay_ms=int(raw_delay)))

    async def _half(self, request: web.Request) -> web.StreamResponse:
        match = self._visible(request)
        half = request.match_info["half"]
        if half not in ("1", "2") or match.halves is None:
            raise web.HTTPNotFound(text=f"match {match.id} has no half {half}")
        return _page(half_page(match, int(half)))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m scrapeline.testing.site``: serve until Ctrl+C, print the URL."""
    parser = argparse.ArgumentParser(
        prog="python -m scrapeline.testing.site",
        description="Serve the football rehearsal site on 127.0.0.1.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-latency", action="store_true", help="answer without delay")
    parser.add_argument("--full", metavar="DIR", help="serve the full openfootball directory")
    args = parser.parse_args(argv)
    site = RehearsalSite(
        load_full(args.full) if args.full else None,
        latency=None if args.no_latency else DEFAULT_LATENCY,
        seed=args.seed,
    )
    serve_forever(site, args.host, args.port, on_ready=lambda url: print(url, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
