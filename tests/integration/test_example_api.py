"""The bundled JSON-API example (``scrapeline.demo.football_api``) against the rehearsal
site's API mode: what it scrapes equals the source, before and after a day's changes
(two events published, one result corrected), and the second run asks only for what
can have changed."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from scrapeline.demo.football_api import pipe
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.runner.run import RunOptions
from scrapeline.testing import ApiSite, serve_in_thread
from scrapeline.testing.football import Match, load_sample
from scrapeline.workspace.run import FetchOptions
from scrapeline.workspace.run import run as run_pipeline

PER_SEASON = 45
"""Played matches kept of each season: three pages of twenty."""


def recent_matches() -> list[Match]:
    """Two leagues, two seasons each, of played matches, moved in time so that the
    newest was played yesterday: their results may still be corrected."""
    seasons: dict[tuple[str, str], list[Match]] = defaultdict(list)
    for m in load_sample():
        if m.ft is not None and m.ht is not None:
            seasons[(m.league, m.season)].append(m)
    leagues = sorted({league for league, _ in seasons})[:2]
    chosen: list[Match] = []
    for league in leagues:
        newest = sorted((s for lg, s in seasons if lg == league), reverse=True)[:2]
        for season in newest:
            games = sorted(seasons[(league, season)], key=lambda m: (m.date, m.id))
            chosen += games[-PER_SEASON:]
    shift = datetime.now(UTC).date() - timedelta(days=1) - max(_day(m) for m in chosen)
    return [dataclasses.replace(m, date=(_day(m) + shift).isoformat()) for m in chosen]


def _day(m: Match) -> date:
    return date.fromisoformat(m.date)


def scraped(data_dir: Path) -> dict[int, tuple[Any, ...]]:
    ledger = SqliteLedger(data_dir / "ledger.db")
    try:
        return {
            r["event_id"]: (r["date"], r["home"], r["away"], r["home_score"], r["away_score"])
            for r in ledger.records("events")
        }
    finally:
        ledger.close()


def source(site: ApiSite) -> dict[int, tuple[Any, ...]]:
    return {
        m.id: (m.date, m.team1, m.team2, m.ft[0] if m.ft else None, m.ft[1] if m.ft else None)
        for m in site.expected()
    }


async def run_once(url: str, data_dir: Path) -> int:
    outcome = await run_pipeline(
        pipe, data_dir, RunOptions(workers=8), fetch_options=FetchOptions(base_url=url)
    )
    return outcome.exit_code


async def test_the_example_scrapes_the_api_and_tomorrows_run_catches_up(tmp_path: Path) -> None:
    site = ApiSite(recent_matches(), latency=None, unpublished=2)
    data_dir = tmp_path / "data"
    with serve_in_thread(site) as url:
        assert await run_once(url, data_dir) == 0
        assert scraped(data_dir) == source(site)
        first_run = sum(site.hits.values())

        # a day's changes: two events published, a recent result corrected
        published = site.publish(2)
        newest_season = site.season_of(published[0])
        corrected = next(m for m in site.expected() if m.id not in published)
        assert corrected.ft is not None
        site.correct(corrected.id, home=corrected.ft[0] + 3, away=corrected.ft[1])
        site.hits.clear()
        site.not_modified.clear()

        assert await run_once(url, data_dir) == 0
        assert scraped(data_dir) == source(site)
        assert scraped(data_dir)[corrected.id][3] == corrected.ft[0] + 3

    seasons = [s for t in site.tournaments for s in t.seasons]
    cutoff = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()
    recent = [m.id for m in site.expected() if m.date >= cutoff and m.id not in published]
    expected_requests = (
        1  # robots.txt
        + 1  # the tournaments' first page: known, the walk stops
        + len(seasons)  # each season's events listing, first page (seasons found this week)
        + 1  # the newest season's second page: its first had the two new events
        + len(published)  # their details
        + len(recent)  # details of events within the refresh window, conditionally
    )
    assert sum(site.hits.values()) == expected_requests, site.hits
    # every refreshed detail was asked conditionally: all but the corrected one unchanged
    assert corrected.id in recent
    assert sum(site.not_modified.values()) == len(recent) - 1
    assert expected_requests < first_run / 2
    assert site.hits[f"/api/seasons/{newest_season}/events?page=1"] == 1
    assert not any("/seasons?" in target for target in site.hits)  # no season listing again
