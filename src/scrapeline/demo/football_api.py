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

The detail names its tournament and season by id only; their names come from
the listings and are handed down the tree in the items' data, so each row says
its ``league`` and ``season`` in words. The ``events`` table is typed (the
:class:`Event` model) and checked record by record: a row that breaks either is
quarantined and its item fails (category ``validation``). Before a snapshot is
published (``scrapeline validate``, ``publish``), the table rules run over the
whole table, and the league tables are derived from it in DuckDB
(:mod:`scrapeline.demo.standings`)::

    scrapeline run scrapeline.demo.football_api --publish
    scrapeline freshness scrapeline.demo.football_api --table events --column date --max-age 3d
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, Field

from scrapeline import Context, Expect, Item, Pipeline, Record, page_numbers
from scrapeline.demo.standings import POINTS_ADD_UP, STANDINGS_KEY, STANDINGS_SQL
from scrapeline.quality.rules import accepted, between, not_null, row_count, sql, unique

REFRESH = "7d"
"""How long after its date an event's result may still be corrected."""

STATUSES = ("finished", "notstarted")
"""What an event's ``status`` may say."""


class Event(BaseModel):
    """One event (a match) as its detail gives it, with its league and season by name."""

    event_id: int
    tournament_id: int
    season_id: int
    league: str = Field(min_length=1)  # the tournament's name
    season: str = Field(min_length=1)  # "2025/26"
    date: datetime.date
    time: str | None = None
    round: str | None = None
    home: str = Field(min_length=1)
    away: str = Field(min_length=1)
    home_score: int | None = Field(default=None, ge=0)  # None: not played yet
    away_score: int | None = Field(default=None, ge=0)
    ht_home: int | None = Field(default=None, ge=0)  # None: halves unknown
    ht_away: int | None = Field(default=None, ge=0)
    status: Literal["finished", "notstarted"]


pipe = Pipeline("football-api", base_url="http://127.0.0.1:8000", workers=8)
pipe.table("events", key="event_id", schema=Event)
pipe.rule(
    "events",
    unique("event_id"),
    not_null("home", "away", "date", "league", "season"),
    accepted("status", list(STATUSES)),
    row_count(min=1),
)

# the standings read a `matches` relation: the events under the names they expect
pipe.derive(
    "matches",
    sql="SELECT event_id, league, season, date, home, away, "
    "home_score AS home_goals, away_score AS away_goals FROM events",
    key="event_id",
)
pipe.derive("standings", sql=STANDINGS_SQL, key=STANDINGS_KEY)
pipe.rule(
    "standings",
    not_null("team", "points"),
    between("points", min=0),
    between("position", min=1),
    sql(POINTS_ADD_UP, name="points add up"),
)


@pipe.check("events")
def two_teams(event: dict[str, Any]) -> bool:
    """a team plays itself"""
    # a fixture may name both sides by a placeholder ("N.N.") until they are known
    return event["status"] != "finished" or bool(event["home"] != event["away"])


@pipe.check("events")
def half_time_within_full_time(event: dict[str, Any]) -> bool:
    """half-time goals exceed full-time goals"""
    for half, full in (("ht_home", "home_score"), ("ht_away", "away_score")):
        if event[half] is not None and (event[full] is None or event[half] > event[full]):
            return False
    return True


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
        yield Item(key=s["id"], data={"name": s["name"], "league": ctx.item.data["name"]})


@pipe.discover("event", on="season", pages=page_numbers(0), expect=LISTING, refresh=REFRESH)
async def events(ctx: Context, page: int) -> AsyncIterator[Item]:
    season = ctx.item
    assert season is not None  # the season this listing belongs to
    body = (await ctx.fetch(f"/api/seasons/{season.key}/events?page={page}")).json()
    _page(ctx, body)
    names = {"league": season.data["league"], "season": season.data["name"]}
    for e in body["events"]:
        yield Item(key=e["id"], date=e["startDate"], data=names)


@pipe.stage(
    "detail", on="event", refresh=REFRESH, expect=Expect(json_keys=("event.id", "event.status"))
)
async def detail(ctx: Context, item: Item) -> Record:
    e = (await ctx.fetch(f"/api/events/{item.key}")).json()["event"]
    first_half = e["halves"][0] if e["halves"] else {"home": None, "away": None}
    return Record(
        "events",
        {
            "event_id": e["id"],
            "tournament_id": e["tournament"],
            "season_id": e["season"],
            "league": item.data["league"],
            "season": item.data["season"],
            "date": e["startDate"],
            "time": e["startTime"],
            "round": e["round"],
            "home": e["homeTeam"]["name"],
            "away": e["awayTeam"]["name"],
            "home_score": e["homeScore"],
            "away_score": e["awayScore"],
            "ht_home": first_half["home"],
            "ht_away": first_half["away"],
            "status": e["status"],
        },
    )
