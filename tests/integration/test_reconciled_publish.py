"""A declared reconciliation computed when a snapshot is staged, from a real ledger
file: its three tables published as Parquet (read back by pyarrow and DuckDB), in
the manifest, checked by table rules; incremental between stagings from the state
kept in the data dir, equal to a full reconcile; a damaged or foreign state gives a
full reconcile and says so."""

from __future__ import annotations

import dataclasses
import logging
import stat
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow.parquet as pq
import pytest

from scrapeline.errors import RulesFailed
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.loader import load_pipeline
from scrapeline.pipeline import Pipeline
from scrapeline.publish.reconcile_state import state_path
from scrapeline.quality.reconcile import reconcile
from scrapeline.quality.rules import row_count
from scrapeline.testing import ProspectsSite
from scrapeline.testing.draft_truth import broken_rules
from scrapeline.workspace.publish import publish, validate

TABLES = {"combine": "combine_players", "college_stats": "college_stats"}


@pytest.fixture(scope="module")
def site() -> ProspectsSite:
    return ProspectsSite(size=200, latency=None)


@pytest.fixture
def pipe() -> Pipeline:
    return load_pipeline("scrapeline.demo.prospects")


def records_of(site: ProspectsSite) -> list[tuple[str, dict[str, Any]]]:
    """The site's records that pass the quality rules, as (table, record)."""
    draft = site.draft
    out: list[tuple[str, dict[str, Any]]] = []
    for table, rows in (
        ("combine_players", draft.combine),
        ("college_stats", draft.college_stats),
        ("injury_report", draft.injury_report),
    ):
        out += [(table, dataclasses.asdict(r)) for r in rows if not broken_rules(r)]
    return out


def store(data: Path, pipe: Pipeline, rows: list[tuple[str, dict[str, Any]]], run: int) -> None:
    """Upsert ``rows`` in the ledger as run ``run`` would (validated, keyed)."""
    data.mkdir(exist_ok=True)
    ledger = SqliteLedger(data / "ledger.db")
    try:
        ledger.prepare(pipe.graph())
        values = []
        for i, (table, record) in enumerate(rows):
            pk, text, _ = pipe.check_record(_record(table, record))
            values.append((table, pk, i + 1, "s", 1, run, text))
        ledger.db.executemany(
            "INSERT OR REPLACE INTO records(tbl, pk, item_id, stage, version, run_id, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            values,
        )
    finally:
        ledger.close()


def delete(data: Path, table: str, pk: str) -> None:
    ledger = SqliteLedger(data / "ledger.db")
    try:
        ledger.db.execute("DELETE FROM records WHERE tbl=? AND pk=?", (table, pk))
    finally:
        ledger.close()


def _record(table: str, data: dict[str, Any]) -> Any:
    from scrapeline import Record

    return Record(table, data)


def expected(pipe: Pipeline, data: Path) -> Any:
    """A full reconcile of what the ledger holds now, by the engine alone."""
    decl = pipe.reconciliations["prospects"]
    ledger = SqliteLedger(data / "ledger.db")
    try:
        given: dict[str, list[dict[str, Any]]] = {}
        for label, src in decl.sources.items():
            rows = ledger.db.execute("SELECT data FROM records WHERE tbl=?", (src.table,))
            given[label] = [orjson.loads(text) for (text,) in rows]
    finally:
        ledger.close()
    return reconcile(decl, given)


def published(data: Path, name: str) -> list[dict[str, Any]]:
    return pq.read_table(data / "published" / "latest" / f"{name}.parquet").to_pylist()


def test_a_publish_writes_the_entities_conflicts_and_unresolved_tables(
    tmp_path: Path, pipe: Pipeline, site: ProspectsSite
) -> None:
    data = tmp_path / "data"
    store(data, pipe, records_of(site), run=1)
    report = publish(pipe, data)
    result = expected(pipe, data)

    assert report.tables["prospects"] == len(result.entities)
    entities = published(data, "prospects")
    assert [e["prospect_id"] for e in entities] == list(result.entities)
    first = entities[0]
    row = result.entities[first["prospect_id"]]
    dates = ("measured_on", "weight_as_of", "injury_updated")
    for column, value in first.items():  # every field a column, null where it has none
        if column in dates:
            assert value is None or value.isoformat() == row[column]
        elif column != "sources":
            assert value == row.get(column), column
    assert orjson.loads(first["sources"]) == result.sources[first["prospect_id"]]

    conflicts = published(data, "prospects_conflicts")
    assert [
        (c["entity"], c["field"], orjson.loads(c["values"]), orjson.loads(c["winner"]), c["rule"])
        for c in conflicts
    ] == [(c["entity"], c["field"], c["values"], c["winner"], c["rule"]) for c in result.conflicts]
    unresolved = published(data, "prospects_unresolved")
    got = [(u["source"], u["key"], u["reason"], orjson.loads(u["candidates"])) for u in unresolved]
    assert got == [
        (u["source"], str(u["key"]), u["reason"], u["candidates"]) for u in result.unresolved
    ]

    con = duckdb.connect()
    path = data / "published" / "latest"
    types = dict(
        con.execute(
            f"DESCRIBE SELECT * FROM read_parquet('{path / 'prospects.parquet'}')"
        ).fetchall()[i][:2]
        for i in range(len(entities[0]))
    )
    assert types["weight_lb"] == "BIGINT" and types["measured_on"] == "DATE"
    assert types["forty"] == "DOUBLE" and types["prospect_id"] == "VARCHAR"
    manifest = orjson.loads((path / "manifest.json").read_bytes())
    assert manifest["tables"]["prospects_conflicts"]["reconciled"] == {
        "reconciliation": "prospects",
        "part": "conflicts",
    }
    assert "reconciled" not in manifest["tables"]["combine_players"]
    assert manifest["files"]["prospects.parquet"] == manifest["tables"]["prospects"]["sha256"]
    # the rule on the entities ran
    assert any(r["table"] == "prospects" and r["passed"] for r in report.rules)
    saved = state_path(data, "prospects")
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700


def test_the_next_publish_reconciles_only_what_changed_and_equals_a_full_one(
    tmp_path: Path, pipe: Pipeline, site: ProspectsSite, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    rows = records_of(site)
    store(data, pipe, rows, run=1)
    publish(pipe, data)
    combine = [r for t, r in rows if t == "combine_players"]
    stats = [r for t, r in rows if t == "college_stats"]
    changed = [
        ("combine_players", {**combine[0], "weight_lb": 401, "measured_on": "2026-05-01"}),
        ("college_stats", {**stats[3], "name": "Zed Nobody", "college": "Nowhere"}),
    ]
    store(data, pipe, changed, run=2)
    delete(data, "combine_players", str(combine[5]["combine_id"]))
    with caplog.at_level(logging.INFO, logger="scrapeline.reconcile"):
        publish(pipe, data)
    assert not [r for r in caplog.records if "reconciling every record" in r.getMessage()]
    result = expected(pipe, data)
    assert [e["prospect_id"] for e in published(data, "prospects")] == list(result.entities)
    entity = next(e for e in published(data, "prospects") if e["weight_lb"] == 401)
    assert orjson.loads(entity["sources"])["combine"] == combine[0]["combine_id"]
    assert len(published(data, "prospects_conflicts")) == len(result.conflicts)
    assert len(published(data, "prospects_unresolved")) == len(result.unresolved)
    saved = orjson.loads(state_path(data, "prospects").read_bytes())
    assert saved["watermark"] == 2
    assert str(combine[5]["combine_id"]) not in saved["fingerprints"]["combine"]


def test_validate_and_publish_share_the_state_and_lose_no_change(
    tmp_path: Path, pipe: Pipeline, site: ProspectsSite
) -> None:
    data = tmp_path / "data"
    rows = records_of(site)
    store(data, pipe, rows, run=1)
    publish(pipe, data)
    stats = [r for t, r in rows if t == "college_stats"]
    store(data, pipe, [("college_stats", {**stats[0], "games": 99})], run=2)
    validate(pipe, data)  # computes, saves the state of what it read
    store(data, pipe, [("college_stats", {**stats[1], "games": 98})], run=2)  # same run, later
    publish(pipe, data)
    games = {e["games"] for e in published(data, "prospects")}
    assert {98, 99} <= games
    result = expected(pipe, data)
    assert [e["games"] for e in published(data, "prospects")] == [
        e.get("games") for e in result.entities.values()
    ]


@pytest.mark.parametrize("damage", [b"{not json", b'{"format": 99}', None])
def test_a_damaged_or_foreign_state_gives_a_full_reconcile_said_in_one_line(
    tmp_path: Path,
    pipe: Pipeline,
    site: ProspectsSite,
    caplog: pytest.LogCaptureFixture,
    damage: bytes | None,
) -> None:
    data = tmp_path / "data"
    store(data, pipe, records_of(site), run=1)
    publish(pipe, data)
    saved = state_path(data, "prospects")
    if damage is None:  # the state of another declaration
        document = orjson.loads(saved.read_bytes())
        saved.write_bytes(orjson.dumps({**document, "declaration": "0" * 16}))
    else:
        saved.write_bytes(damage)
    with caplog.at_level(logging.INFO, logger="scrapeline.reconcile"):
        publish(pipe, data)
    lines = [r.getMessage() for r in caplog.records if "reconciling every record" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("reconcile prospects: ")
    result = expected(pipe, data)
    assert [e["prospect_id"] for e in published(data, "prospects")] == list(result.entities)


def test_a_failing_rule_on_the_entities_stops_the_publish(
    tmp_path: Path, pipe: Pipeline, site: ProspectsSite
) -> None:
    data = tmp_path / "data"
    store(data, pipe, records_of(site), run=1)
    pipe.rule("prospects_unresolved", row_count(max=0))
    with pytest.raises(RulesFailed, match=r"prospects_unresolved\.row_count"):
        publish(pipe, data)
    assert not (data / "published" / "latest").exists()
