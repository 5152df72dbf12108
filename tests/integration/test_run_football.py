"""The bundled football pipeline against the real rehearsal site, real SQLite ledger."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from scrapeline import events as ev
from scrapeline.ledger.base import RunStatus
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.pipeline import Pipeline
from scrapeline.runner.run import RunOptions
from scrapeline.runner.shutdown import Shutdown
from scrapeline.testing import Faults, Match, RehearsalSite
from scrapeline.workspace.run import FetchOptions
from scrapeline.workspace.run import run as run_pipeline


def football() -> Pipeline:
    """A fresh copy of the example pipeline (tests point it at their own site)."""
    import scrapeline.demo.football as module

    return importlib.reload(module).pipe


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def __call__(self, event: Any) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


async def crawl(
    site: RehearsalSite,
    data_dir: Path,
    *,
    shutdown: Shutdown | None = None,
    recorder: Recorder | None = None,
    max_attempts: int | None = None,
    **options: Any,
) -> Any:
    options.setdefault("workers", 8)
    pipe = football()
    if max_attempts is not None:
        pipe.fetch = replace(pipe.fetch, max_attempts=max_attempts)
    return await run_pipeline(
        pipe,
        data_dir,
        RunOptions(**options),
        fetch_options=FetchOptions(base_url=site.url),
        subscribers=[recorder] if recorder else [],
        shutdown=shutdown,
    )


def tables(data_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    ledger = SqliteLedger(data_dir / "ledger.db")
    try:
        return list(ledger.records("matches")), list(ledger.records("halves"))
    finally:
        ledger.close()


def expected(matches: Sequence[Match]) -> tuple[dict[int, dict[str, Any]], set[tuple[int, int]]]:
    rows = {
        m.id: {
            "match_id": m.id,
            "date": m.date,
            "time": m.time,
            "competition": m.competition,
            "season": m.season,
            "round": m.round,
            "team1": m.team1,
            "team2": m.team2,
            "goals1": m.ft[0] if m.ft else None,
            "goals2": m.ft[1] if m.ft else None,
        }
        for m in matches
    }
    halves = {(m.id, n) for m in matches if m.halves for n in (1, 2)}
    return rows, halves


def assert_complete(data_dir: Path, matches: Sequence[Match]) -> None:
    rows, halves = tables(data_dir)
    want_rows, want_halves = expected(matches)
    assert {r["match_id"]: r for r in rows} == want_rows
    assert len(rows) == len(want_rows)
    assert {(h["match_id"], h["half"]) for h in halves} == want_halves
    assert len(halves) == len(want_halves)
    for h in halves:
        m = next(x for x in matches if x.id == h["match_id"])
        assert m.halves is not None
        assert (h["goals1"], h["goals2"]) == tuple(m.halves[h["half"] - 1])


@pytest.fixture
def subset(football_sample: Sequence[Match]) -> list[Match]:
    return list(football_sample[:250])


async def test_a_run_scrapes_every_match_and_half_exactly(start_site, subset, tmp_path) -> None:  # type: ignore[no-untyped-def]
    site = await start_site(subset)
    recorder = Recorder()
    outcome = await crawl(site, tmp_path, recorder=recorder)
    assert outcome.exit_code == 0 and outcome.status is RunStatus.DONE
    assert_complete(tmp_path, subset)
    # the listing walked to its end: 3 pages of 100, then an empty one
    finished = recorder.of(ev.DiscoveryFinished)[0]
    assert (finished.pages, finished.new, finished.reason) == (3, 250, "end of listing")
    summary = recorder.of(ev.RunFinished)[0].report
    assert summary.done_this_run["overview"] == 250
    assert list((tmp_path / "logs").glob("run-*-1.log"))


async def test_second_run_is_incremental_and_fetches_nothing_done(
    start_site, subset, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    site = await start_site(subset)
    await crawl(site, tmp_path)
    before = sum(site.hits.values())
    recorder = Recorder()
    outcome = await crawl(site, tmp_path, recorder=recorder)
    assert outcome.exit_code == 0
    # robots.txt (once a run) and page 0 only: every key known, stop
    assert sum(site.hits.values()) - before == 1 + 1
    assert recorder.of(ev.DiscoveryFinished)[0].reason == "known page"
    assert recorder.of(ev.TaskDone) == []


async def test_new_results_shift_offsets_without_dupes_or_gaps(
    start_site, subset, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    site = await start_site(subset, hidden_newest=30)
    await crawl(site, tmp_path)
    site.reveal(30)  # 30 newer results push every older one 30 places down
    recorder = Recorder()
    outcome = await crawl(site, tmp_path, recorder=recorder)
    assert outcome.exit_code == 0
    assert recorder.of(ev.DiscoveryFinished)[0].new == 30
    assert len({e.key for e in recorder.of(ev.TaskDone) if e.stage == "overview"}) == 30
    assert_complete(tmp_path, subset)


async def test_end_offset_bounds_the_walk_and_next_run_continues(
    start_site, subset, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    site = await start_site(subset)
    await crawl(site, tmp_path, end=100)  # pages at offsets 0 and 100
    rows, _ = tables(tmp_path)
    assert len(rows) == 200
    recorder = Recorder()
    await crawl(site, tmp_path, recorder=recorder)
    # page 0 is known, but the last walk was cut short at 200: it goes on from there
    assert [e.position for e in recorder.of(ev.PageDiscovered)] == [0, 200]
    assert_complete(tmp_path, subset)


async def test_a_walk_stopped_after_its_first_page_goes_on_from_the_next(  # type: ignore[no-untyped-def]
    start_site, subset, tmp_path
) -> None:
    site = await start_site(subset)
    await crawl(site, tmp_path, end=0)
    recorder = Recorder()
    await crawl(site, tmp_path, recorder=recorder)
    assert [e.position for e in recorder.of(ev.PageDiscovered)] == [0, 100, 200]
    assert_complete(tmp_path, subset)


async def test_failed_items_do_not_stop_the_run_and_are_retried_next_run(
    start_site, subset, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    broken = subset[5]
    site = await start_site(subset, faults=Faults(fail_paths=frozenset({f"/matches/{broken.id}"})))
    recorder = Recorder()
    outcome = await crawl(site, tmp_path, recorder=recorder)
    assert outcome.exit_code == 1 and outcome.status is RunStatus.FAILED
    [failed] = recorder.of(ev.TaskFailed)
    assert (failed.key, failed.stage, failed.category) == (broken.id, "overview", "http_5xx")
    report = recorder.of(ev.RunFinished)[0].report
    assert report.categories == {"http_5xx": 1}
    assert site.hits[f"/matches/{broken.id}"] == 4  # retried, then given up
    rows, _ = tables(tmp_path)
    assert len(rows) == len(subset) - 1

    site.faults = Faults()  # the site recovers
    outcome = await crawl(site, tmp_path)
    assert outcome.exit_code == 0
    assert_complete(tmp_path, subset)


async def test_a_page_that_breaks_its_contract_fails_with_category_contract(
    start_site, subset, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    site = await start_site(subset[:40], faults=Faults(broken=0.1), seed=3)
    recorder = Recorder()
    outcome = await crawl(site, tmp_path, recorder=recorder, max_consecutive_failures=0)
    failed = recorder.of(ev.TaskFailed)
    # overview declares expect=Expect(selectors=("#match", "h1 .score")): the page
    # without its heading is a broken contract, not a page parsed into empty data
    assert failed and {(f.stage, f.category) for f in failed} == {("overview", "contract")}
    assert "no element matches 'h1 .score'" in failed[0].message
    assert outcome.exit_code == 1


async def test_consecutive_failures_halt_the_run(start_site, subset, tmp_path) -> None:  # type: ignore[no-untyped-def]
    site = await start_site(subset, faults=Faults(blocked=1.0, only_paths_prefix="/matches/"))
    recorder = Recorder()
    outcome = await crawl(site, tmp_path, recorder=recorder, workers=2)
    assert outcome.exit_code == 3 and outcome.status is RunStatus.HALTED
    assert "3 consecutive failures: likely banned or site down" in (outcome.reason or "")
    assert recorder.of(ev.RunHalted)
    # it stopped taking work: nowhere near every match was tried
    assert len(recorder.of(ev.TaskFailed)) < 10
    ledger = SqliteLedger(tmp_path / "ledger.db")
    try:
        assert ledger.counts()["overview"]["running"] == 0  # nothing left leased
    finally:
        ledger.close()


async def test_isolated_failures_do_not_halt(start_site, subset, tmp_path) -> None:  # type: ignore[no-untyped-def]
    paths = frozenset(f"/matches/{m.id}" for m in subset[::20])
    site = await start_site(subset, faults=Faults(fail_paths=paths))
    outcome = await crawl(site, tmp_path, workers=2, max_attempts=1)
    assert outcome.exit_code == 1
    rows, _ = tables(tmp_path)
    assert len(rows) == len(subset) - len(paths)


async def test_force_rescrape_refetches_the_range(start_site, subset, tmp_path) -> None:  # type: ignore[no-untyped-def]
    site = await start_site(subset)
    await crawl(site, tmp_path)
    first = subset[0]
    assert site.hits[f"/matches/{first.id}"] == 1
    outcome = await crawl(site, tmp_path, end=0, force_rescrape=True)
    assert outcome.exit_code == 0
    assert site.hits[f"/matches/{first.id}"] == 2
    assert site.hits[f"/matches/{subset[150].id}"] == 1  # outside the range
    if first.halves:
        assert site.hits[f"/matches/{first.id}/halves/1"] == 2
    assert_complete(tmp_path, subset)


async def test_item_timeout_fails_a_hung_item(start_site, subset, tmp_path) -> None:  # type: ignore[no-untyped-def]
    slow = subset[0]
    site = await start_site(
        subset[:5],
        faults=Faults(slow=1.0, slow_seconds=5.0, only_paths_prefix=f"/matches/{slow.id}"),
    )
    recorder = Recorder()
    outcome = await crawl(site, tmp_path, recorder=recorder, item_timeout=0.5)
    failed = [f for f in recorder.of(ev.TaskFailed) if f.key == slow.id]
    assert failed and failed[0].category == "timeout"
    assert outcome.exit_code == 1


async def test_interrupt_drains_in_flight_and_next_run_resumes(
    start_site, subset, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    site = await start_site(subset, latency=0.02)
    shutdown = Shutdown()
    recorder = Recorder()

    def stop_after_some(event: Any) -> None:
        recorder(event)
        if isinstance(event, ev.TaskDone) and len(recorder.of(ev.TaskDone)) == 60:
            shutdown.request("SIGINT")

    outcome = await run_pipeline(
        football(),
        tmp_path,
        RunOptions(workers=8),
        fetch_options=FetchOptions(base_url=site.url),
        subscribers=[stop_after_some],
        shutdown=shutdown,
    )
    assert outcome.exit_code == 130 and outcome.status is RunStatus.INTERRUPTED
    assert recorder.of(ev.ShutdownRequested)[0].forced is False
    done_first = {(e.stage, e.key) for e in recorder.of(ev.TaskDone)}
    ledger = SqliteLedger(tmp_path / "ledger.db")
    try:
        counts = ledger.counts()
        assert sum(c["running"] for c in counts.values()) == 0  # leases given back
        assert sum(c["done"] for c in counts.values()) == len(done_first)
    finally:
        ledger.close()
    hits_before = dict(site.hits)

    recorder2 = Recorder()
    outcome = await crawl(site, tmp_path, recorder=recorder2)
    assert outcome.exit_code == 0
    again = {(e.stage, e.key) for e in recorder2.of(ev.TaskDone)}
    assert not again & done_first  # nothing done twice
    for m in subset:  # and nothing already done was fetched again
        path = f"/matches/{m.id}"
        if ("overview", m.id) in done_first:
            assert site.hits[path] == hits_before[path]
    assert_complete(tmp_path, subset)


async def test_second_interrupt_cancels_in_flight_and_releases(
    start_site, subset, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    site = await start_site(
        subset[:50], faults=Faults(slow=1.0, slow_seconds=30.0, only_paths_prefix="/matches/")
    )
    shutdown = Shutdown()
    run = asyncio.ensure_future(crawl(site, tmp_path, shutdown=shutdown, workers=4))
    while sum(site.hits.values()) < 6:  # robots.txt, the listing, four matches in flight
        await asyncio.sleep(0.05)
    shutdown.request("SIGINT")
    await asyncio.sleep(0.2)
    assert not run.done()  # still draining the slow in-flight items
    shutdown.request("SIGINT")
    outcome = await asyncio.wait_for(run, 10)
    assert outcome.exit_code == 130
    ledger = SqliteLedger(tmp_path / "ledger.db")
    try:
        overview = ledger.counts()["overview"]
        assert overview["running"] == 0 and overview["done"] == 0
        assert overview["pending"] == 50
    finally:
        ledger.close()


async def test_a_site_down_from_the_first_request_halts_the_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import socket

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
    # not "discovery failed" (exit 1), as if the pipeline were wrong: the site is down
    assert outcome.exit_code == 3 and outcome.status is RunStatus.HALTED
    assert (outcome.reason or "").startswith(f"127.0.0.1:{port} is down: connection refused (")
    assert [e.reason for e in recorder.of(ev.RunHalted)] == [outcome.reason]
