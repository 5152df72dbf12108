"""A three-stage pipeline over plain numbered items, for the run-history benchmark.

    listing  /things?offset=N        →  thing items (100 a page)
    fetch    /things/K               →  a `things` row
    detail   /things/K?part=detail   →  a `details` row
    score    /things/K?part=score    →  a `scores` row

The harness (``bench/history.py``) fills its ledger: items ``0 .. N-1`` of kind
``thing`` with their tasks (most done, the newest pending), then 10,000 runs and
10⁷ attempts of these three stages, straight into the ledger's tables; it then
times ``scrapeline runs``, ``runs show`` and ``health`` on it, and a run's start
against the bench site (``bench.sites.ThingsSite``), which answers every
``/things/K`` with a small page whatever its query.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from scrapeline import Context, Item, Pipeline, Record, offsets

pipe = Pipeline("history_bench", base_url="http://127.0.0.1:8000", workers=8)
pipe.table("things", key="key")
pipe.table("details", key="key")
pipe.table("scores", key="key")


@pipe.discover("thing", pages=offsets(step=100))
async def listing(ctx: Context, offset: int) -> AsyncIterator[Item]:
    page = await ctx.fetch(f"/things?offset={offset}")
    for row in page.css("li.thing"):
        yield Item(key=int(row.attributes["data-key"] or 0))


@pipe.stage("fetch", on="thing")
async def fetch(ctx: Context, item: Item) -> Record:
    page = await ctx.fetch(f"/things/{item.key}")
    return Record("things", {"key": item.key, "title": page.text_of("h1")})


@pipe.stage("detail", on="thing")
async def detail(ctx: Context, item: Item) -> Record:
    page = await ctx.fetch(f"/things/{item.key}?part=detail")
    return Record("details", {"key": item.key, "title": page.text_of("h1")})


@pipe.stage("score", on="thing")
async def score(ctx: Context, item: Item) -> Record:
    page = await ctx.fetch(f"/things/{item.key}?part=score")
    return Record("scores", {"key": item.key, "score": len(page.text_of("h1") or "")})
