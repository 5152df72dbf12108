"""Benchmark 10: publishing. How long does ``scrapeline publish`` take to write a
snapshot of a 10-column table declared with a schema, and does its memory stay
flat as the table grows?

For each size (100,000 and 1,000,000 rows by default), a ledger of
``bench/pipelines/publish_pipe.py`` is made once (``SqliteLedger.prepare``) and its
``records`` filled straight with SQL (``executemany`` of the JSON a run stores:
the schema's coerced values, dates as ISO text, kickoffs with an offset, every 7th
score null), cached in ``.work/publish/`` by a hash of this file and the pipeline.
Then, ``rounds`` times, on that ledger (the snapshots of the round before removed):
``scrapeline publish PIPELINE --data-dir D --json`` as a whole process through the
real CLI, measured by the kernel (wall, CPU, peak RSS), its output checked (the
rows, the manifest's row count and checksum against the Parquet file, read back
by pyarrow).

Targets: 1,000,000 rows in ≤ 10 s; peak RSS flat: the same at 100,000 and at
1,000,000 rows (a batch of records is what a publish holds, not the table).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.common import BENCH, WORK, Mode, Result, rel, run_measured, say, scrapeline_cmd, spread

PIPE_FILE = BENCH / "pipelines" / "publish_pipe.py"
STORE = WORK / "publish"
SIZES = (100_000, 1_000_000)
SMOKE_SIZES = (2_000, 20_000)
TARGET_SECONDS = 10.0
FILL_BATCH = 50_000


def record(i: int) -> dict[str, Any]:
    """Row ``i`` of the table, as the schema's coercion stores it."""
    day = 1 + i % 28
    return {
        "match_id": i,
        "date": f"2024-02-{day:02d}",
        "kickoff": f"2024-02-{day:02d}T{12 + i % 9:02d}:30:00+01:00",
        "competition": f"League {i % 20}",
        "home": f"Team {i % 400}",
        "away": f"Team {(i * 7 + 3) % 400}",
        "home_goals": None if i % 7 == 0 else i % 5,
        "away_goals": None if i % 7 == 0 else (i // 5) % 4,
        "xg": round((i % 300) / 100, 2),
        "neutral": i % 11 == 0,
    }


def _key() -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes() + PIPE_FILE.read_bytes())
    return digest.hexdigest()[:12]


def ledger_of(rows: int) -> Path:
    """A data dir whose ledger holds ``rows`` records of ``matches`` (cached)."""
    from scrapeline.ledger.sqlite import SqliteLedger
    from scrapeline.loader import load_pipeline

    data = STORE / f"{_key()}-{rows}"
    if (data / "ledger.db").exists():
        return data
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    pipe = load_pipeline(str(PIPE_FILE))
    ledger = SqliteLedger(data / "ledger.db")
    try:
        ledger.prepare(pipe.graph())
        ledger.db.execute("BEGIN")
        for start in range(0, rows, FILL_BATCH):
            ledger.db.executemany(
                "INSERT INTO records(tbl, pk, item_id, stage, version, run_id, data) "
                "VALUES ('matches', ?, ?, 'overview', 1, ?, ?)",
                [
                    (
                        orjson.dumps([i]).decode(),
                        i + 1,
                        1 + i // 100_000,
                        orjson.dumps(record(i)).decode(),
                    )
                    for i in range(start, min(start + FILL_BATCH, rows))
                ],
            )
        ledger.db.execute("COMMIT")
        ledger.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        ledger.close()
    return data


def _check(data: Path, rows: int, output: str) -> list[str]:
    import pyarrow.parquet as pq

    from scrapeline.publish.files import sha256_of

    problems = []
    try:
        report = json.loads(output)
    except ValueError:
        return [f"publish printed no JSON: {output[-300:]!r}"]
    if report.get("tables") != {"matches": rows}:
        problems.append(f"publish reported {report.get('tables')}, expected {rows} rows")
    latest = data / "published" / "latest"
    manifest = json.loads((latest / "manifest.json").read_text())
    entry = manifest["tables"]["matches"]
    parquet = latest / "matches.parquet"
    if pq.ParquetFile(parquet).metadata.num_rows != rows or entry["rows"] != rows:
        problems.append("the manifest's or the file's row count is not the ledger's")
    if sha256_of(parquet) != entry["sha256"]:
        problems.append("the manifest's checksum is not the file's")
    return problems


def run(mode: Mode, *, sizes: Sequence[int] = SIZES, rounds: int = 3) -> Result:
    per_size: dict[str, Any] = {}
    problems: list[str] = []
    for rows in sizes:
        t0 = time.perf_counter()
        data = ledger_of(rows)
        fill = time.perf_counter() - t0
        walls, cpus, rss = [], [], []
        for r in range(rounds):
            shutil.rmtree(data / "published", ignore_errors=True)
            out = mode.scratch("publish") / f"publish-{rows}-{r}.out"
            measured = run_measured(
                scrapeline_cmd("publish", str(PIPE_FILE), "--data-dir", str(data), "--json"),
                out=out,
            )
            text = out.read_text(errors="replace")
            if measured.returncode != 0:
                problems.append(f"{rows} rows: publish exited {measured.returncode}: {text[-300:]}")
                continue
            problems += [f"{rows} rows: {p}" for p in _check(data, rows, text)]
            walls.append(measured.wall)
            cpus.append(measured.cpu)
            rss.append(measured.max_rss_mb)
            say(f"  {rows:,} rows: {measured.wall:.2f} s, {measured.max_rss_mb:.0f} MB peak RSS")
        parquet = data / "published" / "latest" / "matches.parquet"
        per_size[str(rows)] = {
            "rows": rows,
            "ledger_mb": (data / "ledger.db").stat().st_size / 1e6,
            "parquet_mb": parquet.stat().st_size / 1e6 if parquet.exists() else None,
            "fill_seconds": fill,
            "wall_s": spread(walls),
            "cpu_s": spread(cpus),
            "peak_rss_mb": spread(rss),
            "rows_per_s": rows / min(walls) if walls else None,
        }
    largest = per_size[str(max(sizes))]
    smallest = per_size[str(min(sizes))]
    rss_growth = (
        largest["peak_rss_mb"]["max"] / smallest["peak_rss_mb"]["min"]
        if smallest["peak_rss_mb"].get("min")
        else None
    )
    return Result(
        name="publish",
        mode=mode,
        data={
            "pipeline": rel(PIPE_FILE),
            "columns": 10,
            "rounds": rounds,
            "per_size": per_size,
            "target_seconds_at_1m": TARGET_SECONDS,
            "meets_time_target": (
                (largest["wall_s"]["median"] or 1e9) <= TARGET_SECONDS
                if max(sizes) >= 1_000_000
                else None
            ),
            "peak_rss_growth_largest_over_smallest": rss_growth,
            "problems": problems,
        },
    )
