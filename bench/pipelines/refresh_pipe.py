"""The daily-refresh benchmark's pipeline: a listing of things, newest first, and a page each.

    listing  /fresh/listing/N     →  thing items (100 a page, newest first, ``hasNextPage``)
    fetch    /fresh/things/K      →  a `things` row

``fetch`` refreshes the things dated within seven days of now: every run, their
pages are fetched again with the validators the archive kept, and a page the
site answers ``304 Not Modified`` keeps its record without a parse. The harness
(``bench/refresh.py``) pre-renders both as static JSON files, which nginx serves
with an ETag and a Last-Modified, and answers a conditional request with 304.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from scrapeline import Context, Expect, Item, Pipeline, Record, page_numbers

REFRESH = "7d"
"""How long after its date a thing's page may still change."""

pipe = Pipeline("refresh_bench", base_url="http://127.0.0.1:8000", workers=8)
pipe.table("things", key="key")

LISTING = Expect(content_type="application/json", json_keys=("hasNextPage",))


def thing_row(thing: dict[str, Any]) -> dict[str, Any]:
    """The ``things`` row of a thing's page (the harness fills older rows with it too)."""
    return {
        "key": thing["key"],
        "date": thing["date"],
        "title": thing["title"],
        "score": thing["score"],
    }


@pipe.discover("thing", pages=page_numbers(0), expect=LISTING)
async def listing(ctx: Context, page: int) -> AsyncIterator[Item]:
    body = (await ctx.fetch(f"/fresh/listing/{page}")).json()
    if not body["hasNextPage"]:
        ctx.last_page()
    for t in body["things"]:
        yield Item(key=t["key"], date=t["date"])


@pipe.stage("fetch", on="thing", refresh=REFRESH, expect=Expect(json_keys=("thing.key",)))
async def fetch(ctx: Context, item: Item) -> Record:
    thing = (await ctx.fetch(f"/fresh/things/{item.key}")).json()["thing"]
    return Record("things", thing_row(thing))
