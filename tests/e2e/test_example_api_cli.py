"""The bundled JSON-API example (``scrapeline.demo.football_api``) through the CLI, on
real openfootball data served by the rehearsal site's API mode: ``run``, ``validate``,
``publish`` and ``freshness``, with what is published checked against the source files
(every finished match once, with its score; the league tables computed directly);
and a record that breaks the example's schema or a check fails its item as
``validation`` and waits in the quarantine."""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from scrapeline.testing import ApiSite, serve_in_thread
from scrapeline.testing.football import Match, find_full_dataset, load_full

from .conftest import scrapeline

pytestmark = pytest.mark.slow

PIPE = "scrapeline.demo.football_api"

CHOSEN = {("de.1", "2024-25"), ("de.1", "2025-26"), ("nl.1", "2024-25"), ("nl.1", "2025-26")}
"""Two leagues, a season played to the end and one half played each: 1,224 events,
153 of them not played yet."""

STANDINGS = (
    "league, season, position, team, played, won, drawn, lost, "
    "goals_for, goals_against, goal_difference, points"
)


@pytest.fixture(scope="module")
def full_set() -> list[Match]:
    found = find_full_dataset()
    assert found is not None, "the openfootball data set is not where the tests expect it"
    return load_full(found)


@dataclass(frozen=True)
class Scraped:
    site: ApiSite
    data: Path


@pytest.fixture(scope="module")
def scraped(full_set: list[Match], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    """The chosen seasons scraped and published through the CLI."""
    site = ApiSite([m for m in full_set if (m.league, m.season) in CHOSEN], latency=None)
    data = tmp_path_factory.mktemp("api") / "data"
    with serve_in_thread(site) as url:
        ran = scrapeline("run", PIPE, "--data-dir", str(data), "--base-url", url, "--quiet")
    assert ran.returncode == 0, ran.stderr
    validated = scrapeline("validate", PIPE, "--data-dir", str(data))
    assert validated.returncode == 0, validated.stdout + validated.stderr
    published = scrapeline("publish", PIPE, "--data-dir", str(data))
    assert published.returncode == 0, published.stderr
    yield Scraped(site=site, data=data)


def names(site: ApiSite) -> dict[tuple[str, str], tuple[str, str]]:
    """``(league, season folder)`` of the data → ``(tournament name, season name)`` as
    the API lists them."""
    return {(t.league, s.key): (t.name, s.name) for t in site.tournaments for s in t.seasons}


def expected_standings(matches: Sequence[Match], site: ApiSite) -> list[tuple[Any, ...]]:
    """The league tables straight from the source: 3 points a win, 1 a draw; ranked by
    points, goal difference, goals scored, name."""
    named = names(site)
    totals: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0] * 6)
    for m in matches:
        if m.ft is None:
            continue
        league, season = named[(m.league, m.season)]
        for team, scored, conceded in ((m.team1, *m.ft), (m.team2, m.ft[1], m.ft[0])):
            row = totals[(league, season, team)]
            row[0] += 1
            row[1 if scored > conceded else 2 if scored == conceded else 3] += 1
            row[4] += scored
            row[5] += conceded
    tables: dict[tuple[str, str], list[tuple[Any, ...]]] = defaultdict(list)
    for (league, season, team), (played, won, drawn, lost, gf, ga) in totals.items():
        tables[(league, season)].append(
            (team, played, won, drawn, lost, gf, ga, gf - ga, 3 * won + drawn)
        )
    rows: list[tuple[Any, ...]] = []
    for (league, season), teams in sorted(tables.items()):
        teams.sort(key=lambda t: (-t[8], -t[7], -t[5], t[0]))
        rows += [(league, season, n, *t) for n, t in enumerate(teams, start=1)]
    return rows


def test_every_finished_match_is_published_once_with_its_score(
    scraped: Scraped, full_set: list[Match]
) -> None:
    latest = scraped.data / "published" / "latest"
    source = [m for m in full_set if (m.league, m.season) in CHOSEN]
    named = names(scraped.site)
    rows = duckdb.sql(
        f"SELECT event_id, league, season, date, home, away, home_score, away_score, "
        f"ht_home, ht_away, status FROM '{latest / 'events.parquet'}'"
    ).fetchall()
    assert len(rows) == len({r[0] for r in rows}) == len(source)
    by_id = {r[0]: r[1:] for r in rows}
    finished = [m for m in source if m.ft is not None]
    assert 1000 < len(finished) < len(source)  # real seasons, some still to play
    for m in source:
        halves = m.halves
        assert by_id[m.id] == (
            *named[(m.league, m.season)],
            date.fromisoformat(m.date),
            m.team1,
            m.team2,
            *(m.ft if m.ft else (None, None)),
            *(halves[0] if halves else (None, None)),
            "notstarted" if m.ft is None else "finished",
        ), m
    # the Parquet file as pyarrow reads it: typed columns, the same rows
    table = pq.read_table(latest / "events.parquet")
    assert str(table.schema.field("date").type) == "date32[day]"
    assert str(table.schema.field("home_score").type) == "int64"
    assert table.num_rows == len(source)


def test_the_published_standings_equal_a_direct_computation(
    scraped: Scraped, full_set: list[Match]
) -> None:
    latest = scraped.data / "published" / "latest"
    got = duckdb.sql(
        f"SELECT {STANDINGS} FROM '{latest / 'standings.parquet'}' "
        "ORDER BY league, season, position"
    ).fetchall()
    source = [m for m in full_set if (m.league, m.season) in CHOSEN]
    expected = expected_standings(source, scraped.site)
    assert got == expected
    assert {(r[0], r[1]) for r in got} == set(names(scraped.site).values()) and len(got) == 4 * 18
    manifest = json.loads((latest / "manifest.json").read_text())
    assert manifest["tables"]["standings"]["rows"] == len(expected)
    assert manifest["tables"]["events"]["rows"] == len(source)


def test_validate_reports_each_rule_of_the_example(scraped: Scraped) -> None:
    done = scrapeline("validate", PIPE, "--data-dir", str(scraped.data), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["passed"] is True and report["errors"] == 0
    rules = {(r["table"], r["rule"]) for r in report["rules"] if r["passed"]}
    assert ("events", "unique(event_id)") in rules
    assert ("standings", "points add up") in rules
    assert ("standings", "unique(league, season, team)") in rules
    assert any(t == "events" and r.startswith("accepted(status") for t, r in rules)
    assert len(rules) == len(report["rules"])


def test_freshness_of_the_events_dates(scraped: Scraped) -> None:
    newest = duckdb.sql(
        f"SELECT max(date) FROM '{scraped.data / 'published' / 'latest' / 'events.parquet'}'"
    ).fetchall()[0][0]
    days = (datetime.now(UTC).date() - newest).days
    assert days >= 2, "the data is historical: its newest date should be days ago"

    def freshness(max_age: str) -> int:
        done = scrapeline(
            "freshness", PIPE, "--data-dir", str(scraped.data),
            "--table", "events", "--column", "date", "--max-age", max_age,
        )  # fmt: skip
        assert done.stderr == "" if done.returncode == 0 else done.stderr.startswith("stale: ")
        return done.returncode

    assert freshness(f"{days + 2}d") == 0
    assert freshness(f"{days - 1}d") == 1


def test_a_record_breaking_the_schema_or_a_check_fails_its_item_as_validation(
    full_set: list[Match], tmp_path: Path
) -> None:
    season = [m for m in full_set if (m.league, m.season) == ("nl.1", "2024-25")]
    # a source that scores a side below zero, and one with a team playing itself
    negative, itself = season[10], season[20]
    # and a real season with a final whose sides are not known yet: stored, not refused
    season += [m for m in full_set if (m.league, m.season) == ("au.1", "2024-25")]
    assert any(m.team1 == m.team2 and m.ft is None for m in season)
    assert negative.ft is not None
    broken = {
        negative.id: dataclasses.replace(negative, ft=(-1, negative.ft[1]), ht=None),
        itself.id: dataclasses.replace(itself, team2=itself.team1),
    }
    site = ApiSite([broken.get(m.id, m) for m in season], latency=None)
    data = tmp_path / "data"
    with serve_in_thread(site) as url:
        ran = scrapeline("run", PIPE, "--data-dir", str(data), "--base-url", url, "--quiet")
    assert ran.returncode == 1, ran.stderr

    (run,) = json.loads(scrapeline("runs", PIPE, "--data-dir", str(data), "--json").stdout)
    assert run["categories"] == {"validation": 2}
    assert run["stages"]["detail"]["failed"] == 2
    shown = scrapeline("runs", PIPE, str(run["id"]), "--data-dir", str(data), "--json")
    failures = {int(f["key"]): f for f in json.loads(shown.stdout)["failures"]}
    assert set(failures) == set(broken)
    assert {f["category"] for f in failures.values()} == {"validation"}
    assert "home_score" in failures[negative.id]["message"]
    assert "a team plays itself" in failures[itself.id]["message"]

    status = json.loads(scrapeline("status", PIPE, "--data-dir", str(data), "--json").stdout)
    assert status["stages"]["detail"]["failed"] == 2
    quarantined = scrapeline("quarantine", PIPE, "--data-dir", str(data), "--json")
    held = {int(e["item"]): e for e in json.loads(quarantined.stdout)["records"]}
    assert set(held) == set(broken)
    assert held[negative.id]["rules"] == ["greater_than_equal"]
    assert held[itself.id]["rules"] == ["two_teams"]
    assert held[itself.id]["record"]["home"] == held[itself.id]["record"]["away"]
    # the rest is stored, and the broken ones are not
    validated = scrapeline("validate", PIPE, "--data-dir", str(data), "--json")
    assert json.loads(validated.stdout)["tables"]["events"] == len(season) - 2
