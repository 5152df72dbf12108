"""Benchmark 9: run history. Do ``runs``, ``runs show`` and ``health`` stay fast, and a
run's start unchanged, when a ledger holds 10,000 runs and 10⁷ attempts?

The ledger of ``bench/pipelines/history_pipe.py`` (three stages on ``thing`` items)
is made in two steps, both cached in ``.work/history/`` and keyed by a hash of the
ledger's code (``schema.py``, ``sqlite.py``), the pipeline and this file:

- the *empty history*: opened once as a ``SqliteLedger`` (which creates and
  migrates the file, and records the stages and tables), ``items`` thing items added
  through the ledger API, then their tasks set straight in SQL: the items but the
  ``pending`` newest done, the newest run's failed tasks failed. No run, no attempt.
- the *history*: a copy of it with ``runs`` runs (one an hour) and ``attempts``
  attempts spread over them (1,000 a run on average, more or fewer by run), written
  with ``executemany`` into the ledger's own tables: per attempt its stage (half
  ``fetch``, 30 % ``detail``, 20 % ``score``), task, outcome (0.5–6.4 % failed
  depending on the run, with a category), duration, start and records. Each run
  that ended has the summary a real one stores (exit code, reason, wall, hosts, and
  the counts per stage ``record_end`` notes); every 97th run crashed (never ended,
  nothing noted: its counts are read from its attempts), every 41st was interrupted.
  Then ``ANALYZE``, as ``PRAGMA optimize`` would have over the ledger's life.

Every attempt is a pure function of (run, attempt number) (:func:`attempts_of`), so
the checks recompute what each command must print without reading the ledger.

Measured, ``rounds`` times, each command as a whole process through the real CLI
on a fresh copy of the history (wall, CPU, peak RSS, and its output checked):

- ``scrapeline runs PIPELINE --json``: the 20 newest runs, newest first, each with
  its status, counts per stage, categories and failed stage as filled;
- ``scrapeline runs show PIPELINE ID --json`` of the newest run: its counts and its
  failed items, in the order it failed them, each still failed with its message;
- ``scrapeline health PIPELINE --json``: per stage over the 10 newest runs, tasks,
  done, failed, records, success rate, p50/p95 duration, the top error categories
  with their count per run, their count in the 10 runs before and their trend;
- ``scrapeline run`` against a local site (``bench.sites.ThingsSite``) on a copy of
  the history and on a copy of the empty history, alternating: the time from
  starting the process to its first request and to its first item fetch, as
  ``bench/ledger_scale.py`` measures it, then SIGINT.

The statements the history commands run are captured (SQLite's trace) and their
``EXPLAIN QUERY PLAN`` is kept in the results, so a slow one can be told at a glance.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH,
    WORK,
    Child,
    Mode,
    Result,
    load_average,
    rel,
    run_measured,
    say,
    scrapeline_cmd,
    spread,
    tail,
)

PIPE_FILE = BENCH / "pipelines" / "history_pipe.py"
STORE = WORK / "history"
BATCH = 20_000
STAGES = ("fetch", "detail", "score")
_STAGE_OF = (0, 0, 0, 0, 0, 1, 1, 1, 2, 2)
"""The stage of attempt ``i`` of a run is ``_STAGE_OF[i % 10]``: 50 / 30 / 20 %."""
_NTH_IN_BLOCK = (0, 1, 2, 3, 4, 0, 1, 2, 0, 1)
_PER_BLOCK = (5, 3, 2)
RECORDS = (1, 3, 1)
"""Records a done attempt of each stage wrote."""
CATEGORIES = (
    "http_5xx",
    "http_5xx",
    "http_5xx",
    "timeout",
    "timeout",
    "parse",
    "rate_limited",
    "network",
)
"""A failed attempt's category is one of these (repeats weigh it)."""
T0 = 1_704_067_200.0
"""2024-01-01 UTC: the first run's start; one run an hour after it."""
HOST = "127.0.0.1:8000"
RUNS_SHOWN = 20
"""``scrapeline runs`` lists this many by default."""
HEALTH_WINDOW = 10
"""``scrapeline health`` looks at this many runs by default."""
TOP_ERRORS = 3
WORK_AFTER_FIRST_ITEM_FETCH = 0.3
PIPE_NAME = "history_bench"
START_FIGURES = (
    "to_first_fetch",
    "to_first_item_fetch",
    "process_wall",
    "cpu",
    "max_rss_mb",
    "start_calls",
)


# -- the history, as a pure function of (run, attempt) ----------------------------------


@dataclass(frozen=True, kw_only=True)
class Shape:
    """How big the history is: runs, attempts (on average ``attempts // runs`` a
    run), thing items, and how many of the newest items are still pending."""

    runs: int
    attempts: int
    items: int
    pending: int

    @property
    def per_run(self) -> int:
        return self.attempts // self.runs

    @property
    def done_items(self) -> int:
        return self.items - self.pending

    def attempts_in(self, run: int) -> int:
        """Attempts of run ``run`` (1-based): ``per_run`` ± a spread that cancels out
        over each pair of runs, so ``runs`` (even) runs hold ``runs × per_run``.

        >>> s = Shape(runs=4, attempts=4000, items=10_000, pending=0)
        >>> [s.attempts_in(r) for r in (1, 2, 3, 4)], sum(s.attempts_in(r) for r in range(1, 5))
        ([1000, 1000, 1037, 963], 4000)
        """
        d = ((run - 1) // 2 * 37) % max(1, self.per_run // 2)
        return self.per_run + d if run % 2 else self.per_run - d

    def status(self, run: int) -> str:
        """``crashed`` every 97th run from the newest (one of the 10 newest),
        ``interrupted`` every 41st, else ``failed`` or ``done`` by its attempts."""
        if (self.runs - run) % 97 == 9:
            return "crashed"
        if (self.runs - run) % 41 == 3:
            return "interrupted"
        return "ended"

    def started_at(self, run: int) -> float:
        return T0 + (run - 1) * 3600.0


@dataclass(frozen=True, slots=True)
class Attempt:
    stage: int
    item: int
    ok: bool
    category: str | None
    duration: float


FULL = Shape(runs=10_000, attempts=10**7, items=100_000, pending=1_000)
SMOKE = Shape(runs=30, attempts=30_000, items=4_000, pending=1_000)


def attempts_of(shape: Shape, run: int) -> Iterator[Attempt]:
    """The attempts of run ``run``, in order. Within a run each (stage, item) once.

    >>> s = Shape(runs=2, attempts=2000, items=5_000, pending=100)
    >>> a = list(attempts_of(s, 1))
    >>> len(a), [STAGES[x.stage] for x in a[:10]].count("fetch")
    (1000, 5)
    >>> len({(x.stage, x.item) for x in a}) == len(a)
    True
    """
    permille = failure_permille(run)
    done_items = shape.done_items
    first = run * 7919
    for i in range(shape.attempts_in(run)):
        s = _STAGE_OF[i % 10]
        nth = (i // 10) * _PER_BLOCK[s] + _NTH_IN_BLOCK[i % 10]
        h = (i * 2654435761 + run * 40503) % 1000
        failed = h < permille
        yield Attempt(
            stage=s,
            item=(first + nth) % done_items,
            ok=not failed,
            category=CATEGORIES[(h + run) % len(CATEGORIES)] if failed else None,
            duration=0.02 + ((i * 48271 + run * 16807) % 10007) * 0.3 * (s + 1) / 10007,
        )


def failure_permille(run: int) -> int:
    """Failed attempts per thousand in run ``run``: 5 to 64, by run.

    >>> failure_permille(1), failure_permille(5)
    (18, 10)
    """
    return 5 + (run * 13) % 60


@dataclass
class Tally:
    """What one run's attempts add up to, per stage (stage order: first met)."""

    done: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)
    categories: dict[str, dict[str, int]] = field(default_factory=dict)
    durations: dict[str, list[float]] = field(default_factory=dict)
    failures: list[tuple[str, int, str]] = field(default_factory=list)
    """(stage, item key, category) of each failed attempt, in order."""

    def add(self, a: Attempt) -> None:
        stage = STAGES[a.stage]
        for counts in (self.done, self.failed, self.records):
            counts.setdefault(stage, 0)
        self.categories.setdefault(stage, {})
        self.durations.setdefault(stage, []).append(a.duration)
        if a.ok:
            self.done[stage] += 1
            self.records[stage] += RECORDS[a.stage]
            return
        assert a.category is not None
        self.failed[stage] += 1
        self.categories[stage][a.category] = self.categories[stage].get(a.category, 0) + 1
        self.failures.append((stage, a.item, a.category))

    def stages(self) -> dict[str, dict[str, int]]:
        return {
            s: {"done": self.done[s], "failed": self.failed[s], "records": self.records[s]}
            for s in self.done
        }

    def all_categories(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for by_stage in self.categories.values():
            for name, n in by_stage.items():
                out[name] = out.get(name, 0) + n
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))

    def failed_stage(self) -> str | None:
        if not any(self.failed.values()):
            return None
        most = max(self.failed.values())
        return next(s for s, n in self.failed.items() if n == most)


def tally(shape: Shape, run: int) -> Tally:
    out = Tally()
    for a in attempts_of(shape, run):
        out.add(a)
    return out


def run_status(shape: Shape, run: int, t: Tally) -> str:
    kind = shape.status(run)
    if kind != "ended":
        return kind
    return "failed" if any(t.failed.values()) else "done"


# -- the filled ledgers (cached) --------------------------------------------------------


def _fill_tag(shape: Shape) -> str:
    """Changes when the ledger's schema code, the pipeline or the way this module
    fills the ledgers does (not when only the measuring does): both ledgers are filled
    again then."""
    import scrapeline.ledger.schema as schema
    import scrapeline.ledger.sqlite as sqlite

    digest = hashlib.sha256(repr(shape).encode())
    for path in (schema.__file__, sqlite.__file__, str(PIPE_FILE)):
        digest.update(Path(path or "").read_bytes())
    filling = (Shape, attempts_of, failure_permille, Tally, run_status, fill_empty, _options)
    for part in (*filling, _summary, fill_history, _task_ids, _rows):
        digest.update(inspect.getsource(part).encode())
    digest.update(repr((STAGES, RECORDS, CATEGORIES, T0, HOST, BATCH)).encode())
    return digest.hexdigest()[:12]


def _name(shape: Shape) -> str:
    return f"{shape.runs}-{shape.attempts}-{shape.items}"


def fill_empty(shape: Shape) -> Path:
    """The ledger with items and tasks and no history (see the module doc). Cached."""
    from scrapeline.ledger.base import NewItem
    from scrapeline.ledger.sqlite import SqliteLedger
    from scrapeline.loader import load_pipeline

    STORE.mkdir(parents=True, exist_ok=True)
    path = STORE / f"empty-{_name(shape)}.db"
    stamp = path.with_suffix(".stamp")
    tag = _fill_tag(shape)
    if path.exists() and stamp.exists() and stamp.read_text() == tag:
        return path
    for old in STORE.glob(f"{path.name}*"):
        old.unlink()
    say(f"  filling a ledger with {shape.items:,} items × {len(STAGES)} stages, no history ...")
    started = time.perf_counter()
    pipe = load_pipeline(str(PIPE_FILE))
    ledger = SqliteLedger(path)
    try:
        ledger.prepare(pipe.graph())
        ledger.adopt_tables({t.name: t.key for t in pipe.tables.values()})
        filler = ledger.begin_run(pipe.name, {"filled_by": "bench"}, T0 - 3600, 0)
        for first in range(0, shape.items, BATCH):
            ledger.add_items(
                [
                    NewItem(kind="thing", key=k, date="2024-01-01")
                    for k in range(first, min(first + BATCH, shape.items))
                ],
                filler,
            )
    finally:
        ledger.close()
    newest = shape.runs
    failed = tally(shape, newest).failures
    with closing(sqlite3.connect(path)) as db:
        # as a history would leave them: the older items done, the newest pending,
        # and what the newest run failed still failed (its next run tries them again)
        db.execute(
            "UPDATE tasks SET status='done', attempts=1, version=1 WHERE item_id IN "
            "(SELECT id FROM items WHERE kind='thing' AND key<?)",
            (shape.done_items,),
        )
        db.executemany(
            "UPDATE tasks SET status='failed', attempts=3, category=?, message=? "
            "WHERE stage=? AND item_id=(SELECT id FROM items WHERE kind='thing' AND key=?)",
            [
                (cat, f"{cat}: /things/{key} (run {newest})", stage, key)
                for stage, key, cat in failed
            ],
        )
        db.execute("UPDATE items SET first_run=1")
        db.execute("DELETE FROM runs")
        db.execute("DELETE FROM attempts")
        db.commit()
        db.execute("ANALYZE")
        db.commit()
    stamp.write_text(tag)
    say(f"  filled in {time.perf_counter() - started:.1f} s, {path.stat().st_size / 1e6:.0f} MB")
    return path


def _options() -> dict[str, Any]:
    from scrapeline.runner.run import RunOptions
    from scrapeline.workspace.invocation import version

    return {
        **RunOptions(workers=8).public(),
        "invocation": {
            "command": "run",
            "args": [rel(PIPE_FILE), "--workers", "8"],
            "profile": "prod",
            "host": "bench-host",
            "version": version(),
            "stages": list(STAGES),
        },
    }


def _summary(shape: Shape, run: int, status: str, t: Tally, wall: float) -> dict[str, Any]:
    """What a real run stores as it ends, with what ``record_end`` then notes."""
    if status == "crashed":
        return {}
    failed = sum(t.failed.values())
    every = t.all_categories()
    ends = {"interrupted": (130, "interrupted"), "failed": (1, f"{failed} items failed")}
    code, reason = ends.get(status, (0, None))
    return {
        "exit_code": code,
        "reason": reason,
        "wall": round(wall, 3),
        "done": sum(t.done.values()),
        "failed": failed,
        "items_changed": 0,
        "hosts": {
            HOST: {
                "requests": shape.attempts_in(run) + 2,
                "retries": failed,
                "rate_limited": every.get("rate_limited", 0),
                "server_errors": every.get("http_5xx", 0),
                "network_errors": every.get("network", 0),
            }
        },
        "stages": t.stages(),
        "categories": every,
        "failed_stage": t.failed_stage(),
    }


def fill_history(shape: Shape) -> tuple[Path, Path, float]:
    """The empty ledger and a copy of it with the history (cached): (empty, history,
    seconds the history took to fill)."""
    empty = fill_empty(shape)
    path = STORE / f"history-{_name(shape)}.db"
    stamp = path.with_suffix(".stamp")
    tag = _fill_tag(shape)
    if path.exists() and stamp.exists():
        info = json.loads(stamp.read_text())
        if info.get("tag") == tag:
            return empty, path, float(info["seconds"])
    for old in STORE.glob(f"{path.name}*"):
        old.unlink()
    say(
        f"  filling the history: {shape.runs:,} runs, {shape.runs * shape.per_run:,} "
        "attempts (executemany) ..."
    )
    started = time.perf_counter()
    shutil.copyfile(empty, path)
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        task_of = _task_ids(db)
        db.execute("PRAGMA journal_mode=DELETE")  # one writer, nothing to share: no WAL
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-200000")
        options = json.dumps(_options())
        chunk = max(1, 1_000_000 // shape.per_run)
        for first in range(1, shape.runs + 1, chunk):
            db.execute("BEGIN")
            runs_rows, attempts_rows = [], []
            for run in range(first, min(first + chunk, shape.runs + 1)):
                rows, t = _rows(shape, run, task_of)
                attempts_rows.append(rows)
                status = run_status(shape, run, t)
                began = shape.started_at(run)
                ended = None if status == "crashed" else began + 600.0 + run % 300
                wall = 0.0 if ended is None else ended - began - 0.4
                runs_rows.append(
                    (
                        run,
                        PIPE_NAME,
                        began,
                        ended,
                        status,
                        100_000 + run,
                        options,
                        json.dumps(_summary(shape, run, status, t, wall)),
                    )
                )
            db.executemany(
                "INSERT INTO runs(id, pipeline, started_at, ended_at, status, pid, options, "
                "summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                runs_rows,
            )
            db.executemany(
                "INSERT INTO attempts(run_id, task_id, stage, ok, category, duration, started, "
                "refresh, unchanged, records) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?)",
                (row for rows in attempts_rows for row in rows),
            )
            db.execute("COMMIT")
            say(f"    {min(first + chunk, shape.runs + 1) - 1:,} runs")
        say("    ANALYZE ...")
        db.execute("ANALYZE")
        db.execute("PRAGMA journal_mode=WAL")
    seconds = time.perf_counter() - started
    stamp.write_text(json.dumps({"tag": tag, "seconds": seconds}))
    say(f"  filled in {seconds:.1f} s, {path.stat().st_size / 1e6:.0f} MB")
    return empty, path, seconds


def _task_ids(db: sqlite3.Connection) -> list[list[int]]:
    """Task ids by stage (index into STAGES) and item key."""
    out: list[list[int]] = [[] for _ in STAGES]
    for n, stage in enumerate(STAGES):
        rows = db.execute(
            "SELECT i.key, t.id FROM tasks t JOIN items i ON i.id=t.item_id "
            "WHERE t.stage=? ORDER BY i.key",
            (stage,),
        ).fetchall()
        out[n] = [tid for _, tid in rows]
    return out


def _rows(
    shape: Shape, run: int, task_of: Sequence[Sequence[int]]
) -> tuple[list[tuple[Any, ...]], Tally]:
    """Run ``run``'s attempts as rows of ``attempts``, and their tally."""
    began = shape.started_at(run)
    t = Tally()
    rows = []
    for i, a in enumerate(attempts_of(shape, run)):
        t.add(a)
        rows.append(
            (
                run,
                task_of[a.stage][a.item],
                STAGES[a.stage],
                int(a.ok),
                a.category,
                a.duration,
                began + i * 0.25,
                RECORDS[a.stage] if a.ok else 0,
            )
        )
    return rows, t


def byte_compile() -> str:
    """Byte-compile scrapeline's sources, as installing the package does; says so.

    With ``PYTHONDONTWRITEBYTECODE`` set and no ``__pycache__``, every CLI process
    would compile every module again (about 0.3 s here): a cost of the machine, not
    of the commands measured."""
    import compileall

    import scrapeline

    root = Path(scrapeline.__file__).parent
    compileall.compile_dir(root, quiet=1)
    return (
        f"scrapeline's sources ({rel(root)}) were byte-compiled first (compileall), as an "
        "installed package is"
    )


def _copy(pristine: Path, data_dir: Path) -> None:
    """A fresh copy of a ledger, on disk before anything reads it: a command that
    syncs the file (a run's checkpoint) would otherwise wait for the whole copy's
    write-back (about 1 s for 600 MB here), a cost of the harness."""
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    target = data_dir / "ledger.db"
    shutil.copyfile(pristine, target)
    with open(target, "rb+") as fh:
        os.fsync(fh.fileno())


# -- what each command must print -------------------------------------------------------


def check_runs(shape: Shape, got: Any) -> list[str]:
    """``runs --json`` must list the newest 20, newest first, as filled."""
    want_ids = list(range(shape.runs, max(0, shape.runs - RUNS_SHOWN), -1))
    if not isinstance(got, list):
        return [f"runs printed {type(got).__name__}, not a list"]
    ids = [r.get("id") for r in got]
    if ids != want_ids:
        return [f"runs listed {ids[:5]}…, expected {want_ids[:5]}… ({len(want_ids)})"]
    problems = []
    for r in got:
        t = tally(shape, r["id"])
        want = {
            "status": run_status(shape, r["id"], t),
            "stages": t.stages(),
            "categories": t.all_categories(),
            "failed_stage": t.failed_stage(),
        }
        for key, value in want.items():
            if r.get(key) != value:
                problems.append(f"runs: run {r['id']} {key} = {r.get(key)!r}, expected {value!r}")
    return problems[:10]


def check_show(shape: Shape, got: Any, run: int) -> list[str]:
    """``runs show --json`` of ``run``: its counts and its failed items, in order."""
    if not isinstance(got, dict):
        return [f"runs show printed {type(got).__name__}, not an object"]
    t = tally(shape, run)
    problems = []
    if got.get("id") != run:
        problems.append(f"runs show: id {got.get('id')}, expected {run}")
    if got.get("stages") != t.stages():
        problems.append(f"runs show: stages {got.get('stages')}, expected {t.stages()}")
    if got.get("categories") != t.all_categories():
        problems.append(f"runs show: categories {got.get('categories')}")
    want = [(s, key, cat) for s, key, cat in t.failures][:1000]
    failures = got.get("failures") or []
    listed = [(f.get("stage"), f.get("key"), f.get("category")) for f in failures]
    if listed != want:
        problems.append(
            f"runs show: {len(listed)} failed items, expected {len(want)}"
            + (f"; first {listed[:2]}, expected {want[:2]}" if listed[:2] != want[:2] else "")
        )
    unsettled = [f for f in failures if f.get("status") != "failed" or not f.get("message")]
    if unsettled:
        problems.append(f"runs show: {len(unsettled)} failed items not failed now or no message")
    return problems


def expected_health(shape: Shape, window: int = HEALTH_WINDOW) -> dict[str, Any]:
    """What ``health --json`` must say over the ``window`` newest runs."""
    from scrapeline.observe.stats import percentile

    ids = list(range(max(1, shape.runs - window + 1), shape.runs + 1))
    before = list(range(max(1, shape.runs - 2 * window + 1), ids[0]))
    tallies = {r: tally(shape, r) for r in ids + before}
    stages = []
    for stage in STAGES:
        mine = [tallies[r] for r in ids]
        done = sum(t.done.get(stage, 0) for t in mine)
        failed = sum(t.failed.get(stage, 0) for t in mine)
        earlier: dict[str, int] = {}
        for r in before:
            for name, n in tallies[r].categories.get(stage, {}).items():
                earlier[name] = earlier.get(name, 0) + n
        per_run: dict[str, list[int]] = {name: [0] * len(ids) for name in earlier}
        for n, t in enumerate(mine):
            for name, count in t.categories.get(stage, {}).items():
                per_run.setdefault(name, [0] * len(ids))[n] += count
        ranked = sorted(
            per_run.items(), key=lambda kv: (-sum(kv[1]), -earlier.get(kv[0], 0), kv[0])
        )[:TOP_ERRORS]
        spent = [d for t in mine for d in t.durations.get(stage, [])]
        errors = []
        for name, counts in ranked:
            now, prev = sum(counts), earlier.get(name, 0)
            errors.append(
                {
                    "category": name,
                    "count": now,
                    "per_run": counts,
                    "previous": prev,
                    "trend": _trend(now, prev) if before else None,
                }
            )
        stages.append(
            {
                "stage": stage,
                "tasks": done + failed,
                "done": done,
                "failed": failed,
                "success_rate": round(done / (done + failed), 4) if done + failed else None,
                "p50": round(percentile(spent, 50), 4),
                "p95": round(percentile(spent, 95), 4),
                "records": sum(t.records.get(stage, 0) for t in mine),
                "errors": errors,
            }
        )
    return {"runs": ids, "compared_with": before or None, "stages": stages}


def _trend(now: int, before: int) -> str:
    """``more``, ``fewer`` or ``same`` failures than before.

    >>> _trend(3, 1), _trend(1, 3), _trend(2, 2)
    ('more', 'fewer', 'same')
    """
    return "same" if now == before else "more" if now > before else "fewer"


def check_health(shape: Shape, got: Any) -> list[str]:
    if not isinstance(got, dict):
        return [f"health printed {type(got).__name__}, not an object"]
    want = expected_health(shape)
    problems = []
    for key in ("runs", "compared_with"):
        if got.get(key) != want[key]:
            problems.append(f"health: {key} {got.get(key)}, expected {want[key]}")
    by_stage = {s.get("stage"): s for s in got.get("stages", [])}
    for w in want["stages"]:
        g = by_stage.get(w["stage"])
        if g is None:
            problems.append(f"health: no stage {w['stage']}")
            continue
        for key, value in w.items():
            if g.get(key) != value:
                problems.append(f"health: {w['stage']} {key} = {g.get(key)!r}, expected {value!r}")
    return problems[:10]


# -- measuring ---------------------------------------------------------------------------


def _data_dir(data: Path) -> list[str]:
    return ["--data-dir", str(data)]


def measure_command(
    name: str, argv: list[str], out: Path, check: Any, timeout: float = 300
) -> dict[str, Any]:
    """One CLI command as a whole process: wall, CPU, peak RSS, its output checked."""
    measured = run_measured(argv, out=out, timeout=timeout)
    problems: list[str] = []
    if measured.returncode != 0:
        problems.append(f"{name}: exit code {measured.returncode}: {tail(out, 3)}")
    else:
        try:
            problems += check(json.loads(out.read_text()))
        except ValueError as exc:
            problems.append(f"{name}: not JSON ({exc}): {tail(out, 3)}")
    return {
        "wall": measured.wall,
        "cpu": measured.cpu,
        "max_rss_mb": measured.max_rss_mb,
        "exit_code": measured.returncode,
        "problems": problems,
    }


def measure_start(
    pristine: Path, scratch: Path, items: int, work_after: float = WORK_AFTER_FIRST_ITEM_FETCH
) -> dict[str, Any]:
    """``scrapeline run`` on a fresh copy of ``pristine``: from starting the process to
    its first request and to its first item fetch (as ``ledger_scale`` measures it),
    then ``work_after`` s of work and SIGINT."""
    from bench.sites import ThingsSite, first_arrivals, serve_app, warm_up

    data = scratch / "run"
    _copy(pristine, data)
    site = ThingsSite(items)
    problems: list[str] = []
    out = scratch / "run.txt"
    with serve_app(site.app()) as url:
        warm_up(url, site.arrivals)
        argv = scrapeline_cmd(
            "run", str(PIPE_FILE), "--base-url", url, *_data_dir(data), "--workers", "8"
        )
        child = Child(argv, out=out)
        first, first_item = first_arrivals(child, site.arrivals, item="/things/")
        if first_item is not None:
            time.sleep(work_after)
        if not child.done():
            child.send(signal.SIGINT)
        measured = child.wait(timeout=120)
    if first_item is None:
        problems.append(f"no item was fetched: {tail(out, 5)}")
    # 130: stopped by the SIGINT; 0: it had finished the work; -SIGINT: the signal came
    # as it was exiting, its handler gone
    if measured.returncode not in (0, 130, -signal.SIGINT):
        problems.append(f"run exited {measured.returncode}: {tail(out, 5)}")
    return {
        "to_first_fetch": (first - child.started) if first is not None else None,
        "to_first_item_fetch": (first_item - child.started) if first_item is not None else None,
        "process_wall": measured.wall,
        "cpu": measured.cpu,
        "max_rss_mb": measured.max_rss_mb,
        "exit_code": measured.returncode,
        "requests": len(site.arrivals),
        "problems": problems,
    }


def start_calls(pristine: Path, data: Path) -> float:
    """The ledger calls a run's start makes, in-process, on a fresh copy of
    ``pristine``: open, prepare, adopt the tables, begin the run, reset the failed
    tasks, claim a first batch. Seconds; what history could add to a start-up,
    without Python's start or the machine's noise around it."""
    from scrapeline.ledger.sqlite import SqliteLedger
    from scrapeline.loader import load_pipeline

    pipe = load_pipeline(str(PIPE_FILE))
    _copy(pristine, data)
    started = time.perf_counter()
    ledger = SqliteLedger(data / "ledger.db")
    try:
        ledger.prepare(pipe.graph())
        ledger.adopt_tables({t.name: t.key for t in pipe.tables.values()})
        ledger.begin_run(pipe.name, {}, time.time(), os.getpid())
        ledger.reset_failed()
        if not ledger.claim("bench", 64, time.time(), 60.0):
            raise RuntimeError("nothing to claim in the start-up ledger")
        return time.perf_counter() - started
    finally:
        ledger.close()


def query_plans(shape: Shape, history: Path, scratch: Path) -> list[dict[str, Any]]:
    """The statements ``runs``, ``runs show`` and ``health`` run (SQLite's trace of
    the history functions, in-process) with their ``EXPLAIN QUERY PLAN``."""
    from scrapeline.loader import load_pipeline
    from scrapeline.workspace import health
    from scrapeline.workspace import history as runs_history
    from scrapeline.workspace.opened import Workspace

    data = scratch / "plans"
    _copy(history, data)
    pipe = load_pipeline(str(PIPE_FILE))
    statements: list[str] = []
    real_read = Workspace.read

    def traced(*args: Any, **kwargs: Any) -> Any:
        ws = real_read(*args, **kwargs)
        db = getattr(ws.ledger, "db", None)
        if isinstance(db, sqlite3.Connection):
            db.set_trace_callback(statements.append)
        return ws

    calls: list[tuple[str, Callable[[], object]]] = [
        ("runs", lambda: runs_history.runs(pipe, data, RUNS_SHOWN)),
        ("runs show", lambda: runs_history.show(pipe, data, shape.runs)),
        ("health", lambda: health.health(pipe, data, HEALTH_WINDOW)),
    ]
    timed: list[tuple[str, float, list[str]]] = []
    Workspace.read = traced  # type: ignore[method-assign]
    try:
        for name, call in calls:
            statements.clear()
            t0 = time.perf_counter()
            call()
            timed.append((name, time.perf_counter() - t0, list(statements)))
    finally:
        Workspace.read = real_read  # type: ignore[method-assign]
    plans = []
    with closing(sqlite3.connect(f"file:{data / 'ledger.db'}?mode=ro", uri=True)) as db:
        for command, seconds, executed in timed:
            for sql in executed:
                if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
                    continue
                try:
                    plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql)]
                except sqlite3.Error as exc:
                    plan = [f"(no plan: {exc})"]
                t0 = time.perf_counter()
                db.execute(sql).fetchall()
                plans.append(
                    {
                        "command": command,
                        "command_s_in_process": round(seconds, 4),
                        "sql": _shorten(sql),
                        "plan": plan,
                        "seconds": round(time.perf_counter() - t0, 4),
                    }
                )
    return plans


def _shorten(sql: str, limit: int = 400) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run(
    mode: Mode,
    *,
    shape: Shape = FULL,
    rounds: int = 3,
) -> Result:
    say(
        f"history: {shape.runs:,} runs, {shape.runs * shape.per_run:,} attempts, "
        f"{shape.items:,} items × {len(STAGES)} stages; {rounds} rounds"
    )
    if shape.runs % 2:
        raise ValueError("an even number of runs: attempts_in pairs them")
    compiled = byte_compile()
    floor = [run_measured(scrapeline_cmd("--help")) for _ in range(rounds)]
    floor_s = spread([m.wall for m in floor])["median"]
    say(f"  `scrapeline --help` (start-up floor): {floor_s:.2f} s")
    empty, history, fill_seconds = fill_history(shape)
    scratch = mode.scratch("history")
    pipe = str(PIPE_FILE)
    commands: dict[str, tuple[list[str], Any]] = {
        "runs": (
            ["runs", pipe, "--json"],
            lambda got: check_runs(shape, got),
        ),
        "show": (
            ["runs", "show", pipe, str(shape.runs), "--json"],
            lambda got: check_show(shape, got, shape.runs),
        ),
        "health": (
            ["health", pipe, "--json"],
            lambda got: check_health(shape, got),
        ),
        # the same commands with no history: what they cost whatever the ledger holds
        "runs_empty": (["runs", pipe, "--json"], lambda got: [] if got == [] else [f"{got}"]),
        "health_empty": (
            ["health", pipe, "--json"],
            lambda got: [] if got.get("runs") == [] else [f"health of no runs: {got}"],
        ),
    }
    measured: dict[str, list[dict[str, Any]]] = {name: [] for name in commands}
    starts: dict[str, list[dict[str, Any]]] = {"history": [], "empty": []}
    for round_no in range(1, rounds + 1):
        reads, reads_empty = scratch / "reads", scratch / "reads-empty"
        _copy(history, reads)
        _copy(empty, reads_empty)
        load = load_average()
        parts = []
        # the order turns round by round: none is always first after the copies
        turn = list(commands.items())
        shift = (round_no - 1) % len(turn)
        for name, (args, check) in turn[shift:] + turn[:shift]:
            on = reads_empty if name.endswith("_empty") else reads
            record = measure_command(
                name,
                scrapeline_cmd(*args, *_data_dir(on)),
                scratch / f"{name}.json",
                check,
            )
            record["round"], record["load_average_before"] = round_no, load
            measured[name].append(record)
            parts.append(
                f"{name} {record['wall']:.2f} s ({record['cpu']:.2f} cpu, "
                f"{record['max_rss_mb']:.0f} MB)"
            )
        # the order alternates, so neither ledger always runs on a warmer machine
        order = ("history", "empty") if round_no % 2 else ("empty", "history")
        for which in order:
            record = measure_start(history if which == "history" else empty, scratch, shape.items)
            record["round"] = round_no
            starts[which].append(record)
        for which in order:
            starts[which][-1]["start_calls"] = start_calls(
                history if which == "history" else empty, scratch / "calls"
            )
        h, e = starts["history"][-1], starts["empty"][-1]
        problems = [p for x in (*(m[-1] for m in measured.values()), h, e) for p in x["problems"]]
        say(
            f"  round {round_no}: "
            + ", ".join(parts)
            + f"; run → first item fetch: history {_s(h['to_first_item_fetch'])}, "
            f"empty {_s(e['to_first_item_fetch'])} (its ledger calls "
            f"{1000 * h['start_calls']:.0f} / {1000 * e['start_calls']:.0f} ms)"
            + ("  WRONG: " + "; ".join(problems) if problems else "  ok")
        )
    say("  query plans of the history commands (in-process, traced) ...")
    plans = query_plans(shape, history, scratch)
    every = [r for records in (*measured.values(), *starts.values()) for r in records]
    problems = [p for r in every for p in r["problems"]]
    notes = [
        "the machine has 2 cores shared with other work: wall times are noisy, "
        "compare within this run (see the load averages)",
        compiled,
        f"the history ledger was filled with ANALYZE at the end; its {shape.runs:,} runs "
        "hold no run left `running`, so no reader writes anything back",
    ]
    if mode.smoke:
        notes.append("smoke: tiny sizes, timings meaningless")

    def summary(records: list[dict[str, Any]]) -> dict[str, Any]:
        good = [r for r in records if not r["problems"]]
        return {
            "wall": spread([r["wall"] for r in good]),
            "cpu": spread([r["cpu"] for r in good]),
            "max_rss_mb": spread([r["max_rss_mb"] for r in good]),
            "runs_ok": len(good),
            "runs": len(records),
            "rounds": records,
        }

    def start_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
        good = [r for r in records if not r["problems"]]
        return {
            key: spread([r[key] for r in good if r[key] is not None]) for key in START_FIGURES
        } | {"runs_ok": len(good), "runs": len(records), "rounds": records}

    return Result(
        name="history",
        mode=mode,
        data={
            "runs": shape.runs,
            "attempts": shape.runs * shape.per_run,
            "items": shape.items,
            "pending_items": shape.pending,
            "stages": list(STAGES),
            "rounds": rounds,
            "pipeline": rel(PIPE_FILE),
            "ledger_mb": history.stat().st_size / 1e6,
            "empty_ledger_mb": empty.stat().st_size / 1e6,
            "fill_seconds": fill_seconds,
            "startup_floor_s": spread([m.wall for m in floor]),
            "work_after_first_item_fetch_s": WORK_AFTER_FIRST_ITEM_FETCH,
            "commands": {
                "runs": f"scrapeline runs {rel(PIPE_FILE)} --data-dir DIR --json",
                "show": f"scrapeline runs show {rel(PIPE_FILE)} {shape.runs} --data-dir DIR --json",
                "health": f"scrapeline health {rel(PIPE_FILE)} --data-dir DIR --json",
                "run": f"scrapeline run {rel(PIPE_FILE)} --base-url URL --data-dir DIR --workers 8",
            },
            "all_ok": not problems,
            "problems": problems,
            "commands_measured": {name: summary(records) for name, records in measured.items()},
            "start": {which: start_summary(records) for which, records in starts.items()},
            "query_plans": plans,
            "notes": notes,
        },
    )


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"
