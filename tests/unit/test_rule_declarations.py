"""Declaring table rules and derived tables: what is refused at once, with one line, and
what is refused once the whole pipeline is declared (``pipe.validate()``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from scrapeline.errors import PipelineError
from scrapeline.pipeline import Pipeline
from scrapeline.quality.rules import (
    accepted,
    between,
    check_declarations,
    fresh,
    not_null,
    references,
    row_count,
    sql,
    unique,
)


def football() -> Pipeline:
    pipe = Pipeline("football")
    pipe.table(
        "matches",
        key="match_id",
        schema={"match_id": int, "home": str, "away": str, "date": dt.date, "goals": int | None},
    )
    pipe.table("teams", key="name", schema={"name": str, "city": str | None})
    pipe.table("loose", key="id")  # no schema: any column goes, checked at evaluation
    pipe.table("pairs", key=("a", "b"))
    return pipe


def test_rules_are_kept_per_table_in_declaration_order() -> None:
    pipe = football()
    first, second, third = unique("match_id"), not_null("home", "away"), row_count(min=1)
    pipe.rule("matches", first, second)
    pipe.rule("loose", row_count(max=10), not_null("anything"))
    pipe.rule("matches", third)
    assert pipe.rules["matches"] == [first, second, third]
    assert list(pipe.rules) == ["matches", "loose"]


DECLARATION_ERRORS: list[tuple[Callable[[Pipeline], Any], str]] = [
    (lambda p: p.rule("matches", not_null("score")), "table 'matches' has no column 'score'"),
    (lambda p: p.rule("matches", unique("match_id", "round")), "has no column 'round'"),
    (lambda p: p.rule("matches", fresh("home", "3d")), "'home' is str, not a date or datetime"),
    (lambda p: p.rule("matches", references("home", "teams", "town")), "no column 'town'"),
    (lambda p: p.rule("matches", references("home", "pairs")), "the key of 'pairs' is 2 columns"),
    (lambda p: p.rule("matches", "unique(match_id)"), "is not a table rule"),
    (lambda p: p.rule("matches"), "give at least one rule"),
    (lambda p: p.rule("matches", unique("match_id", severity="fatal")), "severity must be"),
    (lambda p: unique(), "unique() needs at least one column"),
    (lambda p: not_null("a", ""), "column names are non-empty text"),
    (lambda p: accepted("result", []), "needs at least one value"),
    (lambda p: accepted("result", "HDA"), "a list of values, not text"),
    (lambda p: accepted("result", ["H", None]), "NULLs always pass accepted()"),
    (lambda p: between("goals"), "needs min=, max= or both"),
    (lambda p: between("date", min=dt.date(2024, 1, 1), max="2025"), "do not compare"),
    (lambda p: between("goals", min=5, max=1), "min is above max"),
    (lambda p: row_count(), "needs min=, max= or both"),
    (lambda p: row_count(min=-1), "whole numbers >= 0"),
    (lambda p: row_count(min=1.5), "whole numbers >= 0"),
    (lambda p: fresh("date", "soon"), "fresh('date', 'soon'): invalid duration"),
    (lambda p: fresh("date", 0), "must be above zero"),
    (lambda p: sql("SELECT 1"), "name= is required"),
    (lambda p: sql("  ; ", name="x"), "the query is empty"),
    (lambda p: unique("a", name=""), "name= must be non-empty text"),
    (lambda p: p.derive("matches", sql="SELECT 1"), "derived table 'matches': a table has that"),
    (lambda p: p.derive("items", sql="SELECT 1"), "kept by the ledger"),
    (lambda p: p.derive('a"b', sql="SELECT 1"), "without quotes or control characters"),
    (lambda p: p.derive("standings", sql=" "), "sql= is an empty query"),
    (lambda p: p.derive("standings", sql="SELECT 1", key=()), "key= is a column name"),
]


@pytest.mark.parametrize(
    ("declare", "complaint"), DECLARATION_ERRORS, ids=[c[1] for c in DECLARATION_ERRORS]
)
def test_a_bad_declaration_is_refused_at_once_in_one_line(
    declare: Callable[[Pipeline], Any], complaint: str
) -> None:
    pipe = football()
    with pytest.raises(PipelineError) as caught:
        declare(pipe)
    assert complaint in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not pipe.rules  # nothing half-declared is kept


def test_a_derived_name_may_be_declared_once() -> None:
    pipe = football()
    pipe.derive("standings", sql="SELECT 1 AS x")
    with pytest.raises(PipelineError, match="another derived table has that name"):
        pipe.derive("standings", sql="SELECT 2 AS x")


def test_columns_of_a_table_without_schema_are_left_to_evaluation() -> None:
    pipe = football()
    pipe.rule("loose", not_null("whatever"), fresh("when", "1d"))
    check_declarations(pipe)


def test_a_reference_to_a_table_declared_later_is_checked_once_all_is_declared() -> None:
    pipe = football()
    pipe.rule("matches", references("home", "clubs"))
    with pytest.raises(PipelineError, match="no table or derived table 'clubs'"):
        check_declarations(pipe)
    pipe.derive("clubs", sql="SELECT DISTINCT home AS club FROM matches", key="club")
    check_declarations(pipe)


def test_a_reference_to_a_derived_table_without_key_must_name_the_column() -> None:
    pipe = football()
    pipe.derive("clubs", sql="SELECT DISTINCT home AS club FROM matches")
    with pytest.raises(PipelineError, match="table 'clubs' has no key; name the column"):
        pipe.rule("matches", references("home", "clubs"))
    pipe.rule("matches", references("home", "clubs", "club"))


def test_rules_may_be_declared_on_a_derived_table_before_or_after_it() -> None:
    pipe = football()
    early = between("points", min=0)
    pipe.rule("standings", early)
    with pytest.raises(PipelineError, match=r"pipe.rule\('standings'\): no such table"):
        check_declarations(pipe)
    pipe.derive("standings", sql="SELECT 1 AS points, 'x' AS team", key="team")
    late = not_null("team")
    pipe.rule("standings", late)
    check_declarations(pipe)
    # the key's rule first, then the rules in the order they were declared
    assert [r.label for r in pipe.rules["standings"]] == [
        "unique(team)",
        "between(points, min=0)",
        "not_null(team)",
    ]


def test_validate_refuses_rules_on_a_name_never_declared() -> None:
    pipe = Pipeline("football")

    @pipe.discover("match")
    async def listing(ctx: Any, offset: int) -> Any:
        yield None

    pipe.table("matches", key="match_id")
    pipe.validate()
    pipe.rule("matchs", unique("match_id"))
    with pytest.raises(PipelineError, match=r"pipe.rule\('matchs'\): no such table"):
        pipe.validate()


def test_a_table_declared_after_a_derived_table_of_its_name_is_refused() -> None:
    pipe = Pipeline("football")
    pipe.derive("standings", sql="SELECT 1 AS x")
    pipe.table("standings", key="x")
    with pytest.raises(PipelineError, match="has the name of a declared table"):
        check_declarations(pipe)


def test_a_derived_table_may_not_take_a_reconciled_tables_name() -> None:
    pipe = football()
    pipe.reconcile("people", sources={"a": "teams"}, identity="name")
    with pytest.raises(PipelineError, match="derived table 'people': a reconciled table has"):
        pipe.derive("people", sql="SELECT 1 AS x")
