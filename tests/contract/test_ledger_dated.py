"""Items by date, on every backend: what ``backfill --dates`` selects."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scrapeline.ledger.base import Ledger, NewItem

from .test_ledger_contract import BACKENDS, open_ledger


@pytest.fixture(params=BACKENDS)
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    backend = open_ledger(request.param, tmp_path)
    yield backend
    backend.close()


def test_items_dated_within_a_range_both_ends_included_in_kind_then_key_order(
    ledger: Ledger,
) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    ledger.add_items(
        [
            NewItem(kind="match", key=3, date="2024-05-31T21:45"),  # on the last day
            NewItem(kind="match", key=1, date="2024-05-01"),  # the first day
            NewItem(kind="match", key=2, date="2024-04-30"),  # the day before
            NewItem(kind="match", key=4, date="2024-06-01"),  # the day after
            NewItem(kind="match", key=5),  # no date
            NewItem(kind="match", key="x", date="2024-05-10"),  # text after integers
            NewItem(kind="half", key="1-1", date="2024-05-02", parent=("match", 1)),
        ],
        run,
    )
    assert ledger.dated("2024-05-01", "2024-05-31") == [
        ("half", "1-1"),
        ("match", 1),
        ("match", 3),
        ("match", "x"),
    ]
    assert ledger.dated("2024-07-01", "2024-07-31") == []
    assert ledger.dated("2024-05-02", "2024-05-01") == []  # an empty range
