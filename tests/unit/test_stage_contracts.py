"""A stage's (or discovery's) declared contract reaches every fetch it makes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import scrapeline
from scrapeline import Context, Expect, Item, Pipeline
from scrapeline.fetch.response import Response


class Recorder:
    def __init__(self) -> None:
        self.expects: list[Any] = []

    async def get(
        self,
        url: str,
        *,
        stage: str | None = None,
        item_key: str | None = None,
        expect: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        self.expects.append(expect)
        return Response(url=url, status=200, headers={}, body=b"")


def test_stage_and_discovery_store_their_contract() -> None:
    pipe = Pipeline("p", base_url="http://h")
    listing, page = Expect(selectors=("table",)), Expect(selectors=("#match", "h1"))

    @pipe.discover("match", expect=listing)
    async def walk(ctx: Context, offset: int) -> AsyncIterator[Item]:
        yield Item(key=1)

    @pipe.stage("overview", on="match", expect=page)
    async def overview(ctx: Context, item: Item) -> None:
        return None

    @pipe.stage("plain", on="match")
    async def plain(ctx: Context, item: Item) -> None:
        return None

    assert pipe.discoveries[0].expect is listing
    assert pipe.stages["overview"].expect is page
    assert pipe.stages["plain"].expect is None


async def test_every_fetch_checks_the_declared_contract_unless_the_call_gives_its_own() -> None:
    declared, own = Expect(selectors=("#match",)), Expect(json_keys=("data",))
    fetch = Recorder()
    ctx = Context(fetch=fetch, config={}, run_id=1, stage="s", item=Item(key=1), expect=declared)
    await ctx.fetch("/a")
    await ctx.fetch("/b", expect=own)
    await ctx.fetch("/c")
    assert fetch.expects == [declared, own, declared]
    bare = Context(fetch=fetch, config={}, run_id=1)
    await bare.fetch("/d")
    assert fetch.expects[-1] is None


def test_expect_is_public_and_the_api_stays_sorted() -> None:
    assert scrapeline.Expect is Expect
    assert scrapeline.__all__ == sorted(scrapeline.__all__, key=lambda n: (n[0].islower(), n))
