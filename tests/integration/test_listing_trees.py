"""Listing trees against a real local JSON API: tournaments → seasons → events → detail,
declared with ``discover(on=...)``; each listing keeps its own walk, a failed page is
retried next run from that page while the other listings go on, ``--only`` runs one
subtree, ``--full`` walks every listing, and work is done depth first."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from scrapeline import Context, Item, Pipeline, Record, page_numbers
from scrapeline.ledger.base import RunStatus
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.runner.run import RunOptions
from scrapeline.runner.shutdown import Shutdown
from scrapeline.workspace.run import run as run_pipeline
from tests.servers import serve

PER_PAGE = 3
SEASONS = {1: [2019, 2020], 2: [2021]}
"""Tournament → its seasons; season ``s`` has ``s % 7 + 4`` events (2019: 7, 2020: 8, 2021: 9)."""


def events_of(season: int) -> list[int]:
    return [season * 100 + n for n in range(season % 7 + 4, 0, -1)]  # newest first


class Api:
    """The JSON API, counting what it is asked; ``failing`` paths answer 500 until cleared."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.order: list[str] = []
        self.failing: set[str] = set()
        self.on_request: Callable[[str], None] = lambda target: None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/tournaments", self.tournaments)
        app.router.add_get("/tournaments/{t}/seasons", self.seasons)
        app.router.add_get("/seasons/{s}/events", self.events)
        app.router.add_get("/events/{e}", self.event)
        return app

    def _asked(self, request: web.Request) -> None:
        self.hits[request.path_qs] += 1
        self.order.append(request.path_qs)
        self.on_request(request.path_qs)
        if request.path_qs in self.failing:
            raise web.HTTPInternalServerError()

    @staticmethod
    def _page(rows: list[Any], request: web.Request, name: str) -> web.Response:
        page = int(request.query.get("page", "0"))
        start = page * PER_PAGE
        if start >= len(rows) and page > 0:
            raise web.HTTPNotFound()
        chunk = rows[start : start + PER_PAGE]
        return web.json_response({name: chunk, "hasNextPage": start + PER_PAGE < len(rows)})

    async def tournaments(self, request: web.Request) -> web.Response:
        self._asked(request)
        return self._page([{"id": t} for t in SEASONS], request, "tournaments")

    async def seasons(self, request: web.Request) -> web.Response:
        self._asked(request)
        seasons = [{"id": s, "year": s} for s in SEASONS[int(request.match_info["t"])]]
        return self._page(seasons, request, "seasons")

    async def events(self, request: web.Request) -> web.Response:
        self._asked(request)
        rows = [{"id": e} for e in events_of(int(request.match_info["s"]))]
        return self._page(rows, request, "events")

    async def event(self, request: web.Request) -> web.Response:
        self._asked(request)
        e = int(request.match_info["e"])
        return web.json_response({"event": {"id": e, "season": e // 100, "score": f"{e % 5}-1"}})


def tree_pipeline(base_url: str) -> Pipeline:
    pipe = Pipeline("tree", base_url=base_url, robots=False, max_attempts=1)
    pipe.table("events", key="event_id")

    @pipe.discover("tournament", pages=page_numbers(0))
    async def tournaments(ctx: Context, page: int) -> AsyncIterator[Item]:
        body = (await ctx.fetch(f"/tournaments?page={page}")).json()
        if not body["hasNextPage"]:
            ctx.last_page()
        for t in body["tournaments"]:
            yield Item(key=t["id"])

    @pipe.discover("season", on="tournament", pages=page_numbers(0))
    async def seasons(ctx: Context, page: int) -> AsyncIterator[Item]:
        assert ctx.item is not None
        body = (await ctx.fetch(f"/tournaments/{ctx.item.key}/seasons?page={page}")).json()
        if not body["hasNextPage"]:
            ctx.last_page()
        for s in body["seasons"]:
            yield Item(key=s["id"])

    @pipe.discover("event", on="season", pages=page_numbers(0))
    async def events(ctx: Context, page: int) -> AsyncIterator[Item]:
        assert ctx.item is not None
        body = (await ctx.fetch(f"/seasons/{ctx.item.key}/events?page={page}")).json()
        if not body["hasNextPage"]:
            ctx.last_page()
        for e in body["events"]:
            yield Item(key=e["id"])

    @pipe.stage("detail", on="event")
    async def detail(ctx: Context, item: Item) -> Record:
        event = (await ctx.fetch(f"/events/{item.key}")).json()["event"]
        assert item.parent == ("season", event["season"])  # found by its season's listing
        return Record("events", {"event_id": event["id"], "score": event["score"]})

    return pipe


async def run_tree(
    api: Api, tmp_path: Path, shutdown: Shutdown | None = None, **options: Any
) -> tuple[int, RunStatus, dict[int, str]]:
    async with serve(api.app()) as url:
        outcome = await run_pipeline(
            tree_pipeline(url),
            tmp_path / "data",
            RunOptions(**({"workers": 2, "grace": 1.0} | options)),
            shutdown=shutdown,
        )
    ledger = SqliteLedger(tmp_path / "data" / "ledger.db")
    try:
        rows = {r["event_id"]: r["score"] for r in ledger.records("events")}
    finally:
        ledger.close()
    return outcome.exit_code, outcome.status, rows


ALL_EVENTS = {e: f"{e % 5}-1" for s in (2019, 2020, 2021) for e in events_of(s)}


async def test_a_tree_of_listings_is_walked_to_every_leaf(tmp_path: Path) -> None:
    api = Api()
    code, status, rows = await run_tree(api, tmp_path)
    assert (code, status) == (0, RunStatus.DONE)
    assert rows == ALL_EVENTS
    # each listing walked once, to its last page (hasNextPage false), never past it
    assert api.hits["/seasons/2021/events?page=2"] == 1
    assert "/seasons/2021/events?page=3" not in api.hits
    assert all(n == 1 for n in api.hits.values())
    ledger = SqliteLedger(tmp_path / "data" / "ledger.db")
    try:
        counts = ledger.counts()
        assert counts["events"]["done"] == 3 and counts["seasons"]["done"] == 2
        walk = ledger.walk("events@season:2019")  # each listing keeps its own walk
        assert walk is not None and walk.finished and walk.next_position == 2
    finally:
        ledger.close()


async def test_work_is_done_depth_first(tmp_path: Path) -> None:
    api = Api()
    await run_tree(api, tmp_path, workers=1)

    # One worker: the events a listing finds go before other listings' work, while the
    # next listing is walked meanwhile (a walk runs in the background, page after
    # page). So at most two seasons are in progress at once: a season's details are
    # all fetched before the season after next is begun.
    def season_of(target: str) -> int | None:
        if target.startswith("/seasons/"):
            return int(target.split("/")[2])
        if target.startswith("/events/"):
            return int(target.split("/")[2]) // 100
        return None

    where = [(n, season_of(p)) for n, p in enumerate(api.order) if season_of(p)]
    begun = sorted({s: min(n for n, t in where if t == s) for _, s in where}.items(), key=str)
    order = [s for s, _ in sorted(begun, key=lambda pair: pair[1])]
    for earlier, later in zip(order, order[2:], strict=False):
        last_of_earlier = max(n for n, s in where if s == earlier)
        first_of_later = min(n for n, s in where if s == later)
        assert last_of_earlier < first_of_later, (earlier, later, api.order)


async def test_a_failed_listing_page_is_retried_next_run_from_that_page(tmp_path: Path) -> None:
    api = Api()
    api.failing.add("/seasons/2020/events?page=2")
    code, status, rows = await run_tree(api, tmp_path)
    assert (code, status) == (1, RunStatus.FAILED)
    # the other listings went on; the failed one kept the events of its first pages
    assert set(rows) == set(ALL_EVENTS) - set(events_of(2020)[2 * PER_PAGE :])
    api.failing.clear()
    api.hits.clear()
    code, status, rows = await run_tree(api, tmp_path)
    assert (code, status) == (0, RunStatus.DONE)
    assert rows == ALL_EVENTS
    # the top of that listing for what is new there, then on at the page that failed;
    # the pages in between were not fetched again, nor any other season's listing
    listing_pages = sorted(p for p in api.hits if p.startswith("/seasons/"))
    assert listing_pages == ["/seasons/2020/events?page=0", "/seasons/2020/events?page=2"]


async def test_an_interrupted_listing_resumes_at_its_page(tmp_path: Path) -> None:
    api = Api()
    shutdown = Shutdown()

    def interrupt(target: str) -> None:
        if target == "/seasons/2021/events?page=1":
            shutdown.request("SIGINT")  # Ctrl+C while that listing's page 1 is fetched

    api.on_request = interrupt
    code, status, _ = await run_tree(api, tmp_path, shutdown=shutdown)
    assert (code, status) == (130, RunStatus.INTERRUPTED)
    assert "/seasons/2021/events?page=2" not in api.hits
    api.on_request = lambda target: None
    api.hits.clear()
    code, status, rows = await run_tree(api, tmp_path)
    assert (code, status) == (0, RunStatus.DONE)
    assert rows == ALL_EVENTS
    # that listing went on at the page after the last one it stored (its top page
    # again first, for what is new there); no page in between was fetched twice
    walked = sorted(p for p in api.hits if p.startswith("/seasons/2021/"))
    assert walked == ["/seasons/2021/events?page=0", "/seasons/2021/events?page=2"]


async def test_only_runs_one_subtree(tmp_path: Path) -> None:
    api = Api()
    await run_tree(api, tmp_path)
    api.hits.clear()
    code, status, rows = await run_tree(
        api, tmp_path, only=(("season", "2020"),), force_rescrape=True
    )
    assert (code, status) == (0, RunStatus.DONE)
    assert rows == ALL_EVENTS
    # that season's listing and its events' details, nothing else
    assert set(api.hits) == {f"/seasons/2020/events?page={n}" for n in range(3)} | {
        f"/events/{e}" for e in events_of(2020)
    }


async def test_full_walks_every_listing_again(tmp_path: Path) -> None:
    api = Api()
    await run_tree(api, tmp_path)
    api.hits.clear()
    code, _, _ = await run_tree(api, tmp_path)
    assert code == 0
    # an ordinary second run walks the top listing only (its first page is known)
    assert set(api.hits) == {"/tournaments?page=0"}
    api.hits.clear()
    code, _, _ = await run_tree(api, tmp_path, full=True)
    assert code == 0
    walked = {p for p in api.hits if "events?" in p or "seasons?" in p}
    assert walked == {
        f"/seasons/{s}/events?page={n}"
        for s in (2019, 2020, 2021)
        for n in range((len(events_of(s)) + PER_PAGE - 1) // PER_PAGE)
    } | {"/tournaments/1/seasons?page=0", "/tournaments/2/seasons?page=0"}
    assert not any(p.startswith("/events/") for p in api.hits)  # nothing new to fetch
