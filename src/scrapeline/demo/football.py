"""The bundled example: football results, a page per match, a page per half.

Runs against the rehearsal site (``scrapeline demo`` starts one for you), or any
site with the same pages: ``scrapeline run football.py --base-url http://...``.

    results listing (/results?offset=0,100,…)  →  match items
    overview   (/matches/ID)                    →  a `matches` row, one `half` item per half
    half_stats (/matches/ID/halves/N)           →  a `halves` row

The tables are typed (a pydantic model each): a record is coerced on the way in,
and one that breaks its model or a check is quarantined, not stored. The table
rules run before a snapshot is published (``scrapeline validate``, ``publish``).
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, Field

from scrapeline import Context, Expect, Item, ParseError, Pipeline, Record, offsets
from scrapeline.quality.rules import not_null, references, row_count, unique


class Match(BaseModel):
    match_id: int
    date: datetime.date
    time: str | None = Field(default=None, pattern=r"^\d{1,2}:\d\d$")
    competition: str
    season: str
    round: str | None = None
    team1: str = Field(min_length=1)
    team2: str = Field(min_length=1)
    goals1: int | None = Field(default=None, ge=0)  # None: not played yet
    goals2: int | None = Field(default=None, ge=0)


class Half(BaseModel):
    match_id: int
    half: int = Field(ge=1, le=2)
    goals1: int = Field(ge=0)
    goals2: int = Field(ge=0)


pipe = Pipeline("football", base_url="http://127.0.0.1:8000", workers=4)
pipe.table("matches", key="match_id", schema=Match)
pipe.table("halves", key=("match_id", "half"), schema=Half)
pipe.rule("matches", unique("match_id"), not_null("date", "team1", "team2"), row_count(min=1))
pipe.rule("halves", references("match_id", "matches"))


@pipe.check("matches")
def two_teams(match: dict[str, Any]) -> bool:
    """a team plays itself"""
    # a final not yet drawn lists both teams as "N.N."; a played match has two teams
    return match["goals1"] is None or bool(match["team1"] != match["team2"])


def goals(text: str, url: str) -> tuple[int, int] | None:
    """'2-1' → (2, 1); '' → None (not played yet)."""
    if not text:
        return None
    home, sep, away = text.partition("-")
    if not sep or not home.isdigit() or not away.isdigit():
        raise ParseError(f"score {text!r} is not N-N", url=url)
    return int(home), int(away)


@pipe.discover("match", pages=offsets(step=100), expect=Expect(selectors=("table#results",)))
async def results(ctx: Context, offset: int) -> AsyncIterator[Item]:
    page = await ctx.fetch(f"/results?offset={offset}")
    for row in page.css("tr.match"):
        date = row.css_first("td.date")
        yield Item(key=int(row.attributes["data-id"] or 0), date=date.text() if date else None)


@pipe.stage("overview", on="match", emits="half", expect=Expect(selectors=("#match", "h1 .score")))
async def overview(ctx: Context, item: Item) -> Record:
    page = await ctx.fetch(f"/matches/{item.key}")
    ft = goals(page.text_of("h1 .score"), page.url)
    for link in page.css("ul.halves a"):
        half = int((link.attributes["href"] or "").rsplit("/", 1)[-1])
        ctx.emit(key=f"{item.key}-{half}", data={"match_id": item.key, "half": half})
    return Record(
        "matches",
        {
            "match_id": item.key,
            "date": page.text_of("dd.date"),
            "time": page.text_of("dd.time") or None,
            "competition": page.text_of("dd.competition"),
            "season": page.text_of("dd.season"),
            "round": page.text_of("dd.round") or None,
            "team1": page.text_of("h1 .team1"),
            "team2": page.text_of("h1 .team2"),
            "goals1": ft[0] if ft else None,
            "goals2": ft[1] if ft else None,
        },
    )


@pipe.stage("half_stats", on="half", after="overview", expect=Expect(selectors=("#half",)))
async def half_stats(ctx: Context, item: Item) -> Record:
    match_id, half = item.data["match_id"], item.data["half"]
    page = await ctx.fetch(f"/matches/{match_id}/halves/{half}")
    return Record(
        "halves",
        {
            "match_id": match_id,
            "half": half,
            "goals1": int(page.text_of("#half .goals1")),
            "goals2": int(page.text_of("#half .goals2")),
        },
    )
