"""The listing-tree benchmark's pipeline: tournaments → seasons → events → detail.

The bundled JSON-API example (``scrapeline.demo.football_api``) with the
pre-rendered copy's path-style URLs, which nginx serves as static files
(``bench/tree.py`` writes them with the API site's own answers):

    tournaments  /api/tournaments/page/N             →  tournament items
    seasons      /api/tournaments/T/seasons/page/N   →  season items (a listing per tournament)
    events       /api/seasons/S/events/page/N        →  event items (a listing per season)
    detail       /api/events/E                       →  an `events` row

Every listing is paged from 0 and says ``hasNextPage``; its walk ends there. The
stateless baseline (``bench/baseline_tree.py``) walks the same URLs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from scrapeline import Context, Expect, Item, Pipeline, Record, page_numbers

REFRESH = "7d"
"""As in the bundled example: how long after its date a result may still change."""

pipe = Pipeline("tree_bench", base_url="http://127.0.0.1:8000", workers=8)
pipe.table("events", key="event_id")

LISTING = Expect(content_type="application/json", json_keys=("hasNextPage",))


def _page(ctx: Context, body: dict[str, Any]) -> None:
    """The last page says so: the walk ends with it."""
    if not body["hasNextPage"]:
        ctx.last_page()


@pipe.discover("tournament", pages=page_numbers(0), expect=LISTING)
async def tournaments(ctx: Context, page: int) -> AsyncIterator[Item]:
    body = (await ctx.fetch(f"/api/tournaments/page/{page}")).json()
    _page(ctx, body)
    for t in body["tournaments"]:
        yield Item(key=t["id"], data={"name": t["name"]})


@pipe.discover("season", on="tournament", pages=page_numbers(0), expect=LISTING)
async def seasons(ctx: Context, page: int) -> AsyncIterator[Item]:
    assert ctx.item is not None  # the tournament this listing belongs to
    body = (await ctx.fetch(f"/api/tournaments/{ctx.item.key}/seasons/page/{page}")).json()
    _page(ctx, body)
    for s in body["seasons"]:
        yield Item(key=s["id"], data={"name": s["name"]})


@pipe.discover("event", on="season", pages=page_numbers(0), expect=LISTING, refresh=REFRESH)
async def events(ctx: Context, page: int) -> AsyncIterator[Item]:
    assert ctx.item is not None  # the season
    body = (await ctx.fetch(f"/api/seasons/{ctx.item.key}/events/page/{page}")).json()
    _page(ctx, body)
    for e in body["events"]:
        yield Item(key=e["id"], date=e["startDate"])


@pipe.stage(
    "detail", on="event", refresh=REFRESH, expect=Expect(json_keys=("event.id", "event.status"))
)
async def detail(ctx: Context, item: Item) -> Record:
    e = (await ctx.fetch(f"/api/events/{item.key}")).json()["event"]
    return Record(
        "events",
        {
            "event_id": e["id"],
            "tournament": e["tournament"],
            "season": e["season"],
            "date": e["startDate"],
            "round": e["round"],
            "home": e["homeTeam"]["name"],
            "away": e["awayTeam"]["name"],
            "home_score": e["homeScore"],
            "away_score": e["awayScore"],
            "status": e["status"],
        },
    )
