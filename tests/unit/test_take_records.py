"""What a stage returned, through validation on the way in (runner/execute.py):
rows to store, warnings counted, refused records quarantined (every one of them)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import BaseModel, Field

from scrapeline import Pipeline, Record
from scrapeline.errors import ValidationError
from scrapeline.runner.execute import table_of_model, take_records
from scrapeline.runner.quality import QualityTally


class Match(BaseModel):
    match_id: int
    home_goals: int = Field(ge=0)
    away_goals: int = Field(ge=0)


class Team(BaseModel):
    name: str


def football() -> Pipeline:
    pipe = Pipeline("p")
    pipe.table("matches", key="match_id", schema=Match)
    pipe.table("teams", key="name", schema=Team)
    pipe.table("notes", key="id")

    @pipe.check("matches", severity="warn")
    def not_a_rout(r: dict[str, Any]) -> bool:
        return abs(r["home_goals"] - r["away_goals"]) < 3

    @pipe.check("matches")
    def token_free(r: dict[str, Any]) -> bool:
        return r["match_id"] != 13

    return pipe


def test_good_records_become_rows_and_warnings_are_counted_per_record() -> None:
    taken = take_records(
        football(),
        [
            Record("matches", {"match_id": "1", "home_goals": 5, "away_goals": "0"}),
            Record("matches", {"match_id": 2, "home_goals": 1, "away_goals": 1}),
            Record("notes", {"id": 1, "text": "any JSON"}),
        ],
        "overview",
    )
    assert taken.refused is None and taken.quarantined == []
    assert (taken.rows[0].table, orjson.loads(taken.rows[0].json)) == (
        "matches",
        {"match_id": 1, "home_goals": 5, "away_goals": 0},
    )
    assert taken.warnings == [("matches", "not_a_rout")]


def test_every_refused_record_is_quarantined_with_its_rules_and_redacted() -> None:
    taken = take_records(
        football(),
        [
            Record("matches", {"match_id": "1", "home_goals": -1, "away_goals": 0}),
            Record("matches", {"match_id": 2, "home_goals": 1, "away_goals": 1}),
            Record("matches", {"home_goals": 1, "away_goals": 1, "token": "s3cr3t-t0ken"}),
            Record("matches", {"match_id": 13, "home_goals": 9, "away_goals": 0}),
        ],
        "overview",
        secrets=("s3cr3t-t0ken",),
    )
    assert len(taken.rows) == 1
    assert taken.refused is not None
    assert str(taken.refused) == "matches: home_goals: Input should be greater than or equal to 0"
    first, second, third = taken.quarantined
    assert (first.table, first.pk, tuple(first.rules)) == (
        "matches",
        '["1"]',
        ("greater_than_equal",),
    )
    assert orjson.loads(first.record) == {"match_id": "1", "home_goals": -1, "away_goals": 0}
    assert second.pk is None and tuple(second.rules) == ("missing", "extra_forbidden")
    assert "s3cr3t" not in second.record and "***" in second.record
    assert tuple(third.rules) == ("token_free",)  # the error check; the warning left out
    assert taken.warnings == []


def test_a_bare_model_instance_goes_to_the_one_table_whose_schema_it_is() -> None:
    pipe = football()
    taken = take_records(
        pipe, [Match(match_id=3, home_goals=1, away_goals=0), Record("teams", {"name": "A"})], "s"
    )
    assert [r.table for r in taken.rows] == ["matches", "teams"]
    one = take_records(pipe, Team(name="B"), "s")
    assert [orjson.loads(r.json) for r in one.rows] == [{"name": "B"}]
    assert table_of_model(pipe, Team(name="B")) == "teams"


def test_an_instance_of_no_table_or_of_several_is_refused() -> None:
    pipe = football()
    pipe.table("more_teams", key="name", schema=Team)
    assert table_of_model(pipe, Team(name="B")) is None
    with pytest.raises(ValidationError, match="must return a Record"):
        take_records(pipe, [Team(name="B")], "s")
    with pytest.raises(ValidationError, match="must return a Record"):
        take_records(pipe, [object()], "s")


def test_a_record_of_an_undeclared_table_fails_its_item_and_quarantines_nothing() -> None:
    with pytest.raises(ValidationError, match="undeclared table 'nope'"):
        take_records(football(), [Record("nope", {"id": 1})], "s")


def test_the_tally_counts_what_the_summary_stores() -> None:
    tally = QualityTally()
    assert not tally and tally.as_summary() == {}
    tally.warned([("m", "a"), ("m", "a"), ("m", "b")])
    tally.refused([("m", ("x",)), ("t", ("x", "y"))])
    assert tally.as_summary() == {
        "warnings": {"m": {"a": 2, "b": 1}},
        "quarantined": {
            "m": {"records": 1, "rules": {"x": 1}},
            "t": {"records": 1, "rules": {"x": 1, "y": 1}},
        },
    }
