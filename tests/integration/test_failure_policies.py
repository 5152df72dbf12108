"""Failure policies on real runs: the football pipeline against the rehearsal site with
faults, a real SQLite ledger. ``continue`` is covered by the football run's own tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import scrapeline.demo.football as demo
from scrapeline import Pipeline, offsets
from scrapeline import events as ev
from scrapeline.errors import ConfigError
from scrapeline.ledger.base import RunStatus
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.runner.run import Outcome, RunOptions
from scrapeline.runner.shutdown import Shutdown
from scrapeline.testing import Faults, Match, RehearsalSite
from scrapeline.workspace.run import run as run_pipeline

from .test_run_football import Recorder, assert_complete


def football(
    site: RehearsalSite,
    *,
    policy: str = "continue",
    overview: str | None = None,
    half_stats: str | None = None,
) -> Pipeline:
    """The bundled football pipeline's functions, declared with the policies given;
    one attempt per request, so that a failing page fails its item at once."""
    pipe = Pipeline("football", base_url=site.url, failure_policy=policy, max_attempts=1)
    pipe.table("matches", key="match_id")
    pipe.table("halves", key=("match_id", "half"))
    pipe.discover("match", pages=offsets(step=100))(demo.results)
    pipe.stage("overview", on="match", emits="half", failure_policy=overview)(demo.overview)
    pipe.stage("half_stats", on="half", after="overview", failure_policy=half_stats)(
        demo.half_stats
    )
    return pipe


async def crawl(
    pipe: Pipeline,
    data_dir: Path,
    *,
    recorder: Recorder | None = None,
    shutdown: Shutdown | None = None,
    **options: Any,
) -> Outcome:
    options.setdefault("workers", 2)
    options.setdefault("retry_pause", 0.05)
    return await run_pipeline(
        pipe,
        data_dir,
        RunOptions(**options),
        subscribers=[recorder] if recorder else [],
        shutdown=shutdown,
    )


def counts(data_dir: Path) -> dict[str, dict[str, int]]:
    ledger = SqliteLedger(data_dir / "ledger.db")
    try:
        return ledger.counts()
    finally:
        ledger.close()


def last_summary(data_dir: Path) -> dict[str, Any]:
    ledger = SqliteLedger(data_dir / "ledger.db")
    try:
        return dict(ledger.runs(1)[0].summary)
    finally:
        ledger.close()


def failing(*paths: str) -> Faults:
    return Faults(fail_paths=frozenset(paths))


# -- fail-fast ----------------------------------------------------------------------------


async def test_fail_fast_stops_the_run_at_the_first_failed_item_and_names_it(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    matches = list(football_sample[:250])
    site = await start_site(matches)
    first = site.matches[0]  # the newest: the first the listing gives, the first claimed
    site.faults = failing(f"/matches/{first.id}")
    recorder = Recorder()
    outcome = await crawl(football(site, policy="fail-fast"), tmp_path, recorder=recorder)

    assert outcome.status is RunStatus.HALTED and outcome.exit_code == 3
    [failed] = recorder.of(ev.TaskFailed)  # recorded, the one failure of the run
    assert failed.key == first.id
    assert outcome.reason == f"fail-fast: overview failed on match {first.id}: {failed.message}"
    assert [e.reason for e in recorder.of(ev.RunHalted)] == [outcome.reason]
    overview = counts(tmp_path)["overview"]
    assert overview["failed"] == 1
    assert overview["pending"] > 0  # no new work was claimed: the rest waits, unleased
    assert overview["running"] == 0
    assert overview["done"] < len(matches) - 1
    assert last_summary(tmp_path)["reason"] == outcome.reason


async def test_a_stage_that_fails_fast_halts_where_the_pipelines_policy_goes_on(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    matches = list(football_sample[40:80])
    site = await start_site(matches)
    match = [m for m in site.matches if m.halves][5]
    site.faults = failing(f"/matches/{site.matches[1].id}", f"/matches/{match.id}/halves/2")
    outcome = await crawl(football(site, half_stats="fail-fast"), tmp_path)

    assert outcome.status is RunStatus.HALTED
    assert (outcome.reason or "").startswith(f"fail-fast: half_stats failed on half {match.id}-2: ")


async def test_a_failed_listing_page_stops_a_pipeline_that_fails_fast(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    site = await start_site(list(football_sample[:250]))
    site.faults = failing("/results?offset=100")
    outcome = await crawl(football(site, policy="fail-fast"), tmp_path)
    assert outcome.status is RunStatus.HALTED and outcome.exit_code == 3
    assert (outcome.reason or "").startswith("fail-fast: discovery results")


async def test_the_runs_policy_overrides_what_the_pipeline_declares(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    matches = list(football_sample[:40])
    site = await start_site(matches)
    broken = site.matches[0]
    site.faults = failing(f"/matches/{broken.id}")
    pipe = football(site, policy="fail-fast", overview="fail-fast")
    outcome = await crawl(pipe, tmp_path, failure_policy="continue")
    # went on to the end: everything but the broken match is done
    assert outcome.status is RunStatus.FAILED and outcome.exit_code == 1
    assert counts(tmp_path)["overview"] == {**counts(tmp_path)["overview"], "done": 39, "failed": 1}

    site.faults = failing(f"/matches/{broken.id}")
    outcome = await crawl(pipe, tmp_path / "again", stage_policies={"overview": "continue"})
    assert outcome.status is RunStatus.FAILED  # the stage's own run setting wins too


async def test_a_bad_policy_or_stage_name_is_refused_before_the_data_dir_is_touched(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    site = await start_site(list(football_sample[:5]))
    pipe = football(site)
    with pytest.raises(ConfigError, match="continue, fail-fast, retry-at-end"):
        RunOptions(failure_policy="stop")
    with pytest.raises(ConfigError, match="has overview, half_stats"):
        await crawl(pipe, tmp_path / "data", stage_policies={"stats": "fail-fast"})
    assert not (tmp_path / "data").exists()


# -- retry-at-end ---------------------------------------------------------------------------


class SiteRecovers(Recorder):
    """Records the run's events; when the run announces its retry at the end, the
    site stops failing the paths given (``None``: all of them)."""

    def __init__(self, site: RehearsalSite, heal: Sequence[str] | None = None) -> None:
        super().__init__()
        self.site, self.heal = site, heal

    def __call__(self, event: Any) -> None:
        super().__call__(event)
        if isinstance(event, ev.Log) and event.message.startswith("retrying "):
            still = set() if self.heal is None else self.site.faults.fail_paths - set(self.heal)
            self.site.faults = failing(*still)


async def test_retry_at_end_gives_failed_items_one_more_pass_and_they_recover(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    matches = list(football_sample[:60])
    site = await start_site(matches)
    broken = [site.matches[3], site.matches[40]]
    paths = [f"/matches/{m.id}" for m in broken]
    site.faults = failing(*paths)
    recorder = SiteRecovers(site)
    outcome = await crawl(football(site, overview="retry-at-end"), tmp_path, recorder=recorder)

    assert outcome.status is RunStatus.DONE and outcome.exit_code == 0
    assert [site.hits[p] for p in paths] == [2, 2]  # the run's pass, then the retry
    assert recorder.of(ev.TaskFailed) == []  # kept back, then done: never reported failed
    assert_complete(tmp_path, matches)  # their halves were done in the retry pass too
    summary = last_summary(tmp_path)
    assert (summary["retried"], summary["recovered"]) == (2, 2)
    notes = [e.message for e in recorder.of(ev.Log)]
    assert "retried 2 failed items at the end of the run: 2 recovered, 0 failed again" in notes


async def test_items_that_fail_again_at_the_end_stay_failed(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    matches = list(football_sample[:30])
    site = await start_site(matches)
    healed, still = site.matches[2], [site.matches[n] for n in (7, 12, 17)]
    site.faults = failing(*(f"/matches/{m.id}" for m in [healed, *still]))
    recorder = SiteRecovers(site, heal=[f"/matches/{healed.id}"])
    outcome = await crawl(football(site, policy="retry-at-end"), tmp_path, recorder=recorder)

    # three failing again one after another are no streak that halts: they stay failed
    assert outcome.status is RunStatus.FAILED and outcome.exit_code == 1
    failed = recorder.of(ev.TaskFailed)
    assert sorted((e.stage, e.key) for e in failed) == sorted(("overview", m.id) for m in still)
    assert [site.hits[f"/matches/{m.id}"] for m in still] == [2, 2, 2]
    assert counts(tmp_path)["overview"] == {
        **counts(tmp_path)["overview"],
        "done": 27,
        "failed": 3,
        "running": 0,
    }
    summary = last_summary(tmp_path)
    assert (summary["retried"], summary["recovered"], summary["failed"]) == (4, 1, 3)


async def test_a_run_stopped_before_its_retry_records_the_failures_it_kept(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    matches = list(football_sample[:20])
    site = await start_site(matches)
    broken = site.matches[4]
    site.faults = failing(f"/matches/{broken.id}")
    shutdown = Shutdown()

    def stop_at_the_pause(event: Any) -> None:
        if isinstance(event, ev.Log) and event.message.startswith("retrying "):
            shutdown.request()

    recorder = Recorder()
    outcome = await run_pipeline(
        football(site, overview="retry-at-end"),
        tmp_path,
        RunOptions(workers=2, retry_pause=60),
        subscribers=[recorder, stop_at_the_pause],
        shutdown=shutdown,
    )
    assert outcome.status is RunStatus.INTERRUPTED and outcome.exit_code == 130
    [failed] = recorder.of(ev.TaskFailed)  # recorded as it was: nothing lost or left leased
    assert failed.key == broken.id
    assert site.hits[f"/matches/{broken.id}"] == 1
    assert counts(tmp_path)["overview"]["running"] == 0
    assert "retried" not in last_summary(tmp_path)

    site.faults = Faults()  # the next run resets the failure and does it
    outcome = await crawl(football(site), tmp_path)
    assert outcome.exit_code == 0
    assert_complete(tmp_path, matches)
