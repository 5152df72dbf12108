"""``prune`` on a real data dir: runs of the football pipeline against the rehearsal site
with the archive on, then retention. The files really shrink on disk, a dry run changes
nothing and says what the real prune then does, the kept runs and what they archived
stay, and a re-parse still works on them."""

from __future__ import annotations

import importlib
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scrapeline import events as ev
from scrapeline.ledger.base import RunStatus
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.pipeline import Pipeline
from scrapeline.runner.run import RunOptions
from scrapeline.testing import Match, RehearsalSite
from scrapeline.workspace.history import runs as list_runs
from scrapeline.workspace.prune import prune
from scrapeline.workspace.reparse import reparse
from scrapeline.workspace.run import FetchOptions, run
from tests.conftest import StartSite


def football() -> Pipeline:
    import scrapeline.demo.football as module

    return importlib.reload(module).pipe


async def crawl(site: RehearsalSite, data_dir: Path, *, full: bool = False) -> None:
    outcome = await run(
        football(),
        data_dir,
        RunOptions(workers=8, full=full),
        fetch_options=FetchOptions(base_url=site.url, archive=True),
    )
    assert outcome.exit_code == 0


def on_disk(data_dir: Path) -> dict[str, int]:
    """Every file of the data dir and its size (the lock's reserve aside)."""
    return {
        str(p.relative_to(data_dir)): os.stat(p).st_size
        for p in sorted(data_dir.rglob("*"))
        if p.is_file() and p.name not in ("lock", "reserve")
    }


def store_size(db: Path) -> int:
    """A database's bytes on disk: the file and its WAL."""
    wal = db.with_name(db.name + "-wal")
    return os.stat(db).st_size + (os.stat(wal).st_size if wal.exists() else 0)


def counts(data_dir: Path) -> dict[str, int]:
    """Rows of the ledger's history and records and of the archive, read-only."""
    db = sqlite3.connect(f"{(data_dir / 'ledger.db').as_uri()}?mode=ro", uri=True)
    archive = (data_dir / "archive" / "archive.db").as_uri()
    try:
        db.execute("ATTACH ? AS archive", (f"{archive}?mode=ro",))
        return {
            table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("runs", "attempts", "item_changes", "records", "entries", "bodies")
        }
    finally:
        db.close()


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def __call__(self, event: Any) -> None:
        self.events.append(event)


async def test_prune_frees_what_it_says_keeps_the_recent_runs_and_their_archive(
    start_site: StartSite, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    sample = list(football_sample)
    old_site = await start_site(sample[:120])
    for _ in range(3):  # the first finds 120 matches, the next two nothing new
        await crawl(old_site, tmp_path)
    moment = time.time()  # the cut-off: what came before it is old
    new_site = await start_site(sample[:140])
    await crawl(new_site, tmp_path, full=True)  # 20 new matches, archived after the cut-off
    now = time.time()
    older_than = now - moment

    files, rows = on_disk(tmp_path), counts(tmp_path)
    archive_db, ledger_db = tmp_path / "archive" / "archive.db", tmp_path / "ledger.db"
    sizes = {"archive.db": store_size(archive_db), "ledger.db": store_size(ledger_db)}

    dry = prune(tmp_path, older_than, keep_runs=2, now=now, dry_run=True)
    # the dry run changed nothing: same rows, every file still there at its size
    assert counts(tmp_path) == rows
    assert {p: n for p, n in on_disk(tmp_path).items() if p in files} == files
    assert dry.dry_run and dry.run_id is None
    assert dry.runs == 2 and dry.logs == 3 and dry.responses > 120
    assert dry.attempts == rows["attempts"] - _attempts_of_run(ledger_db, 4)
    assert dry.bytes_freed > 0

    real = prune(tmp_path, older_than, keep_runs=2, pipeline="football", now=now)
    # the dry run said what the real one did
    assert (real.responses, real.bodies, real.body_bytes, real.attempts, real.runs, real.logs) == (
        dry.responses,
        dry.bodies,
        dry.body_bytes,
        dry.attempts,
        dry.runs,
        dry.logs,
    )
    # the files really shrank, by what the report says
    after = {"archive.db": store_size(archive_db), "ledger.db": store_size(ledger_db)}
    assert after["archive.db"] < sizes["archive.db"] and after["ledger.db"] < sizes["ledger.db"]
    measured = {f.name: (f.before, f.after) for f in real.files}
    assert measured["archive.db"] == (sizes["archive.db"], after["archive.db"])
    assert measured["ledger.db"][0] == sizes["ledger.db"]
    assert real.bytes_freed >= sum(sizes.values()) - sum(after.values())
    # the estimate was of the right size
    assert real.bytes_freed / 2 <= dry.bytes_freed <= real.bytes_freed * 2

    left = counts(tmp_path)
    assert left["records"] == rows["records"]  # data is never pruned
    assert left["attempts"] == _attempts_of_run(ledger_db, 4)
    assert left["entries"] == rows["entries"] - real.responses
    # the kept runs remain, and the prune is in the history like a run
    history = list_runs(football(), tmp_path)
    assert [r["id"] for r in history] == [5, 4, 3]
    assert (history[0]["status"], history[0]["exit_code"]) == ("done", 0)
    ledger = SqliteLedger(ledger_db, read_only=True)
    try:
        (pruning,) = [r for r in ledger.runs(10) if r.id == real.run_id]
    finally:
        ledger.close()
    assert pruning.options["command"] == "prune" and pruning.status is RunStatus.DONE
    assert pruning.summary["pruned"]["runs"] == 2

    # a re-parse works on what is kept: the 20 new matches parse again from the archive
    # (with no site), the old ones no longer can
    await old_site.stop()
    await new_site.stop()
    before = {r["match_id"]: r for r in _records(ledger_db)}
    recorder = Recorder()
    outcome = await reparse(
        football(), tmp_path, "overview", options=RunOptions(workers=8), subscribers=[recorder]
    )
    reparsed = {e.key for e in recorder.events if isinstance(e, ev.TaskDone)}
    missed = [e for e in recorder.events if isinstance(e, ev.TaskFailed)]
    assert reparsed == {m.id for m in sample[120:140]}
    assert {e.category for e in missed} == {"archive_miss"} and len(missed) == 120
    assert outcome.exit_code == 1
    assert {r["match_id"]: r for r in _records(ledger_db)} == before  # nothing lost


async def test_a_second_prune_finds_nothing_and_the_files_stay_small(
    start_site: StartSite, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    site = await start_site(list(football_sample[:60]))
    await crawl(site, tmp_path)
    later = time.time() + 40 * 86400
    first = prune(tmp_path, 30 * 86400.0, now=later)
    assert first.responses > 60 and first.bytes_freed > 0
    size = store_size(tmp_path / "archive" / "archive.db")
    again = prune(tmp_path, 30 * 86400.0, now=later)
    assert (again.responses, again.bodies, again.attempts, again.runs) == (0, 0, 0, 0)
    assert store_size(tmp_path / "archive" / "archive.db") == size
    # the crawl is the last successful run: kept, though old and beyond --keep-runs 0
    assert prune(tmp_path, 0.0, keep_runs=0, now=later).runs == 2  # the two prunes
    assert [r["id"] for r in list_runs(football(), tmp_path)] == [4, 1]


def _attempts_of_run(ledger_db: Path, run_id: int) -> int:
    db = sqlite3.connect(f"{ledger_db.as_uri()}?mode=ro", uri=True)
    try:
        return int(
            db.execute("SELECT count(*) FROM attempts WHERE run_id=?", (run_id,)).fetchone()[0]
        )
    finally:
        db.close()


def _records(ledger_db: Path) -> list[dict[str, Any]]:
    ledger = SqliteLedger(ledger_db, read_only=True)
    try:
        return list(ledger.records("matches"))
    finally:
        ledger.close()
