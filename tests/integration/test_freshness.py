"""Freshness of a real published snapshot (Parquet written by pyarrow, read back by
DuckDB), at an injected clock; the "stale" alert through a real file notifier."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from scrapeline.errors import ConfigError, DataDirError
from scrapeline.ops.freshness import Rules, check_and_alert
from scrapeline.ops.notify import Notifier
from scrapeline.quality.freshness import TableRule, check_freshness

from ..snapshots import write_snapshot

NOW = datetime(2024, 5, 4, 12, 0, tzinfo=UTC)
DAY = 86400.0


def publish(data: Path, *, created: datetime = NOW - timedelta(hours=6)) -> None:
    write_snapshot(
        data,
        "20240504T060000Z",
        created_at=created,
        tables={
            "matches": {
                "match_id": [1, 2, 3],
                "date": [date(2024, 4, 28), date(2024, 5, 1), None],
                "kickoff": ["2024-04-28T18:00:00", "2024-05-01T20:30:00+02:00", None],
            },
            "empty": {"date": [None, None]},
        },
    )


@pytest.mark.parametrize(
    ("max_age", "rule", "stale", "reason"),
    [
        (DAY, TableRule(column="date", max_age=4 * DAY), False, None),
        (DAY, TableRule(column="date", max_age=3 * DAY), True, "matches.date: newest 2024-05-01"),
        (3600.0, TableRule(column="date", max_age=4 * DAY), True, "snapshot: newest"),
        (DAY, TableRule(column="kickoff", max_age=3 * DAY), False, None),  # 18:30 UTC
        (DAY, TableRule(column="kickoff", max_age=2.5 * DAY), True, "is 2d 17h old"),
    ],
)
def test_the_snapshot_and_a_tables_newest_date_against_their_ages(
    tmp_path: Path, max_age: float, rule: TableRule, stale: bool, reason: str | None
) -> None:
    publish(tmp_path)
    report = check_freshness(tmp_path, max_age=max_age, tables={"matches": rule}, now=NOW)
    assert report.stale is stale
    assert report.snapshot == "20240504T060000Z"
    if reason is None:
        assert report.reason is None
    else:
        assert report.reason is not None and reason in report.reason
    snapshot, _ = report.checks
    assert snapshot.age == 6 * 3600


def test_a_column_with_no_value_is_stale(tmp_path: Path) -> None:
    publish(tmp_path)
    report = check_freshness(
        tmp_path, max_age=None, tables={"empty": TableRule(column="date", max_age=DAY)}, now=NOW
    )
    assert report.stale and report.reason == "empty.date: no value at all (allowed 1d)"


def test_nothing_published_or_an_unknown_table_or_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataDirError, match="nothing is published"):
        check_freshness(tmp_path, max_age=DAY, tables={}, now=NOW)
    publish(tmp_path)
    with pytest.raises(ConfigError, match="has no table 'teams' \\(it has empty, matches\\)"):
        check_freshness(
            tmp_path, max_age=DAY, tables={"teams": TableRule(column="d", max_age=DAY)}, now=NOW
        )
    with pytest.raises(ConfigError, match="has no column 'day' \\(it has match_id, date, kickoff"):
        check_freshness(
            tmp_path, max_age=DAY, tables={"matches": TableRule(column="day", max_age=DAY)}, now=NOW
        )


def test_stale_data_alert_the_notifiers_that_want_it(tmp_path: Path) -> None:
    publish(tmp_path, created=NOW - timedelta(days=2))
    log, other = tmp_path / "alerts.log", tmp_path / "other.log"
    notifiers = [Notifier(file=log), Notifier(file=other, events=["failed"])]
    rules = Rules(max_age=DAY, tables={})
    checked = asyncio.run(
        check_and_alert("football", tmp_path, rules, notifiers, now=NOW, profile="prod")
    )
    assert checked.report.stale
    assert [d.sent for d in checked.deliveries] == [True]
    text = log.read_text()
    assert "scrapeline football (prod): stale data" in text
    assert "STALE snapshot: newest 2024-05-02T12:00:00+00:00 is 2d old (allowed 1d)" in text
    assert not other.exists()
    fresh = asyncio.run(
        check_and_alert("football", tmp_path, Rules(max_age=3 * DAY, tables={}), notifiers, now=NOW)
    )
    assert not fresh.report.stale and fresh.deliveries == ()
