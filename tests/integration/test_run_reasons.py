"""Why a run stopped, in words that fit what happened, and what it sent to each host:
the football pipeline against the real rehearsal site, a real SQLite ledger."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from scrapeline import events as ev
from scrapeline.fetch.events import RetryScheduled
from scrapeline.ledger.base import RunStatus
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.observe.render import summary_of
from scrapeline.observe.summary import host_rows
from scrapeline.runner.run import RunOptions
from scrapeline.testing import Fault, Faults, Match, RehearsalSite, decide
from scrapeline.workspace.run import FetchOptions
from scrapeline.workspace.run import run as run_pipeline

from ..servers import serve
from .test_run_football import Recorder, crawl, football


async def test_a_run_that_keeps_hitting_a_changed_layout_says_so_not_site_down(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    # every match page lacks its <h1>: the overview's contract breaks, the site is up
    site = await start_site(
        list(football_sample[:60]), faults=Faults(broken=1.0, only_paths_prefix="/matches/")
    )
    outcome = await crawl(site, tmp_path, recorder=Recorder(), workers=2)
    assert outcome.status is RunStatus.HALTED and outcome.exit_code == 3
    assert outcome.reason == (
        "the site's layout may have changed: 3 responses in a row broke the contract "
        "of stage overview"
    )
    assert "likely banned or site down" not in (outcome.reason or "")


def faulted(site: RehearsalSite, fault: Fault) -> int:
    """How many of the requests the site got it answered with ``fault``: the site's
    faults are a pure function of its seed, the target and how often it was asked."""
    return sum(
        decide(site.faults, site.seed, target, nth) is fault
        for target, times in site.hits.items()
        for nth in range(times)
    )


async def test_the_summary_counts_what_the_site_got_per_host(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    site = await start_site(
        list(football_sample[:60]), faults=Faults(server_error=0.15, drop=0.05), seed=7
    )
    recorder = Recorder()
    outcome = await crawl(site, tmp_path, recorder=recorder, max_consecutive_failures=0)
    assert outcome.exit_code in (0, 1)
    host = f"127.0.0.1:{site.url.rsplit(':', 1)[1]}"
    expected = {
        "requests": sum(site.hits.values()),
        "retries": len(recorder.of(RetryScheduled)),
        "rate_limited": 0,
        "server_errors": faulted(site, Fault.SERVER_ERROR),
        "network_errors": faulted(site, Fault.DROP),
    }
    assert expected["server_errors"] > 0 and expected["network_errors"] > 0  # faults did fire
    (finished,) = recorder.of(ev.RunFinished)
    assert summary_of(finished).hosts == host_rows({"hosts": {host: expected}})
    ledger = SqliteLedger(tmp_path / "ledger.db")
    try:
        assert ledger.runs(1)[0].summary["hosts"] == {host: expected}  # survives the process
    finally:
        ledger.close()


async def test_a_site_refusing_from_the_first_request_halts_and_is_counted(
    tmp_path: Path,
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    recorder = Recorder()
    outcome = await run_pipeline(
        football(),
        tmp_path,
        RunOptions(workers=2),
        fetch_options=FetchOptions(base_url=f"http://127.0.0.1:{port}"),
        subscribers=[recorder],
    )
    assert outcome.exit_code == 3
    assert (outcome.reason or "").startswith(f"127.0.0.1:{port} is down: connection refused (")
    (finished,) = recorder.of(ev.RunFinished)
    (row,) = summary_of(finished).hosts
    assert (row.host, row.requests, row.network_errors, row.server_errors) == (
        f"127.0.0.1:{port}",
        4,
        4,
        0,
    )


async def test_a_listing_whose_later_page_fails_with_a_5xx_is_a_failed_discovery(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    # the first page answers; the second always answers 500: the site is up, exit 1
    site = await start_site(
        list(football_sample[:250]), faults=Faults(fail_paths=("/results?offset=100",))
    )
    outcome = await crawl(site, tmp_path, recorder=Recorder(), max_attempts=2)
    assert outcome.exit_code == 1 and outcome.status is RunStatus.FAILED
    assert (outcome.reason or "").startswith("discovery failed: results at 100 (http_5xx)")


async def test_a_404_on_the_first_listing_page_is_a_wrong_url_not_a_site_down(
    tmp_path: Path,
) -> None:
    async with serve(web.Application()) as url:  # answers 404 to everything
        outcome = await run_pipeline(
            football(), tmp_path, RunOptions(workers=2), fetch_options=FetchOptions(base_url=url)
        )
    assert outcome.exit_code == 1 and outcome.status is RunStatus.FAILED
    reason = outcome.reason or ""
    assert reason.startswith("discovery failed: results at 0 (http_4xx)"), reason
    assert "is down" not in reason
