"""A pipeline with a configured rate, for the rate-fidelity benchmark.

``BENCH_RATE`` (e.g. ``"20/s"``) and ``BENCH_PAGE_SIZE`` (listing rows a page)
come from the environment, so one file serves every rate. Every request, the
listing's included, goes to one host and so through one rate limit.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from scrapeline import Context, Item, Pipeline, Record, offsets

RATE = os.environ.get("BENCH_RATE", "20/s")
PAGE_SIZE = int(os.environ.get("BENCH_PAGE_SIZE", "100"))

pipe = Pipeline("rate_bench", base_url="http://127.0.0.1:8000", workers=8, rate=RATE)
pipe.table("matches", key="match_id")


@pipe.discover("match", pages=offsets(step=PAGE_SIZE))
async def results(ctx: Context, offset: int) -> AsyncIterator[Item]:
    page = await ctx.fetch(f"/results?offset={offset}")
    for row in page.css("tr.match"):
        yield Item(key=int(row.attributes["data-id"] or 0))


@pipe.stage("overview", on="match")
async def overview(ctx: Context, item: Item) -> Record:
    page = await ctx.fetch(f"/matches/{item.key}")
    return Record("matches", {"match_id": item.key, "team1": page.text_of("h1 .team1")})
