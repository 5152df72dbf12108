"""``scrapeline freshness`` through the CLI on a snapshot laid out as ``publish`` lays
it out: figures on stdout, a reason on stderr, the exit code, the "stale" alert to
the configured file notifier, ``[freshness]`` of scrapeline.toml and its profiles."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from ..snapshots import write_snapshot
from .conftest import scrapeline

PIPELINE = """
from scrapeline import Context, Item, Pipeline, Record

pipe = Pipeline("football", base_url="http://127.0.0.1:8000")
pipe.table("matches", key="match_id")


@pipe.discover("match")
async def results(ctx: Context, offset: int):
    yield Item(key=1)


@pipe.stage("overview", on="match")
async def overview(ctx: Context, item: Item) -> Record:
    return Record("matches", {"match_id": item.key})
"""

CONFIG = """
data_dir = "d"

[[notifiers]]
file = "{alerts}"

[freshness]
max_age = "24h"
matches = { column = "date", max_age = "3d" }

[profiles.strict.freshness]
matches = { column = "date", max_age = "1d" }
"""


def setup(tmp_path: Path, *, created_hours_ago: float, newest_days_ago: int) -> Path:
    pipe = tmp_path / "football.py"
    pipe.write_text(textwrap.dedent(PIPELINE))
    config = textwrap.dedent(CONFIG).replace("{alerts}", str(tmp_path / "alerts.log"))
    (tmp_path / "scrapeline.toml").write_text(config)
    now = datetime.now(UTC)
    write_snapshot(
        tmp_path / "d",
        "s1",
        created_at=now - timedelta(hours=created_hours_ago),
        tables={
            "matches": {
                "match_id": [1, 2],
                "date": [
                    date.today() - timedelta(days=newest_days_ago + 5),
                    date.today() - timedelta(days=newest_days_ago),
                ],
            }
        },
    )
    return pipe


def test_fresh_data_exit_0_and_say_so(tmp_path: Path) -> None:
    pipe = setup(tmp_path, created_hours_ago=2, newest_days_ago=1)
    done = scrapeline("freshness", str(pipe))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("football: fresh: snapshot s1")
    assert "ok    snapshot: newest" in done.stdout and "ok    matches.date" in done.stdout
    assert done.stderr == ""
    assert not (tmp_path / "alerts.log").exists()


def test_a_profile_tightens_a_table_and_stale_data_exit_1_with_an_alert(tmp_path: Path) -> None:
    pipe = setup(tmp_path, created_hours_ago=2, newest_days_ago=2)
    assert scrapeline("freshness", str(pipe)).returncode == 0  # 2 days: within 3d
    stale = scrapeline("freshness", str(pipe), "--profile", "strict", "--json")
    assert stale.returncode == 1, stale.stderr
    report = json.loads(stale.stdout)
    assert report["fresh"] is False and report["snapshot"] == "s1"
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["snapshot"]["stale"] is False
    assert checks["matches.date"]["stale"] is True
    assert checks["matches.date"]["max_age_seconds"] == 86400
    [line] = stale.stderr.splitlines()
    assert line.startswith("stale: matches.date: newest ") and "(allowed 1d)" in line
    alerts = (tmp_path / "alerts.log").read_text()
    assert "scrapeline football (strict): stale data" in alerts


def test_an_old_snapshot_is_stale_by_the_flag(tmp_path: Path) -> None:
    pipe = setup(tmp_path, created_hours_ago=30, newest_days_ago=0)
    done = scrapeline("freshness", str(pipe), "--max-age", "2d")
    assert done.returncode == 0, done.stderr  # the flag over the file's 24h
    stale = scrapeline("freshness", str(pipe), "--max-age", "1d", "--table", "matches")
    assert stale.returncode == 1
    assert "stale: snapshot: newest" in stale.stderr and "is 1d 6h old (allowed 1d)" in stale.stderr


def test_nothing_published_or_an_unknown_column_is_a_usage_error(tmp_path: Path) -> None:
    pipe = tmp_path / "football.py"
    pipe.write_text(textwrap.dedent(PIPELINE))
    data = tmp_path / "elsewhere"
    none = scrapeline("freshness", str(pipe), "--data-dir", str(data), "--max-age", "1d")
    assert none.returncode == 2 and "nothing is published" in none.stderr
    pipe = setup(tmp_path, created_hours_ago=1, newest_days_ago=0)
    bad = scrapeline("freshness", str(pipe), "--table", "matches", "--column", "day")
    assert bad.returncode == 2 and "has no column 'day'" in bad.stderr
    lone = scrapeline("freshness", str(pipe), "--column", "date")
    assert lone.returncode == 2 and "--column goes with --table" in lone.stderr
