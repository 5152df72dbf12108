"""A listing by cursor that shifts while it is walked: events published at its top
meanwhile (the API site's ``Faults.new_results_every``) neither skip nor repeat an
event of the walk, and the next run finds the new ones at the top."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from scrapeline import Context, Item, Pipeline, cursors
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.runner.run import RunOptions
from scrapeline.testing import ApiSite, Faults, serve_in_thread
from scrapeline.testing.football import load_sample
from scrapeline.workspace.run import run as run_pipeline


def cursor_pipeline(base_url: str, seen: list[int]) -> Pipeline:
    pipe = Pipeline("shifting", base_url=base_url, robots=False)

    @pipe.discover("event", pages=cursors())
    async def events(ctx: Context, url: str | None) -> AsyncIterator[Item]:
        body = (await ctx.fetch(url or "/api/events")).json()
        if body["next"]:
            ctx.next_page(body["next"])  # the next link: an absolute URL
        for e in body["events"]:
            seen.append(e["id"])
            yield Item(key=e["id"], date=e["startDate"])

    return pipe


def stored_keys(data_dir: Path) -> set[int]:
    ledger = SqliteLedger(data_dir / "ledger.db")
    try:
        return {int(k) for k in ledger.known("event", [m.id for m in load_sample()])}
    finally:
        ledger.close()


async def test_a_cursor_walk_over_a_shifting_listing_loses_and_repeats_nothing(
    tmp_path: Path,
) -> None:
    # an event is published at the top on every 3rd listing request, during the walk
    site = ApiSite(latency=None, page_size=50, unpublished=8, faults=Faults(new_results_every=3))
    before = {m.id for m in site.expected()}
    data_dir = tmp_path / "data"
    seen: list[int] = []
    with serve_in_thread(site) as url:
        outcome = await run_pipeline(
            cursor_pipeline(url, seen), data_dir, RunOptions(workers=2, grace=1.0)
        )
        assert outcome.exit_code == 0
        published_meanwhile = {m.id for m in site.expected()} - before
        assert published_meanwhile  # the listing did shift under the walk
        # every event listed when the walk began, once each: the cursor names "after
        # event X", so the shift moved no event past or back over a page boundary
        assert before <= set(seen)
        assert len(seen) == len(set(seen))
        assert stored_keys(data_dir) == set(seen)

        seen.clear()
        outcome = await run_pipeline(
            cursor_pipeline(url, seen), data_dir, RunOptions(workers=2, grace=1.0)
        )
        assert outcome.exit_code == 0
    # the next run starts at the top, finds what was published, stops at a known page
    assert stored_keys(data_dir) == {m.id for m in site.expected()}
    assert len(seen) < len(before) / 2
