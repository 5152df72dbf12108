"""A one-stage pipeline over plain numbered items, for the ledger-scale benchmark.

The harness fills its ledger through the ledger API (items ``0 .. N-1`` of kind
``thing``, the first half done), then times ``scrapeline run`` and
``scrapeline status`` on it. The bench site lists ``thing`` keys 100 a page
(``/things?offset=N``) and answers ``/things/KEY`` with a small page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from scrapeline import Context, Item, Pipeline, Record, offsets

pipe = Pipeline("ledger_scale", base_url="http://127.0.0.1:8000", workers=8)
pipe.table("things", key="key")


@pipe.discover("thing", pages=offsets(step=100))
async def listing(ctx: Context, offset: int) -> AsyncIterator[Item]:
    page = await ctx.fetch(f"/things?offset={offset}")
    for row in page.css("li.thing"):
        yield Item(key=int(row.attributes["data-key"] or 0))


@pipe.stage("fetch", on="thing")
async def fetch(ctx: Context, item: Item) -> Record:
    page = await ctx.fetch(f"/things/{item.key}")
    return Record("things", {"key": item.key, "title": page.text_of("h1")})
