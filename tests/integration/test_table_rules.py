"""Table rules evaluated in DuckDB over views of real Parquet files: each rule passing and
failing, its message, count and sample; severities; names that need quoting; NULLs;
references across tables; ``fresh`` against a fixed clock; custom SQL."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scrapeline.errors import PipelineError
from scrapeline.pipeline import Pipeline
from scrapeline.quality.rules import (
    RuleResult,
    TableRule,
    accepted,
    between,
    evaluate,
    fresh,
    not_null,
    references,
    row_count,
    sql,
    unique,
)

UTC = dt.UTC

# A table named like an SQL keyword, with columns that need quoting. Row ``n`` says
# which row a sample holds.
ORDER = pa.table(
    {
        "n": [1, 2, 3, 4, 5, 6],
        "match id": [1, 2, 3, 3, None, None],
        "home team": ["Ajax", "PSV", None, "Ajax", "Twente", "PSV"],
        "away": ["PSV", "Ajax", "Ajax", "PSV", "Ajax", "Ajax"],
        "home goals": [2, 0, -1, 3, None, 7],
        "result": ["H", "D", "X", "H", None, "A"],
        "date": [
            dt.date(2024, 5, 1),
            dt.date(2024, 5, 2),
            dt.date(2024, 5, 3),
            dt.date(2024, 5, 3),
            dt.date(2024, 5, 4),
            None,
        ],
        "kickoff": pa.array(
            [dt.datetime(2024, 5, d, 18, 30) for d in (1, 2, 3, 3, 4)] + [None],
            pa.timestamp("us"),
        ),
        "kickoff text": ["2024-05-01", "2024-05-02", None, "2024-05-03", "2024-05-04", None],
    }
)
TEAMS = pa.table({"name": ["Ajax", "PSV"], "city": ["Amsterdam", "Eindhoven"]})
NOW = dt.datetime(2024, 5, 6, 12, 0, tzinfo=UTC).timestamp()


def connect(tmp_path: Path, **tables: pa.Table) -> duckdb.DuckDBPyConnection:
    """A connection with one view per table over a Parquet file written in tmp_path,
    as a snapshot is read."""
    con = duckdb.connect()
    for name, table in tables.items():
        path = tmp_path / f"{name}.parquet"
        pq.write_table(table, path)
        con.read_parquet(str(path)).create_view(name)
    return con


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect(tmp_path, order=ORDER, teams=TEAMS)
    yield connection
    connection.close()


def football() -> Pipeline:
    pipe = Pipeline("football")
    pipe.table("order", key="n")
    pipe.table("teams", key="name")
    return pipe


def one(con: duckdb.DuckDBPyConnection, rule: TableRule, table: str = "order") -> RuleResult:
    pipe = football()
    pipe.rule(table, rule)
    (result,) = evaluate(con, pipe, now=NOW)
    return result


CASES: list[tuple[TableRule, int, str, set[int]]] = [
    # rule, failing, message, the rows (n) of the sample
    (unique("match id"), 2, "2 rows with a duplicate match id", {3, 4}),  # NULLs are no duplicate
    (unique("n"), 0, "0 rows with a duplicate n", set()),
    (unique("match id", "home team"), 0, "0 rows with a duplicate (match id, home team)", set()),
    (unique("away", "result"), 2, "2 rows with a duplicate (away, result)", {1, 4}),
    (not_null("n", "away"), 0, "0 rows with a null n or away", set()),
    (not_null("home team"), 1, "1 row with a null home team", {3}),
    (not_null("home team", "home goals"), 2, "2 rows with a null home team or home goals", {3, 5}),
    (accepted("result", ["H", "D", "A"]), 1, "1 row with a result not in ('H', 'D', 'A')", {3}),
    (
        accepted("result", ["H", "D", "A", "X"]),
        0,
        "0 rows with a result not in ('H', 'D', 'A', 'X')",
        set(),
    ),
    (accepted("match id", [1, 2, 3]), 0, "0 rows with a match id not in (1, 2, 3)", set()),
    (between("home goals", min=0), 1, "1 row with home goals below 0", {3}),
    (between("home goals", min=0, max=5), 2, "2 rows with home goals outside [0, 5]", {3, 6}),
    (between("home goals", max=10), 0, "0 rows with home goals above 10", set()),
    (
        between("date", min=dt.date(2024, 5, 2)),
        1,
        "1 row with date below datetime.date(2024, 5, 2)",
        {1},
    ),
    (references("home team", "teams"), 1, "1 row with a home team not in teams.name", {5}),
    (references("away", "teams", "name"), 0, "0 rows with a away not in teams.name", set()),
    (row_count(min=6, max=6), 0, "6 rows", set()),
    (row_count(min=7), 1, "6 rows, fewer than 7", set()),
    (row_count(max=5), 1, "6 rows, more than 5", set()),
    (fresh("date", "3d"), 0, "newest date is 2024-05-04, 2 days old (within 3d)", set()),
    (fresh("date", "2d"), 0, "newest date is 2024-05-04, 2 days old (within 2d)", set()),
    (fresh("date", "1d"), 1, "newest date is 2024-05-04, 2 days old (more than 1d)", set()),
    (
        fresh("kickoff", "42h"),
        0,
        "newest kickoff is 2024-05-04T18:30:00+00:00, 1.7 days old (within 42h)",
        set(),
    ),
    (
        fresh("kickoff", "41h"),
        1,
        "newest kickoff is 2024-05-04T18:30:00+00:00, 1.7 days old (more than 41h)",
        set(),
    ),
    (
        fresh("kickoff text", "2d"),
        0,
        "newest kickoff text is 2024-05-04, 2 days old (within 2d)",
        set(),
    ),
    (
        sql('SELECT * FROM "order" WHERE "home team" = away', name="no_self_match"),
        0,
        "0 rows returned by no_self_match",
        set(),
    ),
    (
        sql(
            'SELECT o.* FROM "order" o JOIN teams t ON o.away = t.name WHERE "home goals" > 2;',
            name="big_wins",
        ),
        2,
        "2 rows returned by big_wins",
        {4, 6},
    ),
]


@pytest.mark.parametrize(
    ("rule", "failing", "message", "rows"), CASES, ids=[c[0].label for c in CASES]
)
def test_a_rule_counts_its_failing_rows_says_so_and_shows_them(
    con: duckdb.DuckDBPyConnection, rule: TableRule, failing: int, message: str, rows: set[int]
) -> None:
    result = one(con, rule)
    assert (result.table, result.rule, result.severity) == ("order", rule.describe(), "error")
    assert result.failing == failing
    assert result.passed is (failing == 0)
    assert result.blocking is (failing != 0)
    assert result.message == message
    assert {row["n"] for row in result.sample} == rows
    if rows:
        assert set(result.sample[0]) == set(ORDER.column_names)  # whole rows, no helper column


def test_rule_names_say_what_the_rule_says() -> None:
    assert [
        r.label
        for r in (
            unique("match_id"),
            not_null("home", "away"),
            accepted("result", ["H", "D"]),
            between("home_goals", min=0),
            between("goals", min=0, max=20),
            references("home", "teams"),
            references("home", "teams", "name"),
            row_count(min=1_000),
            fresh("date", "3d"),
            sql("SELECT 1", name="mine"),
            unique("match_id", name="one row per match"),
        )
    ] == [
        "unique(match_id)",
        "not_null(home, away)",
        "accepted(result, ['H', 'D'])",
        "between(home_goals, min=0)",
        "between(goals, min=0, max=20)",
        "references(home, teams)",
        "references(home, teams.name)",
        "row_count(min=1000)",
        "fresh(date, 3d)",
        "mine",
        "one row per match",
    ]


def test_results_come_in_declaration_order_with_their_severity_and_name(
    con: duckdb.DuckDBPyConnection,
) -> None:
    pipe = football()
    pipe.rule("order", not_null("home team", severity="warn"), unique("n"))
    pipe.rule("teams", row_count(min=3, name="enough teams"))
    pipe.rule("order", between("home goals", min=0, name="goals are counts"))
    results = evaluate(con, pipe, now=NOW)
    assert [(r.table, r.rule, r.severity, r.passed, r.blocking) for r in results] == [
        ("order", "not_null(home team)", "warn", False, False),
        ("order", "unique(n)", "error", True, False),
        ("order", "goals are counts", "error", False, True),
        ("teams", "enough teams", "error", False, True),
    ]


def test_a_result_is_json_with_its_sample(con: duckdb.DuckDBPyConnection) -> None:
    result = one(con, between("home goals", min=0))
    document = json.loads(json.dumps(result.as_dict()))
    assert document == {
        "table": "order",
        "rule": "between(home goals, min=0)",
        "severity": "error",
        "passed": False,
        "failing": 1,
        "message": "1 row with home goals below 0",
        "sample": [
            {
                "n": 3,
                "match id": 3,
                "home team": None,
                "away": "Ajax",
                "home goals": -1,
                "result": "X",
                "date": "2024-05-03",
                "kickoff": "2024-05-03T18:30:00",
                "kickoff text": None,
            }
        ],
    }


def test_the_sample_holds_five_rows_and_the_count_all_of_them(tmp_path: Path) -> None:
    table = pa.table({"id": list(range(1_000)), "v": pa.array([None] * 1_000, pa.int64())})
    con = connect(tmp_path, things=table)
    pipe = Pipeline("p")
    pipe.table("things", key="id")
    pipe.rule("things", not_null("v"))
    (result,) = evaluate(con, pipe)
    assert result.failing == 1_000 and len(result.sample) == 5
    assert result.message == "1,000 rows with a null v"


def test_values_are_bound_not_spliced(con: duckdb.DuckDBPyConnection) -> None:
    # a value that would break (or rewrite) the SQL were it pasted in
    sneaky = "H') OR ('1'='1"
    result = one(con, accepted("result", [sneaky]))
    assert result.failing == 5  # every non-null result is not that text
    result = one(con, between("home team", min="Ajax'; DROP TABLE teams; --"))
    assert result.failing == 2  # the two "Ajax" sort before it
    assert one(con, row_count(min=2), table="teams").passed


def test_a_table_and_columns_with_any_name_work(tmp_path: Path) -> None:
    table = pa.table({'the "id"': [1, 1], "select": [None, 2]})
    con = connect(tmp_path, **{"group by": table})
    pipe = Pipeline("p")
    pipe.table("group by", key='the "id"')
    pipe.rule(
        "group by",
        unique('the "id"'),
        not_null("select"),
        references("select", "group by", 'the "id"'),
    )
    results = evaluate(con, pipe)
    assert [(r.rule, r.failing) for r in results] == [
        ('unique(the "id")', 2),
        ("not_null(select)", 1),
        ('references(select, group by.the "id")', 1),
    ]


def test_column_names_match_in_any_case_as_duckdb_does(con: duckdb.DuckDBPyConnection) -> None:
    assert one(con, not_null("HOME TEAM")).failing == 1


def test_fresh_fails_on_a_column_with_no_values(tmp_path: Path) -> None:
    table = pa.table({"id": [1], "day": pa.array([None], pa.date32())})
    con = connect(tmp_path, t=table)
    pipe = Pipeline("p")
    pipe.table("t", key="id")
    pipe.rule("t", fresh("day", "1d"))
    (result,) = evaluate(con, pipe, now=NOW)
    assert (result.passed, result.failing) == (False, 1)
    assert result.message == "no day at all: nothing to be fresh"


def test_fresh_reads_the_clock_when_not_given_one(tmp_path: Path) -> None:
    now = dt.datetime.now(UTC)
    table = pa.table(
        {
            "id": [1, 2],
            "at": pa.array(
                [now - dt.timedelta(hours=1), now - dt.timedelta(days=9)],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )
    con = connect(tmp_path, t=table)
    pipe = Pipeline("p")
    pipe.table("t", key="id")
    pipe.rule("t", fresh("at", "2h"), fresh("at", "30m"))
    assert [r.passed for r in evaluate(con, pipe)] == [True, False]


@pytest.mark.parametrize(
    ("rule", "complaint"),
    [
        (not_null("nope"), "not_null(nope) on 'order': 'order' has no column 'nope'"),
        (references("away", "teams", "nope"), "'teams' has no column 'nope'"),
        (sql("SELECT * FROM nowhere", name="lost"), "lost on 'order': DuckDB refused it: "),
        (accepted("home goals", ["many"]), "accepted(home goals, ['many']) on 'order': DuckDB "),
        (fresh("away", "1d"), "fresh(away, 1d): 'PSV' is not a date or a datetime"),
        (fresh("n", "1d"), "fresh(n, 1d): the column holds int, not dates"),
    ],
)
def test_a_rule_that_cannot_run_is_a_one_line_error(
    con: duckdb.DuckDBPyConnection, rule: TableRule, complaint: str
) -> None:
    pipe = football()
    pipe.rule("order", rule)
    with pytest.raises(PipelineError) as caught:
        evaluate(con, pipe, now=NOW)
    assert complaint in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_table_missing_from_the_connection_is_an_error(tmp_path: Path) -> None:
    con = connect(tmp_path, order=ORDER)
    pipe = football()
    pipe.rule("teams", row_count(min=1))
    with pytest.raises(PipelineError, match="no table 'teams' to check"):
        evaluate(con, pipe)


def test_evaluating_reads_only(con: duckdb.DuckDBPyConnection) -> None:
    pipe = football()
    pipe.rule("order", unique("match id"), references("home team", "teams"))
    before = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    evaluate(con, pipe)
    evaluate(con, pipe)
    assert con.execute("SELECT table_name FROM information_schema.tables").fetchall() == before
