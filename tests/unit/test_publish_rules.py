"""The pure decisions of publishing: a column's type from its values' JSON types,
the columns of a table without a schema, snapshot ids and retention."""

from __future__ import annotations

import datetime as dt

import pytest

from scrapeline.publish.columns import column_type_of, infer_columns
from scrapeline.publish.snapshots import is_snapshot_id, snapshot_id, to_remove
from scrapeline.quality.schema import Column


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        ({"integer": 3}, ("int", False)),
        ({"integer": 3, "null": 1}, ("int", True)),
        ({"integer": 1, "real": 1}, ("float", False)),
        ({"real": 2}, ("float", False)),
        ({"true": 1, "false": 4}, ("bool", False)),
        ({"true": 1}, ("bool", False)),
        ({"text": 2}, ("str", False)),
        ({"null": 5}, ("str", True)),
        ({"text": 1, "integer": 1}, ("json", False)),
        ({"true": 1, "integer": 1}, ("json", False)),
        ({"array": 1}, ("json", False)),
        ({"object": 2, "null": 1}, ("json", True)),
        ({"integer": 0, "text": 2}, ("str", False)),  # a count of 0 is no value
    ],
)
def test_the_type_of_a_column_without_a_schema(
    kinds: dict[str, int], expected: tuple[str, bool]
) -> None:
    assert column_type_of(kinds) == expected


def test_columns_are_every_key_in_first_then_alphabetical_order() -> None:
    seen = {
        "id": {"integer": 3},
        "b": {"text": 3},
        "z": {"integer": 1},  # only in a later record: kept, nullable
        "a": {"real": 3},
    }
    columns = infer_columns(["id", "b"], seen, rows=3, key=["id"])
    assert columns == [
        Column("id", "int", False),
        Column("b", "str", False),
        Column("a", "float", False),
        Column("z", "int", True),
    ]


def test_an_empty_table_has_its_key_columns() -> None:
    assert infer_columns([], {}, rows=0, key=["match_id", "half"]) == [
        Column("match_id", "str", True),
        Column("half", "str", True),
    ]


@pytest.mark.parametrize(
    ("moment", "taken", "expected"),
    [
        (dt.datetime(2026, 3, 1, 6, 0, 5, tzinfo=dt.UTC), set(), "20260301T060005Z"),
        (
            dt.datetime(2026, 3, 1, 7, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            set(),
            "20260301T060005Z",
        ),
        (
            dt.datetime(2026, 3, 1, 6, 0, 5, tzinfo=dt.UTC),
            {"20260301T060005Z", "20260301T060005Z-2"},
            "20260301T060005Z-3",
        ),
    ],
)
def test_snapshot_ids_are_utc_seconds_with_a_counter(
    moment: dt.datetime, taken: set[str], expected: str
) -> None:
    assert snapshot_id(moment, taken) == expected
    assert is_snapshot_id(expected)


@pytest.mark.parametrize("name", ["latest", ".staging-20260301T060005Z", "2026", "../x", ""])
def test_other_names_are_no_snapshot(name: str) -> None:
    assert not is_snapshot_id(name)


A, B, B2, B10, C = (
    "20260101T000000Z",
    "20260102T000000Z",
    "20260102T000000Z-2",
    "20260102T000000Z-10",
    "20260103T000000Z",
)


@pytest.mark.parametrize(
    ("ids", "keep", "latest", "removed"),
    [
        ([A, B, C], 2, C, [A]),
        ([A, B, C], 1, A, [B]),  # latest is never removed
        ([A, B, C], 5, C, []),
        ([A, B, C], 0, C, [A, B]),  # at least one kept
        ([C, B10, A, B2, B], 2, None, [A, B, B2]),  # -10 after -2, by number
    ],
)
def test_retention_keeps_the_newest_and_latest(
    ids: list[str], keep: int, latest: str | None, removed: list[str]
) -> None:
    assert to_remove(ids, keep=keep, latest=latest) == removed


def test_instants_without_an_offset_in_a_utc_column_are_taken_as_utc() -> None:
    import pyarrow as pa

    from scrapeline.publish.columns import OutColumn, arrow_batch

    columns = [OutColumn("at", "datetime", True, utc=True)]
    schema = pa.schema([c.field() for c in columns])
    texts = [
        '{"at": "2024-01-01T10:00:00"}',
        '{"at": "2024-01-01T10:00:00+02:00"}',
        '{"at": "2024-01-01T10:00:00.5Z"}',
        '{"at": null}',
    ]
    got = arrow_batch("t", columns, schema, texts).column(0).to_pylist()
    utc = dt.UTC
    assert got == [
        dt.datetime(2024, 1, 1, 10, 0, tzinfo=utc),
        dt.datetime(2024, 1, 1, 8, 0, tzinfo=utc),
        dt.datetime(2024, 1, 1, 10, 0, 0, 500000, tzinfo=utc),
        None,
    ]


def test_a_value_that_does_not_fit_its_column_is_one_line() -> None:
    import pyarrow as pa

    from scrapeline.errors import PublishError
    from scrapeline.publish.columns import OutColumn, arrow_batch

    columns = [OutColumn("n", "int", False)]
    schema = pa.schema([c.field() for c in columns])
    with pytest.raises(
        PublishError, match=r"table 't', column 'n': a stored value is not of type int"
    ):
        arrow_batch("t", columns, schema, ['{"n": "seven"}'])
    with pytest.raises(PublishError, match=r"1 stored records have no value"):
        arrow_batch("t", columns, schema, ['{"n": 1}', "{}"])
