"""Quarantine and declared columns, every backend.

A failure carrying refused records writes them to the quarantine in its own
transaction; the task's completion deletes them. A table's declared columns are
remembered: a new nullable column is reported, other changes to a table holding
records are refused and change nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from scrapeline.errors import PipelineError
from scrapeline.ledger.base import (
    SQL_TYPES,
    Completion,
    Failure,
    Ledger,
    NewItem,
    QuarantinedRecord,
    RecordRow,
    RunStatus,
    Task,
)
from scrapeline.ledger.sqlite import SqliteLedger

from .test_ledger_contract import BACKENDS, by_stage, claim_all, football_graph, open_ledger


@pytest.fixture(params=BACKENDS)
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    backend = open_ledger(request.param, tmp_path)
    yield backend
    backend.close()


def refused(pk: str | None = '["1"]', rule: str = "greater_than_equal") -> QuarantinedRecord:
    return QuarantinedRecord(
        table="matches",
        pk=pk,
        rules=(rule,),
        reason=f"matches: home_goals: {rule}",
        record='{"match_id":"1","home_goals":-1}',
    )


def overview(ledger: Ledger, run: int, *keys: int) -> list[Task]:
    ledger.add_items([NewItem(kind="match", key=k) for k in keys], run)
    return sorted(by_stage(claim_all(ledger), "overview"), key=lambda t: t.key)


def failure(task: Task, *records: QuarantinedRecord) -> Failure:
    return Failure(
        task=task,
        owner="w1",
        category="validation",
        message=records[0].reason if records else "no",
        quarantined=records,
    )


def test_a_failure_writes_its_refused_records_to_the_quarantine(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    [one, two] = overview(ledger, run, 1, 2)
    assert ledger.fail(
        [failure(one, refused(), refused(None, "missing")), failure(two)], run, 50.0
    ) == [True, True]
    entries = ledger.quarantine()
    assert [(e.table, e.pk, e.kind, e.key, e.stage, e.run_id, tuple(e.rules)) for e in entries] == [
        ("matches", '["1"]', "match", 1, "overview", run, ("greater_than_equal",)),
        ("matches", None, "match", 1, "overview", run, ("missing",)),
    ]
    assert entries[0].reason == "matches: home_goals: greater_than_equal"
    assert orjson.loads(entries[0].record) == {"match_id": "1", "home_goals": -1}
    assert entries[0].at == 50.0
    assert ledger.quarantined() == {"matches": 2}
    assert ledger.quarantine("other") == []
    assert len(ledger.quarantine(limit=1)) == 1


def test_a_failure_not_settled_quarantines_nothing(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    [task] = overview(ledger, run, 1)
    stolen = Failure(task=task, owner="w2", category="validation", message="x",
                     quarantined=(refused(),))  # fmt: skip
    assert ledger.fail([stolen], run, 1.0) == [False]
    assert ledger.quarantine() == []


def test_failing_again_replaces_what_the_task_had_in_quarantine(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    [task] = overview(ledger, run, 1)
    ledger.fail([failure(task, refused(), refused('["2"]'))], run, 1.0)
    ledger.reset_failed()
    [again] = by_stage(claim_all(ledger), "overview")
    ledger.fail([failure(again, refused('["3"]', "int_parsing"))], run, 2.0)
    assert [(e.pk, tuple(e.rules)) for e in ledger.quarantine()] == [('["3"]', ("int_parsing",))]


def test_completing_the_task_empties_its_quarantine_and_no_other(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    [one, two] = overview(ledger, run, 1, 2)
    ledger.fail([failure(one, refused()), failure(two, refused('["2"]'))], run, 1.0)
    ledger.reset_failed()
    fixed = [t for t in by_stage(claim_all(ledger), "overview") if t.key == 1]
    row = RecordRow(table="matches", pk="1", json='{"match_id":1}')
    assert ledger.complete([Completion(task=fixed[0], owner="w1", records=[row])], run, 2.0)
    assert [e.key for e in ledger.quarantine()] == [2]
    assert ledger.quarantined() == {"matches": 1}


def test_the_quarantine_outlives_a_reopened_ledger(tmp_path: Path) -> None:
    ledger = open_ledger("sqlite", tmp_path)
    run = ledger.begin_run("p", {}, 0.0, 1)
    [task] = overview(ledger, run, 1)
    ledger.fail([failure(task, refused())], run, 1.0)
    ledger.close()
    again = open_ledger("sqlite", tmp_path)
    assert again.quarantined() == {"matches": 1}
    again.reset_failed()
    [retry] = by_stage(claim_all(again), "overview")
    assert again.complete([Completion(task=retry, owner="w1")], run, 2.0) == [True]
    assert again.quarantined() == {}
    again.close()


def test_retention_keeps_the_quarantine(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    [task] = overview(ledger, run, 1)
    ledger.fail([failure(task, refused())], run, 1.0)
    ledger.end_run(run, RunStatus.FAILED, 2.0, {})
    ledger.forget_attempts(before=1e12)
    ledger.forget_runs(before=1e12, keep_runs=0)
    assert ledger.quarantined() == {"matches": 1}


# -- declared columns -------------------------------------------------------------


def cols(*spec: tuple[str, str, bool]) -> list[dict[str, Any]]:
    return [{"name": n, "type": t, "nullable": z} for n, t, z in spec]


BASE = cols(("match_id", "int", False), ("home_goals", "int", False))


def store(ledger: Ledger, *data: dict[str, Any]) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    [task] = overview(ledger, run, 1)
    rows = [RecordRow(table="matches", pk=str(d["match_id"]), json=orjson.dumps(d).decode())
            for d in data]  # fmt: skip
    assert ledger.complete([Completion(task=task, owner="w1", records=rows)], run, 1.0)


def test_a_new_table_and_an_empty_one_take_any_columns(ledger: Ledger) -> None:
    assert ledger.adopt_tables({"matches": ("match_id",)}, {"matches": BASE}) == []
    other = cols(("match_id", "str", False))
    assert ledger.adopt_tables({"matches": ("match_id",)}, {"matches": other}) == []


def test_a_new_nullable_column_is_applied_and_reported(ledger: Ledger) -> None:
    ledger.adopt_tables({"matches": ("match_id",)}, {"matches": BASE})
    store(ledger, {"match_id": 1, "home_goals": 2}, {"match_id": 2, "home_goals": 0})
    wider = [*BASE, *cols(("referee", "str", True))]
    assert ledger.adopt_tables({"matches": ("match_id",)}, {"matches": wider}) == [
        "table matches: column referee added (existing 2 rows have none)"
    ]
    assert ledger.adopt_tables({"matches": ("match_id",)}, {"matches": wider}) == []  # once


@pytest.mark.parametrize(
    ("columns", "said"),
    [
        (cols(("match_id", "int", False)), "column home_goals removed"),
        (
            cols(("match_id", "int", False), ("home_goals", "str", False)),
            "column home_goals changed type int -> str",
        ),
        ([*BASE, *cols(("referee", "str", False))], "column referee added as required"),
    ],
)
def test_a_change_the_stored_records_cannot_take_is_refused(
    ledger: Ledger, columns: list[dict[str, Any]], said: str
) -> None:
    ledger.adopt_tables({"matches": ("match_id",)}, {"matches": BASE})
    store(ledger, {"match_id": 1, "home_goals": 2})
    with pytest.raises(PipelineError, match=f"^table matches: {said}; ") as refusal:
        ledger.adopt_tables({"matches": ("match_id",)}, {"matches": columns})
    assert "\n" not in str(refusal.value)
    # nothing changed: the old columns still hold, a new nullable one is still news
    wider = [*BASE, *cols(("referee", "str", True))]
    assert ledger.adopt_tables({"matches": ("match_id",)}, {"matches": wider}) != []


def test_nullable_to_required_is_refused_required_to_nullable_is_not(ledger: Ledger) -> None:
    loose = cols(("match_id", "int", False), ("home_goals", "int", True))
    ledger.adopt_tables({"matches": ("match_id",)}, {"matches": loose})
    store(ledger, {"match_id": 1, "home_goals": None})
    with pytest.raises(PipelineError, match="column home_goals is now required"):
        ledger.adopt_tables({"matches": ("match_id",)}, {"matches": BASE})
    assert ledger.adopt_tables({"matches": ("match_id",)}, {"matches": loose}) == []


# -- typed views (SQLite) ------------------------------------------------------------

TYPED = cols(
    ("match_id", "int", False),
    ("rate", "float", False),
    ("played", "bool", False),
    ("home", "str", False),
    ("day", "date", False),
    ("tags", "json", True),
    ("ht", "int", True),
)


def view(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


WRITER = ["row:pk", "row:item_id", "row:stage", "row:version", "row:run_id"]
"""After a typed table's declared columns: what wrote each row."""


def test_a_typed_table_has_the_schemas_columns_typed_even_before_any_row(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.db")
    ledger.prepare(football_graph())
    ledger.adopt_tables({"matches": ("match_id",)}, {"matches": TYPED})
    found = view(ledger.path, "SELECT type FROM sqlite_master WHERE name='matches'")
    assert found == [("table",)]
    info = view(ledger.path, "PRAGMA table_info(matches)")
    assert [r[1] for r in info] == [c["name"] for c in TYPED] + WRITER
    assert [r[2] for r in info][: len(TYPED)] == [SQL_TYPES[c["type"]] for c in TYPED]
    store(
        ledger,
        {"match_id": 1, "rate": 2, "played": True, "home": "Arsenal", "day": "2024-05-01",
         "tags": ["a", 1], "ht": None},
    )  # fmt: skip
    [row] = view(
        ledger.path,
        "SELECT match_id, typeof(match_id), rate, typeof(rate), played, typeof(played), home, "
        "day, tags, ht FROM matches",
    )
    assert row == (1, "integer", 2.0, "real", 1, "integer", "Arsenal", "2024-05-01",
                   '["a",1]', None)  # fmt: skip
    ledger.close()


def test_a_typed_table_is_made_anew_when_the_schema_changes(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.db")
    ledger.prepare(football_graph())
    ledger.adopt_tables({"matches": ("match_id",)}, {"matches": BASE})
    store(ledger, {"match_id": 1, "home_goals": 2})
    wider = [*BASE, *cols(("referee", "str", True))]
    ledger.adopt_tables({"matches": ("match_id",)}, {"matches": wider})
    assert view(ledger.path, "SELECT match_id, home_goals, referee FROM matches") == [(1, 2, None)]
    ledger.adopt_tables({"matches": ("match_id",)})  # no schema now: as an untyped table
    assert [r[1] for r in view(ledger.path, "PRAGMA table_info(matches)")] == [
        "match_id",
        "home_goals",
    ]
    ledger.close()


def test_a_typed_table_follows_every_write_of_its_records(tmp_path: Path) -> None:
    """Stored, stored again (upsert), redone (the old records go), forgotten: the typed
    table holds exactly the table's records, with what wrote each row."""
    ledger = SqliteLedger(tmp_path / "ledger.db")
    ledger.prepare(football_graph())
    ledger.adopt_tables({"matches": ("match_id",)}, {"matches": BASE})
    store(ledger, {"match_id": 1, "home_goals": 2}, {"match_id": 2, "home_goals": 0})
    rows = view(
        ledger.path,
        'SELECT match_id, home_goals, "row:stage", "row:version", "row:run_id" FROM matches '
        "ORDER BY match_id",
    )
    assert rows == [(1, 2, "overview", 1, 1), (2, 0, "overview", 1, 1)]
    stored = view(ledger.path, "SELECT count(*) FROM records WHERE tbl='matches'")
    assert view(ledger.path, "SELECT count(*) FROM matches") == stored == [(2,)]
    with sqlite3.connect(ledger.path) as db:  # what a redo and retention do to records
        db.execute("UPDATE records SET data=json_set(data, '$.home_goals', 5) WHERE pk LIKE '%1%'")
        db.execute("DELETE FROM records WHERE pk LIKE '%2%'")
    assert view(ledger.path, "SELECT match_id, home_goals FROM matches") == [(1, 5)]
    ledger.close()


def test_a_typed_table_is_made_from_the_records_stored_before_the_schema(
    tmp_path: Path,
) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.db")
    ledger.prepare(football_graph())
    ledger.adopt_tables({"matches": ("match_id",)})
    store(ledger, {"match_id": 1, "home_goals": "2"})
    ledger.adopt_tables({"matches": ("match_id",)}, {"matches": BASE})
    assert view(ledger.path, "SELECT match_id, typeof(home_goals) FROM matches") == [(1, "integer")]
    ledger.close()
