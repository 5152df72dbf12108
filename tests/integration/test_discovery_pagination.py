"""How a discovery's walk ends and where it goes next, against a real local server:
offsets and page numbers that answer 404 past their last page, a JSON API that says
``hasNextPage``, cursors and next links; real runs over a real SQLite ledger."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from scrapeline import Context, Item, Pipeline, Record, cursors, offsets, page_numbers
from scrapeline import events as ev
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.observe.render import render
from scrapeline.runner.run import RunOptions
from scrapeline.workspace.run import run as run_pipeline
from tests.servers import serve

THINGS = 25
"""Things 1..25 are listed, ``PER_PAGE`` to a page: three pages of them."""
PER_PAGE = 10


def listing_app(
    things: int = THINGS, *, broken_once: tuple[str, ...] = ()
) -> tuple[web.Application, list[str]]:
    """The listings of ``things`` things in every style, and a page per thing. The
    second value is every listing URL asked for, in order. A listing URL in
    ``broken_once`` answers a page that is not JSON the first time it is asked."""
    asked: list[str] = []
    ids = list(range(1, things + 1))
    broken = set(broken_once)

    def rows(start: int) -> list[int]:
        return ids[start : start + PER_PAGE]

    async def by_offset(request: web.Request) -> web.Response:
        asked.append(request.path_qs)
        offset = int(request.query["offset"])
        if offset >= len(ids):
            raise web.HTTPNotFound()
        return web.json_response({"rows": rows(offset)})

    async def by_page(request: web.Request) -> web.Response:
        asked.append(request.path_qs)
        number = int(request.query["page"])
        start = (number - 1) * PER_PAGE
        if start >= len(ids):
            raise web.HTTPGone()
        return web.json_response({"data": rows(start), "hasNextPage": start + PER_PAGE < len(ids)})

    def token(key: int) -> str:
        return f"after-{key}"

    async def by_cursor(request: web.Request) -> web.Response:
        asked.append(request.path_qs)
        if request.path_qs in broken:
            broken.discard(request.path_qs)
            return web.Response(text="<html>maintenance</html>", content_type="text/html")
        after = request.query.get("after")
        start = 0 if after is None else ids.index(int(after.removeprefix("after-"))) + 1
        page = rows(start)
        more = start + PER_PAGE < len(ids)
        return web.json_response({"items": page, "next": token(page[-1]) if more else None})

    async def linked(request: web.Request) -> web.Response:
        asked.append(request.path_qs)
        start = int(request.query.get("from", "0"))
        cells = "".join(f'<li data-id="{key}">thing {key}</li>' for key in rows(start))
        more = start + PER_PAGE < len(ids)
        link = f'<a rel="next" href="{request.url.origin()}/list?from={start + PER_PAGE}">next</a>'
        body = f"<html><body><ul>{cells}</ul>{link if more else ''}</body></html>"
        return web.Response(text=body, content_type="text/html")

    async def thing(request: web.Request) -> web.Response:
        key = int(request.match_info["key"])
        return web.json_response({"id": key, "name": f"thing {key}"})

    app = web.Application()
    app.router.add_get("/results", by_offset)
    app.router.add_get("/api/things", by_page)
    app.router.add_get("/api/cursor", by_cursor)
    app.router.add_get("/list", linked)
    app.router.add_get("/things/{key}", thing)
    return app, asked


def pipeline(base_url: str, discover: Any, **declared: Any) -> Pipeline:
    pipe = Pipeline("things", base_url=base_url, robots=False)
    pipe.table("things", key="id")
    pipe.discover("thing", **declared)(discover)

    @pipe.stage("detail", on="thing")
    async def detail(ctx: Context, item: Item) -> Record:
        return Record("things", (await ctx.fetch(f"/things/{item.key}")).json())

    return pipe


async def by_offset(ctx: Context, offset: int) -> AsyncIterator[Item]:
    for key in (await ctx.fetch(f"/results?offset={offset}")).json()["rows"]:
        yield Item(key=key)


async def by_page_number(ctx: Context, number: int) -> AsyncIterator[Item]:
    for key in (await ctx.fetch(f"/api/things?page={number}")).json()["data"]:
        yield Item(key=key)


async def by_page_number_says_last(ctx: Context, number: int) -> AsyncIterator[Item]:
    page = (await ctx.fetch(f"/api/things?page={number}")).json()
    if not page["hasNextPage"]:
        ctx.last_page()
    for key in page["data"]:
        yield Item(key=key)


async def by_cursor(ctx: Context, cursor: str | None) -> AsyncIterator[Item]:
    page = (
        await ctx.fetch("/api/cursor" if cursor is None else f"/api/cursor?after={cursor}")
    ).json()
    if page["next"] is not None:
        ctx.next_page(page["next"])
    for key in page["items"]:
        yield Item(key=key)


async def by_next_link(ctx: Context, url: str | None) -> AsyncIterator[Item]:
    page = await ctx.fetch(url or "/list")
    link = page.first("a[rel=next]")
    if link is not None:
        ctx.next_page(link.attributes["href"] or "")
    for row in page.css("li"):
        yield Item(key=int(row.attributes["data-id"] or 0))


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def __call__(self, event: Any) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


async def run(pipe: Pipeline, data_dir: Path, **options: Any) -> tuple[Any, Recorder]:
    recorder = Recorder()
    options.setdefault("workers", 2)
    outcome = await asyncio.wait_for(
        run_pipeline(pipe, data_dir, RunOptions(**options), subscribers=[recorder]), 60
    )
    return outcome, recorder


def stored_keys(data_dir: Path) -> list[Any]:
    ledger = SqliteLedger(data_dir / "ledger.db")
    try:
        return sorted(r["id"] for r in ledger.records("things"))
    finally:
        ledger.close()


# -- a 404 or 410 past the last page is the end of the listing ----------------------


async def test_an_offset_listing_that_answers_404_past_its_end_finishes(tmp_path: Path) -> None:
    app, asked = listing_app()
    async with serve(app) as url:
        pipe = pipeline(url, by_offset, pages=offsets(step=PER_PAGE))
        outcome, recorder = await run(pipe, tmp_path)
        assert outcome.exit_code == 0, outcome.reason
        assert stored_keys(tmp_path) == list(range(1, THINGS + 1))
        finished = recorder.of(ev.DiscoveryFinished)
        assert [(f.pages, f.new, f.reason) for f in finished] == [(3, THINGS, "end of listing")]
        assert asked[-1] == "/results?offset=30"

        # the 404 page is no point to resume at: the next run stops at the known first page
        asked.clear()
        outcome, recorder = await run(pipe, tmp_path)
        assert outcome.exit_code == 0, outcome.reason
        assert asked == ["/results?offset=0"]
        assert recorder.of(ev.DiscoveryFinished)[0].reason == "known page"


async def test_a_page_number_listing_that_answers_410_past_its_end_finishes_every_run(
    tmp_path: Path,
) -> None:
    app, asked = listing_app()
    async with serve(app) as url:
        pipe = pipeline(url, by_page_number, pages=page_numbers())
        for _ in range(2):
            outcome, _recorder = await run(pipe, tmp_path, full=True)
            assert outcome.exit_code == 0, outcome.reason
            assert stored_keys(tmp_path) == list(range(1, THINGS + 1))
            assert asked[-1] == "/api/things?page=4"


async def test_a_walk_left_at_a_404_by_an_older_run_finishes(tmp_path: Path) -> None:
    # what older versions saved after a 404: a cut-short walk whose next page is past the end
    from scrapeline.ledger.base import Walk

    app, asked = listing_app()
    async with serve(app) as url:
        pipe = pipeline(url, by_offset, pages=offsets(step=PER_PAGE))
        outcome, _recorder = await run(pipe, tmp_path)
        assert outcome.exit_code == 0, outcome.reason
        ledger = SqliteLedger(tmp_path / "ledger.db")
        try:
            ledger.save_walk(Walk(name="by_offset", next_position=30, finished=False))
        finally:
            ledger.close()
        asked.clear()
        outcome, recorder = await run(pipe, tmp_path)
        assert outcome.exit_code == 0, outcome.reason
        assert asked == ["/results?offset=0", "/results?offset=30"]
        assert recorder.of(ev.DiscoveryFinished)[0].reason == "end of listing"


async def test_a_404_on_the_first_page_is_still_a_failure(tmp_path: Path) -> None:
    app, _asked = listing_app()
    async with serve(app) as url:

        async def wrong_url(ctx: Context, offset: int) -> AsyncIterator[Item]:
            for key in (await ctx.fetch(f"/reslts?offset={offset}")).json()["rows"]:
                yield Item(key=key)

        pipe = pipeline(url, wrong_url, pages=offsets(step=PER_PAGE))
        outcome, recorder = await run(pipe, tmp_path)
        assert outcome.exit_code == 1
        errors = [e.message for e in recorder.of(ev.Log) if e.message.startswith("discovery")]
        assert any("wrong_url at 0" in m and "404" in m for m in errors), errors

        # a walk started past the end (--start-offset) fails the same way
        pipe = pipeline(url, by_offset, pages=offsets(step=PER_PAGE))
        outcome, _recorder = await run(pipe, tmp_path / "2", start=100)
        assert outcome.exit_code == 1


# -- the response says the listing ends ---------------------------------------------


async def test_a_page_number_api_that_says_it_has_no_next_page_ends_there(
    tmp_path: Path,
) -> None:
    app, asked = listing_app()
    async with serve(app) as url:
        pipe = pipeline(url, by_page_number_says_last, pages=page_numbers())
        outcome, recorder = await run(pipe, tmp_path)
        assert outcome.exit_code == 0, outcome.reason
        assert stored_keys(tmp_path) == list(range(1, THINGS + 1))
        # page 3 said hasNextPage: false, so page 4 is never asked for
        assert asked == [f"/api/things?page={n}" for n in (1, 2, 3)]
        finished = recorder.of(ev.DiscoveryFinished)
        assert [(f.pages, f.new, f.reason) for f in finished] == [(3, THINGS, "last page")]
        assert [e.page for e in recorder.of(ev.PageDiscovered)] == ["page 1", "page 2", "page 3"]
        lines = [render(e, now=datetime.now()) for e in recorder.of(ev.PageDiscovered)]
        assert [(line.text.plain, line.log) for line in lines if line is not None][-1] == (
            "discover by_page_number_says_last page 3: 5 keys, 5 new",
            "discover by_page_number_says_last at page 3: 5 keys, 5 new",
        )

        # the listing was walked to its end: the next run starts at the top, and stops there
        asked.clear()
        outcome, recorder = await run(pipe, tmp_path)
        assert outcome.exit_code == 0, outcome.reason
        assert asked == ["/api/things?page=1"]


# -- cursors and next links ---------------------------------------------------------


async def test_a_cursor_listing_is_followed_to_the_page_that_names_no_next(
    tmp_path: Path,
) -> None:
    app, asked = listing_app()
    async with serve(app) as url:
        pipe = pipeline(url, by_cursor, pages=cursors())
        outcome, recorder = await run(pipe, tmp_path)
        assert outcome.exit_code == 0, outcome.reason
        assert stored_keys(tmp_path) == list(range(1, THINGS + 1))
        assert asked == ["/api/cursor", "/api/cursor?after=after-10", "/api/cursor?after=after-20"]
        assert [e.page for e in recorder.of(ev.PageDiscovered)] == [
            "first page",
            "cursor after-10",
            "cursor after-20",
        ]
        line = render(recorder.of(ev.PageDiscovered)[1], now=datetime.now())
        assert (
            line is not None
            and line.text.plain == "discover by_cursor cursor after-10: 10 keys, 10 new"
        )
        assert recorder.of(ev.DiscoveryFinished)[0].reason == "last page"

        # incremental: a fully known first page ends the walk as finished
        asked.clear()
        outcome, recorder = await run(pipe, tmp_path)
        assert outcome.exit_code == 0, outcome.reason
        assert asked == ["/api/cursor"]
        assert recorder.of(ev.DiscoveryFinished)[0].reason == "known page"


async def test_an_interrupted_cursor_walk_resumes_at_its_stored_cursor(tmp_path: Path) -> None:
    app, asked = listing_app(broken_once=("/api/cursor?after=after-20",))
    async with serve(app) as url:
        pipe = pipeline(url, by_cursor, pages=cursors())
        outcome, _recorder = await run(pipe, tmp_path)
        assert outcome.exit_code == 1  # the third page did not parse
        assert stored_keys(tmp_path) == list(range(1, 21))
        ledger = SqliteLedger(tmp_path / "ledger.db")
        try:
            walk = ledger.walk("by_cursor")
            assert walk is not None and not walk.finished and walk.cursor == "after-20"
        finally:
            ledger.close()

        # the first page is known: the walk goes straight to the stored cursor
        asked.clear()
        outcome, recorder = await run(pipe, tmp_path)
        assert outcome.exit_code == 0, outcome.reason
        assert asked == ["/api/cursor", "/api/cursor?after=after-20"]
        assert stored_keys(tmp_path) == list(range(1, THINGS + 1))
        assert recorder.of(ev.DiscoveryFinished)[0].reason == "last page"


async def test_a_listing_of_next_links_is_followed_to_the_page_without_one(
    tmp_path: Path,
) -> None:
    app, asked = listing_app()
    async with serve(app) as url:
        pipe = pipeline(url, by_next_link, pages=cursors())
        outcome, recorder = await run(pipe, tmp_path)
        assert outcome.exit_code == 0, outcome.reason
        assert stored_keys(tmp_path) == list(range(1, THINGS + 1))
        assert asked == ["/list", "/list?from=10", "/list?from=20"]
        assert [e.page for e in recorder.of(ev.PageDiscovered)][1:] == [
            "cursor /list?from=10",
            "cursor /list?from=20",
        ]
        assert recorder.of(ev.DiscoveryFinished)[0].reason == "last page"


async def test_next_page_over_numbered_pages_fails_the_discovery_saying_what_to_declare(
    tmp_path: Path,
) -> None:
    app, _asked = listing_app()
    async with serve(app) as url:
        pipe = pipeline(url, by_cursor, pages=page_numbers())
        outcome, recorder = await run(pipe, tmp_path)
        assert outcome.exit_code == 1
        errors = [e.message for e in recorder.of(ev.Log) if e.message.startswith("discovery")]
        assert any("declare pages=cursors()" in m for m in errors), errors


async def test_a_cursor_listing_that_points_back_at_a_walked_page_ends(tmp_path: Path) -> None:
    app, asked = listing_app()
    async with serve(app) as url:

        async def round_and_round(ctx: Context, cursor: str | None) -> AsyncIterator[Item]:
            # every page names the second page as the next one
            await ctx.fetch("/api/cursor" if cursor is None else f"/api/cursor?after={cursor}")
            ctx.next_page("after-10")
            for key in range(1, 11):
                yield Item(key=key if cursor is None else key + 100)

        pipe = pipeline(url, round_and_round, pages=cursors())
        outcome, recorder = await asyncio.wait_for(run(pipe, tmp_path, full=True), 30)
        assert outcome.exit_code == 0, outcome.reason
        assert asked == ["/api/cursor", "/api/cursor?after=after-10"]
        assert recorder.of(ev.DiscoveryFinished)[0].reason == "end of listing"
