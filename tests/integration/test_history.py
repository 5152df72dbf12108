"""Run history: what every run records, read back as ``runs`` and ``runs show`` have it
and written as the heartbeat; the football pipeline against the rehearsal site, real
SQLite files."""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from scrapeline.ledger.base import RunStatus
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.runner.run import Outcome, RunOptions
from scrapeline.testing import Faults, Match, RehearsalSite
from scrapeline.workspace import history, opened
from scrapeline.workspace.heartbeat import freshness, last_success_path, read_last_success
from scrapeline.workspace.invocation import Invocation, version
from scrapeline.workspace.reparse import reparse
from scrapeline.workspace.run import FetchOptions
from scrapeline.workspace.run import run as run_pipeline
from tests.conftest import StartSite

from .test_run_football import football

SECRET = "s3cr3t-token-value"


async def crawl(
    site: RehearsalSite, data_dir: Path, *, args: Sequence[str] = (), **options: Any
) -> Outcome:
    options.setdefault("workers", 4)
    options.setdefault("max_consecutive_failures", 0)
    pipe = football()
    return await run_pipeline(
        pipe,
        data_dir,
        RunOptions(**options),
        fetch_options=FetchOptions(base_url=site.url),
        invocation=Invocation("run", ("pipeline.py", *args), profile="prod"),
    )


def sql(data_dir: Path, query: str) -> list[Any]:
    db = sqlite3.connect(data_dir / "ledger.db")
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


async def test_a_run_records_what_it_was_asked_where_when_and_what_each_stage_did(
    start_site: StartSite, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    site = await start_site(
        list(football_sample[:60]), faults=Faults(broken=0.2, only_paths_prefix="/matches/")
    )
    outcome = await crawl(
        site, tmp_path, args=("--secret", f"TOKEN={SECRET}", "--set", f"key={SECRET}")
    )
    assert outcome.status is RunStatus.FAILED
    (run,) = history.runs(football(), tmp_path)
    assert run["command"] == "run" and run["profile"] == "prod"
    assert run["args"] == ["pipeline.py", "--secret", "TOKEN=***", "--set", "key=***"]
    assert SECRET not in orjson.dumps(run).decode()
    assert SECRET not in (tmp_path / "ledger.db").read_bytes().decode("latin-1")
    assert (run["host"], run["version"]) == (socket.gethostname(), version())
    assert run["started"].endswith("+00:00") and run["ended"].endswith("+00:00")
    assert datetime.fromisoformat(run["ended"]) >= datetime.fromisoformat(run["started"])
    assert run["status"] == "failed" and run["stages_asked"] == ["overview", "half_stats"]
    # the counts per stage are the ledger's: what this run settled, and the records it wrote
    failed = dict(
        sql(tmp_path, "SELECT stage, count(*) FROM tasks WHERE status='failed' GROUP BY stage")
    )
    assert run["stages"]["overview"]["failed"] == failed["overview"] > 0
    assert run["stages"]["overview"]["done"] == sql(tmp_path, "SELECT count(*) FROM matches")[0][0]
    assert run["stages"]["overview"]["records"] == run["stages"]["overview"]["done"]
    assert run["stages"]["half_stats"]["done"] > 0
    assert (
        run["stages"]["half_stats"]["records"] == sql(tmp_path, "SELECT count(*) FROM halves")[0][0]
    )
    assert run["failed_stage"] == "overview"
    assert run["categories"] == {"contract": failed["overview"]}
    host = f"127.0.0.1:{site.url.rsplit(':', 1)[1]}"
    assert run["hosts"][host]["requests"] == sum(site.hits.values())


async def test_runs_show_lists_the_items_a_run_failed_and_what_became_of_them(
    start_site: StartSite, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    site = await start_site(
        list(football_sample[:40]), faults=Faults(broken=0.2, only_paths_prefix="/matches/")
    )
    await crawl(site, tmp_path)
    broken = {
        key
        for (key,) in sql(
            tmp_path,
            "SELECT i.key FROM tasks t JOIN items i ON i.id=t.item_id WHERE t.status='failed'",
        )
    }
    first = history.show(football(), tmp_path, 1)
    assert {f["key"] for f in first["failures"]} == broken
    assert all(f["category"] == "contract" and f["status"] == "failed" for f in first["failures"])
    assert all("contract" in (f["message"] or "") for f in first["failures"])
    site.faults = Faults()  # the site is mended: the next run does them
    assert (await crawl(site, tmp_path)).status is RunStatus.DONE
    again = history.show(football(), tmp_path, 1)
    assert {f["key"] for f in again["failures"]} == broken
    assert {f["status"] for f in again["failures"]} == {"done"}
    assert history.show(football(), tmp_path, 2)["failures"] == []


async def test_a_halted_run_names_the_stage_that_halted_it(
    start_site: StartSite, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    site = await start_site(
        list(football_sample[:40]), faults=Faults(broken=1.0, only_paths_prefix="/matches/")
    )
    outcome = await crawl(site, tmp_path, max_consecutive_failures=3)
    assert outcome.status is RunStatus.HALTED
    (run,) = history.runs(football(), tmp_path)
    assert (run["status"], run["failed_stage"]) == ("halted", "overview")
    assert "layout may have changed" in run["reason"]


async def test_a_reparse_is_a_run_of_its_own_command(
    start_site: StartSite, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    site = await start_site(list(football_sample[:20]))
    await crawl(site, tmp_path)
    outcome = await reparse(
        football(), tmp_path, "overview", invocation=Invocation("reparse", ("p.py", "overview"))
    )
    assert outcome.status is RunStatus.DONE
    newest, first = history.runs(football(), tmp_path)
    assert (newest["command"], newest["args"], newest["stages_asked"]) == (
        "reparse",
        ["p.py", "overview"],
        ["overview"],
    )
    assert newest["stages"]["overview"]["done"] == 20 and "half_stats" not in newest["stages"]
    # the heartbeat says when data were last fetched: a re-parse fetches nothing
    last = read_last_success(tmp_path)
    assert last is not None and last.run_id == first["id"]


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def leave_running(data_dir: Path, pid: int, host: str | None = None) -> int:
    """A run recorded as running by ``pid`` (on ``host``), as a killed process leaves it
    (written as such: a run's start would mark the others crashed, holding the lock)."""
    invocation = {"command": "run", "host": host or socket.gethostname()}
    db = sqlite3.connect(data_dir / "ledger.db")
    try:
        with db:
            cur = db.execute(
                "INSERT INTO runs(pipeline, started_at, status, pid, options) "
                "VALUES ('football', ?, 'running', ?, ?)",
                (time.time(), pid, orjson.dumps({"invocation": invocation}).decode()),
            )
        assert cur.lastrowid is not None
        return cur.lastrowid
    finally:
        db.close()


async def test_a_run_whose_process_is_gone_reads_as_crashed_and_is_written_back(
    start_site: StartSite, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    site = await start_site(list(football_sample[:10]))
    await crawl(site, tmp_path)
    killed = leave_running(tmp_path, dead_pid())
    assert history.status(football(), tmp_path)["last_run"]["status"] == "crashed"
    # written back: a reader that does not check pids (SQL) agrees
    assert sql(tmp_path, f"SELECT status FROM runs WHERE id={killed}") == [("crashed",)]
    alive = leave_running(tmp_path, os.getpid())  # this process: alive
    elsewhere = leave_running(tmp_path, dead_pid(), host="another-host")
    shown = {r["id"]: r["status"] for r in history.runs(football(), tmp_path)}
    assert (shown[alive], shown[elsewhere]) == ("running", "running")


async def test_a_reader_that_may_not_write_still_sees_the_dead_run_crashed(
    start_site: StartSite,
    football_sample: Sequence[Match],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if os.geteuid() == 0:  # root may write a read-only file: the permission check says no
        real_access = os.access

        def access(path: object, mode: int, **kw: object) -> bool:
            if mode & os.W_OK and Path(str(path)) == tmp_path / "ledger.db":
                return False
            return real_access(path, mode, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(opened.os, "access", access)
    site = await start_site(list(football_sample[:10]))
    await crawl(site, tmp_path)
    killed = leave_running(tmp_path, dead_pid())
    db = tmp_path / "ledger.db"
    db.chmod(0o400)
    try:
        assert history.show(football(), tmp_path, killed)["status"] == "crashed"
    finally:
        db.chmod(0o600)
    assert sql(tmp_path, f"SELECT status FROM runs WHERE id={killed}") == [("running",)]


async def test_a_run_that_ends_done_writes_the_heartbeat_atomically_and_owner_only(
    start_site: StartSite, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    site = await start_site(list(football_sample[:20]))
    before = time.time()
    outcome = await crawl(site, tmp_path)
    assert outcome.status is RunStatus.DONE
    path = last_success_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["last_success.json"]  # no temp left
    body = orjson.loads(path.read_bytes())
    assert body["run_id"] == outcome.run_id and body["finished_at"].endswith("+00:00")
    assert body["counts"]["stages"]["overview"] == {"done": 20, "failed": 0, "records": 20}
    last = read_last_success(tmp_path)
    assert last is not None and last.finished_at >= before
    assert not freshness(last, now=time.time(), max_age=3600).stale
    # a run with failed items leaves the last success as it was
    site.faults = Faults(broken=1.0, only_paths_prefix="/matches/")
    assert (await crawl(site, tmp_path, force_rescrape=True)).status is RunStatus.FAILED
    assert orjson.loads(path.read_bytes()) == body


async def test_history_reads_only_the_attempts_of_the_runs_it_shows(
    start_site: StartSite, football_sample: Sequence[Match], tmp_path: Path
) -> None:
    site = await start_site(list(football_sample[:20]))
    await crawl(site, tmp_path)
    leave_running(tmp_path, dead_pid())  # a run that noted nothing: read from its attempts
    ledger = SqliteLedger(tmp_path / "ledger.db", read_only=True)
    seen: list[str] = []
    ledger.db.set_trace_callback(seen.append)
    try:
        ids = [r.id for r in ledger.runs(2)]
        ledger.tallies(ids)
        ledger.durations(ids)
        ledger.run_failures(ids[0])
        ledger.db.set_trace_callback(None)
        for statement in (s for s in seen if "attempts" in s):
            plan = " ".join(row[3] for row in ledger.db.execute(f"EXPLAIN QUERY PLAN {statement}"))
            assert "attempts_run" in plan, plan
            assert "SCAN a " not in plan + " " and "SCAN attempts" not in plan, plan
    finally:
        ledger.close()
    assert any("attempts" in s for s in seen)
