"""A pipeline for the rate-limited-site benchmark: no rate of its own by default.

``BENCH_WORKERS`` (16), ``BENCH_PAGE_SIZE`` (listing rows a page) and, for the
fault run only, ``BENCH_RATE`` (e.g. ``"50/s"``; unset: no rate) come from the
environment, so one file serves every run. Every request goes to one host.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from scrapeline import Context, Item, Pipeline, Record, offsets

RATE = os.environ.get("BENCH_RATE") or None
WORKERS = int(os.environ.get("BENCH_WORKERS", "16"))
PAGE_SIZE = int(os.environ.get("BENCH_PAGE_SIZE", "100"))

pipe = Pipeline("limited_bench", base_url="http://127.0.0.1:8000", workers=WORKERS, rate=RATE)
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
