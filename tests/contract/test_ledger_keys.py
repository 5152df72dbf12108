"""Keys, every backend: a table's key is part of its schema, and no two keys collide.

Also the schema's migrations (a ledger from any earlier version ends where a fresh
one starts) and the run history's retention on runs that crashed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from scrapeline.errors import PipelineError
from scrapeline.ledger.base import Completion, Ledger, NewItem, RecordRow, RunStatus
from scrapeline.ledger.schema import MIGRATIONS, migrate
from scrapeline.ledger.sqlite import SqliteLedger

from .test_ledger_contract import BACKENDS, by_stage, claim_all, football_graph, open_ledger


@pytest.fixture(params=BACKENDS)
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    backend = open_ledger(request.param, tmp_path)
    yield backend
    backend.close()


def row(table: str, **data: object) -> RecordRow:
    # the caller's own key text: the same for every row, so only the ledger's own
    # encoding can keep them apart
    return RecordRow(table=table, pk="same", json=orjson.dumps(data).decode())


def store(target: Ledger, records: list[RecordRow], key: int = 1) -> None:
    run = target.begin_run("p", {}, 0.0, 1)
    target.add_items([NewItem(kind="match", key=key)], run)
    [task] = [t for t in by_stage(claim_all(target), "overview") if t.key == key]
    assert target.complete([Completion(task=task, owner="w1", records=records)], run, 1.0)


@pytest.mark.parametrize(
    ("key", "first", "second"),
    [
        (("id",), {"id": 1}, {"id": "1"}),  # an int and its digits
        (("id",), {"id": "a\x00b"}, {"id": "a"}),  # a NUL inside a str
        (("a", "b"), {"a": "x\x1fy", "b": "z"}, {"a": "x", "b": "y\x1fz"}),  # a separator
        (("id",), {"id": True}, {"id": 1}),  # a bool is not a number
    ],
)
def test_record_keys_never_collide(
    ledger: Ledger,
    key: tuple[str, ...],
    first: dict[str, object],
    second: dict[str, object],
) -> None:
    ledger.adopt_tables({"t": key})
    store(ledger, [row("t", **first, n=1), row("t", **second, n=2)])
    assert sorted(orjson.dumps(r).decode() for r in ledger.records("t")) == sorted(
        orjson.dumps({**d, "n": n}).decode() for d, n in ((first, 1), (second, 2))
    )


def test_records_are_still_upserted_by_their_key(ledger: Ledger) -> None:
    ledger.adopt_tables({"t": ("id",)})
    store(ledger, [row("t", id=1, n=1), row("t", id=1, n=2)])
    assert list(ledger.records("t")) == [{"id": 1, "n": 2}]


def test_a_changed_key_is_refused_in_one_line_and_changes_nothing(
    ledger: Ledger,
) -> None:
    ledger.adopt_tables({"halves": ("match_id", "half"), "matches": ("match_id",)})
    store(ledger, [row("halves", match_id=1, half=1)])
    ledger.adopt_tables({"halves": ("match_id", "half"), "matches": ("match_id",)})  # same: fine
    with pytest.raises(PipelineError) as refused:
        ledger.adopt_tables({"halves": ("half", "match_id"), "matches": ("id",)})
    message = str(refused.value)
    assert message.startswith(
        "table halves: key changed from (match_id, half) to (half, match_id); "
    )
    assert "\n" not in message and "rebuild" in message
    store(ledger, [row("halves", match_id=1, half=1, n=2)], key=2)  # still the old key
    assert list(ledger.records("halves")) == [{"match_id": 1, "half": 1, "n": 2}]


def test_a_table_without_records_may_change_its_key(ledger: Ledger) -> None:
    ledger.adopt_tables({"t": ("a",)})
    ledger.adopt_tables({"t": ("b",)})
    store(ledger, [row("t", a=1, b=1), row("t", a=1, b=2)])
    assert len(list(ledger.records("t"))) == 2


def test_item_keys_never_collide(ledger: Ledger) -> None:
    run = ledger.begin_run("p", {}, 0.0, 1)
    keys: list[int | str] = [1, "1", "a\x00b", "a"]
    assert ledger.add_items([NewItem(kind="match", key=k) for k in keys], run) == 4
    assert ledger.known("match", keys) == set(keys)
    got = [t.key for t in by_stage(claim_all(ledger), "overview")]
    assert sorted(map(repr, got)) == sorted(map(repr, keys))


def test_forget_attempts_after_a_crashed_run(ledger: Ledger) -> None:
    crashed = ledger.begin_run("p", {}, 10.0, 1)
    ledger.add_items([NewItem(kind="match", key=1)], crashed)
    [task] = by_stage(claim_all(ledger), "overview")
    ledger.complete([Completion(task=task, owner="w1", duration=0.5)], crashed, 11.0)
    later = ledger.begin_run("p", {}, 30.0, 1)  # the first never ended: crashed
    ledger.end_run(later, RunStatus.DONE, 31.0, {})
    assert [r.status for r in ledger.runs()] == [RunStatus.DONE, RunStatus.CRASHED]
    assert ledger.forget_attempts(5.0) == 0  # it started at 10
    assert ledger.forget_attempts(20.0) == 1
    assert ledger.report(crashed).durations == {}


def test_a_ledger_from_before_typed_keys_is_rekeyed_once(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    for script in MIGRATIONS[:4]:
        for statement in script.split(";"):
            if statement.strip():
                db.execute(statement)
    db.execute("PRAGMA user_version=4")
    db.execute("COMMIT")
    db.executescript(
        "INSERT INTO items(id, kind, key) VALUES (1, 'match', 1);"
        "INSERT INTO tasks(item_id, stage, status, version) VALUES (1, 'overview', 'done', 1);"
        "INSERT INTO records(tbl, pk, item_id, stage, version, run_id, data) VALUES"
        " ('halves', '1' || char(31) || '2', 1, 'overview', 1, 1,"
        ' \'{"match_id":1,"half":2,"n":1}\');'
    )
    db.close()
    old = SqliteLedger(path)
    try:
        old.prepare(football_graph())
        old.adopt_tables({"halves": ("match_id", "half")})
        old.redo("overview")
        [task] = [t for t in claim_all(old) if t.stage == "overview"]
        run = old.begin_run("p", {}, 0.0, 1)
        old.complete(
            [Completion(task=task, owner="w1", records=[row("halves", match_id=1, half=2, n=2)])],
            run,
            1.0,
        )
        assert list(old.records("halves")) == [{"match_id": 1, "half": 2, "n": 2}]
    finally:
        old.close()


def test_a_table_larger_than_a_rekey_batch_is_rekeyed_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import scrapeline.ledger.sqlite as sqlite_module

    monkeypatch.setattr(sqlite_module, "_REKEY_BATCH", 3)  # ten records: four batches
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    for script in MIGRATIONS[:4]:
        for statement in script.split(";"):
            if statement.strip():
                db.execute(statement)
    db.execute("PRAGMA user_version=4")
    db.execute("COMMIT")
    for n in range(10):
        db.execute(
            "INSERT INTO records(tbl, pk, item_id, stage, version, run_id, data) "
            "VALUES ('halves', ?, 1, 'overview', 1, 1, ?)",
            (f"{n}\x1f1", f'{{"match_id":{n},"half":1}}'),
        )
    db.close()
    ledger = SqliteLedger(path)
    try:
        ledger.prepare(football_graph())
        ledger.adopt_tables({"halves": ("match_id", "half")})
        keys = [r[0] for r in ledger.db.execute("SELECT pk FROM records ORDER BY pk")]
        assert sorted(keys) == sorted(f"[{n},1]" for n in range(10))
    finally:
        ledger.close()


def _schema(db: sqlite3.Connection) -> list[tuple[str, str]]:
    return db.execute(
        "SELECT name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()


@pytest.mark.parametrize("start", range(len(MIGRATIONS)))
def test_a_ledger_from_any_version_migrates_to_the_fresh_schema(start: int) -> None:
    fresh = sqlite3.connect(":memory:", isolation_level=None)
    migrate(fresh)
    old = sqlite3.connect(":memory:", isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:start], start=1):
        old.executescript(script)
        old.execute(f"PRAGMA user_version={number}")
    assert migrate(old) == len(MIGRATIONS)
    assert _schema(old) == _schema(fresh)
    assert old.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
