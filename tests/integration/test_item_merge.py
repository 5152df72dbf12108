"""Through real runs against a local JSON site: an item two listings show with
different data is merged, and the run log and the summary say which value changed;
a stage hands a URL it found on to the later stage of its item, which fetches it."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from rich.console import Console

from scrapeline import Context, Item, Pipeline, Record, page_numbers
from scrapeline.events import Event, RunFinished
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.observe.summary import render_summary, summarize
from scrapeline.runner.run import RunOptions
from scrapeline.workspace.run import run as run_pipeline
from tests.servers import serve


class Site:
    """Two listings of matches that disagree on one score, a page per match that
    links its economy page (a URL only that page gives), and the economy pages."""

    def __init__(self) -> None:
        self.results = [{"id": 1, "score": "1-0"}, {"id": 2, "score": "0-0"}]
        self.table = [{"id": 1, "score": "2-1"}, {"id": 3, "score": "3-3"}]
        self.hits: Counter[str] = Counter()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/results", self.listing(lambda: self.results))
        app.router.add_get("/table", self.listing(lambda: self.table))
        app.router.add_get("/matches/{m}", self.match)
        app.router.add_get("/economy/{m}", self.economy)
        return app

    def listing(self, rows: Any) -> Any:
        async def handler(request: web.Request) -> web.Response:
            self.hits[request.path_qs] += 1
            return web.json_response({"matches": rows(), "hasNextPage": False})

        return handler

    async def match(self, request: web.Request) -> web.Response:
        self.hits[request.path_qs] += 1
        m = int(request.match_info["m"])
        return web.json_response({"id": m, "links": {"economy": f"/economy/{m}?sig=s{m * 7}"}})

    async def economy(self, request: web.Request) -> web.Response:
        self.hits[request.path_qs] += 1
        m = int(request.match_info["m"])
        if request.query.get("sig") != f"s{m * 7}":
            raise web.HTTPForbidden()
        return web.json_response({"id": m, "rounds": 20 + m})


def merge_pipeline(base_url: str) -> Pipeline:
    pipe = Pipeline("merging", base_url=base_url, robots=False, max_attempts=1)
    pipe.table("economy", key="match_id")

    async def rows(ctx: Context, url: str) -> AsyncIterator[Item]:
        body = (await ctx.fetch(url)).json()
        ctx.last_page()
        for row in body["matches"]:
            yield Item(key=row["id"], data={"score": row["score"]})

    @pipe.discover("match", pages=page_numbers(0))
    async def results(ctx: Context, page: int) -> AsyncIterator[Item]:
        async for item in rows(ctx, "/results"):
            yield item

    @pipe.discover("match", pages=page_numbers(0))
    async def table(ctx: Context, page: int) -> AsyncIterator[Item]:
        async for item in rows(ctx, "/table"):
            yield item

    @pipe.stage("overview", on="match")
    async def overview(ctx: Context, item: Item) -> None:
        page = (await ctx.fetch(f"/matches/{item.key}")).json()
        ctx.hand_on(economy_url=page["links"]["economy"])

    @pipe.stage("economy", on="match", after="overview")
    async def economy(ctx: Context, item: Item) -> Record:
        page = (await ctx.fetch(item.data["economy_url"])).json()
        return Record("economy", {"match_id": item.key, "rounds": page["rounds"]})

    return pipe


async def run_once(site: Site, data_dir: Path) -> RunFinished:
    seen: list[Event] = []
    async with serve(site.app()) as url:
        outcome = await run_pipeline(
            merge_pipeline(url),
            data_dir,
            RunOptions(workers=2, grace=1.0),
            subscribers=[seen.append],
        )
    assert outcome.exit_code == 0, outcome.reason
    (finished,) = [e for e in seen if isinstance(e, RunFinished)]
    return finished


def run_log(data_dir: Path, run_id: int) -> str:
    (path,) = (data_dir / "logs").glob(f"run-*-{run_id}.log")
    return path.read_text()


def summary_text(finished: RunFinished) -> str:
    out = io.StringIO()
    summary = summarize(finished.report, wall=finished.wall, reason=None, exit_code=0)
    render_summary(summary, Console(file=out, width=120))
    return out.getvalue()


async def test_an_item_two_listings_disagree_on_is_merged_and_the_change_is_said(
    tmp_path: Path,
) -> None:
    site = Site()
    data_dir = tmp_path / "data"
    finished = await run_once(site, data_dir)
    run_id = finished.report.run.id
    assert finished.report.items_changed == 1
    assert "1 item value changed since they were last seen" in summary_text(finished)
    log = run_log(data_dir, run_id)
    changed = [line for line in log.splitlines() if "item match 1: score changed" in line]
    assert len(changed) == 1  # whichever listing was walked first, the other changed it
    assert changed[0].endswith(
        (
            f'score changed from "1-0" to "2-1" (run {run_id})',
            f'score changed from "2-1" to "1-0" (run {run_id})',
        )
    )
    ledger = SqliteLedger(data_dir / "ledger.db")
    try:
        assert ledger.runs()[0].summary["items_changed"] == 1
        (change,) = ledger.changes(run_id)
        assert (change.kind, change.key, change.field) == ("match", 1, "score")
        assert {change.old, change.new} == {"1-0", "2-1"}
    finally:
        ledger.close()

    # the sites agree now, and say what they said before: nothing changes
    site.results[0]["score"] = change.new
    finished = await run_once(site, data_dir)
    assert finished.report.items_changed == 0
    assert "changed" not in summary_text(finished)
    # a correction: the score is changed once more, and said so again
    site.results[0]["score"] = site.table[0]["score"] = "2-2"
    finished = await run_once(site, data_dir)
    assert finished.report.items_changed == 1
    assert f'score changed from "{change.new}" to "2-2"' in run_log(
        data_dir, finished.report.run.id
    )


async def test_a_later_stage_fetches_the_url_an_earlier_stage_handed_on(tmp_path: Path) -> None:
    site = Site()
    data_dir = tmp_path / "data"
    await run_once(site, data_dir)
    # the economy pages were asked for by the links only the match pages gave
    assert {p: n for p, n in site.hits.items() if p.startswith("/economy")} == {
        "/economy/1?sig=s7": 1,
        "/economy/2?sig=s14": 1,
        "/economy/3?sig=s21": 1,
    }
    ledger = SqliteLedger(data_dir / "ledger.db")
    try:
        assert list(ledger.records("economy")) == [
            {"match_id": 1, "rounds": 21},
            {"match_id": 2, "rounds": 22},
            {"match_id": 3, "rounds": 23},
        ]
        assert ledger.report(1).items_changed == 1  # the disputed score, not the URLs
    finally:
        ledger.close()
