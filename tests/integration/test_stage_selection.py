"""Stage selection on real runs (``skip_stages``, ``stages``): the football pipeline
against the rehearsal site, a real SQLite ledger."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import scrapeline.demo.football as demo
from scrapeline import Context, Item, Pipeline, offsets
from scrapeline import events as ev
from scrapeline.errors import ConfigError
from scrapeline.ledger.base import RunStatus
from scrapeline.runner.run import RunOptions
from scrapeline.testing import Match, RehearsalSite
from scrapeline.workspace.run import run as run_pipeline

from .test_failure_policies import counts
from .test_run_football import Recorder, assert_complete, football, tables


async def crawl(
    pipe: Pipeline, data_dir: Path, recorder: Recorder | None = None, **opts: Any
) -> Any:
    return await run_pipeline(
        pipe, data_dir, RunOptions(workers=4, **opts), subscribers=[recorder] if recorder else []
    )


def pointed(site: RehearsalSite) -> Pipeline:
    pipe = football()
    pipe.fetch = pipe.fetch.with_base_url(site.url)
    return pipe


async def test_a_skipped_stage_stays_pending_and_the_next_run_does_it(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    matches = list(football_sample[40:80])
    site = await start_site(matches)
    recorder = Recorder()
    outcome = await crawl(pointed(site), tmp_path, recorder, skip_stages=("half_stats",))

    assert outcome.status is RunStatus.DONE and outcome.exit_code == 0
    assert {e.stage for e in recorder.of(ev.TaskDone)} == {"overview"}
    assert not any("/halves/" in target for target in site.hits)
    rows, halves = tables(tmp_path)
    assert (len(rows), halves) == (40, [])
    half_stats = counts(tmp_path)["half_stats"]
    assert half_stats["pending"] == sum(2 for m in matches if m.halves) > 0  # not failed or done
    assert half_stats["failed"] == half_stats["done"] == 0

    outcome = await crawl(pointed(site), tmp_path)
    assert outcome.exit_code == 0
    assert_complete(tmp_path, matches)


def with_details(site: RehearsalSite) -> Pipeline:
    """The listing, overview, and a second stage of each match after its overview."""
    pipe = Pipeline("football", base_url=site.url)
    pipe.table("matches", key="match_id")
    pipe.discover("match", pages=offsets(step=100))(demo.results)

    @pipe.stage("overview", on="match")
    async def overview(ctx: Context, item: Item) -> None:
        await ctx.fetch(f"/matches/{item.key}")

    @pipe.stage("details", on="match", after="overview")
    async def details(ctx: Context, item: Item) -> None:
        await ctx.fetch(f"/matches/{item.key}?details")

    return pipe


async def test_stages_after_a_skipped_one_do_not_run_for_its_items(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    site = await start_site(list(football_sample[:30]))
    outcome = await crawl(with_details(site), tmp_path, skip_stages=("overview",))
    assert outcome.exit_code == 0
    assert not any(target.startswith("/matches/") for target in site.hits)
    now = counts(tmp_path)
    assert now["overview"]["pending"] == 30 and now["details"]["waiting"] == 30

    outcome = await crawl(with_details(site), tmp_path, stages=("details",))
    assert outcome.exit_code == 0
    assert counts(tmp_path)["details"]["waiting"] == 30  # still waiting for its overview

    await crawl(with_details(site), tmp_path)
    assert {c["done"] for c in counts(tmp_path).values()} == {30}


@pytest.mark.parametrize("option", ["skip_stages", "stages"])
async def test_an_unknown_stage_is_refused_naming_the_pipelines_stages(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path, option: str
) -> None:
    site = await start_site(list(football_sample[:5]))
    with pytest.raises(ConfigError) as refused:
        await crawl(pointed(site), tmp_path / "data", **{option: ("stats",)})
    assert str(refused.value) == (
        f"{option}: unknown stage 'stats': pipeline 'football' has overview, half_stats"
    )
    assert not (tmp_path / "data").exists()  # refused before anything was written
