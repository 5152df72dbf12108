"""The JSON-API example's ``events`` table, record by record: what its schema and its
checks let through and what they refuse (the item then fails as ``validation``). The
API site never serves half-time goals above the full-time ones (it drops halves it
cannot derive), so this is where that check is held to account."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from scrapeline import Record
from scrapeline.demo.football_api import pipe
from scrapeline.errors import ValidationError
from scrapeline.quality.schema import RecordInvalid

GOOD: dict[str, Any] = {
    "event_id": 191426,
    "tournament_id": 1234,
    "season_id": 56789,
    "league": "Deutsche Bundesliga",
    "season": "2025/26",
    "date": "2026-03-08",
    "time": "15:30",
    "round": "Matchday 25",
    "home": "FC St. Pauli 1910",
    "away": "Eintracht Frankfurt",
    "home_score": 2,
    "away_score": 1,
    "ht_home": 1,
    "ht_away": 1,
    "status": "finished",
}


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"home_score": None, "away_score": None, "ht_home": None, "ht_away": None,
         "status": "notstarted"},
        {"ht_home": None, "ht_away": None},  # halves unknown
        {"ht_home": 2, "ht_away": 1},  # nothing after the break
        {"time": None, "round": None},
        # a final whose sides are not known yet (openfootball has one)
        {"home": "N.N.", "away": "N.N.", "home_score": None, "away_score": None,
         "ht_home": None, "ht_away": None, "status": "notstarted"},
    ],
)  # fmt: skip
def test_what_the_api_gives_is_stored(change: dict[str, Any]) -> None:
    key, text, warnings = pipe.check_record(Record("events", {**GOOD, **change}))
    stored = orjson.loads(text)
    assert key == "191426" and warnings == ()
    assert stored == {**GOOD, **change}


@pytest.mark.parametrize(
    ("change", "rule", "field"),
    [
        ({"ht_home": 3}, "half_time_within_full_time", None),
        ({"ht_away": 2}, "half_time_within_full_time", None),
        ({"home_score": None, "away_score": None}, "half_time_within_full_time", None),
        ({"away": "FC St. Pauli 1910"}, "two_teams", None),
        ({"home_score": -1, "ht_home": None}, "greater_than_equal", "home_score"),
        ({"ht_away": -1}, "greater_than_equal", "ht_away"),
        ({"status": "postponed"}, "literal_error", "status"),
        ({"home": ""}, "string_too_short", "home"),
        ({"league": None}, "string_type", "league"),
        ({"date": "08.03.2026"}, "date_from_datetime_parsing", "date"),
    ],
)
def test_what_breaks_the_schema_or_a_check_is_refused(
    change: dict[str, Any], rule: str, field: str | None
) -> None:
    with pytest.raises(RecordInvalid) as caught:
        pipe.check_record(Record("events", {**GOOD, **change}))
    assert [(v.rule, v.field, v.severity) for v in caught.value.violations] == [
        (rule, field, "error")
    ]
    assert isinstance(caught.value, ValidationError)  # the item fails as `validation`
