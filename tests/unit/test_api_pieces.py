"""The API site's pure decisions, tested with tables: 304 or not, pages, cursors, ids."""

from __future__ import annotations

import pytest

from scrapeline.testing.api import (
    decode_cursor,
    encode_cursor,
    http_date,
    page_of,
    stable_ids,
    still_fresh,
)

TAG = '"abc"'
AT = 1_780_272_000  # Mon, 01 Jun 2026 00:00:00 GMT


@pytest.mark.parametrize(
    ("if_none_match", "if_modified_since", "fresh"),
    [
        (None, None, False),  # unconditional
        (TAG, None, True),
        ('W/"abc"', None, True),  # weak comparison
        ('"x", "abc"', None, True),  # one of a list
        ("*", None, True),
        ('"x"', None, False),
        ('"x"', http_date(AT), False),  # If-None-Match decides alone
        (TAG, http_date(AT - 60), True),
        (None, http_date(AT), True),  # not older than Last-Modified
        (None, http_date(AT + 60), True),
        (None, http_date(AT - 1), False),
        (None, "Monday", False),  # not a date: ignored
        (None, "Mon, 01 Jun 2026 00:00:00", True),  # no zone: read as GMT
    ],
)
def test_still_fresh(if_none_match: str | None, if_modified_since: str | None, fresh: bool) -> None:
    assert still_fresh(TAG, AT, if_none_match, if_modified_since) is fresh


@pytest.mark.parametrize(
    ("count", "page", "rows", "more"),
    [
        (0, 0, [], False),  # page 0 always exists
        (5, 0, [0, 1], True),
        (5, 1, [2, 3], True),
        (5, 2, [4], False),
        (4, 1, [2, 3], False),
        (4, 2, None, None),  # past the end
        (0, 1, None, None),
    ],
)
def test_page_of(count: int, page: int, rows: list[int] | None, more: bool | None) -> None:
    found = page_of(list(range(count)), page, 2)
    assert found == (None if rows is None else (rows, more))


@pytest.mark.parametrize("event_id", [0, 7, 192_899, 10**12])
def test_a_cursor_names_the_event_it_was_made_for(event_id: int) -> None:
    token = encode_cursor(event_id)
    assert decode_cursor(token) == event_id
    assert token.isascii() and "=" not in token and not token.isdigit()


@pytest.mark.parametrize("token", ["", "x", "!!!!", "YWZ0ZXI6", "YWZ0ZXI6LTE", "YmVmb3JlOjc"])
def test_what_is_not_a_cursor(token: str) -> None:
    # "", garbage, "after:", "after:-1", "before:7"
    assert decode_cursor(token) is None


def test_stable_ids_resolve_collisions_and_stay_in_range() -> None:
    keys = [f"league.{n}" for n in range(50)]
    ids = stable_ids(keys, low=10, span=50)  # as many keys as ids: collisions certain
    assert sorted(ids.values()) == list(range(10, 60))
    assert ids == stable_ids(reversed(keys), low=10, span=50)
    with pytest.raises(ValueError):
        stable_ids(keys, low=10, span=49)
