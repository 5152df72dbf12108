"""Publishing snapshots from a real ledger file: Parquet read back by pyarrow and by
DuckDB with the declared types, the manifest against the files, ``latest`` as an
atomic link, the rules' hook stopping a publish, derived tables, rollback and
retention."""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from scrapeline.errors import DataDirError, PublishError, RulesFailed, SnapshotNotFound
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.loader import load_pipeline
from scrapeline.pipeline import Pipeline
from scrapeline.publish.files import sha256_of
from scrapeline.workspace.publish import publish, rollback, snapshots

PIPELINE = """
import datetime as dt
from scrapeline import Pipeline, offsets

pipe = Pipeline("league")
pipe.table("matches", key="match_id", schema={
    "match_id": int, "date": dt.date, "home": str, "home_goals": int | None,
    "kickoff": dt.datetime, "xg": float, "neutral": bool, "tags": list[str],
})
pipe.table("local", key="id", schema={"id": int, "at": dt.datetime})
pipe.table("notes", key="id")

@pipe.discover("match", pages=offsets(step=10))
async def listing(ctx, offset):
    return
    yield

@pipe.stage("overview", on="match")
async def overview(ctx, item):
    return None
"""


def clock(*moments: dt.datetime) -> Callable[[], dt.datetime]:
    """A clock that gives ``moments`` in turn (snapshot ids are seconds)."""
    given = list(moments)
    return lambda: given.pop(0)


def at(minute: int) -> dt.datetime:
    return dt.datetime(2026, 3, 1, 6, minute, tzinfo=dt.UTC)


@pytest.fixture
def pipe(tmp_path: Path) -> Pipeline:
    path = tmp_path / "league.py"
    path.write_text(PIPELINE)
    return load_pipeline(str(path))


def fill(
    data_dir: Path, pipe: Pipeline, rows: Sequence[tuple[str, dict[str, Any]]], **kw: Any
) -> None:
    """Store ``rows`` (table, record) in the ledger as a run would: coerced by the
    table's schema, keyed, with run id and parser version."""
    data_dir.mkdir(exist_ok=True)
    ledger = SqliteLedger(data_dir / "ledger.db")
    try:
        ledger.prepare(pipe.graph())
        values = []
        for i, (table, record) in enumerate(rows):
            schema = pipe.schemas.get(table)
            text = schema.check(record).json if schema else orjson.dumps(record).decode()
            key = orjson.dumps([record[c] for c in pipe.tables[table].key]).decode()
            run = kw.get("run", 1 + i % 2)
            values.append((table, key, i + 1, "overview", kw.get("version", 1), run, text))
        ledger.db.executemany(
            "INSERT OR REPLACE INTO records(tbl, pk, item_id, stage, version, run_id, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            values,
        )
    finally:
        ledger.close()


def match(i: int, **over: Any) -> tuple[str, dict[str, Any]]:
    record = {
        "match_id": i,
        "date": f"2024-01-{i:02d}",
        "home": f"Team {i}",
        "home_goals": None if i % 3 == 0 else i,
        "kickoff": f"2024-01-{i:02d}T15:00:00+01:00",
        "xg": 1.25 * i,
        "neutral": i % 2 == 0,
        "tags": ["league", str(i)],
        **over,
    }
    return "matches", record


MATCHES = [match(i) for i in range(1, 7)]


def test_tables_are_parquet_with_the_declared_types_in_pyarrow_and_duckdb(
    tmp_path: Path, pipe: Pipeline
) -> None:
    data = tmp_path / "data"
    fill(data, pipe, [*MATCHES, ("local", {"id": 1, "at": "2024-01-01T10:00:00"})])
    report = publish(pipe, data)
    assert report.tables == {"matches": 6, "local": 1, "notes": 0}

    table = pq.read_table(data / "published" / "latest" / "matches.parquet")
    assert table.schema.field("match_id").type == pa.int64()
    assert table.schema.field("date").type == pa.date32()
    assert table.schema.field("home").type == pa.string()
    assert table.schema.field("home_goals").type == pa.int64()
    assert table.schema.field("kickoff").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("xg").type == pa.float64()
    assert table.schema.field("neutral").type == pa.bool_()
    assert table.schema.field("tags").type == pa.string()
    rows = table.to_pylist()
    assert [r["match_id"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[2]["home_goals"] is None and rows[3]["home_goals"] == 4
    assert rows[0]["date"] == dt.date(2024, 1, 1)
    assert rows[0]["kickoff"] == dt.datetime(2024, 1, 1, 14, 0, tzinfo=dt.UTC)
    assert orjson.loads(rows[1]["tags"]) == ["league", "2"]

    path = data / "published" / "latest" / "matches.parquet"
    assert duckdb.sql(f"select * from '{path}'").fetchall()[2][3] is None
    con = duckdb.connect()
    types = dict(
        con.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '{path}')"
        ).fetchall()
    )
    assert types == {
        "match_id": "BIGINT",
        "date": "DATE",
        "home": "VARCHAR",
        "home_goals": "BIGINT",
        "kickoff": "TIMESTAMP WITH TIME ZONE",
        "xg": "DOUBLE",
        "neutral": "BOOLEAN",
        "tags": "VARCHAR",
    }
    nulls = con.execute(
        f"SELECT count(*) FILTER (WHERE home_goals IS NULL), "
        f"count(*) FILTER (WHERE isnan(home_goals::DOUBLE)) FROM '{path}'"
    ).fetchone()
    assert nulls == (2, 0)  # matches 3 and 6: NULL, never NaN
    assert con.execute(f"SELECT sum(home_goals), max(date) FROM '{path}'").fetchone() == (
        1 + 2 + 4 + 5,
        dt.date(2024, 1, 6),
    )
    # a datetime column whose values carry no offset stays wall-clock time
    local = pq.read_table(data / "published" / "latest" / "local.parquet")
    assert local.schema.field("at").type == pa.timestamp("us")
    assert local.to_pylist() == [{"id": 1, "at": dt.datetime(2024, 1, 1, 10, 0)}]


def test_the_manifest_matches_the_files(tmp_path: Path, pipe: Pipeline) -> None:
    data = tmp_path / "data"
    fill(data, pipe, MATCHES)
    report = publish(pipe, data, duckdb=True, csv=True, now=clock(at(0)))
    snapshot = data / "published" / report.snapshot
    manifest = orjson.loads((snapshot / "manifest.json").read_bytes())
    assert manifest["format"] == 1
    assert manifest["snapshot"] == report.snapshot == "20260301T060000Z"
    assert manifest["pipeline"] == "league"
    assert manifest["created_at"] == "2026-03-01T06:00:00+00:00"
    matches = manifest["tables"]["matches"]
    assert matches["rows"] == pq.ParquetFile(snapshot / "matches.parquet").metadata.num_rows == 6
    assert matches["sha256"] == sha256_of(snapshot / "matches.parquet")
    assert matches["key"] == ["match_id"]
    assert matches["derived"] is False
    assert matches["runs"] == [1, 2]
    assert matches["parser_versions"] == {"overview": [1]}
    assert matches["columns"][0] == {
        "name": "match_id",
        "type": "int",
        "nullable": False,
        "parquet": "int64",
    }
    assert {c["name"]: c["nullable"] for c in matches["columns"]}["home_goals"] is True
    assert manifest["source_runs"] == [1, 2]
    assert manifest["rules"] == []
    on_disk = {p.name for p in snapshot.iterdir()} - {"manifest.json"}
    assert set(manifest["files"]) == on_disk
    assert "dataset.duckdb" in on_disk and "matches.csv" in on_disk
    for name, digest in manifest["files"].items():
        assert sha256_of(snapshot / name) == digest, name


def test_duckdb_and_csv_copies_are_readable(tmp_path: Path, pipe: Pipeline) -> None:
    data = tmp_path / "data"
    fill(data, pipe, MATCHES)
    publish(pipe, data, duckdb=True, csv=True)
    latest = data / "published" / "latest"
    con = duckdb.connect(str(latest / "dataset.duckdb"), read_only=True)
    assert con.execute("SELECT count(*), min(date) FROM matches").fetchone() == (
        6,
        dt.date(2024, 1, 1),
    )
    assert con.execute("SELECT count(*) FROM notes").fetchone() == (0,)
    con.close()
    csv = pacsv.read_csv(latest / "matches.csv")
    assert csv.num_rows == 6
    assert csv.column("match_id").to_pylist() == [1, 2, 3, 4, 5, 6]
    assert csv.column("home_goals").to_pylist() == [1, 2, None, 4, 5, None]


def test_a_table_without_a_schema_gets_every_key_as_a_column(
    tmp_path: Path, pipe: Pipeline
) -> None:
    data = tmp_path / "data"
    notes = [
        ("notes", {"id": 1, "text": "a", "score": 1}),
        ("notes", {"id": 2, "text": "b", "score": 2.5, "flag": True}),
        ("notes", {"id": 3, "score": None, "extra": {"k": [1]}, "mixed": "x"}),
        ("notes", {"id": 4, "mixed": 7}),
    ]
    fill(data, pipe, notes)
    publish(pipe, data)
    table = pq.read_table(data / "published" / "latest" / "notes.parquet")
    # the first record's keys in order, then the others alphabetically
    assert table.column_names == ["id", "text", "score", "extra", "flag", "mixed"]
    types = {f.name: f.type for f in table.schema}
    assert types == {
        "id": pa.int64(),
        "text": pa.string(),
        "score": pa.float64(),
        "extra": pa.string(),
        "flag": pa.bool_(),
        "mixed": pa.string(),
    }
    rows = table.to_pylist()
    assert rows[2]["extra"] == '{"k":[1]}' and rows[2]["mixed"] == '"x"'
    assert rows[3]["mixed"] == "7" and rows[3]["score"] is None and rows[0]["flag"] is None


def test_stored_values_that_do_not_fit_fail_and_publish_nothing(
    tmp_path: Path, pipe: Pipeline
) -> None:
    data = tmp_path / "data"
    fill(data, pipe, MATCHES)
    first = publish(pipe, data, now=clock(at(0)))
    ledger = SqliteLedger(data / "ledger.db")
    ledger.db.execute(
        "UPDATE records SET data=json_set(data, '$.date', 'soon') WHERE tbl='matches'"
    )
    ledger.close()
    with pytest.raises(PublishError, match="'matches', column 'date'"):
        publish(pipe, data, now=clock(at(1)))
    published = data / "published"
    assert os.readlink(published / "latest") == first.snapshot
    assert sorted(p.name for p in published.iterdir()) == [".lock", first.snapshot, "latest"]


def failing_rule(con: duckdb.DuckDBPyConnection, pipe: Pipeline) -> list[dict[str, Any]]:
    (nulls,) = con.execute("SELECT count(*) FROM matches WHERE home_goals IS NULL").fetchone()
    return [
        {
            "table": "matches",
            "rule": "rows",
            "severity": "error",
            "passed": True,
            "failing": 0,
            "message": "",
            "sample": [],
        },
        {
            "table": "matches",
            "rule": "goals_present",
            "severity": "error",
            "passed": nulls == 0,
            "failing": nulls,
            "message": f"{nulls} matches have no home_goals",
            "sample": [],
        },
    ]


def test_a_failing_error_rule_leaves_latest_untouched(tmp_path: Path, pipe: Pipeline) -> None:
    data = tmp_path / "data"
    fill(data, pipe, MATCHES)
    first = publish(pipe, data, now=clock(at(0)))
    with pytest.raises(RulesFailed) as failed:
        publish(pipe, data, checks=failing_rule, now=clock(at(1)))
    assert str(failed.value).startswith(
        "rule matches.goals_present failed: 2 matches have no home_goals"
    )
    assert "\n" not in str(failed.value)
    published = data / "published"
    assert os.readlink(published / "latest") == first.snapshot
    assert not list(published.glob(".staging-*"))
    assert [s.id for s in snapshots(data)] == [first.snapshot]


def test_rule_results_are_kept_in_the_manifest_and_warnings_do_not_stop(
    tmp_path: Path, pipe: Pipeline
) -> None:
    def warn(con: duckdb.DuckDBPyConnection, pipe: Pipeline) -> list[dict[str, Any]]:
        return [{**r, "severity": "warn"} for r in failing_rule(con, pipe)]

    data = tmp_path / "data"
    fill(data, pipe, MATCHES)
    report = publish(pipe, data, checks=warn)
    manifest = orjson.loads((data / "published" / "latest" / "manifest.json").read_bytes())
    assert manifest["rules"] == report.rules
    assert [(r["rule"], r["passed"], r["failing"]) for r in manifest["rules"]] == [
        ("rows", True, 0),
        ("goals_present", False, 2),
    ]


def test_derived_tables_are_published_with_derived_true(tmp_path: Path, pipe: Pipeline) -> None:
    def derive(con: duckdb.DuckDBPyConnection, pipe: Pipeline) -> list[str]:
        con.execute(
            "CREATE TABLE team_goals AS SELECT home AS team, sum(home_goals) AS goals, "
            "min(date) AS first FROM matches GROUP BY home ORDER BY home"
        )
        return ["team_goals"]

    def check_derived(con: duckdb.DuckDBPyConnection, pipe: Pipeline) -> list[dict[str, Any]]:
        (n,) = con.execute("SELECT count(*) FROM team_goals").fetchone()
        return [
            {
                "table": "team_goals",
                "rule": "rows",
                "severity": "error",
                "passed": n == 6,
                "failing": 0,
                "message": "",
                "sample": [],
            }
        ]

    data = tmp_path / "data"
    fill(data, pipe, MATCHES)
    report = publish(pipe, data, derive=derive, checks=check_derived)
    assert report.tables["team_goals"] == 6
    latest = data / "published" / "latest"
    manifest = orjson.loads((latest / "manifest.json").read_bytes())
    entry = manifest["tables"]["team_goals"]
    assert entry["derived"] is True and entry["rows"] == 6
    assert entry["sha256"] == sha256_of(latest / "team_goals.parquet")
    assert [c["type"] for c in entry["columns"]] == ["str", "float", "date"]
    got = duckdb.sql(f"SELECT team, first FROM '{latest / 'team_goals.parquet'}' LIMIT 1")
    assert got.fetchall() == [("Team 1", dt.date(2024, 1, 1))]


def test_latest_is_a_relative_link_replaced_atomically(tmp_path: Path, pipe: Pipeline) -> None:
    data = tmp_path / "data"
    fill(data, pipe, MATCHES)
    published = data / "published"
    first = publish(pipe, data, now=clock(at(0)))
    inode = os.lstat(published / "latest").st_ino
    fill(data, pipe, [match(7)])
    second = publish(pipe, data, now=clock(at(0)))  # the same second: -2
    assert second.snapshot == "20260301T060000Z-2" and first.snapshot == "20260301T060000Z"
    link = published / "latest"
    assert link.is_symlink() and os.readlink(link) == second.snapshot
    assert os.lstat(link).st_ino != inode  # a new link renamed over the old one
    assert not [p for p in published.iterdir() if p.name.startswith(".latest")]
    assert pq.read_table(link / "matches.parquet").num_rows == 7
    assert pq.read_table(published / first.snapshot / "matches.parquet").num_rows == 6


def test_rollback_moves_latest_to_an_earlier_snapshot(tmp_path: Path, pipe: Pipeline) -> None:
    data = tmp_path / "data"
    fill(data, pipe, MATCHES)
    first = publish(pipe, data, now=clock(at(0)))
    fill(data, pipe, [match(7)])
    publish(pipe, data, now=clock(at(1)))
    info = rollback(data, first.snapshot)
    assert info.id == first.snapshot and info.tables["matches"] == 6
    assert os.readlink(data / "published" / "latest") == first.snapshot
    assert [(s.id, s.latest) for s in snapshots(data)] == [
        ("20260301T060000Z", True),
        ("20260301T060100Z", False),
    ]
    with pytest.raises(SnapshotNotFound, match="no snapshot '20990101T000000Z'"):
        rollback(data, "20990101T000000Z")
    with pytest.raises(SnapshotNotFound):
        rollback(data, "../ledger.db")
    assert os.readlink(data / "published" / "latest") == first.snapshot


def test_retention_keeps_the_newest_and_never_latest(tmp_path: Path, pipe: Pipeline) -> None:
    data = tmp_path / "data"
    fill(data, pipe, MATCHES)
    ids = [publish(pipe, data, keep=3, now=clock(at(m))).snapshot for m in range(4)]
    assert [s.id for s in snapshots(data)] == ids[1:]
    rollback(data, ids[1])
    report = publish(pipe, data, keep=2, now=clock(at(10)))
    # the newest two, and the one latest pointed at when retention ran... which is
    # the new snapshot: latest moved before retention, so ids[1] goes too
    assert report.removed == [ids[1], ids[2]]
    assert [s.id for s in snapshots(data)] == [ids[3], report.snapshot]


def test_retention_spares_the_snapshot_latest_points_at(tmp_path: Path, pipe: Pipeline) -> None:
    from scrapeline.publish.snapshots import Published

    data = tmp_path / "data"
    fill(data, pipe, MATCHES)
    ids = [publish(pipe, data, keep=10, now=clock(at(m))).snapshot for m in range(3)]
    rollback(data, ids[0])
    removed = Published(data).retain(1)
    assert removed == [ids[1]]
    assert [s.id for s in snapshots(data)] == [ids[0], ids[2]]


def test_what_is_published_is_owner_only(tmp_path: Path, pipe: Pipeline) -> None:
    data = tmp_path / "data"
    fill(data, pipe, MATCHES)
    old = os.umask(0o022)
    try:
        publish(pipe, data, duckdb=True, csv=True)
    finally:
        os.umask(old)
    published = data / "published"
    for path in [published, *published.rglob("*")]:
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


def test_a_publish_is_recorded_in_the_run_history(tmp_path: Path, pipe: Pipeline) -> None:
    data = tmp_path / "data"
    fill(data, pipe, MATCHES)
    report = publish(pipe, data)
    with pytest.raises(RulesFailed):
        publish(pipe, data, checks=failing_rule)
    ledger = SqliteLedger(data / "ledger.db", read_only=True)
    try:
        failed, done = ledger.runs(2)
    finally:
        ledger.close()
    assert done.id == report.run_id and done.status.value == "done"
    assert done.options["command"] == "publish" and done.pipeline == "league"
    assert done.summary["snapshot"] == report.snapshot
    assert failed.status.value == "failed"
    assert failed.summary["reason"].startswith("rule matches.goals_present failed")


def test_no_ledger_is_one_line(tmp_path: Path, pipe: Pipeline) -> None:
    with pytest.raises(DataDirError, match="no ledger in"):
        publish(pipe, tmp_path / "nothing")
    with pytest.raises(DataDirError, match="no ledger in"):
        snapshots(tmp_path / "nothing")
