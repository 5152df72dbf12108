"""A host that stays down halts the run (exit 3) with a message naming it."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from scrapeline import events as ev
from scrapeline.fetch.breaker import BreakerPolicy
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.retry import RetryPolicy
from scrapeline.ledger.aio import AsyncLedger
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.runner.run import Runner, RunOptions
from scrapeline.testing import Faults

from .test_run_football import football


async def test_a_host_that_stays_down_halts_the_run(
    start_site: Any, football_sample: Any, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    site = await start_site(
        list(football_sample[:100]), faults=Faults(server_error=1.0, only_paths_prefix="/matches/")
    )
    pipe = football()
    pipe.fetch = pipe.fetch.with_base_url(site.url)
    ledger = SqliteLedger(tmp_path / "ledger.db")
    ledger.prepare(pipe.graph())
    client = FetchClient(
        base_url=site.url,
        hosts=pipe.hosts,
        retry=RetryPolicy(max_attempts=1),
        breaker=BreakerPolicy(threshold=2, cooldown=0.05, max_trips=2),
    )
    seen: list[Any] = []
    # the item breaker is off: the host's breaker is what must stop this run
    options = RunOptions(workers=2, max_consecutive_failures=0)
    queue = AsyncLedger(ledger)
    try:
        run_id = await queue.begin_run(pipe.name, options.public(), time.time(), os.getpid())
        runner = Runner(pipe, queue, client, options, run_id=run_id, emit=seen.append)
        outcome = await runner.run()
    finally:
        queue.close()
        await client.close()
    try:
        assert outcome.exit_code == 3
        assert "127.0.0.1" in (outcome.reason or "")
        assert "likely banned or site down" in (outcome.reason or "")
        assert [e for e in seen if isinstance(e, ev.RunHalted)]
        overview = ledger.counts()["overview"]
        assert overview["running"] == 0  # in-flight work went back, nothing leased
        assert overview["done"] == 0
        assert sum(site.hits[f"/matches/{m.id}"] for m in football_sample[:100]) < 20
    finally:
        ledger.close()
