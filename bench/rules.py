"""Benchmark 10: table rules. How long do the usual rules take over a million rows?

A ``matches`` table of ``rows`` rows and 10 columns (match id, league, season, home,
away, home and away goals, date, attendance, referee) and a ``teams`` table of 1,000
rows, written as Parquet files (zstd, as a snapshot would be) and read through one
DuckDB view each, as publishing reads a snapshot. The data is made once with a fixed
seed and cached in ``.work/rules/``, by size and a hash of the code that makes it.

The rules are the usual ones: ``unique(match_id)``, ``not_null`` on home, away and
date (three rules), ``between`` on both goal columns, ``accepted(league, ...)``,
``references(home, teams)``, ``row_count(min=...)`` and ``fresh(date, "7d")``: ten
rules, evaluated by ``scrapeline.quality.rules.evaluate`` on a fresh connection.

Measured, ``rounds`` times each, alternating: the wall time of evaluating all the
rules (connection and views included) over the *clean* table, where every rule
passes, and over the *dirty* one, where about 1 row in 1,000 breaks each row rule
(a duplicated id, NULLs, negative goals, an unknown league or team), so every rule
also counts and samples its failing rows; and each rule alone over the clean table.
Every round's results are checked: the clean table passes everything, and the dirty
one fails each row rule with exactly the rows that were broken.

Target: all ten rules over 1,000,000 rows in at most 5 s.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import time
from pathlib import Path
from typing import Any

from bench.common import WORK, Mode, Result, rel, say, spread

STORE = WORK / "rules"
TEAMS = 1_000
LEAGUES = ("en.1", "en.2", "de.1", "es.1", "it.1", "fr.1", "nl.1", "pt.1", "br.1", "jp.1")
NOW = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)
TARGET_S = 5.0
BROKEN_EVERY = 1_000
"""In the dirty table, each row rule's column is broken in one row in this many."""


def expected_failures(rows: int) -> dict[str, int]:
    """How many rows each row rule must find in the dirty table."""
    n = len(range(0, rows, BROKEN_EVERY))
    return {
        "unique(match_id)": 2 * n,
        "not_null(home)": n,
        "not_null(away)": n,
        "not_null(date)": n,
        "between(home_goals, min=0, max=20)": n,
        "between(away_goals, min=0, max=20)": n,
        "accepted(league, [...])": n,
        "references(home, teams)": n,
    }


def make_tables(rows: int, store: Path) -> None:
    """Write ``matches.parquet``, ``dirty.parquet`` and ``teams.parquet`` into ``store``,
    unless they are there (``store`` is named by the size and this code's hash)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    if all((store / f).exists() for f in ("matches.parquet", "dirty.parquet", "teams.parquet")):
        return
    store.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20_250_601)
    team_names = np.array([f"Team {n:04d}" for n in range(TEAMS)], dtype=object)
    home = rng.integers(0, TEAMS, rows)
    away = (home + rng.integers(1, TEAMS, rows)) % TEAMS
    first_day = (NOW.date() - dt.date(1970, 1, 1)).days - 3_000
    days = np.sort(rng.integers(first_day, first_day + 3_000, rows))
    days[-1] = first_day + 2_999  # the newest match is yesterday: fresh passes
    columns = {
        "match_id": np.arange(1, rows + 1, dtype=np.int64),
        "league": np.array(LEAGUES, dtype=object)[rng.integers(0, len(LEAGUES), rows)],
        "season": np.array([str(y) for y in range(2016, 2026)], dtype=object)[
            np.minimum((days - first_day) // 300, 9)
        ],
        "home": team_names[home],
        "away": team_names[away],
        "home_goals": rng.poisson(1.5, rows).astype(np.int32),
        "away_goals": rng.poisson(1.2, rows).astype(np.int32),
        "date": days.astype("datetime64[D]"),
        "attendance": rng.integers(1_000, 80_000, rows).astype(np.int64),
        "referee": np.array([f"Ref {n}" for n in range(200)], dtype=object)[
            rng.integers(0, 200, rows)
        ],
    }
    clean = pa.table(columns)
    pq.write_table(clean, store / "matches.parquet", compression="zstd")
    pq.write_table(
        pa.table({"name": team_names, "city": [f"City {n}" for n in range(TEAMS)]}),
        store / "teams.parquet",
    )
    broken = np.arange(0, rows, BROKEN_EVERY)
    dirty = {k: v.copy() for k, v in columns.items()}
    masks: dict[str, Any] = {}
    for offset, column in enumerate(("home", "away", "date", "home_goals", "away_goals")):
        masks[column] = np.zeros(rows, dtype=bool)
        masks[column][(broken + offset) % rows] = True
    dirty["match_id"][(broken + 5) % rows] = dirty["match_id"][(broken + 6) % rows]
    dirty["home_goals"][masks["home_goals"]] = -1
    dirty["away_goals"][masks["away_goals"]] = 99
    dirty["league"][(broken + 7) % rows] = "xx.9"
    dirty["home"][(broken + 8) % rows] = "Nobody FC"
    nullable = ("home", "away", "date")
    table = pa.table(
        {
            name: pa.array(values, mask=masks[name] if name in nullable else None)
            for name, values in dirty.items()
        }
    )
    pq.write_table(table, store / "dirty.parquet", compression="zstd")


def pipeline(rows: int) -> Any:
    from scrapeline.pipeline import Pipeline
    from scrapeline.quality.rules import (
        accepted,
        between,
        fresh,
        not_null,
        references,
        row_count,
        unique,
    )

    pipe = Pipeline("bench")
    pipe.table("matches", key="match_id")
    pipe.table("teams", key="name")
    pipe.rule(
        "matches",
        unique("match_id"),
        not_null("home"),
        not_null("away"),
        not_null("date"),
        between("home_goals", min=0, max=20),
        between("away_goals", min=0, max=20),
        accepted("league", LEAGUES, name="accepted(league, [...])"),
        references("home", "teams"),
        row_count(min=rows),
        fresh("date", "7d"),
    )
    return pipe


def evaluate_once(store: Path, matches: str, pipe: Any) -> tuple[float, list[Any]]:
    import duckdb

    from scrapeline.quality.rules import evaluate

    started = time.perf_counter()
    con = duckdb.connect()
    con.read_parquet(str(store / matches)).create_view("matches")
    con.read_parquet(str(store / "teams.parquet")).create_view("teams")
    results = evaluate(con, pipe, now=NOW.timestamp())
    con.close()
    return time.perf_counter() - started, results


def run(mode: Mode, *, rows: int = 1_000_000, rounds: int = 3) -> Result:
    from scrapeline.pipeline import Pipeline

    code = hashlib.sha256(inspect.getsource(make_tables).encode()).hexdigest()[:12]
    store = STORE / f"{rows}-{code}"
    say(f"rules: {rows:,} rows, {rounds} rounds")
    made = time.perf_counter()
    make_tables(rows, store)
    expected_dirty = expected_failures(rows)
    say(f"  data ready in {time.perf_counter() - made:.1f} s ({rel(store)})")
    pipe = pipeline(rows)
    problems: list[str] = []
    clean_s, dirty_s = [], []
    per_rule: dict[str, list[float]] = {}
    for _ in range(rounds):
        wall, results = evaluate_once(store, "matches.parquet", pipe)
        clean_s.append(wall)
        problems += [f"clean: {r.rule}: {r.message}" for r in results if not r.passed]
        wall, results = evaluate_once(store, "dirty.parquet", pipe)
        dirty_s.append(wall)
        found = {r.rule: r.failing for r in results if not r.passed}
        if found != expected_dirty:
            problems.append(f"dirty: failing {found}, expected {expected_dirty}")
        for result in results:
            if result.failing and len(result.sample) != 5:
                problems.append(f"dirty: {result.rule}: a sample of {len(result.sample)}")
        for rule in pipe.rules["matches"]:
            alone = Pipeline("bench")
            alone.tables = pipe.tables
            alone.rules = {"matches": [rule]}
            wall, _ = evaluate_once(store, "matches.parquet", alone)
            per_rule.setdefault(rule.label, []).append(wall)
        say(f"  clean {clean_s[-1]:.2f} s, dirty {dirty_s[-1]:.2f} s")
    sizes = {p.name: p.stat().st_size for p in store.glob("*.parquet")}
    total = spread(clean_s)
    return Result(
        name="rules",
        mode=mode,
        data={
            "rows": rows,
            "columns": 10,
            "teams": TEAMS,
            "rounds": rounds,
            "rules": [r.label for r in pipe.rules["matches"]],
            "parquet_mb": {k: round(v / 1e6, 2) for k, v in sorted(sizes.items())},
            "broken_every": BROKEN_EVERY,
            "clean_s": total,
            "dirty_s": spread(dirty_s),
            "per_rule_s": {k: spread(v) for k, v in per_rule.items()},
            "target_s": TARGET_S,
            "met": total["median"] is not None and total["median"] <= TARGET_S,
            "problems": problems[:20],
            "all_ok": not problems,
        },
    )
