"""The prospects rehearsal site over real HTTP: its three sources serve exactly the
generated records (walked to the end as a scraper would), its pages end where they
should, two builds serve the same bytes, and the bundled example scrapes it through
scrapeline's own fetch path, the CLI in a subprocess, quarantining exactly the
records that break a quality rule."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from selectolax.lexbor import LexborHTMLParser, LexborNode

from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.testing import ProspectsSite, serve_in_thread
from scrapeline.testing.draft_truth import CombineRecord, InjuryLine, StatsRecord
from tests.e2e.conftest import scrapeline

StartSite = Callable[..., Awaitable[ProspectsSite]]


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def start() -> AsyncIterator[StartSite]:
    started: list[ProspectsSite] = []

    async def start(*args: Any, **kwargs: Any) -> ProspectsSite:
        kwargs.setdefault("latency", None)
        site = ProspectsSite(*args, **kwargs)
        await site.start()
        started.append(site)
        return site

    yield start
    for site in started:
        await site.stop()


async def get(client: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with client.get(url) as response:
        return response.status, await response.read()


def html(body: bytes) -> LexborHTMLParser:
    return LexborHTMLParser(body.decode())


def text(page: LexborHTMLParser | LexborNode, selector: str) -> str:
    node = page.css_first(selector)
    assert node is not None, selector
    return node.text(strip=True)


def inches(shown: str) -> int | None:
    if not shown:
        return None
    feet, inch = shown.split("-")
    return int(feet) * 12 + int(inch)


async def walk_combine(client: aiohttp.ClientSession, url: str) -> tuple[list[int], list[str]]:
    """Follow the rel=next links from /combine to the page without one: the ids listed
    and the pages walked."""
    ids: list[int] = []
    walked: list[str] = []
    path: str | None = "/combine"
    while path is not None:
        walked.append(path)
        status, body = await get(client, url + path)
        assert status == 200, path
        page = html(body)
        ids += [int(row.attributes["data-id"] or 0) for row in page.css("tr.player")]
        link = page.css_first("a[rel=next]")
        path = None if link is None else link.attributes["href"]
        assert len(walked) < 1000, "the next links never end"
    return ids, walked


async def walk_players(client: aiohttp.ClientSession, url: str) -> tuple[list[Any], int]:
    """Follow next_cursor from the first page to a null one: the players and the pages."""
    found: list[Any] = []
    cursor: str | None = None
    pages = 0
    while True:
        pages += 1
        status, body = await get(
            client, f"{url}/api/players" + ("" if cursor is None else f"?cursor={cursor}")
        )
        assert status == 200
        document = orjson.loads(body)
        assert set(document) == {"players", "next_cursor"}
        found += document["players"]
        cursor = document["next_cursor"]
        if cursor is None:
            return found, pages
        assert pages < 1000, "the cursors never end"


async def test_the_combine_listing_ends_at_the_page_without_a_next_link(
    start: StartSite, client: aiohttp.ClientSession
) -> None:
    site = await start(size=300, combine_page_size=40)
    ids, walked = await walk_combine(client, site.url)
    assert ids == [r.combine_id for r in site.draft.combine]
    assert len(walked) == site.combine_pages == -(-len(site.draft.combine) // 40)
    assert walked == ["/combine"] + [f"/combine?page={n}" for n in range(2, len(walked) + 1)]
    assert all(site.hits[p] == 1 for p in walked)
    past = await get(client, f"{site.url}/combine?page={site.combine_pages + 1}")
    assert past[0] == 404
    assert (await get(client, f"{site.url}/combine?page=0"))[0] == 400
    assert (await get(client, f"{site.url}/combine?page=x"))[0] == 400


async def test_each_combine_detail_page_shows_its_record(
    start: StartSite, client: aiohttp.ClientSession
) -> None:
    site = await start(size=300)
    for record in site.draft.combine:
        status, body = await get(client, f"{site.url}/combine/players/{record.combine_id}")
        assert status == 200
        page = html(body)
        player = page.css_first("#player")
        assert player is not None
        weight, forty = text(page, "dd.weight"), text(page, "dd.forty")
        shown = CombineRecord(
            combine_id=int(player.attributes["data-id"] or 0),
            name=text(page, "h1.name"),
            college=text(page, "dd.college"),
            position=text(page, "dd.position"),
            height_in=inches(text(page, "dd.height")),
            weight_lb=int(weight) if weight else None,
            forty=float(forty) if forty else None,
            measured_on=text(page, "dd.measured_on"),
        )
        assert shown == record
    assert (await get(client, f"{site.url}/combine/players/1"))[0] == 404
    assert sum(site.hits[f"/combine/players/{r.combine_id}"] for r in site.draft.combine) == len(
        site.draft.combine
    )


async def test_the_stats_api_follows_its_cursors_to_a_null_one(
    start: StartSite, client: aiohttp.ClientSession
) -> None:
    site = await start(size=300, stats_page_size=30)
    players, pages = await walk_players(client, site.url)
    assert pages == -(-len(site.draft.college_stats) // 30)
    shown = [
        StatsRecord(
            player_id=p["id"],
            name=p["name"],
            college=p["college"],
            position=p["position"],
            height_in=p["height_in"],
            weight_lb=p["weight"]["lb"],
            weight_as_of=p["weight"]["as_of"],
            games=p["stats"]["games"],
            yards=p["stats"]["yards"],
            touchdowns=p["stats"]["touchdowns"],
        )
        for p in players
    ]
    assert shown == list(site.draft.college_stats)
    status, body = await get(client, f"{site.url}/api/players?cursor=bm90LWEtY3Vyc29y")
    assert status == 400 and "not a cursor" in orjson.loads(body)["error"]["message"]


async def test_the_injury_report_is_one_table_of_every_line(
    start: StartSite, client: aiohttp.ClientSession
) -> None:
    site = await start(size=300)
    status, body = await get(client, f"{site.url}/injuries")
    assert status == 200
    page = html(body)
    shown = [
        InjuryLine(
            report_id=row.attributes["data-id"] or "",
            name=text(row, "td.name"),
            college=text(row, "td.college") or None,
            status=text(row, "td.status"),
            updated=text(row, "td.updated"),
        )
        for row in page.css("tr.injury")
    ]
    assert shown == list(site.draft.injury_report)
    assert site.hits["/injuries"] == 1


async def everything(client: aiohttp.ClientSession, url: str, site: ProspectsSite) -> bytes:
    """Every page of the three sources, one after the other."""
    ids, walked = await walk_combine(client, url)
    bodies = [(await get(client, url + path))[1] for path in walked]
    bodies += [(await get(client, f"{url}/combine/players/{i}"))[1] for i in ids]
    cursor: str | None = None
    while True:
        _, body = await get(
            client, f"{url}/api/players" + ("" if cursor is None else f"?cursor={cursor}")
        )
        bodies.append(body)
        cursor = orjson.loads(body)["next_cursor"]
        if cursor is None:
            break
    bodies.append((await get(client, f"{url}/injuries"))[1])
    return b"\n--\n".join(bodies)


async def test_two_builds_serve_byte_identical_pages(
    start: StartSite, client: aiohttp.ClientSession
) -> None:
    one, two = await start(size=200, seed=5), await start(size=200, seed=5)
    assert await everything(client, one.url, one) == await everything(client, two.url, two)
    other = await start(size=200, seed=6)
    first = (await get(client, f"{one.url}/injuries"))[1]
    assert first != (await get(client, f"{other.url}/injuries"))[1]


SHELL = [sys.executable, "-m", "scrapeline.testing.prospects", "--port", "0", "--size", "100"]
SHELL += ["--no-latency"]


def test_it_serves_from_a_shell_until_sigterm() -> None:
    process = subprocess.Popen(
        SHELL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{url}/injuries", timeout=10) as answer:
            assert answer.status == 200 and b'<table id="injuries">' in answer.read()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 0, stderr
        assert stderr == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


# -- the bundled example, through the CLI ------------------------------------------------

STAGE_OF = {"combine": "combine_detail", "college_stats": "college", "injury_report": "injury"}
TABLE_OF = {
    "combine": "combine_players",
    "college_stats": "college_stats",
    "injury_report": "injury_report",
}


def test_the_example_scrapes_the_three_sources_and_fails_the_rule_breakers(
    tmp_path: Path,
) -> None:
    # A record that breaks an error rule is quarantined and fails its item with category
    # validation: both are exactly the truth's quarantined records, rule for rule.
    site = ProspectsSite(size=300, latency=None)
    data = tmp_path / "data"
    with serve_in_thread(site) as url:
        done = scrapeline(
            "run", "scrapeline.demo.prospects", "--base-url", url, "--data-dir", str(data),
            "--max-consecutive-failures", "0", timeout=120,
        )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # finished, with failed items

    truth = site.truth
    runs = scrapeline("runs", "scrapeline.demo.prospects", "1", "--data-dir", str(data), "--json")
    assert runs.returncode == 0, runs.stderr
    run = orjson.loads(runs.stdout)
    assert run["categories"] == {"validation": len(truth.quarantined)}
    failed = {(f["stage"], str(f["key"])): f for f in run["failures"]}
    expected = {(STAGE_OF[q.source], q.key): q for q in truth.quarantined}
    assert set(failed) == set(expected)
    for where, q in expected.items():
        assert failed[where]["category"] == "validation"
        assert f"{q.rule}:" in failed[where]["message"]

    held = scrapeline("quarantine", "scrapeline.demo.prospects", "--data-dir", str(data), "--json")
    assert held.returncode == 0, held.stderr
    quarantine = orjson.loads(held.stdout)["records"]
    assert sorted((r["table"], str(r["key"][0]), tuple(r["rules"])) for r in quarantine) == sorted(
        (TABLE_OF[q.source], q.key, (q.rule,)) for q in truth.quarantined
    )

    status = scrapeline("status", "scrapeline.demo.prospects", "--data-dir", str(data), "--json")
    stages = orjson.loads(status.stdout)["stages"]
    per_stage = Counter(STAGE_OF[q.source] for q in truth.quarantined)
    draft = site.draft
    served = {
        "combine": len(draft.combine),
        "college_stats": len(draft.college_stats),
        "injury_report": len(draft.injury_report),
    }
    for source, stage in STAGE_OF.items():
        assert stages[stage]["failed"] == per_stage[stage]
        assert stages[stage]["done"] == served[source] - per_stage[stage]

    # the rows stored are the records served, but for the quarantined ones
    gone = {(q.source, q.key) for q in truth.quarantined}
    ledger = SqliteLedger(data / "ledger.db")
    try:
        combine = {r["combine_id"]: r for r in ledger.records("combine_players")}
        stats = {r["player_id"]: r for r in ledger.records("college_stats")}
        injuries = {r["report_id"]: r for r in ledger.records("injury_report")}
    finally:
        ledger.close()
    assert combine == {
        r.combine_id: vars(r) for r in draft.combine if ("combine", str(r.combine_id)) not in gone
    }
    assert stats == {
        r.player_id: vars(r)
        for r in draft.college_stats
        if ("college_stats", r.player_id) not in gone
    }
    assert injuries == {
        r.report_id: vars(r)
        for r in draft.injury_report
        if ("injury_report", r.report_id) not in gone
    }
    # every combine listing page once, each detail page once, one report
    assert site.hits["/injuries"] == 1
    assert all(site.hits[f"/combine/players/{r.combine_id}"] == 1 for r in draft.combine)
