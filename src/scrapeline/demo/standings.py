"""League tables derived from match results: the worked example of a derived table.

``STANDINGS_SQL`` reads a ``matches`` table with the columns ``league``, ``season``,
``home``, ``away``, ``home_goals`` and ``away_goals`` (a match not played yet has NULL
goals and is left out) and gives one row per team, league and season::

    pipe.derive("standings", sql=STANDINGS_SQL, key=STANDINGS_KEY)
    pipe.rule("standings", between("points", min=0), sql(POINTS_ADD_UP, name="points add up"))

Three points for a win, one for a draw. Teams are ranked (``position``, from 1) by
points, then goal difference, then goals scored, then name; the rows come in order of
league, season and position.
"""

from __future__ import annotations

STANDINGS_KEY = ("league", "season", "team")
"""What identifies a row of the standings."""

STANDINGS_SQL = """
WITH sides AS (
    SELECT league, season, home AS team, home_goals AS scored, away_goals AS conceded
    FROM matches WHERE home_goals IS NOT NULL AND away_goals IS NOT NULL
    UNION ALL
    SELECT league, season, away AS team, away_goals AS scored, home_goals AS conceded
    FROM matches WHERE home_goals IS NOT NULL AND away_goals IS NOT NULL
),
totals AS (
    SELECT
        league, season, team,
        count(*) AS played,
        count(*) FILTER (WHERE scored > conceded) AS won,
        count(*) FILTER (WHERE scored = conceded) AS drawn,
        count(*) FILTER (WHERE scored < conceded) AS lost,
        CAST(sum(scored) AS BIGINT) AS goals_for,
        CAST(sum(conceded) AS BIGINT) AS goals_against
    FROM sides
    GROUP BY league, season, team
),
scored AS (
    SELECT
        *,
        goals_for - goals_against AS goal_difference,
        3 * won + drawn AS points
    FROM totals
)
SELECT
    league, season,
    row_number() OVER (
        PARTITION BY league, season
        ORDER BY points DESC, goal_difference DESC, goals_for DESC, team
    ) AS position,
    team, played, won, drawn, lost, goals_for, goals_against, goal_difference, points
FROM scored
ORDER BY league, season, position
"""
"""The standings of every league and season in ``matches``."""

POINTS_ADD_UP = """
SELECT * FROM standings
WHERE points <> 3 * won + drawn OR played <> won + drawn + lost
   OR goal_difference <> goals_for - goals_against
"""
"""A custom rule over the standings: the rows whose counts do not add up."""
