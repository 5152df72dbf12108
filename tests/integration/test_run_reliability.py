"""What a run reports when the user's code misbehaves: against the rehearsal site, a
real SQLite ledger, real runs. Exit 0 only when everything asked for was done."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from scrapeline import Context, Item, Pipeline, Record, offsets
from scrapeline import events as ev
from scrapeline.ledger.base import RunStatus
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.runner.run import RunOptions
from scrapeline.testing import RehearsalSite
from scrapeline.workspace.run import run as run_pipeline

StageFn = Callable[[Context, Item], Awaitable[Record]]
MakeItem = Callable[[Any], Item]


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def __call__(self, event: Any) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


async def fetch_overview(ctx: Context, item: Item) -> Record:
    page = await ctx.fetch(f"/matches/{item.key}")
    return Record("matches", {"match_id": item.key, "team1": page.text_of("h1 .team1")})


def by_id(row: Any) -> Item:
    return Item(key=int(row.attributes["data-id"] or 0))


def mini(
    site: RehearsalSite, stage: StageFn = fetch_overview, make_item: MakeItem = by_id
) -> Pipeline:
    """The results listing (pages of 100) → match items → one stage per match."""
    pipe = Pipeline("mini", base_url=site.url)
    pipe.table("matches", key="match_id")

    @pipe.discover("match", pages=offsets(step=100))
    async def results(ctx: Context, offset: int) -> AsyncIterator[Item]:
        page = await ctx.fetch(f"/results?offset={offset}")
        for row in page.css("tr.match"):
            yield make_item(row)

    pipe.stage("overview", on="match")(stage)
    return pipe


async def run(pipe: Pipeline, data_dir: Path, recorder: Recorder, **options: Any) -> Any:
    options.setdefault("workers", 2)
    return await asyncio.wait_for(
        run_pipeline(pipe, data_dir, RunOptions(**options), subscribers=[recorder]), 60
    )


def ledger_of(data_dir: Path) -> SqliteLedger:
    return SqliteLedger(data_dir / "ledger.db")


def overview_counts(data_dir: Path) -> dict[str, int]:
    ledger = ledger_of(data_dir)
    try:
        return dict(ledger.counts().get("overview", {}))
    finally:
        ledger.close()


def last_run(data_dir: Path) -> Any:
    ledger = ledger_of(data_dir)
    try:
        return ledger.runs(1)[0]
    finally:
        ledger.close()


# -- a streak of failures halts with the reason its categories point to ------------


async def test_a_bug_in_a_stage_halts_as_a_bug_not_as_a_ban(
    start_site, football_sample, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    site = await start_site(football_sample[:30])

    async def broken(ctx: Context, item: Item) -> Record:
        page = await ctx.fetch(f"/matches/{item.key}")
        return Record("matches", {"match_id": item.key, "team1": page.css_first("h9").text()})

    recorder = Recorder()
    outcome = await run(mini(site, broken), tmp_path, recorder)
    assert outcome.exit_code == 3 and outcome.status is RunStatus.HALTED
    assert outcome.reason.startswith(
        "stage overview failed 3 items in a row: a bug in the stage? first error: AttributeError:"
    ), outcome.reason
    assert "banned" not in outcome.reason
    assert recorder.of(ev.RunHalted)[0].reason == outcome.reason
    assert overview_counts(tmp_path)["running"] == 0


# -- a discovery whose items cannot be stored fails its page -------------------------


def with_node(row: Any) -> Item:
    return Item(key=int(row.attributes["data-id"] or 0), data={"teams": row.css_first("td.teams")})


def with_decimal(row: Any) -> Item:
    return Item(key=int(row.attributes["data-id"] or 0), data={"odds": Decimal("1.5")})


def with_bytes(row: Any) -> Item:
    return Item(key=int(row.attributes["data-id"] or 0), data={"raw": {"html": b"<td>"}})


def with_huge_key(row: Any) -> Item:
    return Item(key=2**64 + int(row.attributes["data-id"] or 0))


@pytest.mark.parametrize(
    ("make_item", "problem"),
    [
        (with_node, r"field 'teams': \w*Node is not JSON"),
        (with_decimal, r"field 'odds': Decimal is not JSON"),
        (with_bytes, r"field 'raw\.html': bytes is not JSON"),
        (with_huge_key, "does not fit in 64 bits"),
    ],
)
async def test_a_listing_page_whose_items_cannot_be_stored_fails_as_validation(  # type: ignore[no-untyped-def]
    start_site, football_sample, tmp_path, make_item: MakeItem, problem: str
) -> None:
    site = await start_site(football_sample[:30])
    recorder = Recorder()
    outcome = await run(mini(site, make_item=make_item), tmp_path, recorder)
    assert outcome.exit_code == 1 and outcome.status is RunStatus.FAILED
    assert outcome.reason.startswith("discovery failed: results at 0 (validation): item ")
    assert re.search(problem, outcome.reason), outcome.reason
    [finished] = recorder.of(ev.DiscoveryFinished)
    assert (finished.pages, finished.reason) == (0, "error")
    errors = [e.message for e in recorder.of(ev.Log) if e.level >= 40]
    assert errors and re.search(problem, errors[0])
    assert last_run(tmp_path).status is RunStatus.FAILED
    assert overview_counts(tmp_path) == {}  # nothing was stored


# -- BaseException from the user's code fails the item, never the process ------------


def raises(exc: BaseException, *, on: int = 0) -> StageFn:
    """A stage that raises ``exc`` for the ``on``-th match of the listing, else works."""

    async def stage(ctx: Context, item: Item) -> Record:
        if item.key == stage.key:  # type: ignore[attr-defined]
            raise exc
        return await fetch_overview(ctx, item)

    stage.key = None  # type: ignore[attr-defined]
    return stage


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (SystemExit(0), "SystemExit: 0"),
        (SystemExit(5), "SystemExit: 5"),
        (KeyboardInterrupt(), "KeyboardInterrupt"),
        (asyncio.CancelledError(), "CancelledError"),
    ],
    ids=["exit0", "exit5", "keyboard", "cancelled"],
)
async def test_a_stage_raising_a_base_exception_fails_its_item(  # type: ignore[no-untyped-def]
    start_site, football_sample, tmp_path, exc: BaseException, message: str
) -> None:
    site = await start_site(football_sample[:30])
    stage = raises(exc)
    stage.key = site.matches[-1].id  # type: ignore[attr-defined]
    recorder = Recorder()
    outcome = await run(mini(site, stage), tmp_path, recorder)
    assert outcome.exit_code == 1 and outcome.status is RunStatus.FAILED
    [failed] = recorder.of(ev.TaskFailed)
    assert (failed.key, failed.category, failed.message) == (stage.key, "error", message)  # type: ignore[attr-defined]
    assert recorder.of(ev.RunFinished)
    counts = overview_counts(tmp_path)
    assert counts["done"] == len(site.matches) - 1 and counts["failed"] == 1
    assert counts["running"] == counts["pending"] == 0
    assert last_run(tmp_path).status is RunStatus.FAILED


@pytest.mark.parametrize("exc", [SystemExit(0), KeyboardInterrupt()], ids=["exit", "keyboard"])
async def test_a_discovery_raising_a_base_exception_fails_its_page(  # type: ignore[no-untyped-def]
    start_site, football_sample, tmp_path, exc: BaseException
) -> None:
    site = await start_site(football_sample[:30])

    def boom(row: Any) -> Item:
        raise exc

    recorder = Recorder()
    outcome = await run(mini(site, make_item=boom), tmp_path, recorder)
    assert outcome.exit_code == 1 and outcome.status is RunStatus.FAILED
    assert outcome.reason.startswith("discovery failed: results at 0 (error): ")
    assert type(exc).__name__ in outcome.reason
    assert last_run(tmp_path).status is RunStatus.FAILED


# -- blocking code runs through ctx.run_sync, where --item-timeout reaches it --------


async def test_a_blocking_call_in_run_sync_fails_as_timeout(  # type: ignore[no-untyped-def]
    start_site, football_sample, tmp_path
) -> None:
    site = await start_site(football_sample[:10])
    slow = site.matches[0].id

    async def stage(ctx: Context, item: Item) -> Record:
        record = await fetch_overview(ctx, item)
        if item.key == slow:
            await ctx.run_sync(time.sleep, 30)
        return record

    recorder = Recorder()
    began = time.monotonic()
    outcome = await run(mini(site, stage), tmp_path, recorder, item_timeout=0.5)
    assert time.monotonic() - began < 20  # far from the 30 s the call would take
    assert outcome.exit_code == 1 and outcome.status is RunStatus.FAILED
    [failed] = recorder.of(ev.TaskFailed)
    assert (failed.key, failed.category) == (slow, "timeout")
    assert overview_counts(tmp_path)["done"] == len(site.matches) - 1


async def test_run_sync_returns_the_result_and_raises_what_the_call_raises(  # type: ignore[no-untyped-def]
    start_site, football_sample, tmp_path
) -> None:
    site = await start_site(football_sample[:10])
    bad = site.matches[0].id

    def parse(key: int) -> dict[str, Any]:
        if key == bad:
            raise ValueError("no score")
        return {"match_id": key}

    async def stage(ctx: Context, item: Item) -> Record:
        return Record("matches", await ctx.run_sync(parse, item.key))

    recorder = Recorder()
    outcome = await run(mini(site, stage), tmp_path, recorder)
    [failed] = recorder.of(ev.TaskFailed)
    assert (failed.key, failed.category, failed.message) == (bad, "parse", "ValueError: no score")
    assert outcome.exit_code == 1
    assert overview_counts(tmp_path)["done"] == len(site.matches) - 1


# -- a run holds its pipeline's own fetch limits -------------------------------------


async def test_a_run_fails_pages_past_the_pipelines_max_body_as_too_large(  # type: ignore[no-untyped-def]
    start_site, football_sample, tmp_path
) -> None:
    site = await start_site(football_sample[:5])
    listing = len(await _get(site.url + "/results?offset=0"))
    match = max([len(await _get(f"{site.url}/matches/{m.id}")) for m in site.matches])
    assert match < listing  # five rows of a listing outweigh one match page
    pipe = mini(site)
    pipe.fetch = replace(
        pipe.fetch, max_body=(match + listing) // 2
    )  # every match page fits, the listing does not
    recorder = Recorder()
    outcome = await run(pipe, tmp_path, recorder)
    assert outcome.exit_code == 1
    assert "(too_large)" in outcome.reason and f"max_body ({pipe.max_body} bytes" in outcome.reason
    assert recorder.of(ev.TaskFailed) == [] and overview_counts(tmp_path) == {}

    pipe.fetch = replace(pipe.fetch, max_body=listing)  # now the whole run fits
    outcome = await run(pipe, tmp_path / "again", Recorder())
    assert outcome.exit_code == 0
    counts = overview_counts(tmp_path / "again")
    assert counts["done"] == len(site.matches) and counts["failed"] == 0


async def test_a_run_matches_robots_txt_for_the_pipelines_name(  # type: ignore[no-untyped-def]
    start_site, football_sample, tmp_path
) -> None:
    site = await start_site(football_sample[:5])
    # A group for this pipeline refuses the match pages; everyone else may fetch them.
    site.robots_txt = "User-agent: mini\nDisallow: /matches/\n\nUser-agent: *\nAllow: /\n"
    pipe = mini(site)
    pipe.fetch = replace(pipe.fetch, user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0")
    recorder = Recorder()
    outcome = await run(pipe, tmp_path, recorder, max_consecutive_failures=0)
    assert outcome.exit_code == 1
    failed = recorder.of(ev.TaskFailed)
    assert len(failed) == len(site.matches)
    assert {e.category for e in failed} == {"robots"}


async def _get(url: str) -> bytes:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        return await answer.read()


async def test_a_full_disk_met_inside_a_stage_halts_the_run_not_the_item(  # type: ignore[no-untyped-def]
    start_site, football_sample, tmp_path
) -> None:
    from scrapeline.errors import DiskFull

    site = await start_site(football_sample[:30])
    stage = raises(DiskFull("disk full: no space left to write the archive; free space"))
    stage.key = site.matches[0].id  # type: ignore[attr-defined]
    recorder = Recorder()
    with pytest.raises(DiskFull, match=r"^disk full") as raised:  # the CLI's one line, exit 3
        await run(mini(site, stage), tmp_path, recorder, max_consecutive_failures=0)
    assert raised.value.exit_code == 3
    recorded = last_run(tmp_path)
    assert recorded.status is RunStatus.HALTED  # the run's end, with its counts, is kept
    assert recorded.summary["reason"].startswith("disk full"), recorded.summary
    assert "done" in recorded.summary
    assert recorder.of(ev.TaskFailed) == []  # no item is blamed for the disk
    assert overview_counts(tmp_path)["running"] == 0
