"""Why a run stopped, in words that fit what happened, and what it sent to each host:
the football pipeline against the real rehearsal site, a real SQLite ledger."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scrapeline.ledger.base import RunStatus
from scrapeline.testing import Faults, Match

from .test_run_football import Recorder, crawl


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
