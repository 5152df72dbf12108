"""What a run reports when the user's code misbehaves: against the rehearsal site, a
real SQLite ledger, real runs. Exit 0 only when everything asked for was done."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from scrapeline import Context, Item, Pipeline, Record, offsets
from scrapeline.ledger.base import RunStatus
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.runner import events as ev
from scrapeline.runner.run import RunOptions
from scrapeline.service import run_pipeline
from scrapeline.testing import RehearsalSite

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


async def test_a_bug_in_a_stage_halts_as_a_bug_not_as_a_ban(start_site, tmp_path) -> None:  # type: ignore[no-untyped-def]
    site = await start_site(seed=1)

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
