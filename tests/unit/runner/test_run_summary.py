"""What the composition root adds to a run's stored summary (requests per host) is
stored with it, never in place of the run's own counts, and never stops the run ending."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from scrapeline import Context, Item, Pipeline, Record
from scrapeline import events as ev
from scrapeline.ledger.aio import AsyncLedger
from scrapeline.runner.run import Runner, RunOptions
from scrapeline.testing import MemoryLedger

from .test_run_loop import BASE, fake_client, listing


def pipeline() -> Pipeline:
    pipe = Pipeline("summary", base_url=BASE)
    pipe.table("things", key="key")
    listing(pipe, range(5))

    @pipe.stage("fetch", on="thing")
    async def fetch(ctx: Context, item: Item) -> list[Record]:
        await ctx.fetch(f"/things/{item.key}")
        return [Record("things", {"key": item.key})]

    return pipe


async def run_with(
    extra: Callable[[], Mapping[str, Any]] | None,
) -> tuple[MemoryLedger, list[Any], int]:
    pipe = pipeline()
    ledger = MemoryLedger()
    ledger.prepare(pipe.graph())
    queue = AsyncLedger(ledger)
    client = fake_client()
    seen: list[Any] = []
    try:
        run_id = await queue.begin_run(pipe.name, {}, time.time(), os.getpid())
        runner = Runner(
            pipe,
            queue,
            client,
            RunOptions(workers=2),
            run_id=run_id,
            emit=seen.append,
            summary_extra=extra,
        )
        outcome = await runner.run()
    finally:
        queue.close()
        await client.close()
    return ledger, seen, outcome.exit_code


async def test_the_extra_part_is_stored_with_the_run_and_carried_by_its_end() -> None:
    hosts = {"site.example:443": {"requests": 6}}
    ledger, seen, code = await run_with(lambda: {"hosts": hosts})
    assert code == 0
    stored = ledger.runs(1)[0].summary
    assert stored["hosts"] == hosts and stored["done"] == 5
    finished = [e for e in seen if isinstance(e, ev.RunFinished)]
    assert finished[0].report.run.summary["hosts"] == hosts


async def test_the_extra_part_never_replaces_the_run_s_own_counts() -> None:
    ledger, _, code = await run_with(lambda: {"done": 999, "exit_code": 0, "reason": "fake"})
    stored = ledger.runs(1)[0].summary
    assert (stored["done"], stored["exit_code"], stored["reason"]) == (5, code, None)


async def test_an_extra_part_that_fails_is_left_out_and_the_run_still_ends() -> None:
    def broken() -> Mapping[str, Any]:
        raise RuntimeError("no counts")

    ledger, _, code = await run_with(broken)
    run = ledger.runs(1)[0]
    assert code == 0 and run.status.value == "done" and "hosts" not in run.summary
