"""A real run of the football pipeline against the rehearsal site, watched by a quiet
console: what a cron mail would hold is the failures and the summary, nothing else."""

from __future__ import annotations

import importlib
import io
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from scrapeline.observe.console import ConsoleReporter
from scrapeline.pipeline import Pipeline
from scrapeline.runner.run import RunOptions
from scrapeline.testing import Faults, Match
from scrapeline.workspace.run import FetchOptions, run
from tests.conftest import StartSite


def football() -> Pipeline:
    import scrapeline.demo.football as module

    pipe = importlib.reload(module).pipe
    pipe.fetch = replace(pipe.fetch, max_attempts=1)  # a failing page fails at once
    return pipe


async def test_a_quiet_run_prints_its_failed_items_and_a_summary_that_says_why(
    start_site: StartSite, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    matches = list(football_sample[:30])
    broken = sorted(m.id for m in matches[3:30:10])
    site = await start_site(
        matches, faults=Faults(fail_paths=frozenset(f"/matches/{k}" for k in broken))
    )
    out = io.StringIO()
    reporter = ConsoleReporter(Console(file=out, width=200), quiet=True)
    try:
        outcome = await run(
            football(),
            tmp_path,
            RunOptions(workers=4, max_consecutive_failures=10),  # failed, not halted
            fetch_options=FetchOptions(base_url=site.url),
            subscribers=[reporter],
        )
    finally:
        reporter.close()
    assert outcome.exit_code == 1
    lines = out.getvalue().splitlines()
    failed = [line for line in lines if " ✗ " in line]
    # "[ 3/30] match 192894 ✗ overview (0.0s)  http_5xx: HTTP 500 …": the counter is padded
    assert sorted(int(line.split("] match ")[1].split()[0]) for line in failed) == broken
    assert all("overview" in line and "http_5xx" in line for line in failed)
    summary = lines[len(failed) :]  # nothing else came before the summary
    assert summary[0] == (
        f"run {outcome.run_id} of football: FAILED (exit 1) — 3 items failed: overview ×3"
    )
    assert summary[1].startswith(f"run {outcome.run_id} of football: failed · ")
    assert not any("✓" in line or line.startswith("discover") for line in lines)


async def test_the_same_run_not_quiet_prints_a_line_per_item(
    start_site: StartSite, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    site = await start_site(list(football_sample[:10]))
    out = io.StringIO()
    reporter = ConsoleReporter(Console(file=out, width=200))
    try:
        outcome = await run(
            football(),
            tmp_path,
            RunOptions(workers=4),
            fetch_options=FetchOptions(base_url=site.url),
            subscribers=[reporter],
        )
    finally:
        reporter.close()
    assert outcome.exit_code == 0
    text = out.getvalue()
    assert text.count("✓ overview") == 10
    first_summary_line = next(line for line in text.splitlines() if " wall · " in line)
    assert first_summary_line.endswith("exit 0")  # a run that exits 0 says no "why"
    assert "FAILED" not in text
