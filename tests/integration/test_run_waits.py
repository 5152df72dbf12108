"""Waiting for the host holds no worker, and is not counted in the item's time limit:
real runs on a real SQLite ledger, against a real local server that records what it
answered, and in what order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from scrapeline import Context, Item, Pipeline, Record, offsets
from scrapeline import events as ev
from scrapeline.events import EventBus
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.retry import RetryPolicy
from scrapeline.ledger.base import RunStatus
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.runner.run import Outcome, RunOptions
from scrapeline.runner.shutdown import Shutdown
from scrapeline.workspace.opened import Workspace
from scrapeline.workspace.run import run as run_pipeline
from scrapeline.workspace.run import run_on
from tests.servers import serve

Sleep = Callable[[float], Awaitable[None]]


class Site:
    """A listing of ``count`` things on one page, and a page per thing.

    The first ``unavailable`` distinct thing pages asked for answer 503 once; the
    page of ``slow`` answers after ``slow_seconds``. ``served`` lists the things
    answered 200, in order; ``arrivals`` the time each thing page was asked for."""

    def __init__(
        self,
        count: int,
        *,
        unavailable: int = 0,
        slow: int | None = None,
        slow_seconds: float = 0.0,
    ) -> None:
        self.count = count
        self.unavailable = unavailable
        self.slow = slow
        self.slow_seconds = slow_seconds
        self.refused: list[int] = []
        self.served: list[int] = []
        self.arrivals: list[float] = []
        self.app = web.Application()
        self.app.router.add_get("/things", self.listing)
        self.app.router.add_get(r"/things/{key:\d+}", self.thing)

    async def listing(self, request: web.Request) -> web.Response:
        rows = "".join(f'<li class="thing" data-key="{k}">{k}</li>' for k in range(self.count))
        return web.Response(text=f"<ul>{rows}</ul>", content_type="text/html")

    async def thing(self, request: web.Request) -> web.Response:
        key = int(request.match_info["key"])
        self.arrivals.append(time.monotonic())
        if len(self.refused) < self.unavailable and key not in self.refused:
            self.refused.append(key)
            return web.Response(status=503, text="busy")
        if key == self.slow:
            await asyncio.sleep(self.slow_seconds)
        self.served.append(key)
        return web.Response(text=f"<h1>thing {key}</h1>", content_type="text/html")


def things(url: str, **settings: Any) -> Pipeline:
    """Discover every thing on the listing; one stage fetches each thing's page."""
    pipe = Pipeline("things", base_url=url, **settings)
    pipe.table("things", key="key")

    @pipe.discover("thing", pages=offsets(step=1000))
    async def listing(ctx: Context, offset: int) -> AsyncIterator[Item]:
        page = await ctx.fetch("/things")
        ctx.last_page()
        for row in page.css("li.thing"):
            yield Item(key=int(row.attributes["data-key"] or 0))

    @pipe.stage("page", on="thing")
    async def page(ctx: Context, item: Item) -> Record:
        got = await ctx.fetch(f"/things/{item.key}")
        return Record("things", {"key": item.key, "title": got.text_of("h1")})

    return pipe


class Recorder(list[Any]):
    def __init__(self, also: Callable[[Any], None] | None = None) -> None:
        super().__init__()
        self._also = also

    def __call__(self, event: Any) -> None:
        self.append(event)
        if self._also is not None:
            self._also(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self if isinstance(e, kind)]


async def run_with(
    pipe: Pipeline,
    data_dir: Path,
    client: FetchClient,
    options: RunOptions,
    recorder: Recorder,
    shutdown: Shutdown | None = None,
) -> Outcome:
    """A run as ``scrapeline run`` makes it, with this fetch client."""
    with Workspace.open(data_dir) as ws:
        ws.prepare(pipe)
        return await run_on(
            ws,
            pipe,
            client,
            options,
            bus=EventBus([recorder]),
            shutdown=shutdown or Shutdown(),
            secrets=(),
        )


def counts(data_dir: Path) -> dict[str, int]:
    ledger = SqliteLedger(data_dir / "ledger.db")
    try:
        return {k: v for k, v in ledger.counts().get("page", {}).items() if v}
    finally:
        ledger.close()


def client_for(url: str, sleep: Sleep) -> FetchClient:
    """A client whose waits (a retry's backoff) last until ``sleep`` says so."""
    return FetchClient(
        base_url=url,
        retry=RetryPolicy(max_attempts=3, base_delay=1.0),
        sleep=sleep,
        robots=False,
    )


async def test_items_waiting_for_a_retry_let_the_other_items_run_meanwhile(
    tmp_path: Path,
) -> None:
    """Two workers, and both of the first two items get a 503: while both back off,
    the other items are fetched, parsed and committed, not held up behind them."""
    site = Site(20, unavailable=2)
    others_done = asyncio.Event()
    backoffs: list[float] = []

    async def backoff(seconds: float) -> None:
        # the retry's wait lasts until every other item has been answered: with the
        # two workers held by it, that would never happen (and this would time out)
        backoffs.append(seconds)
        await asyncio.wait_for(others_done.wait(), timeout=15)

    def watch(event: Any) -> None:
        if len(site.served) >= site.count - site.unavailable:
            others_done.set()

    recorder = Recorder(watch)

    async with serve(site.app) as url:
        outcome = await asyncio.wait_for(
            run_with(
                things(url),
                tmp_path,
                client_for(url, backoff),
                RunOptions(workers=2),
                recorder,
            ),
            timeout=60,
        )
    assert outcome.exit_code == 0, outcome.reason
    assert len(backoffs) == 2
    # the two that waited were answered last, after all eighteen others
    assert sorted(site.served[-2:]) == sorted(site.refused)
    assert len(site.served) == 20 and counts(tmp_path) == {"done": 20}
    done = [e.key for e in recorder.of(ev.TaskDone)]
    assert sorted(done[-2:]) == sorted(site.refused)  # reported done last, too


async def test_a_second_stop_gives_back_the_leases_of_items_waiting_for_a_retry(
    tmp_path: Path,
) -> None:
    """Items in a retry's wait are in flight: a second Ctrl+C cancels them and their
    leases go back, like those of the items at work."""
    site = Site(12, unavailable=3)
    shutdown = Shutdown()
    waiting = asyncio.Event()

    async def forever(seconds: float) -> None:
        if len(site.refused) == site.unavailable:
            waiting.set()
        await asyncio.sleep(3600)

    async def stop_twice() -> None:
        await waiting.wait()
        while len(site.served) < site.count - site.unavailable:
            await asyncio.sleep(0.01)  # the others get done meanwhile
        shutdown.request("SIGINT")
        await asyncio.sleep(0.05)
        shutdown.request("SIGINT")

    recorder = Recorder()
    async with serve(site.app) as url:
        outcome, _ = await asyncio.wait_for(
            asyncio.gather(
                run_with(
                    things(url),
                    tmp_path,
                    client_for(url, forever),
                    RunOptions(workers=2, grace=60.0),
                    recorder,
                    shutdown,
                ),
                stop_twice(),
            ),
            timeout=60,
        )
    assert outcome.exit_code == 130 and outcome.status is RunStatus.INTERRUPTED
    assert counts(tmp_path) == {"done": 9, "pending": 3}  # nothing left leased


async def test_waiting_for_a_politeness_slot_does_not_count_toward_the_item_timeout(
    tmp_path: Path,
) -> None:
    """Many workers, a delay between requests and a time limit far shorter than the
    queue for the host: no item fails for its wait; the one whose own answer is slower
    than the limit still does."""
    site = Site(30, slow=7, slow_seconds=2.0)
    recorder = Recorder()
    limit = 0.4
    async with serve(site.app) as url:
        pipe = things(url, delay=0.05, robots=False)
        outcome = await asyncio.wait_for(
            run_pipeline(
                pipe,
                tmp_path,
                RunOptions(workers=16, item_timeout=limit),
                subscribers=[recorder],
            ),
            timeout=60,
        )
    # the premise: the host's queue was far longer than the limit (gaps are kept exactly)
    assert site.arrivals[-1] - site.arrivals[0] > 2 * limit
    failed = recorder.of(ev.TaskFailed)
    assert [(e.key, e.category, e.message) for e in failed] == [
        (7, "timeout", f"item took longer than {limit:g}s")
    ]
    assert outcome.exit_code == 1
    assert counts(tmp_path) == {"done": 29, "failed": 1}
