"""The rehearsal site over real HTTP: pages, pagination, faults, reveal, threads, full data.

Every test talks to a real server on 127.0.0.1 (port 0) with a real aiohttp
client, and parses pages with selectolax the way a pipeline would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import aiohttp
import pytest
from selectolax.lexbor import LexborHTMLParser, LexborNode

from scrapeline.testing import (
    Faults,
    Match,
    RehearsalSite,
    find_full_dataset,
    load_full,
    serve_in_thread,
)
from scrapeline.testing.football import (
    SAMPLE_PLAYED,
    SAMPLE_SIZE,
    SAMPLE_UNPLAYED,
    _encode_sample,
    _select_sample,
    listing_key,
)

StartSite = Callable[..., Awaitable[RehearsalSite]]

# -- parsing, as a pipeline would -------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Row:
    id: int
    date: str
    competition: str
    teams: str
    href: str
    score: str


@dataclass(frozen=True, kw_only=True)
class Listing:
    rows: list[Row]
    next_href: str | None


def text(node: LexborNode | None) -> str:
    assert node is not None
    return node.text()


def parse_listing(page: str) -> Listing:
    tree = LexborHTMLParser(page)
    assert tree.css_first("table#results") is not None
    rows = []
    for tr in tree.css("table#results tr.match"):
        link = tr.css_first("td.teams a")
        assert link is not None
        rows.append(
            Row(
                id=int(tr.attributes["data-id"] or ""),
                date=text(tr.css_first("td.date")),
                competition=text(tr.css_first("td.competition")),
                teams=link.text(),
                href=link.attributes["href"] or "",
                score=text(tr.css_first("td.score")),
            )
        )
    nxt = tree.css_first("nav a.next")
    return Listing(rows=rows, next_href=None if nxt is None else nxt.attributes["href"])


def parse_match(page: str, source: Match) -> Match:
    """The match page read back into a Match (id, season... from the page itself)."""
    tree = LexborHTMLParser(page)
    div = tree.css_first("div#match")
    assert div is not None
    ft = None
    score = text(div.css_first("h1 span.score"))
    if score:
        a, b = score.split("-")
        ft = (int(a), int(b))
    halves = [a.attributes["href"] for a in div.css("ul.halves li a")]
    match_id = int(div.attributes["data-id"] or "")
    assert halves == (
        [] if source.halves is None else [f"/matches/{match_id}/halves/{n}" for n in (1, 2)]
    )
    return Match(
        id=match_id,
        date=text(div.css_first("dd.date")),
        time=text(div.css_first("dd.time")) or None,
        season=text(div.css_first("dd.season")),
        competition=text(div.css_first("dd.competition")),
        league=source.league,  # not on the page
        round=text(div.css_first("dd.round")) or None,
        team1=text(div.css_first("h1 span.team1")),
        team2=text(div.css_first("h1 span.team2")),
        ft=ft,
        ht=source.ht,  # only derivable through the half pages
    )


def parse_half(page: str) -> tuple[int, int, str, str, int, int]:
    div = LexborHTMLParser(page).css_first("div#half")
    assert div is not None
    return (
        int(div.attributes["data-match"] or ""),
        int(div.attributes["data-half"] or ""),
        text(div.css_first("span.team1")),
        text(div.css_first("span.team2")),
        int(text(div.css_first("span.goals1"))),
        int(text(div.css_first("span.goals2"))),
    )


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def get(client: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with client.get(url) as response:
        return response.status, await response.text()


async def crawl_listing(client: aiohttp.ClientSession, base: str) -> list[Listing]:
    pages = []
    href: str | None = "/results"
    while href is not None:
        status, page = await get(client, base + href)
        assert status == 200
        pages.append(parse_listing(page))
        href = pages[-1].next_href
    return pages


def edge_matches() -> list[Match]:
    """Hand-made matches covering every optional field and HTML escaping."""
    base = {
        "season": "2024-25",
        "competition": 'Cup <"Final"> & Co',
        "league": "xx.1",
    }
    return [
        Match(
            id=1,
            date="2025-05-25",
            time="15:00",
            round="Final",
            team1="Brighton & Hove Albion",
            team2="<script>alert('x')</script>",
            ft=(3, 1),
            ht=(1, 1),
            **base,
        ),
        Match(
            id=2,
            date="2025-05-24",
            time=None,
            round=None,
            team1="Newell's Old Boys",
            team2="Guangzhou R&F",
            ft=None,
            ht=None,
            **base,
        ),
        Match(
            id=3,
            date="2025-05-23",
            time="9:30",
            round="R1",
            team1="A",
            team2="B",
            ft=(0, 2),
            ht=None,
            **base,
        ),
        Match(
            id=4,
            date="2025-05-22",
            time="20:00",
            round="R1",
            team1="C",
            team2="D",
            ft=(1, 0),
            ht=(2, 0),  # inconsistent in the data: halves unknown
            **base,
        ),
    ]


# -- listing ----------------------------------------------------------------------------


async def test_listing_covers_every_match_once_newest_first(
    start_site: StartSite, client: aiohttp.ClientSession, football_sample: Sequence[Match]
) -> None:
    site = await start_site()
    pages = await crawl_listing(client, site.url)

    assert len(pages) == (SAMPLE_SIZE + 99) // 100  # the last page may be partial
    assert [p.next_href for p in pages] == [
        *(f"/results?offset={100 * n}" for n in range(1, len(pages))),
        None,
    ]
    rows = [row for page in pages for row in page.rows]
    assert [r.id for r in rows] == [m.id for m in football_sample]
    by_id = {m.id: m for m in football_sample}
    for row in rows:
        m = by_id[row.id]
        assert (row.date, row.competition, row.teams, row.href, row.score) == (
            m.date,
            m.competition,
            f"{m.team1} – {m.team2}",
            f"/matches/{m.id}",
            m.score,
        )
    dates = [r.date for r in rows]
    assert dates == sorted(dates, reverse=True)


@pytest.mark.parametrize(("count", "page_size", "pages"), [(4, 2, 2), (4, 3, 2), (4, 4, 1)])
async def test_page_size_and_last_page(
    start_site: StartSite,
    client: aiohttp.ClientSession,
    count: int,
    page_size: int,
    pages: int,
) -> None:
    site = await start_site(edge_matches()[:count], page_size=page_size)
    crawled = await crawl_listing(client, site.url)
    assert len(crawled) == pages
    assert [r.id for p in crawled for r in p.rows] == [1, 2, 3, 4][:count]
    assert crawled[-1].next_href is None


@pytest.mark.parametrize("offset", [str(SAMPLE_SIZE), str(SAMPLE_SIZE + 1), "999999"])
async def test_offset_past_the_end_is_an_empty_page(
    start_site: StartSite, client: aiohttp.ClientSession, offset: str
) -> None:
    site = await start_site()
    status, page = await get(client, f"{site.url}/results?offset={offset}")
    assert status == 200
    assert parse_listing(page) == Listing(rows=[], next_href=None)


@pytest.mark.parametrize("offset", ["-1", "x", "1.5", "", "+5", "1e3", "%201"])
async def test_bad_offset_is_400(
    start_site: StartSite, client: aiohttp.ClientSession, offset: str
) -> None:
    site = await start_site(edge_matches())
    status, _ = await get(client, f"{site.url}/results?offset={offset}")
    assert status == 400


async def test_exact_listing_markup(start_site: StartSite, client: aiohttp.ClientSession) -> None:
    site = await start_site(edge_matches()[:2], page_size=1)
    async with client.get(f"{site.url}/results") as response:
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        page = await response.text()
    assert page == (
        '<!doctype html><html><head><meta charset="utf-8"><title>Results</title></head><body>\n'
        '<table id="results">\n'
        '<tr class="match" data-id="1"><td class="date">2025-05-25</td>'
        '<td class="competition">Cup &lt;&quot;Final&quot;&gt; &amp; Co</td>'
        '<td class="teams"><a href="/matches/1">Brighton &amp; Hove Albion – '
        "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;</a></td>"
        '<td class="score">3-1</td></tr>\n'
        "</table>\n"
        '<nav><a class="next" href="/results?offset=1">next</a></nav>\n'
        "</body></html>\n"
    )


# -- match and half pages ---------------------------------------------------------------


async def check_match_pages(
    client: aiohttp.ClientSession, base: str, matches: Sequence[Match]
) -> None:
    for m in matches:
        status, page = await get(client, f"{base}/matches/{m.id}")
        assert status == 200, m
        assert parse_match(page, m) == m
        for n in (1, 2):
            status, page = await get(client, f"{base}/matches/{m.id}/halves/{n}")
            if m.halves is None:
                assert status == 404, m
                continue
            assert status == 200, m
            assert parse_half(page) == (m.id, n, m.team1, m.team2, *m.halves[n - 1])


async def test_edge_case_pages_parse_back_to_the_data(
    start_site: StartSite, client: aiohttp.ClientSession
) -> None:
    site = await start_site(edge_matches())
    await check_match_pages(client, site.url, edge_matches())


async def test_sample_pages_parse_back_to_the_data(
    start_site: StartSite, client: aiohttp.ClientSession, football_sample: Sequence[Match]
) -> None:
    site = await start_site()
    # Every 20th match, plus some of each page shape.
    shapes = [
        [m for m in football_sample if m.halves is not None][:40],
        [m for m in football_sample if m.ft is not None and m.halves is None][:20],
        [m for m in football_sample if m.ft is None][:20],
        [m for m in football_sample if m.time is None][:20],
    ]
    chosen = list(
        {
            m.id: m for m in [*football_sample[::20], *(m for shape in shapes for m in shape)]
        }.values()
    )
    assert all(len(shape) == size for shape, size in zip(shapes, (40, 20, 20, 20), strict=True))
    await check_match_pages(client, site.url, chosen)


async def test_exact_match_and_half_markup(
    start_site: StartSite, client: aiohttp.ClientSession
) -> None:
    site = await start_site(edge_matches())
    wrapper = '<!doctype html><html><head><meta charset="utf-8"><title>{}</title></head><body>\n'
    _, page = await get(client, f"{site.url}/matches/3")
    assert page == wrapper.format("A – B") + (
        '<div id="match" data-id="3">\n'
        '<h1><span class="team1">A</span> <span class="score">0-2</span>'
        ' <span class="team2">B</span></h1>\n'
        '<dl><dt>Date</dt><dd class="date">2025-05-23</dd><dt>Time</dt><dd class="time">9:30</dd>'
        '<dt>Competition</dt><dd class="competition">Cup &lt;&quot;Final&quot;&gt; &amp; Co</dd>'
        '<dt>Season</dt><dd class="season">2024-25</dd>'
        '<dt>Round</dt><dd class="round">R1</dd></dl>\n'
        '<ul class="halves"></ul>\n'
        "</div>\n</body></html>\n"
    )
    _, page = await get(client, f"{site.url}/matches/1")
    assert (
        '<ul class="halves"><li><a href="/matches/1/halves/1">1st half</a></li>'
        '<li><a href="/matches/1/halves/2">2nd half</a></li></ul>\n'
    ) in page
    _, page = await get(client, f"{site.url}/matches/1/halves/2")
    assert page == wrapper.format(
        "Brighton &amp; Hove Albion – &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;, half 2"
    ) + (
        '<div id="half" data-match="1" data-half="2">'
        '<span class="team1">Brighton &amp; Hove Albion</span> <span class="goals1">2</span> '
        '<span class="goals2">0</span> '
        '<span class="team2">&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;</span></div>\n'
        "</body></html>\n"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/matches/99",
        "/matches/abc",
        "/matches/1/halves/0",
        "/matches/1/halves/3",
        "/matches/1/halves/01",
        "/matches/1/halves/x",
        "/matches/2/halves/1",  # no score at all
        "/matches/3/halves/1",  # full time only
        "/matches/4/halves/2",  # inconsistent halves
        "/matches/99/halves/1",
        "/nowhere",
    ],
)
async def test_unknown_pages_are_404(
    start_site: StartSite, client: aiohttp.ClientSession, path: str
) -> None:
    site = await start_site(edge_matches())
    status, _ = await get(client, site.url + path)
    assert status == 404


async def test_robots_txt_default_and_custom(
    start_site: StartSite, client: aiohttp.ClientSession
) -> None:
    default = await start_site(edge_matches())
    custom = await start_site(edge_matches(), robots_txt="User-agent: *\nDisallow: /matches/\n")
    async with client.get(f"{default.url}/robots.txt") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        assert await response.text() == "User-agent: *\nAllow: /\n"
    assert await get(client, f"{custom.url}/robots.txt") == (
        200,
        "User-agent: *\nDisallow: /matches/\n",
    )


def test_duplicate_ids_and_bad_settings_are_refused() -> None:
    m = edge_matches()[0]
    with pytest.raises(ValueError, match="unique"):
        RehearsalSite([m, m])
    with pytest.raises(ValueError):
        RehearsalSite(edge_matches(), page_size=0)
    with pytest.raises(ValueError):
        RehearsalSite(edge_matches(), hidden_newest=5)
    with pytest.raises(ValueError):
        RehearsalSite(edge_matches(), latency=(0.2, 0.1))


# -- faults, as a client sees them -------------------------------------------------------


async def test_server_error(start_site: StartSite, client: aiohttp.ClientSession) -> None:
    site = await start_site(edge_matches(), faults=Faults(server_error=1.0))
    assert (await get(client, f"{site.url}/results"))[0] == 503
    assert (await get(client, f"{site.url}/matches/1"))[0] == 503
    assert (await get(client, f"{site.url}/robots.txt"))[0] == 200  # robots.txt is exempt


async def test_rate_limit_announces_retry_after(
    start_site: StartSite, client: aiohttp.ClientSession
) -> None:
    site = await start_site(edge_matches(), faults=Faults(rate_limit=1.0, retry_after=3))
    async with client.get(f"{site.url}/matches/1") as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "3"


async def test_slow_answers_late_but_complete(
    start_site: StartSite, client: aiohttp.ClientSession
) -> None:
    site = await start_site(edge_matches(), faults=Faults(slow=1.0, slow_seconds=0.3))
    started = time.monotonic()
    status, page = await get(client, f"{site.url}/matches/1")
    assert time.monotonic() - started >= 0.3
    assert status == 200
    assert parse_match(page, edge_matches()[0]) == edge_matches()[0]


async def test_drop_disconnects_without_an_answer(
    start_site: StartSite, client: aiohttp.ClientSession
) -> None:
    site = await start_site(edge_matches(), faults=Faults(drop=1.0))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await get(client, f"{site.url}/matches/1")
    assert site.hits["/matches/1"] >= 1
    assert site.served["/matches/1"] == 0
    # The server is still healthy: exempt paths answer on a fresh connection.
    assert (await get(client, f"{site.url}/robots.txt"))[0] == 200


async def test_broken_match_page_lacks_its_heading(
    start_site: StartSite, client: aiohttp.ClientSession
) -> None:
    site = await start_site(edge_matches(), faults=Faults(broken=1.0))
    status, page = await get(client, f"{site.url}/matches/1")
    assert status == 200
    tree = LexborHTMLParser(page)
    assert tree.css_first("div#match") is not None
    assert tree.css_first("div#match h1") is None
    assert tree.css_first("span.team1") is None
    assert text(tree.css_first("dd.date")) == "2025-05-25"
    assert site.served["/matches/1"] == 1
    # Listing and half pages are not "broken".
    assert len(parse_listing((await get(client, f"{site.url}/results"))[1]).rows) == 4
    assert parse_half((await get(client, f"{site.url}/matches/1/halves/1"))[1])[4:] == (1, 1)


async def test_blocked_is_an_anti_bot_page(
    start_site: StartSite, client: aiohttp.ClientSession
) -> None:
    site = await start_site(edge_matches(), faults=Faults(blocked=1.0))
    status, page = await get(client, f"{site.url}/results")
    assert status == 403
    assert "Access denied" in page
    assert LexborHTMLParser(page).css_first("div#challenge") is not None


async def test_fail_paths_always_500(start_site: StartSite, client: aiohttp.ClientSession) -> None:
    site = await start_site(edge_matches(), faults=Faults(fail_paths=frozenset({"/matches/2"})))
    for _ in range(3):
        assert (await get(client, f"{site.url}/matches/2"))[0] == 500
    assert (await get(client, f"{site.url}/matches/1"))[0] == 200
    assert site.hits["/matches/2"] == 3
    assert site.served["/matches/2"] == 0


async def test_only_paths_prefix_limits_faults(
    start_site: StartSite, client: aiohttp.ClientSession
) -> None:
    site = await start_site(
        edge_matches(), faults=Faults(server_error=1.0, only_paths_prefix="/matches/1/")
    )
    assert (await get(client, f"{site.url}/results"))[0] == 200
    assert (await get(client, f"{site.url}/matches/1"))[0] == 200
    assert (await get(client, f"{site.url}/matches/1/halves/1"))[0] == 503


async def test_faults_replay_for_the_same_seed(
    start_site: StartSite, client: aiohttp.ClientSession, football_sample: Sequence[Match]
) -> None:
    plan = Faults(server_error=0.2, rate_limit=0.1, blocked=0.1, broken=0.2)
    paths = [f"/matches/{m.id}" for m in football_sample[:60]] * 2  # second round: retries

    async def statuses(seed: int) -> list[tuple[int, bool]]:
        site = await start_site(faults=plan, seed=seed)
        out = []
        for path in paths:
            status, page = await get(client, site.url + path)
            out.append((status, "<h1>" in page))
        return out

    first, again, other = await statuses(5), await statuses(5), await statuses(6)
    assert first == again
    assert first != other
    assert {status for status, _ in first} == {200, 403, 429, 503}
    assert (200, False) in first  # broken pages occur
    assert first[:60] != first[60:]  # a retry gets a fresh draw


async def test_new_results_appear_every_n_listing_requests(
    start_site: StartSite, client: aiohttp.ClientSession
) -> None:
    site = await start_site(edge_matches(), hidden_newest=3, faults=Faults(new_results_every=2))
    tops = []
    for _ in range(7):
        tops.append(parse_listing((await get(client, f"{site.url}/results"))[1]).rows[0].id)
    assert tops == [4, 4, 3, 3, 2, 2, 1]
    assert site.hidden == 0
    # Non-listing requests do not count.
    assert (await get(client, f"{site.url}/matches/1"))[0] == 200


# -- reveal, hits, latency -------------------------------------------------------------


async def test_reveal_shifts_offsets_like_a_live_site(
    start_site: StartSite, client: aiohttp.ClientSession, football_sample: Sequence[Match]
) -> None:
    site = await start_site(hidden_newest=5, page_size=10)
    hidden = football_sample[:5]
    for m in hidden:
        assert (await get(client, f"{site.url}/matches/{m.id}"))[0] == 404

    async def ids(offset: int) -> list[int]:
        page = (await get(client, f"{site.url}/results?offset={offset}"))[1]
        return [r.id for r in parse_listing(page).rows]

    before = await ids(0) + await ids(10)
    assert before[0] == football_sample[5].id

    assert site.reveal(2) == 2
    after = await ids(0) + await ids(10)
    assert after[:2] == [football_sample[3].id, football_sample[4].id]
    assert after[2:] == before[:-2]
    assert (await get(client, f"{site.url}/matches/{football_sample[3].id}"))[0] == 200
    assert (await get(client, f"{site.url}/matches/{football_sample[2].id}"))[0] == 404

    assert site.reveal(10) == 3
    assert site.hidden == 0
    assert (await ids(0))[0] == football_sample[0].id
    with pytest.raises(ValueError):
        site.reveal(-1)


async def test_hits_count_every_request_and_served_only_200(
    start_site: StartSite, client: aiohttp.ClientSession
) -> None:
    site = await start_site(edge_matches(), faults=Faults(fail_paths=frozenset({"/matches/2"})))
    for path in ["/results?offset=2", "/results?offset=2", "/results", "/matches/2", "/nope"]:
        await get(client, site.url + path)
    await get(client, site.url + "/results?offset=-1")
    assert site.hits == {
        "/results?offset=2": 2,
        "/results": 1,
        "/matches/2": 1,
        "/nope": 1,
        "/results?offset=-1": 1,
    }
    assert site.served == {"/results?offset=2": 2, "/results": 1}


async def test_latency_delays_without_blocking_other_requests(
    start_site: StartSite, client: aiohttp.ClientSession
) -> None:
    site = await start_site(edge_matches(), latency=(0.2, 0.3))
    started = time.monotonic()
    results = await asyncio.gather(*(get(client, f"{site.url}/matches/1") for _ in range(20)))
    elapsed = time.monotonic() - started
    assert all(status == 200 for status, _ in results)
    assert 0.2 <= elapsed < 1.5  # 20 sequential requests would take at least 4 s


async def test_lifecycle_errors() -> None:
    site = RehearsalSite(edge_matches(), latency=None)
    with pytest.raises(RuntimeError, match="not running"):
        _ = site.url
    async with site:
        assert site.url.startswith("http://127.0.0.1:")
        with pytest.raises(RuntimeError, match="already running"):
            await site.start()
    await site.stop()  # idempotent
    with pytest.raises(RuntimeError):
        _ = site.url


# -- outside an event loop --------------------------------------------------------------


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


def test_serve_in_thread_from_sync_code() -> None:
    site = RehearsalSite(edge_matches(), latency=None)
    with serve_in_thread(site) as url:
        assert url == site.url and url.startswith("http://127.0.0.1:")
        status, page = fetch(f"{url}/results")
        assert status == 200
        assert [r.id for r in parse_listing(page).rows] == [1, 2, 3, 4]
        assert fetch(f"{url}/matches/99")[0] == 404
    assert site.hits["/results"] == 1
    with pytest.raises(urllib.error.URLError):
        fetch(f"{url}/results")


def test_serve_in_thread_reports_a_taken_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            pytest.raises(OSError),
            serve_in_thread(RehearsalSite(edge_matches(), latency=None), port=port),
        ):
            pass


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_forever_stops_cleanly_on_a_signal(signum: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "scrapeline.testing.site", "--no-latency"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert fetch(f"{url}/robots.txt")[0] == 200
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 0, stderr
        assert stderr == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


# -- the full data set ------------------------------------------------------------------

FULL_MATCHES = 92_900


def full_dataset_or_skip() -> Path:
    path = find_full_dataset()
    if path is None:
        reason = (
            "full openfootball data not found: set SCRAPELINE_FOOTBALL_DATA or place it at "
            "shared/data/openfootball beside the repository"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (required when CI=true)")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def full_matches() -> list[Match]:
    return load_full(full_dataset_or_skip())


def test_full_set_has_unique_stable_ids(full_matches: list[Match]) -> None:
    assert len(full_matches) == FULL_MATCHES
    ids = [m.id for m in full_matches]
    assert len(set(ids)) == FULL_MATCHES
    assert sorted(ids) == list(range(100_000, 100_000 + FULL_MATCHES))
    assert full_matches == sorted(full_matches, key=listing_key, reverse=True)


def test_sample_is_the_newest_played_and_unplayed_of_the_full_set(
    full_matches: list[Match], football_sample: Sequence[Match]
) -> None:
    played = [m for m in full_matches if m.ft is not None]
    unplayed = [m for m in full_matches if m.ft is None]
    assert [m for m in football_sample if m.ft is not None] == played[:SAMPLE_PLAYED]
    assert [m for m in football_sample if m.ft is None] == unplayed[:SAMPLE_UNPLAYED]


def test_packaged_sample_is_up_to_date(full_matches: list[Match]) -> None:
    rebuilt = _encode_sample(_select_sample(full_matches))  # what build_sample() writes
    packaged = resources.files("scrapeline.testing") / "data" / "football-sample.json.zst"
    assert rebuilt == packaged.read_bytes(), (
        "rebuild it: python -m scrapeline.testing.football --build-sample "
        "../shared/data/openfootball src/scrapeline/testing/data/football-sample.json.zst"
    )


async def test_site_serves_the_full_set(
    start_site: StartSite, client: aiohttp.ClientSession, full_matches: list[Match]
) -> None:
    site = await start_site(full_matches)
    last = (len(full_matches) - 1) // 100 * 100
    status, page = await get(client, f"{site.url}/results?offset={last}")
    listing = parse_listing(page)
    assert status == 200 and listing.next_href is None
    assert listing.rows[-1].id == 100_000
    oldest = full_matches[-1]
    await check_match_pages(client, site.url, [oldest])
