"""The run loop on the in-memory ledger and a fake transport: no socket, no disk.

Stop requests go through :class:`Shutdown`'s API, as a signal handler would."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest

from scrapeline import Context, Item, ParseError, Pipeline, offsets
from scrapeline import events as ev
from scrapeline.errors import DiskFull
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.retry import RetryPolicy
from scrapeline.fetch.waiting import waited
from scrapeline.ledger.aio import AsyncLedger
from scrapeline.ledger.base import Completion, RunStatus
from scrapeline.runner.run import Outcome, Runner, RunOptions
from scrapeline.runner.shutdown import Shutdown
from scrapeline.testing import FakeFetcher, MemoryLedger

BASE = "https://site.example"


def fake_client() -> FetchClient:
    page = (200, {"Content-Type": "text/html"}, "<p>ok</p>")
    return FetchClient(
        base_url=BASE, retry=RetryPolicy(max_attempts=1), fetcher=FakeFetcher(lambda r: page)
    )


async def run_once(
    pipe: Pipeline,
    ledger: MemoryLedger,
    options: RunOptions,
    *,
    shutdown: Shutdown | None = None,
    seen: list[Any] | None = None,
    queue: AsyncLedger | None = None,
) -> Outcome:
    """Begin a run as the composition root does, then hand it to a Runner."""
    queue = queue or AsyncLedger(ledger)
    client = fake_client()
    try:
        run_id = await queue.begin_run(pipe.name, options.public(), time.time(), os.getpid())
        await queue.reset_failed()
        emit: Callable[[Any], None] = seen.append if seen is not None else (lambda e: None)
        runner = Runner(pipe, queue, client, options, run_id=run_id, emit=emit, shutdown=shutdown)
        return await runner.run()
    finally:
        queue.close()
        await client.close()


def listing(pipe: Pipeline, keys: Sequence[int], *, step: int = 10) -> list[int]:
    """A discovery of ``keys``, ``step`` a page; returns the positions it was asked for."""
    asked: list[int] = []

    @pipe.discover("thing", pages=offsets(step=step))
    async def things(ctx: Context, offset: int) -> AsyncIterator[Item]:
        asked.append(offset)
        for key in keys[offset : offset + step]:
            yield Item(key=key)

    return asked


def counts(ledger: MemoryLedger, stage: str) -> dict[str, int]:
    return {k: v for k, v in ledger.counts()[stage].items() if v}


async def test_a_first_stop_lets_in_flight_items_finish_and_claims_nothing_more() -> None:
    pipe = Pipeline("drain", base_url=BASE)
    listing(pipe, range(20), step=20)
    started = asyncio.Event()
    release = asyncio.Event()
    shutdown = Shutdown()

    @pipe.stage("slow", on="thing")
    async def slow(ctx: Context, item: Item) -> None:
        started.set()
        await release.wait()

    async def stop_midway() -> None:
        await started.wait()
        shutdown.request("SIGINT")
        await asyncio.sleep(0.05)
        release.set()  # the in-flight items may finish: they are inside the grace period

    ledger = MemoryLedger()
    ledger.prepare(pipe.graph())
    options = RunOptions(workers=2, grace=5.0)
    outcome, _ = await asyncio.gather(
        run_once(pipe, ledger, options, shutdown=shutdown), stop_midway()
    )
    assert outcome.exit_code == 130
    assert outcome.status is RunStatus.INTERRUPTED
    state = counts(ledger, "slow")
    assert state.get("done") == 2  # the two in flight finished and were committed
    assert state.get("pending") == 18  # nothing more was started; nothing is leased
    assert "running" not in state


async def test_a_second_stop_cancels_in_flight_items_and_gives_their_leases_back() -> None:
    pipe = Pipeline("cancel", base_url=BASE)
    listing(pipe, range(6), step=10)
    started = asyncio.Event()
    shutdown = Shutdown()

    @pipe.stage("stuck", on="thing")
    async def stuck(ctx: Context, item: Item) -> None:
        started.set()
        await asyncio.sleep(3600)

    async def stop_twice() -> None:
        await started.wait()
        shutdown.request("SIGINT")
        await asyncio.sleep(0.05)
        shutdown.request("SIGINT")

    ledger = MemoryLedger()
    ledger.prepare(pipe.graph())
    outcome, _ = await asyncio.wait_for(
        asyncio.gather(
            run_once(pipe, ledger, RunOptions(workers=3, grace=60.0), shutdown=shutdown),
            stop_twice(),
        ),
        timeout=10,
    )
    assert outcome.exit_code == 130
    assert counts(ledger, "stuck") == {"pending": 6}


async def test_a_failure_streak_halts_the_run_and_stops_claiming() -> None:
    pipe = Pipeline("halt", base_url=BASE)
    listing(pipe, range(200), step=100)
    tried: list[int] = []

    @pipe.stage("broken", on="thing")
    async def broken(ctx: Context, item: Item) -> None:
        tried.append(int(item.key))
        raise ParseError("no table on the page")

    ledger = MemoryLedger()
    ledger.prepare(pipe.graph())
    seen: list[Any] = []
    outcome = await run_once(
        pipe, ledger, RunOptions(workers=1, max_consecutive_failures=3), seen=seen
    )
    assert outcome.exit_code == 3
    assert outcome.status is RunStatus.HALTED
    assert "stage broken failed 3 items in a row" in (outcome.reason or "")
    assert "no table on the page" in (outcome.reason or "")
    assert len(tried) == 3
    assert [e.reason for e in seen if isinstance(e, ev.RunHalted)] == [outcome.reason]
    state = counts(ledger, "broken")
    assert state.get("failed") == 3
    assert "running" not in state


async def test_a_cut_short_walk_is_resumed_by_the_next_run() -> None:
    keys = list(range(50))
    shutdown = Shutdown()

    def pipeline() -> tuple[Pipeline, list[int]]:
        pipe = Pipeline("resume", base_url=BASE)
        asked = listing(pipe, keys, step=10)
        return pipe, asked

    pipe, asked = pipeline()
    original = pipe.discoveries[0].fn

    async def interrupted(ctx: Context, offset: int) -> AsyncIterator[Item]:
        if offset == 20:
            shutdown.request("SIGTERM")  # the walk stops after storing this page
        async for item in original(ctx, offset):
            yield item

    object.__setattr__(pipe.discoveries[0], "fn", interrupted)
    ledger = MemoryLedger()
    ledger.prepare(pipe.graph())
    first = await run_once(pipe, ledger, RunOptions(workers=1), shutdown=shutdown)
    assert first.exit_code == 130
    assert asked == [0, 10, 20]
    assert ledger.walk("things") is not None

    pipe, asked = pipeline()
    seen: list[Any] = []
    second = await run_once(pipe, ledger, RunOptions(workers=1), seen=seen)
    assert second.exit_code == 0
    # the first page is known: it jumps to where the cut-short walk got to
    assert asked == [0, 30, 40, 50]
    finished = [e for e in seen if isinstance(e, ev.DiscoveryFinished)]
    assert [(e.reason, e.new) for e in finished] == [("end of listing", 20)]
    walk = ledger.walk("things")
    assert walk is not None and walk.finished


class CountingQueue(AsyncLedger):
    """The real adapter, noting the size of each commit and the state it leaves."""

    def __init__(self, ledger: MemoryLedger) -> None:
        super().__init__(ledger)
        self.batches: list[int] = []

    async def complete(
        self, completions: Sequence[Completion], run_id: int, now: float
    ) -> list[bool]:
        self.batches.append(len(completions))
        return await super().complete(completions, run_id, now)


async def test_outcomes_are_committed_in_batches_and_reported_only_once_committed() -> None:
    pipe = Pipeline("batches", base_url=BASE)
    listing(pipe, range(30), step=30)

    @pipe.stage("quick", on="thing")
    async def quick(ctx: Context, item: Item) -> None:
        await asyncio.sleep(0)

    ledger = MemoryLedger()
    ledger.prepare(pipe.graph())
    committed_when_reported: list[bool] = []

    def watch(event: Any) -> None:
        if isinstance(event, ev.TaskDone):
            # every item reported done so far is done in the ledger already
            reported = len(committed_when_reported) + 1
            committed_when_reported.append(counts(ledger, "quick").get("done", 0) >= reported)

    queue = CountingQueue(ledger)
    options = RunOptions(workers=4, commit_every=8, commit_interval=30.0)
    outcome = await run_once(pipe, ledger, options, seen=_Tee(watch), queue=queue)
    assert outcome.exit_code == 0
    assert counts(ledger, "quick") == {"done": 30}
    assert sum(queue.batches) == 30
    assert 1 < len([b for b in queue.batches if b]) < 30  # batches, not one per item
    assert committed_when_reported == [True] * 30


class _Tee(list[Any]):
    def __init__(self, also: Callable[[Any], None]) -> None:
        super().__init__()
        self._also = also

    def append(self, event: Any) -> None:
        self._also(event)
        super().append(event)


async def test_an_item_past_its_time_limit_fails_as_timeout_and_its_worker_goes_on() -> None:
    pipe = Pipeline("limits", base_url=BASE)
    listing(pipe, range(6), step=10)

    @pipe.stage("sometimes_stuck", on="thing")
    async def sometimes_stuck(ctx: Context, item: Item) -> None:
        if item.key == 2:
            await asyncio.sleep(3600)
        await asyncio.sleep(0)

    ledger = MemoryLedger()
    ledger.prepare(pipe.graph())
    seen: list[Any] = []
    outcome = await run_once(pipe, ledger, RunOptions(workers=1, item_timeout=0.05), seen=seen)
    assert outcome.exit_code == 1
    failed = [e for e in seen if isinstance(e, ev.TaskFailed)]
    assert [(e.key, e.category, e.message) for e in failed] == [
        (2, "timeout", "item took longer than 0.05s")
    ]
    # the one worker took the items after the stuck one: the timeout was not the run's cancel
    assert counts(ledger, "sometimes_stuck") == {"done": 5, "failed": 1}


async def test_a_timeout_error_a_stage_raises_itself_is_its_own_failure() -> None:
    pipe = Pipeline("own-timeout", base_url=BASE)
    listing(pipe, range(2), step=10)

    @pipe.stage("impatient", on="thing")
    async def impatient(ctx: Context, item: Item) -> None:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(3600)

    ledger = MemoryLedger()
    ledger.prepare(pipe.graph())
    seen: list[Any] = []
    outcome = await run_once(pipe, ledger, RunOptions(workers=2, item_timeout=30.0), seen=seen)
    assert outcome.exit_code == 1
    failed = [e for e in seen if isinstance(e, ev.TaskFailed)]
    assert sorted((e.key, e.category, e.message) for e in failed) == [
        (0, "error", "TimeoutError"),
        (1, "error", "TimeoutError"),
    ]


async def test_a_second_stop_cancels_an_item_whose_limit_has_also_run_out() -> None:
    """Both the item's limit and the run cancel the stage: the run's cancel wins, so the
    item goes back to pending rather than failing as a timeout."""
    pipe = Pipeline("both", base_url=BASE)
    listing(pipe, range(1), step=10)
    shutdown = Shutdown()

    @pipe.stage("stubborn", on="thing")
    async def stubborn(ctx: Context, item: Item) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            # the limit's cancel: ask the run to stop twice while still cancelled
            shutdown.request("SIGINT")
            shutdown.request("SIGINT")
            await asyncio.sleep(0)  # the run's cancel lands here
            raise

    ledger = MemoryLedger()
    ledger.prepare(pipe.graph())
    outcome = await asyncio.wait_for(
        run_once(pipe, ledger, RunOptions(workers=1, item_timeout=0.05), shutdown=shutdown),
        timeout=10,
    )
    assert outcome.exit_code == 130
    assert counts(ledger, "stubborn") == {"pending": 1}


class FillsUpOnThirdPage(MemoryLedger):
    """A ledger whose disk fills up when the third listing page is stored; the run's
    end still fits (a small write after a big one failed, as on a real disk)."""

    def __init__(self) -> None:
        super().__init__()
        self.pages = 0

    def add_items(self, items: Any, run_id: int) -> int:
        self.pages += 1
        if self.pages == 3:
            raise DiskFull("disk full: no space left to write the ledger; free space and run again")
        return super().add_items(items, run_id)


async def test_a_full_disk_under_a_listing_page_is_raised_once_the_run_has_ended() -> None:
    pipe = Pipeline("full", base_url=BASE)
    listing(pipe, range(50), step=10)

    @pipe.stage("ok", on="thing")
    async def ok(ctx: Context, item: Item) -> None:
        return None

    ledger = FillsUpOnThirdPage()
    ledger.prepare(pipe.graph())
    seen: list[Any] = []
    with pytest.raises(DiskFull, match="free space and run again"):
        await run_once(pipe, ledger, RunOptions(workers=2), seen=seen)
    [run] = ledger.runs(1)
    assert run.status is RunStatus.HALTED  # the end was recorded, and still it is raised
    assert "disk full" in (run.summary.get("reason") or "")
    assert [e for e in seen if isinstance(e, ev.RunHalted)]
    assert "running" not in counts(ledger, "ok")  # every lease given back


async def _most_in_flight(workers: int, waits: bool) -> int:
    """Run 40 items on ``workers`` workers; the most stage calls under way at once.
    With ``waits``, each item waits for the host once (as the fetch client would)."""
    pipe = Pipeline("bounded", base_url=BASE)
    listing(pipe, range(40), step=40)
    now = most = 0

    @pipe.stage("visit", on="thing")
    async def visit(ctx: Context, item: Item) -> None:
        nonlocal now, most
        now += 1
        most = max(most, now)
        if waits:
            await waited(asyncio.sleep(0.01))
        for _ in range(3):
            await asyncio.sleep(0)
        now -= 1

    ledger = MemoryLedger()
    ledger.prepare(pipe.graph())
    outcome = await run_once(pipe, ledger, RunOptions(workers=workers))
    assert outcome.exit_code == 0
    assert counts(ledger, "visit") == {"done": 40}
    return most


async def test_workers_bound_the_items_under_way_when_none_waits() -> None:
    assert await _most_in_flight(3, waits=False) == 3


async def test_items_waiting_for_the_host_let_more_items_start_up_to_four_per_worker() -> None:
    most = await _most_in_flight(3, waits=True)
    assert 3 < most <= 4 * 3
