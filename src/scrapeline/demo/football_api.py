"""The bundled example for a JSON API: tournaments → seasons → events → detail.

Runs against the rehearsal site's API mode (``python -m scrapeline.testing.api
--port 8000``), or any API of the same shape:
``scrapeline run scrapeline.demo.football_api --base-url http://...``.

    tournaments  /api/tournaments?page=0,1,…          →  tournament items
    seasons      /api/tournaments/T/seasons?page=0,…  →  season items (a listing per tournament)
    events       /api/seasons/S/events?page=0,…       →  event items (a listing per season)
    detail       /api/events/E                        →  an `events` row

Every listing is paged by page number from 0 and says ``hasNextPage``; the walk
ends there (or at a 404 past the last page). Run it again tomorrow: the top
listing stops at its first known page, the listings of seasons found within the
last ``REFRESH`` are walked again from the top for new events, and the details
of events dated within it are fetched again, conditionally: a result corrected
since is read again, an unchanged one (304) keeps its row without a parse.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from scrapeline import Context, Expect, Item, Pipeline, Record, page_numbers

REFRESH = "7d"
"""How long after its date an event's result may still be corrected."""

pipe = Pipeline("football-api", base_url="http://127.0.0.1:8000", workers=8)
pipe.table("events", key="event_id")

LISTING = Expect(content_type="application/json", json_keys=("hasNextPage",))


def _page(ctx: Context, body: dict[str, Any]) -> None:
    """The last page says so: the walk ends with it."""
    if not body["hasNextPage"]:
        ctx.last_page()


@pipe.discover("tournament", pages=page_numbers(0), expect=LISTING)
async def tournaments(ctx: Context, page: int) -> AsyncIterator[Item]:
    body = (await ctx.fetch(f"/api/tournaments?page={page}")).json()
    _page(ctx, body)
    for t in body["tournaments"]:
        yield Item(key=t["id"], data={"name": t["name"]})


@pipe.discover("season", on="tournament", pages=page_numbers(0), expect=LISTING)
async def seasons(ctx: Context, page: int) -> AsyncIterator[Item]:
    assert ctx.item is not None  # the tournament this listing belongs to
    body = (await ctx.fetch(f"/api/tournaments/{ctx.item.key}/seasons?page={page}")).json()
    _page(ctx, body)
    for s in body["seasons"]:
        yield Item(key=s["id"], data={"name": s["name"]})


@pipe.discover("event", on="season", pages=page_numbers(0), expect=LISTING, refresh=REFRESH)
async def events(ctx: Context, page: int) -> AsyncIterator[Item]:
    assert ctx.item is not None  # the season
    body = (await ctx.fetch(f"/api/seasons/{ctx.item.key}/events?page={page}")).json()
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
