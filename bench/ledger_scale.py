"""Benchmark 3: ledger scale. Does a big ledger slow down resuming and ``status``?

For N in 10^4, 10^5, 10^6 a ledger is filled through the ledger API
(``SqliteLedger.add_items`` in batches, then ``claim`` + ``complete`` of the first
half, one small record each) for ``bench/pipelines/ledger_pipe.py``. The filled
file is kept in ``.work/ledger-scale/`` and copied for every measurement, so each
one starts from the same state (page cache warm: the copy was just written).

Per size, ``reps`` times:

- ``scrapeline status --json`` on a fresh copy: wall time, peak RSS, and a check
  that it reports N/2 done and N/2 pending;
- ``scrapeline run`` on a fresh copy against a local site that records arrival
  times: the time from starting the process to the first request (discovery's
  listing page) and to the first *item* fetch (work resumed), then 1 s of work,
  then SIGINT (drain, exit 130); peak RSS and CPU of the whole process.

The fixed cost of starting the CLI (``scrapeline --help``) is measured too, so the
part that grows with the ledger can be told from Python's start-up.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH,
    WORK,
    Child,
    Mode,
    Result,
    rel,
    run_measured,
    say,
    scrapeline_cmd,
    spread,
    tail,
)

PIPE_FILE = BENCH / "pipelines" / "ledger_pipe.py"
STORE = WORK / "ledger-scale"
BATCH = 20_000
WORK_AFTER_FIRST_FETCH = 1.0


def _schema_tag() -> str:
    """Changes when the ledger's code or the way it is filled does: a filled file is
    rebuilt then."""
    import scrapeline.ledger.schema as schema
    import scrapeline.ledger.sqlite as sqlite

    digest = hashlib.sha256()
    for module in (schema, sqlite):
        digest.update(Path(module.__file__ or "").read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:12]


def fill(size: int) -> tuple[Path, float]:
    """A ledger with ``size`` items, the first half done. Cached; returns (path, seconds)."""
    from scrapeline.ledger.base import Completion, NewItem, RecordRow, RunStatus
    from scrapeline.ledger.sqlite import SqliteLedger
    from scrapeline.loader import load_pipeline

    STORE.mkdir(parents=True, exist_ok=True)
    path = STORE / f"ledger-{size}.db"
    stamp = STORE / f"ledger-{size}.stamp"
    tag = _schema_tag()
    if path.exists() and stamp.exists():
        info = json.loads(stamp.read_text())
        if info.get("tag") == tag:
            return path, float(info["seconds"])
    for old in STORE.glob(f"ledger-{size}.db*"):
        old.unlink()
    say(f"    filling a ledger with {size:,} items (half done) through the ledger API ...")
    pipe = load_pipeline(str(PIPE_FILE))
    started = time.perf_counter()
    ledger = SqliteLedger(path)
    try:
        ledger.prepare(pipe.graph())
        # as a run leaves it: the tables' keys are known, so resuming re-keys nothing
        ledger.adopt_tables({t.name: t.key for t in pipe.tables.values()})
        run_id = ledger.begin_run(pipe.name, {"filled_by": "bench"}, time.time(), 0)
        for first in range(0, size, BATCH):
            batch = [
                NewItem(kind="thing", key=k, data={"n": k}, date="2025-01-01")
                for k in range(first, min(first + BATCH, size))
            ]
            ledger.add_items(batch, run_id)
        owner = "bench-filler"
        half = size // 2
        done = 0
        while done < half:
            tasks = ledger.claim(owner, min(BATCH, half - done), time.time(), 3600.0)
            if not tasks:
                raise RuntimeError("the ledger had fewer pending tasks than expected")
            completions = [
                Completion(
                    task=t,
                    owner=owner,
                    records=[
                        RecordRow(
                            table="things",
                            pk=str(t.key),
                            json=json.dumps({"key": t.key, "title": f"thing {t.key}"}),
                        )
                    ],
                    started=time.time(),
                    duration=0.001,
                )
                for t in tasks
            ]
            ledger.complete(completions, run_id, time.time())
            done += len(tasks)
        ledger.end_run(run_id, RunStatus.INTERRUPTED, time.time(), {"done": done})
    finally:
        ledger.close()
    seconds = time.perf_counter() - started
    stamp.write_text(json.dumps({"tag": tag, "seconds": seconds}))
    size_mb = path.stat().st_size / 1e6
    say(f"    filled in {seconds:.1f} s ({size / seconds:,.0f} items/s), {size_mb:.0f} MB")
    return path, seconds


def _copy(pristine: Path, data_dir: Path) -> None:
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    shutil.copyfile(pristine, data_dir / "ledger.db")


def measure_status(pristine: Path, scratch: Path, size: int) -> dict[str, Any]:
    data = scratch / "status"
    _copy(pristine, data)
    out = scratch / "status.json"
    measured = run_measured(
        scrapeline_cmd("status", str(PIPE_FILE), "--data-dir", str(data), "--json"), out=out
    )
    problems = []
    try:
        info = json.loads(out.read_text())
        counts = info["stages"]["fetch"]
        if counts.get("done") != size // 2 or counts.get("pending") != size - size // 2:
            problems.append(f"status reports {counts}, expected {size // 2} done")
    except (ValueError, KeyError) as exc:
        problems.append(f"unreadable status: {exc}: {tail(out, 3)}")
    return {
        "wall": measured.wall,
        "max_rss_mb": measured.max_rss_mb,
        "cpu": measured.cpu,
        "exit_code": measured.returncode,
        "problems": problems,
    }


def measure_resume(
    pristine: Path, scratch: Path, size: int, work_after: float = WORK_AFTER_FIRST_FETCH
) -> dict[str, Any]:
    from bench.sites import ThingsSite, first_arrivals, serve_app, warm_up

    data = scratch / "run"
    _copy(pristine, data)
    site = ThingsSite(size)
    problems: list[str] = []
    with serve_app(site.app()) as url:
        warm_up(url, site.arrivals)
        argv = scrapeline_cmd(
            "run", str(PIPE_FILE), "--base-url", url, "--data-dir", str(data), "--workers", "8"
        )
        child = Child(argv, out=scratch / "run.txt")
        first, first_item = first_arrivals(child, site.arrivals, item="/things/")
        if first_item is not None:
            time.sleep(work_after)
        child.send(signal.SIGINT)
        measured = child.wait(timeout=60)
    started = child.started
    rusage = {
        "max_rss_mb": measured.max_rss_mb,
        "cpu": measured.cpu,
        "exit_code": measured.returncode,
    }
    if first_item is None:
        problems.append(f"no item was fetched: {tail(scratch / 'run.txt', 5)}")
    return {
        "to_first_fetch": (first - started) if first is not None else None,
        "to_first_item_fetch": (first_item - started) if first_item is not None else None,
        "requests": len(site.arrivals),
        **rusage,
        "problems": problems,
    }


def run(
    mode: Mode,
    *,
    sizes: tuple[int, ...] = (10**4, 10**5, 10**6),
    reps: int = 3,
    work_after: float = WORK_AFTER_FIRST_FETCH,
) -> Result:
    say(f"ledger: sizes {', '.join(f'{s:,}' for s in sizes)}, {reps} repetitions")
    floor = [run_measured(scrapeline_cmd("--help")) for _ in range(reps)]
    say(
        f"  `scrapeline --help` (start-up floor): {spread([m.wall for m in floor])['median']:.2f} s"
    )
    per_size: dict[str, Any] = {}
    for size in sizes:
        pristine, fill_seconds = fill(size)
        scratch = mode.scratch(f"ledger/{size}")
        statuses, resumes = [], []
        for rep in range(reps):
            statuses.append(measure_status(pristine, scratch, size))
            resumes.append(measure_resume(pristine, scratch, size, work_after))
            s, r = statuses[-1], resumes[-1]
            first_item = r["to_first_item_fetch"]
            say(
                f"    {size:>9,} rep {rep + 1}: status {s['wall']:.2f} s "
                f"({s['max_rss_mb']:.0f} MB); run → first request "
                f"{r['to_first_fetch'] or float('nan'):.2f} s, → first item fetch "
                f"{first_item if first_item is not None else float('nan'):.2f} s, "
                f"rss {r['max_rss_mb'] or float('nan'):.0f} MB"
                + (
                    "  " + "; ".join(s["problems"] + r["problems"])
                    if s["problems"] or r["problems"]
                    else ""
                )
            )
        per_size[str(size)] = {
            "items": size,
            "done": size // 2,
            "ledger_mb": pristine.stat().st_size / 1e6,
            "fill_seconds": fill_seconds,
            "status_wall": spread([s["wall"] for s in statuses]),
            "status_rss_mb": spread([s["max_rss_mb"] for s in statuses]),
            "to_first_fetch": spread(
                [r["to_first_fetch"] for r in resumes if r["to_first_fetch"] is not None]
            ),
            "to_first_item_fetch": spread(
                [r["to_first_item_fetch"] for r in resumes if r["to_first_item_fetch"] is not None]
            ),
            "run_rss_mb": spread([r["max_rss_mb"] for r in resumes if r["max_rss_mb"] is not None]),
            "problems": [p for x in statuses + resumes for p in x["problems"]],
            "status_runs": statuses,
            "resume_runs": resumes,
        }
    return Result(
        name="ledger",
        mode=mode,
        data={
            "sizes": list(sizes),
            "reps": reps,
            "startup_floor_s": spread([m.wall for m in floor]),
            "pipeline": rel(PIPE_FILE),
            "commands": {
                "status": f"scrapeline status {rel(PIPE_FILE)} --data-dir DIR --json",
                "run": f"scrapeline run {rel(PIPE_FILE)} --base-url URL --data-dir DIR --workers 8",
            },
            "work_after_first_item_fetch_s": work_after,
            "per_size": per_size,
        },
    )
