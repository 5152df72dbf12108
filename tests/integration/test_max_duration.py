"""A whole-run time limit (``max_duration``) on real runs: a slow rehearsal site, a
real SQLite ledger. The run stops as a first Ctrl+C stops it, and says why."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from scrapeline import events as ev
from scrapeline.errors import ConfigError
from scrapeline.ledger.base import RunStatus
from scrapeline.runner.run import RunOptions
from scrapeline.testing import Match
from scrapeline.workspace.run import FetchOptions
from scrapeline.workspace.run import run as run_pipeline

from .test_failure_policies import counts, last_summary
from .test_run_football import Recorder, assert_complete, football


async def test_a_run_past_its_time_limit_stops_like_ctrl_c_and_says_time_limit(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    matches = list(football_sample[40:80])
    slow = await start_site(matches, latency=0.1)  # 40 matches take seconds, not 0.5 s
    recorder = Recorder()
    outcome = await run_pipeline(
        football(),
        tmp_path,
        RunOptions(workers=2, max_duration=0.5),
        fetch_options=FetchOptions(base_url=slow.url),
        subscribers=[recorder],
    )

    assert outcome.status is RunStatus.INTERRUPTED and outcome.exit_code == 130
    assert outcome.reason == "time limit"
    [finished] = recorder.of(ev.RunFinished)
    assert (finished.status, finished.exit_code, finished.reason) == (
        "interrupted",
        130,
        "time limit",
    )
    assert last_summary(tmp_path)["reason"] == "time limit"
    now = counts(tmp_path)
    assert all(c["running"] == 0 for c in now.values())  # every lease given back
    assert now["overview"]["done"] < len(matches)  # it did stop early

    # nothing was lost: the next run, with no limit, finishes the work
    site = await start_site(matches)
    outcome = await run_pipeline(
        football(), tmp_path, RunOptions(workers=4), fetch_options=FetchOptions(base_url=site.url)
    )
    assert outcome.exit_code == 0
    assert_complete(tmp_path, matches)


async def test_a_run_within_its_time_limit_ends_as_usual(
    start_site: Any, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    site = await start_site(list(football_sample[:20]))
    outcome = await run_pipeline(
        football(),
        tmp_path,
        RunOptions(workers=4, max_duration=600),
        fetch_options=FetchOptions(base_url=site.url),
    )
    assert outcome.status is RunStatus.DONE and outcome.reason is None


@pytest.mark.parametrize("limit", [0, -1.5])
def test_a_time_limit_must_be_some_seconds(limit: float) -> None:
    with pytest.raises(ConfigError, match="max_duration must be a number of seconds > 0"):
        RunOptions(max_duration=limit)
