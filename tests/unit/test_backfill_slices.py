"""The slice a backfill's flags give: parsed, or refused in one line. Pure."""

from __future__ import annotations

import pytest

from scrapeline.errors import ConfigError
from scrapeline.workspace.slices import (
    Slice,
    keys_file_lines,
    parse_dates,
    parse_keys,
    parse_offsets,
)


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (parse_offsets, "0-200", "expected FROM:TO"),
        (parse_offsets, "a:b", "whole numbers"),
        (parse_offsets, "200:0", "ends before it begins"),
        (parse_dates, "2024-05-01", "expected FROM:TO"),
        (parse_dates, "2024-13-01:2024-12-31", "'2024-13-01' is not an ISO date"),
        (parse_dates, "2024-05-02:2024-05-01", "ends before it begins"),
        (parse_keys, "1,2", "expected KIND:KEY1,KEY2"),
        (parse_keys, "match:1,,2", "expected KIND:KEY1,KEY2"),
        (parse_keys, ":1", "expected KIND:KEY1,KEY2"),
    ],
)
def test_a_malformed_flag_is_refused_naming_it(parse, text, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=message):
        parse(text)


def test_a_keys_file_names_its_bad_line() -> None:
    with pytest.raises(ConfigError, match=r"keys.txt:3: expected KIND:KEY, got '1002'"):
        keys_file_lines(["match:1001", "# comment", "1002"], source="keys.txt")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, "backfill needs a slice"),
        ({"offsets": (0, 100), "keys": (("match", "1"),)}, "--offsets re-walks"),
        ({"offsets": (0, 100), "dates": ("2024-01-01", "2024-01-02")}, "--offsets re-walks"),
        ({"offsets": (0, 100), "stages": ("overview",)}, "--offsets redoes every stage"),
    ],
)
def test_a_slice_needs_a_part_and_offsets_go_alone(given, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=message):
        Slice(**given)


def test_a_slice_says_what_it_names() -> None:
    chosen = Slice(dates=("2024-05-01", "2024-05-31"), keys=(("match", "1"),), only=(("s", "2"),))
    assert chosen.describe() == "dated 2024-05-01 to 2024-05-31, 1 key, s 2 and its descendants"
