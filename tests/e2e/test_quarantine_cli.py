"""Records validated on the way in, through the CLI: a record that breaks its table's
schema is quarantined and its item fails; fixed, the next run stores it typed and the
quarantine empties. A new optional column is reported at start; a changed type is
refused in one line, before any work."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from .conftest import lines, scrapeline

pytestmark = pytest.mark.slow

PIPELINE = '''
from pydantic import BaseModel, Field

from scrapeline import Item, Pipeline, Record, offsets


class Match(BaseModel):
    match_id: int
    date: str
    team1: str
    team2: str
    goals1: int | None = Field(None, ge=0, le=LIMIT)
    goals2: int | None = Field(None, ge=0, le=LIMIT)
    EXTRA


pipe = Pipeline("football", base_url="http://127.0.0.1:8000", workers=4)
pipe.table("matches", key="match_id", schema=Match)


@pipe.check("matches", severity="warn")
def not_a_rout(r):
    """a side won by three goals or more"""
    return r["goals1"] is None or abs(r["goals1"] - r["goals2"]) < 3


@pipe.discover("match", pages=offsets(step=100))
async def results(ctx, offset):
    page = await ctx.fetch(f"/results?offset={offset}")
    for row in page.css("tr.match"):
        yield Item(key=int(row.attributes["data-id"] or 0))


@pipe.stage("overview", on="match")
async def overview(ctx, item):
    page = await ctx.fetch(f"/matches/{item.key}")
    score = page.text_of("h1 .score")
    home, _, away = score.partition("-")
    return Record("matches", {
        "match_id": str(item.key),  # text: the schema makes it an int
        "date": page.text_of("dd.date"),
        "team1": page.text_of("h1 .team1"),
        "team2": page.text_of("h1 .team2"),
        "goals1": home or None,
        "goals2": away or None,
    })
'''


def pipeline(tmp_path: Path, *, limit: int, extra: str = "") -> Path:
    path = tmp_path / "football.py"
    path.write_text(PIPELINE.replace("LIMIT", str(limit)).replace("EXTRA", extra or "pass"))
    return path


def read(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_refused_records_are_quarantined_then_stored_typed_once_fixed(
    site_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "d"
    common = ["--data-dir", str(data)]
    run = ["--base-url", site_url, "--end-offset", "0", *common]
    strict = pipeline(tmp_path, limit=3)
    first = scrapeline("run", str(strict), *run)
    assert first.returncode == 1, first.stderr
    out = first.stdout + first.stderr
    [said] = [line for line in lines(out) if line.startswith("quarantined ")]
    listed = orjson.loads(scrapeline("quarantine", str(strict), *common, "--json").stdout)
    records = listed["records"]
    assert records, out
    count = len(records)
    assert said.startswith(f"quarantined {count} record")
    assert "(matches " in said and "less_than_equal" in said
    for entry in records:
        assert entry["table"] == "matches" and entry["stage"] == "overview"
        assert entry["rules"] == ["less_than_equal"]
        assert "Input should be less than or equal to 3" in entry["reason"]
        assert entry["record"]["match_id"] == str(entry["item"])  # as the stage gave it
        assert max(int(entry["record"]["goals1"]), int(entry["record"]["goals2"])) > 3
    assert listed["counts"] == {"matches": count}
    assert "warnings: matches not_a_rout " in out
    # the failures are validation failures, and status counts the quarantine
    status = orjson.loads(scrapeline("status", str(strict), *common, "--json").stdout)
    assert status["quarantined"] == {"matches": count}
    assert status["stages"]["overview"]["failed"] == count
    table = scrapeline("status", str(strict), *common)
    assert f"quarantined records: matches {count}" in table.stdout
    shown = orjson.loads(scrapeline("runs", str(strict), "1", *common, "--json").stdout)
    assert shown["quarantined"]["matches"]["records"] == count
    assert shown["warnings"]["matches"]["not_a_rout"] > 0
    assert {f["category"] for f in shown["failures"]} == {"validation"}
    stored = read(data / "ledger.db", "SELECT count(*) FROM matches")[0][0]
    text = scrapeline("quarantine", str(strict), *common, "--table", "matches")
    assert text.returncode == 0 and "less_than_equal" in text.stdout

    fixed = pipeline(tmp_path, limit=20)
    second = scrapeline("run", str(fixed), *run)
    assert second.returncode == 0, second.stderr
    after = orjson.loads(scrapeline("quarantine", str(fixed), *common, "--json").stdout)
    assert after["records"] == [] and after["counts"] == {}
    rows = read(
        data / "ledger.db",
        "SELECT match_id, typeof(match_id), goals1, typeof(goals1), team1 FROM matches",
    )
    assert len(rows) == stored + count
    assert {r[1] for r in rows} == {"integer"}
    assert {r[3] for r in rows if r[2] is not None} == {"integer"}
    big = {r[0] for r in rows if r[2] is not None and r[2] > 3}
    assert {e["item"] for e in records} <= big | {
        r[0] for r in rows if r[2] is not None and r[2] <= 3
    }


def test_a_new_optional_column_is_reported_and_a_type_change_refused(
    site_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "d"
    run = ["--base-url", site_url, "--end-offset", "0", "--data-dir", str(data)]
    first = scrapeline("run", str(pipeline(tmp_path, limit=20)), *run)
    assert first.returncode == 0, first.stderr
    [(stored,)] = read(data / "ledger.db", "SELECT count(*) FROM matches")
    wider = pipeline(tmp_path, limit=20, extra="referee: str | None = None")
    second = scrapeline("run", str(wider), *run)
    assert second.returncode == 0, second.stderr
    note = f"table matches: column referee added (existing {stored:,} rows have none)"
    assert note in second.stdout + second.stderr
    columns = [r[1] for r in read(data / "ledger.db", "PRAGMA table_info(matches)")]
    assert columns[columns.index("row:pk") - 1] == "referee"  # the last declared column
    assert read(data / "ledger.db", "SELECT count(*) FROM matches WHERE referee IS NULL") == [
        (stored,)
    ]
    changed = tmp_path / "changed.py"
    changed.write_text(wider.read_text().replace("    date: str\n", "    date: int\n"))
    third = scrapeline("run", str(changed), *run)
    assert third.returncode == 2, third.stderr
    [line] = lines(third.stderr)
    assert line.startswith("error: table matches: column date changed type str -> int; ")
    assert read(data / "ledger.db", "SELECT count(*) FROM matches") == [(stored,)]
