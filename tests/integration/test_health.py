"""Stage health over the last N runs: the football pipeline against the rehearsal site
with faults that come and go, read back from a real SQLite ledger."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from scrapeline.observe.stats import percentile
from scrapeline.testing import Faults, Match
from scrapeline.workspace.health import health
from tests.conftest import StartSite

from .test_history import crawl
from .test_run_football import football

BROKEN = Faults(broken=0.3, only_paths_prefix="/matches/")


def sql(data_dir: Path, query: str, *params: Any) -> list[Any]:
    db = sqlite3.connect(data_dir / "ledger.db")
    try:
        return db.execute(query, params).fetchall()
    finally:
        db.close()


def stage(report: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [s for s in report["stages"] if s["stage"] == name]
    return found


@pytest.fixture
async def history(start_site: StartSite, football_sample: Sequence[Match], tmp_path: Path) -> Path:
    """Four runs of every task: a clean one, two against a site whose match pages
    break 30% of the time, then a clean one again."""
    site = await start_site(list(football_sample[:60]))
    for faults in (Faults(), BROKEN, BROKEN, Faults()):
        site.faults = faults
        await crawl(site, tmp_path, force_rescrape=True)
    return tmp_path


async def test_health_sums_the_window_of_runs_as_the_ledger_has_them(history: Path) -> None:
    report = health(football(), history, runs=2)
    assert (report["runs"], report["compared_with"]) == ([3, 4], [1, 2])
    overview = stage(report, "overview")
    ((done, failed),) = sql(
        history,
        "SELECT sum(ok), sum(1-ok) FROM attempts WHERE run_id IN (3, 4) AND stage='overview'",
    )
    assert (overview["done"], overview["failed"], overview["tasks"]) == (
        done,
        failed,
        done + failed,
    )
    assert overview["success_rate"] == round(done / (done + failed), 4)
    # every done overview writes its match: the records are the runs' writes
    assert overview["records"] == done
    durations = [
        d
        for (d,) in sql(
            history, "SELECT duration FROM attempts WHERE run_id IN (3, 4) AND stage='overview'"
        )
    ]
    assert overview["p50"] == round(percentile(durations, 50), 4)
    assert overview["p95"] == round(percentile(durations, 95), 4)


async def test_an_error_category_shows_its_count_per_run_and_its_trend(history: Path) -> None:
    def contract(runs: int) -> dict[str, Any]:
        (found,) = [
            e
            for e in stage(health(football(), history, runs=runs), "overview")["errors"]
            if e["category"] == "contract"
        ]
        return found

    per_run = [
        n
        for (n,) in sql(
            history,
            "SELECT count(a.id) FROM runs r LEFT JOIN attempts a ON a.run_id=r.id AND a.ok=0 "
            "AND a.stage='overview' GROUP BY r.id ORDER BY r.id",
        )
    ]
    assert per_run[0] == 0 and per_run[1] > 0 and per_run[2] > 0 and per_run[3] == 0
    # runs 3–4 against 1–2: the site was mended in run 4
    both = contract(2)
    assert both["per_run"] == [per_run[2], 0]
    assert both["previous"] == per_run[1]
    assert both["trend"] == (
        "fewer" if per_run[2] < per_run[1] else "more" if per_run[2] > per_run[1] else "same"
    )
    # run 4 alone against run 3: gone, and said so
    assert contract(1) == {
        "category": "contract",
        "count": 0,
        "per_run": [0],
        "previous": per_run[2],
        "trend": "fewer",
    }


async def test_a_window_with_nothing_before_it_has_no_trend(history: Path) -> None:
    report = health(football(), history, runs=10)
    assert report["runs"] == [1, 2, 3, 4] and report["compared_with"] is None
    assert all(e["trend"] is None for s in report["stages"] for e in s["errors"])
    assert [s["stage"] for s in report["stages"]] == ["overview", "half_stats"]
