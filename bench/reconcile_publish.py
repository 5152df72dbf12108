"""Benchmark: a reconciliation as a step of publishing. ``publish`` (the workspace
function ``scrapeline publish`` calls) of a ledger holding benchmark 11's ~100,000
source records (filled straight with SQL), first in full, then after 1 % of the
source records changed (written by a later run) and a few removed.

Reported: the whole publish and its reconciliation part (the log line of
:mod:`scrapeline.publish.reconciled`), both wall seconds. Target: the
reconciliation part of the incremental publish ≤ 1 s.

    python -m bench.reconcile_publish [PEOPLE]
"""

from __future__ import annotations

import logging
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.reconcile import declare, edits, generate

TABLE = {"combine": "combine_players", "stats": "college_stats", "injuries": "injury_report"}


class _Seconds(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _fill(data: Path, pipe: Any, rows: dict[str, list[dict[str, Any]]], run: int) -> None:
    from scrapeline.ledger.sqlite import SqliteLedger

    data.mkdir(exist_ok=True)
    ledger = SqliteLedger(data / "ledger.db")
    try:
        ledger.prepare(pipe.graph())
        ledger.db.execute("BEGIN")
        for source, records in rows.items():
            table = pipe.tables[TABLE[source]]
            ledger.db.executemany(
                "INSERT OR REPLACE INTO records(tbl, pk, item_id, stage, version, run_id, data) "
                "VALUES (?, ?, 1, 's', 1, ?, ?)",
                [
                    (table.name, table.primary_key(r), run, orjson.dumps(r).decode())
                    for r in records
                ],
            )
        ledger.db.execute("COMMIT")
    finally:
        ledger.close()


def _remove(data: Path, pipe: Any, removed: dict[str, list[Any]]) -> None:
    from scrapeline.ledger.sqlite import SqliteLedger

    ledger = SqliteLedger(data / "ledger.db")
    try:
        for source, keys in removed.items():
            table = pipe.tables[TABLE[source]]
            for key in keys:
                values = key if isinstance(key, list) else [key]
                pk = table.primary_key(dict(zip(table.key, values, strict=True)))
                ledger.db.execute("DELETE FROM records WHERE tbl=? AND pk=?", (table.name, pk))
    finally:
        ledger.close()


def main(people: int = 40_000) -> None:
    from scrapeline.workspace.publish import publish

    decl = declare()
    pipe = _pipe_of(decl)
    handler = _Seconds()
    logging.getLogger("scrapeline.reconcile").addHandler(handler)
    logging.getLogger("scrapeline.reconcile").setLevel(logging.INFO)
    records = generate(people)
    total = sum(len(v) for v in records.values())
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        _fill(data, pipe, records, run=1)
        for label, step in (("full", None), ("after 1 % changed", 0.01)):
            if step is not None:
                changed, removed, _ = edits(records, step)
                _fill(data, pipe, changed, run=2)
                _remove(data, pipe, removed)
                n = sum(len(v) for v in changed.values()) + sum(len(v) for v in removed.values())
                print(f"  {n:,} source records changed or removed")
            started = time.perf_counter()
            report = publish(pipe, data, keep=2)
            took = time.perf_counter() - started
            part = float(re.findall(r"([\d.]+) s$", handler.lines[-1])[0])
            print(
                f"{label}: {total:,} source records, {report.tables['prospects']:,} entities; "
                f"publish {took:.2f} s, reconciliation {part:.3f} s ({handler.lines[-1]})"
            )


def _pipe_of(decl: Any) -> Any:
    """The pipeline bench.reconcile.declare made (the reconciliation's own)."""
    from scrapeline import Pipeline

    pipe = Pipeline("draft")
    pipe.table("combine_players", key="combine_id")
    pipe.table("college_stats", key="stats_id")
    pipe.table("injury_report", key=("team", "report_id"))
    pipe.reconciliations["prospects"] = decl

    @pipe.discover("prospect")
    async def listing(ctx: Any, offset: Any) -> Any:  # the ledger is filled with SQL
        return
        yield

    @pipe.stage("s", on="prospect")
    async def s(ctx: Any, item: Any) -> None:
        return None

    return pipe


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40_000)
