"""Benchmark 11, validation: what checking a record on the way in costs.

Records of a 10-column schema (ints, floats, text, a date, a bool, an optional
column, one text-typed number to coerce) go through ``Pipeline.check_record``, the
call the runner makes for every record a stage returns: validation and coercion by
the schema, one ``warn`` record check, the key and the JSON text as stored. Reported
as microseconds per record (best round of ``rounds``, CPU time of this process),
against a target of 5 µs, beside the same records through a table with no schema
(``orjson.dumps`` and the key) for scale.

    python -m bench validation
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from bench.common import Mode, Result, say

TARGET_US = 5.0
"""Microseconds per record the check may cost."""


def _records(count: int) -> list[Any]:
    from scrapeline import Record

    day = dt.date(2024, 8, 1)
    return [
        Record(
            "matches",
            {
                "match_id": n,
                "date": (day + dt.timedelta(days=n % 300)).isoformat(),
                "season": "2024-25",
                "competition": "Premier League",
                "team1": f"Team {n % 20}",
                "team2": f"Team {(n + 7) % 20}",
                "goals1": str(n % 4),  # text, as parsed from a page: coerced to int
                "goals2": n % 3,
                "possession": 40.0 + n % 20,
                "played": True,
            },
        )
        for n in range(count)
    ]


def _pipeline(schema: bool) -> Any:
    from pydantic import BaseModel, Field

    from scrapeline import Pipeline

    class Match(BaseModel):
        match_id: int
        date: dt.date
        season: str
        competition: str
        team1: str
        team2: str
        goals1: int = Field(ge=0)
        goals2: int = Field(ge=0)
        possession: float | None = None
        played: bool

    pipe = Pipeline("bench")
    pipe.table("matches", key="match_id", schema=Match if schema else None)

    @pipe.check("matches", severity="warn")
    def not_a_rout(r: dict[str, Any]) -> bool:
        return abs(int(r["goals1"]) - int(r["goals2"])) < 3

    return pipe


def _per_record(pipe: Any, records: list[Any], rounds: int) -> float:
    check = pipe.check_record
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for record in records:
            check(record)
        best = min(best, time.process_time() - started)
    return best / len(records) * 1e6


def run(mode: Mode, *, records: int = 200_000, rounds: int = 5) -> Result:
    data = _records(records)
    typed = _pipeline(schema=True)
    untyped = _pipeline(schema=False)
    _, stored, warned = typed.check_record(data[3])  # the sample a reader can check
    say(f"validation: {records:,} records x {rounds} rounds")
    with_schema = _per_record(typed, data, rounds)
    without = _per_record(untyped, data, rounds)
    say(f"  schema + check: {with_schema:.2f} µs/record (target ≤ {TARGET_US:g})")
    say(f"  no schema, the check only: {without:.2f} µs/record")
    return Result(
        name="validation",
        mode=mode,
        data={
            "records": records,
            "rounds": rounds,
            "columns": 10,
            "checks": 1,
            "us_per_record": round(with_schema, 3),
            "us_per_record_without_schema": round(without, 3),
            "target_us_per_record": TARGET_US,
            "meets_target": with_schema <= TARGET_US,
            "sample_stored": stored,
            "sample_warnings": [v.rule for v in warned],
        },
    )
