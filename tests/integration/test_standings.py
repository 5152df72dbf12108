"""The worked example: league tables derived in DuckDB from every openfootball match
(``scrapeline.demo.standings``), checked row by row against a direct Python computation,
and against a table everyone knows (the Premier League, 2018-19)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scrapeline.demo.standings import POINTS_ADD_UP, STANDINGS_KEY, STANDINGS_SQL
from scrapeline.pipeline import Pipeline
from scrapeline.quality.derived import materialise
from scrapeline.quality.rules import (
    accepted,
    between,
    evaluate,
    not_null,
    references,
    sql,
    unique,
)
from scrapeline.testing.football import Match, find_full_dataset, load_full

COLUMNS = (
    "league",
    "season",
    "position",
    "team",
    "played",
    "won",
    "drawn",
    "lost",
    "goals_for",
    "goals_against",
    "goal_difference",
    "points",
)


@pytest.fixture(scope="module")
def matches() -> list[Match]:
    found = find_full_dataset()
    assert found is not None, "the openfootball data set is not where the tests expect it"
    return load_full(found)


def expected_standings(matches: Sequence[Match]) -> list[tuple[Any, ...]]:
    """The league tables, computed directly: 3 points a win, 1 a draw; ranked by points,
    goal difference, goals scored, name."""
    totals: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    for m in matches:
        if m.ft is None:
            continue
        for team, scored, conceded in ((m.team1, *m.ft), (m.team2, m.ft[1], m.ft[0])):
            row = totals[(m.league, m.season, team)]
            row[0] += 1
            row[1 if scored > conceded else 2 if scored == conceded else 3] += 1
            row[4] += scored
            row[5] += conceded
    tables: dict[tuple[str, str], list[tuple[Any, ...]]] = defaultdict(list)
    for (league, season, team), (played, won, drawn, lost, gf, ga) in totals.items():
        points = 3 * won + drawn
        tables[(league, season)].append((team, played, won, drawn, lost, gf, ga, gf - ga, points))
    rows = []
    for (league, season), teams in sorted(tables.items()):
        teams.sort(key=lambda t: (-t[8], -t[7], -t[5], t[0]))
        rows += [(league, season, n, *t) for n, t in enumerate(teams, start=1)]
    return rows


@pytest.fixture(scope="module")
def con(matches: list[Match], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    table = pa.table(
        {
            "match_id": [m.id for m in matches],
            "league": [m.league for m in matches],
            "season": [m.season for m in matches],
            "home": [m.team1 for m in matches],
            "away": [m.team2 for m in matches],
            "home_goals": pa.array([m.ft[0] if m.ft else None for m in matches], pa.int32()),
            "away_goals": pa.array([m.ft[1] if m.ft else None for m in matches], pa.int32()),
        }
    )
    path: Path = tmp_path_factory.mktemp("snapshot") / "matches.parquet"
    pq.write_table(table, path)
    connection = duckdb.connect()
    connection.read_parquet(str(path)).create_view("matches")
    yield connection
    connection.close()


def football() -> Pipeline:
    pipe = Pipeline("football")
    pipe.table("matches", key="match_id")
    pipe.derive("standings", sql=STANDINGS_SQL, key=STANDINGS_KEY)
    pipe.derive(
        "champions",
        sql="SELECT league, season, team, points FROM standings WHERE position = 1",
        key=("league", "season"),
    )
    pipe.rule(
        "standings",
        not_null("team", "points"),
        between("points", min=0),
        between("position", min=1),
        sql(POINTS_ADD_UP, name="points add up"),
    )
    pipe.rule("champions", references("team", "standings", "team"), unique("league", "season"))
    pipe.rule(
        "matches", between("home_goals", min=0), accepted("league", ["en.1"], severity="warn")
    )
    return pipe


def test_the_standings_equal_a_direct_computation_over_every_match(
    con: duckdb.DuckDBPyConnection, matches: list[Match]
) -> None:
    pipe = football()
    rows = materialise(con, pipe)
    expected = expected_standings(matches)
    assert rows["standings"] == len(expected)
    got = con.execute(f"SELECT {', '.join(COLUMNS)} FROM standings").fetchall()
    assert got == expected  # the same rows, in order of league, season, position
    assert rows["champions"] == len({(r[0], r[1]) for r in expected})


def test_the_premier_league_2018_19_is_the_table_everyone_knows(
    con: duckdb.DuckDBPyConnection,
) -> None:
    materialise(con, football())
    top = con.execute(
        "SELECT position, team, played, points, goal_difference FROM standings "
        "WHERE league = 'en.1' AND season = '2018-19' ORDER BY position LIMIT 2"
    ).fetchall()
    assert top == [(1, "Manchester City", 38, 98, 72), (2, "Liverpool FC", 38, 97, 67)]
    champion = con.execute(
        "SELECT team FROM champions WHERE league = 'en.1' AND season = '2018-19'"
    ).fetchone()
    assert champion == ("Manchester City",)


def test_the_rules_on_the_standings_pass_and_a_warning_stays_a_warning(
    con: duckdb.DuckDBPyConnection,
) -> None:
    pipe = football()
    materialise(con, pipe)
    results = evaluate(con, pipe)
    failed = [(r.table, r.rule, r.severity) for r in results if not r.passed]
    assert failed == [("matches", "accepted(league, ['en.1'])", "warn")]
    assert not any(r.blocking for r in results)
    assert [r.table for r in results] == ["standings"] * 5 + ["champions"] * 3 + ["matches"] * 2
