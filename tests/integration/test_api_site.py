"""The rehearsal site's JSON API over real HTTP: the tree, pages, cursors, 304s, a day's changes.

Every test talks to a real server on 127.0.0.1 (port 0) with a real aiohttp
client and reads the JSON the way a pipeline would.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import orjson
import pytest

from scrapeline.testing import ApiSite, Faults, Match, serve_in_thread

StartApi = Callable[..., Awaitable[ApiSite]]
Answer = tuple[int, Any, Mapping[str, str]]


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def start_api() -> AsyncIterator[StartApi]:
    started: list[ApiSite] = []

    async def start(*args: Any, **kwargs: Any) -> ApiSite:
        kwargs.setdefault("latency", None)
        site = ApiSite(*args, **kwargs)
        await site.start()
        started.append(site)
        return site

    yield start
    for site in started:
        await site.stop()


async def get(
    client: aiohttp.ClientSession, url: str, headers: Mapping[str, str] | None = None
) -> Answer:
    async with client.get(url, headers=headers) as response:
        body = await response.read()
        if response.status == 200:
            assert response.content_type == "application/json"
        return response.status, orjson.loads(body) if body else None, response.headers


def match(
    id: int,
    date: str,
    *,
    league: str = "aa.1",
    season: str = "2024-25",
    competition: str = "Alpha League 2024/25",
    ft: tuple[int, int] | None = (2, 1),
    ht: tuple[int, int] | None = (1, 0),
) -> Match:
    return Match(
        id=id,
        date=date,
        time="15:00",
        season=season,
        competition=competition,
        league=league,
        round=f"Matchday {id}",
        team1=f"Home {id}",
        team2=f"Away {id}",
        ft=ft,
        ht=ht,
    )


def small_data() -> list[Match]:
    """Two tournaments: Alpha (2024/25: ids 1-7, the newest; 2023/24: 11-14), Beta (2024)."""
    alpha = [match(i, f"2025-05-0{i}") for i in range(1, 8)]
    alpha[0] = match(1, "2025-05-01", ft=None, ht=None)  # not played
    old = [
        match(10 + i, f"2024-04-0{i}", season="2023-24", competition="Alpha League 2023/24")
        for i in range(1, 5)
    ]
    beta = [
        match(7 + i, f"2024-11-0{i}", league="bb.1", season="2024", competition="Beta Cup 2024")
        for i in range(1, 4)
    ]
    return alpha + old + beta


async def walk_pages(client: aiohttp.ClientSession, url: str, name: str) -> list[Any]:
    """Every row of a page-number listing, following hasNextPage from page 0."""
    rows: list[Any] = []
    page = 0
    while True:
        status, document, _ = await get(client, f"{url}?page={page}")
        assert status == 200 and document["page"] == page
        rows += document[name]
        if not document["hasNextPage"]:
            return rows
        page += 1


async def walk_tree(client: aiohttp.ClientSession, base: str) -> dict[int, list[int]]:
    """Event ids per season id, walked tournaments → seasons → events."""
    found: dict[int, list[int]] = {}
    for tournament in await walk_pages(client, f"{base}/api/tournaments", "tournaments"):
        seasons_url = f"{base}/api/tournaments/{tournament['id']}/seasons"
        for season in await walk_pages(client, seasons_url, "seasons"):
            events = await walk_pages(client, f"{base}/api/seasons/{season['id']}/events", "events")
            found[season["id"]] = [e["id"] for e in events]
    return found


def last_modified(headers: Mapping[str, str]) -> float:
    return parsedate_to_datetime(headers["Last-Modified"]).timestamp()


# -- the tree ----------------------------------------------------------------------------


async def test_the_tree_walk_reaches_exactly_the_expected_events(
    start_api: StartApi, client: aiohttp.ClientSession
) -> None:
    site = await start_api(unpublished=5)
    walked = await walk_tree(client, site.url)
    ids = [i for season in walked.values() for i in season]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(m.id for m in site.expected())
    for season_id, season_ids in walked.items():
        assert season_ids == [m.id for m in site.events_of(season_id)]  # newest first
    assert len(walked) == sum(len(t.seasons) for t in site.tournaments) == 22


async def test_details_carry_what_the_source_holds(
    start_api: StartApi, client: aiohttp.ClientSession
) -> None:
    site = await start_api(small_data())
    alpha = next(t for t in site.tournaments if t.name == "Alpha League")
    for m in site.expected():
        status, document, _ = await get(client, f"{site.url}/api/events/{m.id}")
        assert status == 200
        event = document["event"]
        assert (event["id"], event["startDate"], event["startTime"], event["round"]) == (
            m.id,
            m.date,
            m.time,
            m.round,
        )
        assert event["homeTeam"]["name"] == m.team1 and event["awayTeam"]["name"] == m.team2
        assert event["season"] == site.season_of(m.id)
        if m.league == "aa.1":
            assert event["tournament"] == alpha.id
        if m.ft is None:
            assert (event["homeScore"], event["status"], event["halves"]) == (
                None,
                "notstarted",
                None,
            )
        else:
            assert (event["homeScore"], event["awayScore"]) == m.ft
            assert event["status"] == "finished"
            assert event["halves"] == [{"home": 1, "away": 0}, {"home": 1, "away": 1}]
    assert (await get(client, f"{site.url}/api/events/999"))[0] == 404


async def test_tournaments_and_seasons_are_named_and_newest_first(
    start_api: StartApi, client: aiohttp.ClientSession
) -> None:
    site = await start_api(small_data())
    _, document, _ = await get(client, f"{site.url}/api/tournaments")
    tournaments = document["tournaments"]
    assert [(t["name"], t["slug"]) for t in tournaments] == [
        ("Alpha League", "alpha-league"),
        ("Beta Cup", "beta-cup"),
    ]
    _, document, _ = await get(client, f"{site.url}/api/tournaments/{tournaments[0]['id']}/seasons")
    assert [(s["name"], s["year"]) for s in document["seasons"]] == [
        ("2024/25", "24/25"),
        ("2023/24", "23/24"),
    ]
    _, document, _ = await get(client, f"{site.url}/api/tournaments/{tournaments[1]['id']}/seasons")
    assert [(s["name"], s["year"]) for s in document["seasons"]] == [("2024", "2024")]
    assert (await get(client, f"{site.url}/api/tournaments/1/seasons"))[0] == 404
    assert (await get(client, f"{site.url}/api/seasons/1/events"))[0] == 404


def test_ids_are_stable_across_sites_and_data_sets() -> None:
    def ids(site: ApiSite) -> dict[str, tuple[int, list[int]]]:
        return {t.league: (t.id, [s.id for s in t.seasons]) for t in site.tournaments}

    everything = ids(ApiSite(small_data(), latency=None))
    assert everything == ids(ApiSite(list(reversed(small_data())), latency=None, seed=3))
    alpha_only = ids(ApiSite([m for m in small_data() if m.league == "aa.1"], latency=None))
    assert alpha_only == {"aa.1": everything["aa.1"]}


# -- page numbers ------------------------------------------------------------------------


async def test_last_page_says_so_and_a_page_past_it_is_404(
    start_api: StartApi, client: aiohttp.ClientSession
) -> None:
    site = await start_api(small_data(), page_size=3)
    newest = site.season_of(7)
    url = f"{site.url}/api/seasons/{newest}/events"
    pages = [(await get(client, f"{url}?page={n}"))[1] for n in range(3)]
    assert [[e["id"] for e in p["events"]] for p in pages] == [[7, 6, 5], [4, 3, 2], [1]]
    assert [p["hasNextPage"] for p in pages] == [True, True, False]
    assert (await get(client, f"{url}?page=3"))[0] == 404
    assert (await get(client, url))[1] == pages[0]  # no page: page 0
    for bad in ("-1", "x", "1.5", ""):
        status, document, _ = await get(client, f"{url}?page={bad}")
        assert status == 400 and document["error"]["code"] == 400
    assert (await get(client, f"{site.url}/api/tournaments?page=1"))[0] == 404


async def test_a_season_with_nothing_published_has_an_empty_page_0(
    start_api: StartApi, client: aiohttp.ClientSession
) -> None:
    site = await start_api(small_data(), unpublished=7)
    url = f"{site.url}/api/seasons/{site.season_of(7)}/events"
    status, document, _ = await get(client, url)
    assert status == 200 and document == {"events": [], "page": 0, "hasNextPage": False}
    assert (await get(client, f"{url}?page=1"))[0] == 404


async def test_publish_shifts_the_season_listing_and_changes_its_first_page(
    start_api: StartApi, client: aiohttp.ClientSession
) -> None:
    site = await start_api(small_data(), page_size=3, unpublished=3)
    url = f"{site.url}/api/seasons/{site.season_of(7)}/events"
    _, before, headers = await get(client, url)
    assert [e["id"] for e in before["events"]] == [4, 3, 2]
    assert (await get(client, f"{site.url}/api/events/5"))[0] == 404

    assert site.publish(2) == [5, 6]
    assert site.unpublished == 1
    status, after, new_headers = await get(client, url, {"If-None-Match": headers["ETag"]})
    assert status == 200
    assert [e["id"] for e in after["events"]] == [6, 5, 4]
    assert [e["id"] for e in (await get(client, f"{url}?page=1"))[1]["events"]] == [3, 2, 1]
    assert new_headers["ETag"] != headers["ETag"]
    assert last_modified(new_headers) > last_modified(headers)
    assert (await get(client, f"{site.url}/api/events/5"))[0] == 200
    assert (await get(client, f"{site.url}/api/events/7"))[0] == 404
    assert [m.id for m in site.events_of(site.season_of(7))] == [6, 5, 4, 3, 2, 1]
    assert site.publish(5) == [7] and site.publish() == []
    with pytest.raises(ValueError):
        site.publish(-1)


async def test_new_results_every_n_event_listing_requests(
    start_api: StartApi, client: aiohttp.ClientSession
) -> None:
    site = await start_api(small_data(), unpublished=3, faults=Faults(new_results_every=2))
    url = f"{site.url}/api/seasons/{site.season_of(7)}/events"
    tops = [(await get(client, url))[1]["events"][0]["id"] for _ in range(6)]
    assert tops == [4, 4, 5, 5, 6, 6]
    await get(client, f"{site.url}/api/events/1")  # a detail is not a listing
    await get(client, f"{site.url}/api/tournaments")
    assert site.unpublished == 1


# -- the cursor listing ------------------------------------------------------------------


async def walk_cursor(
    client: aiohttp.ClientSession, base: str, between_pages: Callable[[int], None] | None = None
) -> list[int]:
    """Every event id of the cursor listing, following ``next`` from the first page."""
    ids: list[int] = []
    url: str | None = f"{base}/api/events"
    pages = 0
    while url is not None:
        status, document, _ = await get(client, url)
        assert status == 200
        ids += [e["id"] for e in document["events"]]
        cursor = document["nextCursor"]
        expected_next = None if cursor is None else f"{base}/api/events?cursor={cursor}"
        assert document["next"] == expected_next
        url = document["next"]
        pages += 1
        if between_pages is not None:
            between_pages(pages)
    return ids


async def test_the_cursor_walk_reaches_every_event_once(
    start_api: StartApi, client: aiohttp.ClientSession
) -> None:
    site = await start_api(unpublished=4)
    ids = await walk_cursor(client, site.url)
    assert ids == [m.id for m in site.expected()]  # newest first, each once


async def test_the_cursor_walk_stays_right_when_events_are_published_mid_walk(
    start_api: StartApi, client: aiohttp.ClientSession
) -> None:
    site = await start_api(unpublished=8)
    before = [m.id for m in site.expected()]
    published: list[int] = []

    def publish_now_and_then(pages: int) -> None:
        if pages in (1, 3, 40):
            published.extend(site.publish(2))

    ids = await walk_cursor(client, site.url, publish_now_and_then)
    assert ids == before  # nothing skipped, nothing twice
    assert len(published) == 6 and site.unpublished == 2
    # The next run's first page starts with them, newest first.
    _, document, _ = await get(client, f"{site.url}/api/events")
    assert [e["id"] for e in document["events"][:6]] == published[::-1]


async def test_cursors_are_opaque_and_checked(
    start_api: StartApi, client: aiohttp.ClientSession
) -> None:
    site = await start_api(small_data(), page_size=4, unpublished=2)
    _, first, _ = await get(client, f"{site.url}/api/events")
    cursor = first["nextCursor"]
    assert [e["id"] for e in first["events"]] == [5, 4, 3, 2]
    assert not cursor.isdigit()  # not an offset or an id a client could make up
    for bad in ("nonsense", "YWZ0ZXI6OTk5", "YWZ0ZXI6Nw"):  # garbage, after:999, after:7 (held)
        status, document, _ = await get(client, f"{site.url}/api/events?cursor={bad}")
        assert status == 400 and "cursor" in document["error"]["message"]
    _, second, _ = await get(client, f"{site.url}/api/events?cursor={cursor}")
    assert [e["id"] for e in second["events"]] == [1, 10, 9, 8]
    _, last, _ = await get(client, second["next"])
    assert [e["id"] for e in last["events"]] == [14, 13, 12, 11]
    assert last["nextCursor"] is None and last["next"] is None


# -- conditional requests ----------------------------------------------------------------


async def test_a_matching_etag_answers_304_without_a_body_and_is_counted(
    start_api: StartApi, client: aiohttp.ClientSession
) -> None:
    site = await start_api(small_data())
    url = f"{site.url}/api/events/3"
    status, document, headers = await get(client, url)
    assert status == 200 and headers["ETag"].startswith('"')
    etag = headers["ETag"]
    async with client.get(url, headers={"If-None-Match": etag}) as response:
        assert response.status == 304
        assert await response.read() == b""
        assert response.headers["ETag"] == etag
    assert (await get(client, url, {"If-None-Match": f'"other", W/{etag}'}))[0] == 304
    assert (await get(client, url, {"If-None-Match": '"other"'}))[1] == document
    assert site.not_modified == {"/api/events/3": 2}
    assert site.hits["/api/events/3"] == 4 and site.served["/api/events/3"] == 2
    listing = f"{site.url}/api/events"
    _, _, listing_headers = await get(client, listing)
    assert (await get(client, listing, {"If-None-Match": listing_headers["ETag"]}))[0] == 304


async def test_if_modified_since_is_used_without_if_none_match(
    start_api: StartApi, client: aiohttp.ClientSession
) -> None:
    site = await start_api(small_data(), seed=5)
    url = f"{site.url}/api/tournaments"
    _, _, headers = await get(client, url)
    stamp = headers["Last-Modified"]
    assert stamp.endswith(" GMT")
    assert (await get(client, url, {"If-Modified-Since": stamp}))[0] == 304
    earlier = "Mon, 01 Jan 2024 00:00:00 GMT"
    assert (await get(client, url, {"If-Modified-Since": earlier}))[0] == 200
    assert (await get(client, url, {"If-Modified-Since": "not a date"}))[0] == 200
    # If-None-Match decides when both are given.
    both = {"If-Modified-Since": stamp, "If-None-Match": '"stale"'}
    assert (await get(client, url, both))[0] == 200
    other_seed = ApiSite(small_data(), latency=None, seed=6)
    async with other_seed:
        _, _, other = await get(client, f"{other_seed.url}/api/tournaments")
    assert other["Last-Modified"] != stamp and other["ETag"] == headers["ETag"]


async def test_a_correction_changes_the_detail_and_its_validators(
    start_api: StartApi, client: aiohttp.ClientSession
) -> None:
    site = await start_api(small_data())
    detail = f"{site.url}/api/events/3"
    listing = f"{site.url}/api/seasons/{site.season_of(3)}/events"
    _, before, headers = await get(client, detail)
    _, _, listing_headers = await get(client, listing)

    site.correct(3, home=0, away=4)
    status, after, new_headers = await get(client, detail, {"If-None-Match": headers["ETag"]})
    assert status == 200
    assert (after["event"]["homeScore"], after["event"]["awayScore"]) == (0, 4)
    assert after["event"]["halves"] is None  # 1-0 at half time cannot end 0-4
    assert new_headers["ETag"] != headers["ETag"]
    assert last_modified(new_headers) > last_modified(headers)
    stale = {"If-Modified-Since": headers["Last-Modified"]}
    assert (await get(client, detail, stale))[0] == 200
    # Listings carry no scores: they did not change.
    assert (await get(client, listing, {"If-None-Match": listing_headers["ETag"]}))[0] == 304
    assert next(m for m in site.expected() if m.id == 3).ft == (0, 4)
    assert before["event"]["homeScore"] == 2
    with pytest.raises(ValueError):
        site.correct(999, home=1, away=0)
    with pytest.raises(ValueError):
        site.correct(3, home=-1, away=0)


# -- faults, as a client sees them -------------------------------------------------------


async def test_server_errors_and_rate_limits_answer_json(
    start_api: StartApi, client: aiohttp.ClientSession
) -> None:
    failing = await start_api(small_data(), faults=Faults(server_error=1.0))
    status, document, _ = await get(client, f"{failing.url}/api/events")
    assert status == 503 and document["error"]["code"] == 503
    async with client.get(f"{failing.url}/robots.txt") as robots:
        assert robots.status == 200  # exempt
        assert await robots.text() == "User-agent: *\nAllow: /\n"
    limited = await start_api(small_data(), faults=Faults(rate_limit=1.0, retry_after=4))
    status, _, headers = await get(client, f"{limited.url}/api/events/3")
    assert status == 429 and headers["Retry-After"] == "4"
    blocked = await start_api(small_data(), faults=Faults(blocked=1.0))
    assert (await get(client, f"{blocked.url}/api/tournaments"))[0] == 403
    assert "/api/events" not in failing.served
    assert limited.served == blocked.served == {}


async def test_drops_and_fail_paths(start_api: StartApi, client: aiohttp.ClientSession) -> None:
    dropping = await start_api(small_data(), faults=Faults(drop=1.0))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await get(client, f"{dropping.url}/api/events/3")
    assert dropping.hits["/api/events/3"] >= 1
    site = await start_api(small_data(), faults=Faults(fail_paths=frozenset({"/api/events/3"})))
    for _ in range(2):
        assert (await get(client, f"{site.url}/api/events/3"))[0] == 500
    assert (await get(client, f"{site.url}/api/events/4"))[0] == 200


async def test_faults_replay_for_the_same_seed(
    start_api: StartApi, client: aiohttp.ClientSession
) -> None:
    plan = Faults(server_error=0.3, rate_limit=0.2)
    paths = [f"/api/events/{i}" for i in range(1, 15) if i not in (8, 9, 10)] * 3

    async def statuses(seed: int) -> list[int]:
        site = await start_api(small_data(), faults=plan, seed=seed)
        return [(await get(client, site.url + path))[0] for path in paths]

    first = await statuses(1)
    assert first == await statuses(1)
    assert first != await statuses(2)
    assert set(first) == {200, 429, 503}


def test_bad_settings_are_refused() -> None:
    m = small_data()[0]
    with pytest.raises(ValueError, match="unique"):
        ApiSite([m, m])
    with pytest.raises(ValueError):
        ApiSite(small_data(), page_size=0)
    with pytest.raises(ValueError):
        ApiSite(small_data(), unpublished=8)  # the newest season has 7


# -- outside an event loop ---------------------------------------------------------------


def fetch(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, orjson.loads(exc.read())


def test_serve_in_thread_binds_localhost() -> None:
    site = ApiSite(small_data(), latency=None)
    with serve_in_thread(site) as url:
        assert url == site.url and url.startswith("http://127.0.0.1:")
        status, document = fetch(f"{url}/api/events/2")
        assert status == 200 and document["event"]["id"] == 2
        assert fetch(f"{url}/api/events/99")[0] == 404
    with pytest.raises(urllib.error.URLError):
        fetch(f"{url}/api/events/2")


def test_it_serves_from_a_shell_until_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "scrapeline.testing.api", "--no-latency", "--page-size", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        status, document = fetch(f"{url}/api/events")
        assert status == 200 and len(document["events"]) == 5
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 0, stderr
        assert stderr == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
