"""Derived tables made in DuckDB from views of real Parquet files: in declaration order,
one reading another, rules on them (their key's among them), and their errors."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scrapeline.errors import PipelineError
from scrapeline.pipeline import Pipeline
from scrapeline.quality.derived import materialise
from scrapeline.quality.rules import between, evaluate, not_null, references, row_count, sql

MATCHES = pa.table(
    {
        "match_id": [1, 2, 3, 4],
        "home": ["Ajax", "PSV", "Ajax", "Twente"],
        "away": ["PSV", "Ajax", "Twente", "PSV"],
        "home_goals": [2, 1, 0, None],
        "away_goals": [0, 1, 3, None],
    }
)


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    path = tmp_path / "matches.parquet"
    pq.write_table(MATCHES, path)
    connection = duckdb.connect()
    connection.read_parquet(str(path)).create_view("matches")
    return connection


def pipeline() -> Pipeline:
    pipe = Pipeline("football")
    pipe.table("matches", key="match_id")
    return pipe


GOALS = """
SELECT home AS team, home_goals AS goals FROM matches WHERE home_goals IS NOT NULL
UNION ALL
SELECT away, away_goals FROM matches WHERE away_goals IS NOT NULL
"""


def test_derived_tables_are_made_in_order_one_reading_another(
    con: duckdb.DuckDBPyConnection,
) -> None:
    pipe = pipeline()
    pipe.derive("goals", sql=GOALS)
    pipe.derive(
        "team totals",  # a name that needs quoting
        sql="SELECT team, sum(goals)::BIGINT AS total FROM goals GROUP BY team ORDER BY team",
        key="team",
    )
    pipe.derive("top", sql='SELECT * FROM "team totals" ORDER BY total DESC LIMIT 1;')
    assert materialise(con, pipe) == {"goals": 6, "team totals": 3, "top": 1}
    assert con.execute('SELECT * FROM "team totals"').fetchall() == [
        ("Ajax", 3),
        ("PSV", 1),
        ("Twente", 3),
    ]
    kinds = dict(
        con.execute("SELECT table_name, table_type FROM information_schema.tables").fetchall()
    )
    assert kinds == {
        "matches": "VIEW",
        "goals": "BASE TABLE",
        "team totals": "BASE TABLE",
        "top": "BASE TABLE",
    }


def test_materialising_again_gives_the_same_tables(con: duckdb.DuckDBPyConnection) -> None:
    pipe = pipeline()
    pipe.derive("goals", sql=GOALS)
    first = materialise(con, pipe)
    rows = sorted(con.execute("SELECT * FROM goals").fetchall())
    assert materialise(con, pipe) == first
    assert sorted(con.execute("SELECT * FROM goals").fetchall()) == rows


def test_rules_on_derived_tables_are_evaluated_with_the_others(
    con: duckdb.DuckDBPyConnection,
) -> None:
    pipe = pipeline()
    pipe.rule("totals", between("total", max=2, severity="warn"))  # before it is declared
    pipe.derive("goals", sql=GOALS)
    pipe.derive(
        "totals", sql="SELECT team, sum(goals) AS total FROM goals GROUP BY team", key="team"
    )
    pipe.rule("goals", references("team", "totals"), not_null("goals"))
    pipe.rule("matches", row_count(min=1))
    pipe.rule("totals", sql("SELECT * FROM totals WHERE team = 'PSV'", name="no PSV"))
    materialise(con, pipe)
    results = evaluate(con, pipe)
    assert [(r.table, r.rule, r.severity, r.failing) for r in results] == [
        ("totals", "unique(team)", "error", 0),
        ("totals", "between(total, max=2)", "warn", 2),
        ("totals", "no PSV", "error", 1),
        ("goals", "references(team, totals)", "error", 0),
        ("goals", "not_null(goals)", "error", 0),
        ("matches", "row_count(min=1)", "error", 0),
    ]
    assert {row["team"] for row in results[1].sample} == {"Ajax", "Twente"}


def test_a_duplicate_key_in_a_derived_table_is_a_failing_error_result(
    con: duckdb.DuckDBPyConnection,
) -> None:
    pipe = pipeline()
    pipe.derive("goals", sql=GOALS, key="team")  # a team scores in several matches
    assert materialise(con, pipe) == {"goals": 6}
    (result,) = evaluate(con, pipe)
    assert (result.rule, result.severity, result.passed, result.blocking) == (
        "unique(team)",
        "error",
        False,
        True,
    )
    assert result.message == "5 rows with a duplicate team"  # Ajax 3 times, PSV twice


@pytest.mark.parametrize(
    ("declare", "complaint"),
    [
        (
            lambda p: p.derive("bad", sql="SELECT nope FROM matches"),
            "derived table 'bad': Binder Error: Referenced column \"nope\" not found",
        ),
        (
            lambda p: p.derive("bad", sql="SELEC 1"),
            "derived table 'bad': Parser Error: syntax error",
        ),
        (
            lambda p: (
                p.derive("first", sql="SELECT * FROM second"),
                p.derive("second", sql="SELECT 1 AS x"),
            ),
            "'second' is declared after it: a derived table reads only",
        ),
        (
            lambda p: (
                p.derive("matches2", sql="SELECT * FROM matches").name
                and p.table("matches2", key="x")
            ),
            "derived table 'matches2' has the name of a declared table",
        ),
    ],
)
def test_a_derived_table_that_cannot_be_made_is_a_one_line_error_naming_it(
    con: duckdb.DuckDBPyConnection, declare: object, complaint: str
) -> None:
    pipe = pipeline()
    assert callable(declare)
    declare(pipe)
    with pytest.raises(PipelineError) as caught:
        materialise(con, pipe)
    assert complaint in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_derived_tables_before_a_failing_one_stay_made(
    con: duckdb.DuckDBPyConnection,
) -> None:
    pipe = pipeline()
    pipe.derive("goals", sql=GOALS)
    pipe.derive("broken", sql="SELECT * FROM nowhere")
    with pytest.raises(PipelineError, match="derived table 'broken'"):
        materialise(con, pipe)
    assert con.execute("SELECT count(*) FROM goals").fetchone() == (6,)
