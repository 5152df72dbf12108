"""Benchmark 5: resume cost. SIGKILL at random points; is anything redone, doubled or lost?

The bundled football pipeline crawls the rehearsal site (in a thread, a little
latency so a run lasts long enough to be interrupted) on one data dir. ``kills``
times, a run is started and SIGKILLed after a random delay (seeded) from its
start, so kills land in start-up, discovery, fetching and commits alike; then a
last run goes to the end. The site records every request's path.

Checked:

- **duplicate fetches of done items**: a page of an item whose task was DONE
  in the ledger when its run started, fetched again by that run (must be 0;
  pages of items in flight at the kill may be fetched again, and are counted
  apart as "redone in-flight");
- **atomic completion at every kill**: rows in ``matches``/``halves`` equal
  the DONE tasks of their stages;
- **duplicated records** and **items lost** after the last run, against the
  expected rows of the matches served (both must be 0), and the last run's
  exit code (0).
"""

from __future__ import annotations

import random
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

from bench.common import (
    PIPELINE,
    Child,
    Mode,
    Result,
    compare,
    expected_records,
    rows_from_ledger,
    say,
    scrapeline_cmd,
    tail,
)

LATENCY = 0.02


def _done_paths(db: Path) -> set[str]:
    """The page of every item whose task is DONE (only listing pages are not items)."""
    if not db.exists():
        return set()
    paths: set[str] = set()
    with sqlite3.connect(db) as conn:
        try:
            rows = conn.execute(
                "SELECT t.stage, i.key FROM tasks t JOIN items i ON i.id = t.item_id "
                "WHERE t.status = 'done'"
            ).fetchall()
        except sqlite3.OperationalError:  # killed before its schema was committed
            return set()
    for stage, key in rows:
        if stage == "overview":
            paths.add(f"/matches/{key}")
        elif stage == "half_stats":
            match_id, _, half = str(key).rpartition("-")
            paths.add(f"/matches/{match_id}/halves/{half}")
    return paths


def _count(db: Path, sql: str) -> int:
    """``sql``'s count; 0 while the table does not exist (a run killed before its schema)."""
    with sqlite3.connect(db) as conn:
        try:
            return int(conn.execute(sql).fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return 0
            raise


def _atomic(db: Path) -> dict[str, int]:
    """Rows against DONE tasks, per table; equal when completion is atomic."""
    if not db.exists():
        return {}
    out = {}
    for table, stage in (("matches", "overview"), ("halves", "half_stats")):
        rows = _count(db, f"SELECT count(*) FROM {table}")  # no view: no row written yet
        done = _count(db, f"SELECT count(*) FROM tasks WHERE stage='{stage}' AND status='done'")
        out[f"{table}_rows"] = rows
        out[f"{stage}_done"] = done
    return out


def run(
    mode: Mode,
    *,
    matches_count: int = 3000,
    kills: int = 20,
    seed: int = 20_250_101,
    min_delay: float = 0.3,
    max_delay: float = 1.8,
) -> Result:
    from bench.sites import RecordingSite
    from scrapeline.testing import load_sample, serve_in_thread

    say(f"resume: {kills} SIGKILLs at random points (seed {seed}), then a run to the end")
    matches = list(load_sample()[:matches_count])
    source = f"packaged sample, {len(matches):,} newest (the same everywhere, CI included)"
    want = expected_records(matches)
    scratch = mode.scratch("resume")
    data = scratch / "data"
    db = data / "ledger.db"
    rng = random.Random(seed)
    site = RecordingSite(matches, latency=LATENCY)
    runs: list[dict[str, Any]] = []
    with serve_in_thread(site) as url:
        argv = scrapeline_cmd(
            "run", PIPELINE, "--base-url", url, "--data-dir", str(data), "--workers", "8"
        )
        for attempt in range(kills + 1):
            last = attempt == kills
            done_before = _done_paths(db)
            first_arrival = len(site.arrivals)
            child = Child(argv, out=scratch / f"run-{attempt}.txt")
            delay = None if last else rng.uniform(min_delay, max_delay)
            if delay is None:
                measured = child.wait(timeout=600)
                killed = False
            else:
                deadline = child.started + delay
                while time.monotonic() < deadline and not child.done():
                    time.sleep(0.002)
                killed = not child.done()
                child.send(signal.SIGKILL)
                measured = child.wait(timeout=30)
            fetched = [path for _, path in site.arrivals[first_arrival:]]
            item_pages = [p for p in fetched if p.startswith("/matches/")]
            duplicates = [p for p in item_pages if p in done_before]
            done_after = _done_paths(db)
            record: dict[str, Any] = {
                "run": attempt + 1,
                "kill_after_s": delay,
                "killed": killed,
                "exit_code": measured.returncode,
                "requests": len(fetched),
                "item_pages": len(item_pages),
                "duplicate_fetches_of_done": len(duplicates),
                "duplicate_examples": duplicates[:3],
                "done_before": len(done_before),
                "done_after": len(done_after),
                "atomic": _atomic(db),
            }
            runs.append(record)
            atomic = record["atomic"]
            torn = bool(atomic) and (
                atomic["matches_rows"] != atomic["overview_done"]
                or atomic["halves_rows"] != atomic["half_stats_done"]
            )
            record["torn"] = torn
            what = "finished" if not killed else f"SIGKILL at {delay:.2f} s"
            say(
                f"    run {attempt + 1:>2}: {what:<18} {len(item_pages):5} item pages, "
                f"done {len(done_before):5} → {len(done_after):5}, "
                f"re-fetched done items: {len(duplicates)}" + ("  TORN COMMIT" if torn else "")
            )
    final = runs[-1]
    problems: list[str] = []
    if final["exit_code"] != 0:
        problems.append(
            f"last run exit code {final['exit_code']}: {tail(scratch / f'run-{kills}.txt')}"
        )
    rows = rows_from_ledger(db) if db.exists() else {"matches": [], "halves": []}
    differences = compare(rows, want)
    duplicated_records = sum(len(v) - len(set(v)) for v in rows.values())
    lost = sum(len(want[t] - set(rows.get(t, []))) for t in want)
    redone_in_flight = 0
    ever_fetched: set[str] = set()
    for _, path in site.arrivals:
        if path.startswith("/matches/"):
            if path in ever_fetched:
                redone_in_flight += 1
            ever_fetched.add(path)
    duplicate_fetches = sum(r["duplicate_fetches_of_done"] for r in runs)
    redone_in_flight -= duplicate_fetches
    not_done = (
        _count(db, "SELECT count(*) FROM tasks WHERE status != 'done'") if db.exists() else -1
    )
    return Result(
        name="resume",
        mode=mode,
        data={
            "source": source,
            "matches": len(matches),
            "expected_rows": {t: len(v) for t, v in want.items()},
            "latency_s": LATENCY,
            "kills": kills,
            "kills_mid_run": sum(1 for r in runs if r["killed"]),
            "seed": seed,
            "delay_range_s": [min_delay, max_delay],
            "command": f"scrapeline run {PIPELINE} --base-url URL --data-dir DIR --workers 8",
            "duplicate_fetches_of_done_items": duplicate_fetches,
            "redone_in_flight_pages": redone_in_flight,
            "duplicated_records": duplicated_records,
            "items_lost": lost,
            "torn_commits": sum(1 for r in runs if r["torn"]),
            "tasks_not_done_at_end": not_done,
            "final_exit_code": final["exit_code"],
            "row_differences": differences,
            "problems": problems,
            "crashed_runs_recorded": _count(db, "SELECT count(*) FROM runs WHERE status='crashed'")
            if db.exists()
            else 0,
            "runs": runs,
        },
    )
