"""A pipeline with one 10-column table declared with a schema, for the publishing
benchmark (``bench/publish.py``), which fills its ledger straight with SQL and
times ``scrapeline publish``. Its stage never runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

from scrapeline import Context, Item, Pipeline, offsets

pipe = Pipeline("publish_bench", base_url="http://127.0.0.1:8000")
pipe.table(
    "matches",
    key="match_id",
    schema={
        "match_id": int,
        "date": dt.date,
        "kickoff": dt.datetime,
        "competition": str,
        "home": str,
        "away": str,
        "home_goals": int | None,
        "away_goals": int | None,
        "xg": float,
        "neutral": bool,
    },
)


@pipe.discover("match", pages=offsets(step=100))
async def listing(ctx: Context, offset: int) -> AsyncIterator[Item]:
    page = await ctx.fetch(f"/results?offset={offset}")
    for row in page.css("tr.match"):
        yield Item(key=int(row.attributes["data-id"] or 0))


@pipe.stage("overview", on="match")
async def overview(ctx: Context, item: Item) -> None:
    return None
