"""Typed tables: a schema (a pydantic model or a typed mapping) validates and coerces
each record on the way in; what breaks it, or an ``error`` check, is refused with the
rules it broke; ``warn`` checks are counted, the record kept."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, Literal, Optional

import orjson
import pytest
from pydantic import BaseModel, ConfigDict, Field

from scrapeline import Pipeline, Record
from scrapeline.errors import PipelineError, ValidationError
from scrapeline.quality.schema import RecordInvalid, column_type, schema_of


class Side(enum.Enum):
    HOME = "home"
    AWAY = "away"


class Match(BaseModel):
    match_id: int
    date: dt.date
    home: str
    away: str
    home_goals: int = Field(ge=0)
    away_goals: int = Field(ge=0)
    ht_home: int | None = None
    result: Literal["H", "D", "A"]


GOOD = {
    "match_id": "7",
    "date": "2020-08-12",
    "home": "Arsenal",
    "away": "Fulham",
    "home_goals": 3,
    "away_goals": "0",
    "result": "H",
}


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (int, "int"),
        (float, "float"),
        (str, "str"),
        (bool, "bool"),
        (dt.date, "date"),
        (dt.datetime, "datetime"),
        (int | None, "int"),
        (Optional[str], "str"),  # noqa: UP045  (the spelling users still write)
        (Literal["H", "D", "A"], "str"),
        (Literal[1, 2], "int"),
        (Side, "str"),
        (list[int], "json"),
        (dict[str, Any], "json"),
        (int | str, "json"),
    ],
)
def test_column_types(annotation: Any, expected: str) -> None:
    assert column_type(annotation) == expected


def test_a_model_schema_coerces_and_stores_the_declared_columns_in_order() -> None:
    schema = schema_of("matches", Match)
    assert schema.names == (
        "match_id",
        "date",
        "home",
        "away",
        "home_goals",
        "away_goals",
        "ht_home",
        "result",
    )
    checked = schema.check(GOOD)
    assert orjson.loads(checked.json) == {
        "match_id": 7,
        "date": "2020-08-12",
        "home": "Arsenal",
        "away": "Fulham",
        "home_goals": 3,
        "away_goals": 0,
        "ht_home": None,
        "result": "H",
    }
    assert checked.data["date"] == dt.date(2020, 8, 12)
    assert checked.warnings == ()


@pytest.mark.parametrize(
    ("change", "rule", "field"),
    [
        ({"home_goals": -1}, "greater_than_equal", "home_goals"),
        ({"result": "X"}, "literal_error", "result"),
        ({"date": "12/08/2020"}, "date_from_datetime_parsing", "date"),
        ({"match_id": "seven"}, "int_parsing", "match_id"),
        ({"referee": "Taylor"}, "extra_forbidden", "referee"),
        ({"home": None}, "string_type", "home"),
    ],
)
def test_what_breaks_the_schema_is_refused_naming_the_rule(
    change: dict[str, Any], rule: str, field: str
) -> None:
    schema = schema_of("matches", Match)
    with pytest.raises(RecordInvalid) as caught:
        schema.check({**GOOD, **change})
    assert [(v.rule, v.field, v.severity) for v in caught.value.violations] == [
        (rule, field, "error")
    ]
    assert str(caught.value).startswith(f"matches: {field}: ")
    assert isinstance(caught.value, ValidationError)  # the item fails as `validation`


def test_a_missing_column_is_refused_and_an_optional_one_may_be_absent() -> None:
    schema = schema_of("matches", Match)
    without = {k: v for k, v in GOOD.items() if k != "away"}
    with pytest.raises(RecordInvalid) as caught:
        schema.check(without)
    assert [(v.rule, v.field) for v in caught.value.violations] == [("missing", "away")]


def test_a_model_that_allows_extra_fields_keeps_its_own_setting() -> None:
    class Loose(BaseModel):
        model_config = ConfigDict(extra="ignore")
        key: int

    schema = schema_of("loose", Loose)
    assert orjson.loads(schema.check({"key": 1, "other": 2}).json) == {"key": 1}


def test_a_mapping_schema_makes_none_typed_columns_optional() -> None:
    schema = schema_of("t", {"key": int, "when": dt.datetime, "note": str | None})
    assert [(c.name, c.type, c.nullable) for c in schema.columns] == [
        ("key", "int", False),
        ("when", "datetime", False),
        ("note", "str", True),
    ]
    assert orjson.loads(schema.check({"key": 1, "when": "2020-01-01T10:00:00"}).json) == {
        "key": 1,
        "when": "2020-01-01T10:00:00",
        "note": None,
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "at least one column"),
        ([("key", int)], "takes a pydantic model or a mapping"),
        ({"key": object()}, "the schema is not valid"),
    ],
)
def test_a_schema_that_is_not_one_is_refused_at_declaration(spec: Any, message: str) -> None:
    with pytest.raises(PipelineError, match=message):
        Pipeline("p").table("t", key="key", schema=spec)


def test_the_key_must_be_a_column_that_cannot_be_empty() -> None:
    with pytest.raises(PipelineError, match="key column 'id' is not in its schema"):
        Pipeline("p").table("t", key="id", schema={"key": int})
    with pytest.raises(PipelineError, match="key column 'key' may be empty"):
        Pipeline("p").table("t", key="key", schema={"key": int | None})


def test_checks_run_on_the_validated_record_with_their_severity() -> None:
    pipe = Pipeline("p")
    pipe.table("matches", key="match_id", schema=Match)

    @pipe.check("matches")
    def half_time_within_full_time(r: dict[str, Any]) -> bool:
        """half-time goals exceed full-time goals"""
        return r["ht_home"] is None or r["ht_home"] <= r["home_goals"]

    @pipe.check("matches", severity="warn")
    def not_a_rout(r: dict[str, Any]) -> str | None:
        margin = abs(r["home_goals"] - r["away_goals"])
        return f"margin {margin}" if margin >= 3 else None

    pk, stored, warnings = pipe.check_record(Record("matches", GOOD))
    assert pk == "7"
    assert orjson.loads(stored)["away_goals"] == 0
    assert [(w.rule, w.reason, w.severity) for w in warnings] == [
        ("not_a_rout", "margin 3", "warn")
    ]
    with pytest.raises(RecordInvalid) as caught:
        pipe.check_record(Record("matches", {**GOOD, "ht_home": 4}))
    assert [(v.rule, v.reason) for v in caught.value.violations] == [
        ("half_time_within_full_time", "half-time goals exceed full-time goals"),
        ("not_a_rout", "margin 3"),
    ]
    assert str(caught.value) == (
        "matches: half_time_within_full_time: half-time goals exceed full-time goals"
    )


def test_a_check_that_raises_is_a_broken_rule_not_a_crash() -> None:
    pipe = Pipeline("p")
    pipe.table("t", key="key")

    @pipe.check("t")
    def positive(r: dict[str, Any]) -> bool:
        return bool(r["value"] > 0)

    with pytest.raises(RecordInvalid, match="the check raised KeyError"):
        pipe.check_record(Record("t", {"key": 1}))
    assert pipe.check_record(Record("t", {"key": 1, "value": 2}))[2] == ()


def test_a_check_of_an_undeclared_table_or_an_unknown_severity_is_refused() -> None:
    pipe = Pipeline("p")
    with pytest.raises(PipelineError, match="no such table"):
        pipe.check("nope")
    pipe.table("t", key="key")
    with pytest.raises(PipelineError, match="severity"):
        pipe.check("t", severity="fatal")  # type: ignore[arg-type]


def test_a_model_instance_is_a_record_and_is_validated_again() -> None:
    pipe = Pipeline("p")
    pipe.table("matches", key="match_id", schema=Match)
    match = Match.model_validate(GOOD)
    assert pipe.check_record(Record("matches", match))[0] == "7"  # type: ignore[arg-type]
    match.home_goals = -2  # pydantic does not check assignment by default
    with pytest.raises(RecordInvalid, match="home_goals"):
        pipe.check_record(Record("matches", match))  # type: ignore[arg-type]


def test_tables_without_a_schema_store_records_as_given() -> None:
    pipe = Pipeline("p")
    pipe.table("t", key="key")
    pk, stored, warnings = pipe.check_record(Record("t", {"key": 1, "any": [1, {"x": None}]}))
    assert (pk, orjson.loads(stored), warnings) == ("1", {"key": 1, "any": [1, {"x": None}]}, ())


class _Plain(BaseModel):
    n: int
    x: float | None
    s: str
    b: bool
    d: dt.date


@pytest.mark.parametrize(
    "values",
    [
        {"n": 1, "x": 2.0, "s": 'é ✓ "q" \\ \n', "b": True, "d": "2024-02-29"},
        {"n": -(2**63), "x": 1e16, "s": "", "b": False, "d": dt.date(1, 1, 1)},
        {"n": 2**70, "x": float("nan"), "s": "\x00\u2028", "b": 0, "d": "9999-12-31"},
        {"n": "7", "x": 0.1 + 0.2, "s": "a", "b": "yes", "d": "2024-01-01"},
        {"n": 0, "x": None, "s": "\ud7ff", "b": 1, "d": "2024-01-01"},
        {"n": 0, "x": float("inf"), "s": "z", "b": 1, "d": "2024-01-01"},
        {"n": 0, "x": 5e-324, "s": "z", "b": 1, "d": "2024-01-01"},
    ],
)
def test_plain_columns_are_stored_as_pydantic_would_store_them(values: dict[str, Any]) -> None:
    schema = schema_of("t", _Plain)
    assert schema._plain  # type: ignore[attr-defined]  # the fast path is the one under test
    instance = schema.model.model_validate(values)
    assert schema.check(values).json == instance.model_dump_json()


def test_what_pydantic_writes_its_own_way_is_left_to_pydantic() -> None:
    class Stamped(BaseModel):
        at: dt.datetime

    class Aliased(BaseModel):
        n: int = Field(serialization_alias="N")

    class Listed(BaseModel):
        tags: list[str]

    for model in (Stamped, Aliased, Listed):
        assert not schema_of("t", model)._plain  # type: ignore[attr-defined]
