"""The archive end to end: the football pipeline against the rehearsal site stores every
page, then re-parses from the archive with the site stopped; versions; retention."""

from __future__ import annotations

import importlib
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from scrapeline import Context, Item, Pipeline, Record
from scrapeline import events as ev
from scrapeline.datadir import DataDir
from scrapeline.errors import ConfigError, DataDirBusy, DataDirError
from scrapeline.fetch.archive import Archive
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.runner.run import Outcome, RunOptions
from scrapeline.testing import Match, RehearsalSite
from scrapeline.workspace.prune import prune
from scrapeline.workspace.reparse import reparse
from scrapeline.workspace.run import FetchOptions
from scrapeline.workspace.run import run as run_pipeline
from tests.conftest import StartSite


def football(version: int = 1) -> Pipeline:
    """A fresh copy of the example; from version 2 on, `matches` rows gain a `goals` column."""
    import scrapeline.demo.football as module

    pipe = importlib.reload(module).pipe
    if version == 1:
        return pipe
    v1 = pipe.stages.pop("overview")

    class MatchV2(module.Match):
        goals: int | None = None

    pipe.table("matches", key="match_id", schema=MatchV2)  # a new optional column

    @pipe.stage("overview", on=v1.kind, emits=v1.emits, version=version, expect=v1.expect)
    async def overview(ctx: Context, item: Item) -> Record:
        record: Record = await v1.fn(ctx, item)
        data = record.data
        played = data["goals1"] is not None
        return Record(
            "matches", {**data, "goals": data["goals1"] + data["goals2"] if played else None}
        )

    return pipe


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def __call__(self, event: Any) -> None:
        self.events.append(event)

    def done(self, stage: str) -> list[Any]:
        return [e.key for e in self.events if isinstance(e, ev.TaskDone) and e.stage == stage]

    def failed(self) -> list[Any]:
        return [e for e in self.events if isinstance(e, ev.TaskFailed)]

    def logs(self) -> list[str]:
        return [e.message for e in self.events if isinstance(e, ev.Log)]


async def crawl(
    site: RehearsalSite,
    data_dir: Path,
    *,
    pipe: Pipeline | None = None,
    archive: bool = True,
    **options: Any,
) -> Outcome:
    options.setdefault("workers", 8)
    return await run_pipeline(
        pipe or football(),
        data_dir,
        RunOptions(**options),
        fetch_options=FetchOptions(base_url=site.url, archive=archive),
    )


async def again(
    data_dir: Path,
    stage: str,
    *,
    pipe: Pipeline | None = None,
    outdated: bool = False,
    recorder: Recorder | None = None,
) -> Outcome:
    return await reparse(
        pipe or football(),
        data_dir,
        stage,
        outdated_only=outdated,
        options=RunOptions(workers=8),
        subscribers=[recorder] if recorder else [],
    )


def rows(data_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    """Query the ledger of ``data_dir``, or the archive when given the archive dir."""
    name = "archive.db" if data_dir.name == "archive" else "ledger.db"
    db = sqlite3.connect(data_dir / name)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def tables(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    ledger = SqliteLedger(data_dir / "ledger.db")
    try:
        return {t: list(ledger.records(t)) for t in ("matches", "halves")}
    finally:
        ledger.close()


@pytest.fixture
def subset(football_sample: Sequence[Match]) -> list[Match]:
    return list(football_sample[:120])


async def test_a_run_archives_every_page_once_and_a_reparse_needs_no_site(
    start_site: StartSite, subset: list[Match], tmp_path: Path
) -> None:
    site = await start_site(subset)
    outcome = await crawl(site, tmp_path)
    assert outcome.exit_code == 0
    halves = sum(2 for m in subset if m.halves)

    root = tmp_path / "archive"
    with Archive(root) as archive:
        entries = archive.entries()
        pages = {k: n for k, n in site.served.items() if k != "/robots.txt"}
        assert sorted(e.url.removeprefix(site.url) for e in entries) == sorted(pages)
        assert all(n == 1 for n in pages.values())
        by_stage = {s: [e for e in entries if e.stage == s] for s in ("overview", "half_stats")}
        assert len(by_stage["overview"]) == len(subset) and len(by_stage["half_stats"]) == halves
        assert {e.item_key for e in by_stage["overview"]} == {str(m.id) for m in subset}
        assert all(e.url.endswith(f"/matches/{e.item_key}") for e in by_stage["overview"])
        listing = [e for e in entries if e.stage is None]
        assert len(listing) == 3 and all("/results?offset=" in e.url for e in listing)
        assert {e.run_id for e in entries} == {outcome.run_id}
        assert all(e.status == 200 and e.headers.get("Content-Type") for e in entries)
        assert archive.base_url() == site.url
    assert rows(root, "SELECT count(*) FROM bodies") == [(len({e.sha256 for e in entries}),)]
    # the only files: the archive's database (no URL text in any path)
    assert {p.name for p in root.iterdir()} <= {"archive.db", "archive.db-wal", "archive.db-shm"}

    before = tables(tmp_path)
    await site.stop()
    hits = sum(site.hits.values())
    recorder = Recorder()
    outcome = await again(tmp_path, "overview", recorder=recorder)
    assert outcome.exit_code == 0, recorder.failed()
    assert sorted(recorder.done("overview")) == sorted(m.id for m in subset)
    assert (
        recorder.logs()[0]
        == f"re-parsing {len(subset)} done tasks of stage 'overview' from the archive"
    )
    outcome = await again(tmp_path, "half_stats", recorder=recorder)
    assert outcome.exit_code == 0 and len(recorder.done("half_stats")) == halves
    assert tables(tmp_path) == before
    assert sum(site.hits.values()) == hits  # not one request
    assert rows(tmp_path, "SELECT count(*) FROM runs") == [(3,)]
    assert rows(tmp_path, "SELECT DISTINCT status FROM tasks") == [("done",)]


async def test_no_archive_keeps_nothing_and_reparse_says_so(
    start_site: StartSite, subset: list[Match], tmp_path: Path
) -> None:
    site = await start_site(subset[:20])
    assert (await crawl(site, tmp_path, archive=False)).exit_code == 0
    assert not Archive.exists(tmp_path / "archive")
    assert not (tmp_path / "archive").exists()
    with pytest.raises(DataDirError, match=r"no archive in .*--no-archive"):
        await again(tmp_path, "overview")


async def test_reparse_outdated_takes_exactly_the_records_of_an_older_version(
    start_site: StartSite, subset: list[Match], tmp_path: Path
) -> None:
    site = await start_site(subset)
    await crawl(site, tmp_path, end=0)  # version 1: the newest 100 matches
    first = {m.id for m in subset[:100]}
    # version 2 for the rest
    assert (await crawl(site, tmp_path, pipe=football(2), start=100)).exit_code == 0
    versions = "SELECT version, count(*) FROM records WHERE stage='overview' GROUP BY version"
    assert rows(tmp_path, versions) == [(1, 100), (2, 20)]
    await site.stop()

    recorder = Recorder()
    outcome = await again(tmp_path, "overview", pipe=football(2), outdated=True, recorder=recorder)
    assert outcome.exit_code == 0
    assert set(recorder.done("overview")) == first and len(recorder.done("overview")) == 100
    assert "done by a version below 2" in recorder.logs()[0]
    assert rows(tmp_path, versions) == [(2, 120)]
    matches = tables(tmp_path)["matches"]
    assert len(matches) == 120 and all("goals" in m for m in matches)
    played = next(m for m in matches if m["goals1"] is not None)
    assert played["goals"] == played["goals1"] + played["goals2"]

    recorder = Recorder()
    outcome = await again(tmp_path, "overview", pipe=football(2), outdated=True, recorder=recorder)
    assert outcome.exit_code == 0 and recorder.done("overview") == []


async def test_an_item_with_nothing_archived_fails_with_archive_miss(
    start_site: StartSite, subset: list[Match], tmp_path: Path
) -> None:
    site = await start_site(subset[:20])
    await crawl(site, tmp_path)
    await site.stop()
    lost = subset[3].id
    db = sqlite3.connect(tmp_path / "archive" / "archive.db")
    with db:
        db.execute("DELETE FROM entries WHERE item_key=? AND stage='overview'", (str(lost),))
    db.close()
    before = tables(tmp_path)["matches"]

    recorder = Recorder()
    outcome = await again(tmp_path, "overview", recorder=recorder)
    assert outcome.exit_code == 1
    [failure] = recorder.failed()
    assert (failure.key, failure.category) == (lost, "archive_miss")
    assert "nothing archived" in failure.message and f"/matches/{lost}" in failure.message
    assert len(recorder.done("overview")) == 19
    assert tables(tmp_path)["matches"] == before  # the record parsed earlier stays


async def test_reparse_refuses_what_it_cannot_do(
    start_site: StartSite, subset: list[Match], tmp_path: Path
) -> None:
    with pytest.raises(DataDirError, match="no ledger"):
        await again(tmp_path / "nothing-here", "overview")
    site = await start_site(subset[:5])
    await crawl(site, tmp_path)
    with pytest.raises(ConfigError, match=r"unknown stage 'lineups'.*overview, half_stats"):
        await again(tmp_path, "lineups")
    with Archive(tmp_path / "archive") as archive:
        archive.prune(0.0, now=time.time() + 1)
    with pytest.raises(DataDirError, match="holds no response fetched by stage 'overview'"):
        await again(tmp_path, "overview")
    dd = DataDir(tmp_path).lock()
    try:
        with pytest.raises(DataDirBusy):
            await again(tmp_path, "half_stats")
    finally:
        dd.unlock()


async def test_prune_applies_retention_to_the_archive_the_history_and_the_logs(
    start_site: StartSite, subset: list[Match], tmp_path: Path
) -> None:
    site = await start_site(subset[:20])
    await crawl(site, tmp_path, end=0)
    entries = Archive(tmp_path / "archive")
    stored = entries.count()
    entries.close()
    attempts = rows(tmp_path, "SELECT count(*) FROM attempts")[0][0]
    assert (stored, attempts) == (21, 20)  # the listing and 20 unplayed fixtures

    kept = prune(tmp_path, 3600.0)  # nothing is an hour old
    assert (kept.responses, kept.bodies, kept.attempts, kept.logs) == (0, 0, 0, 0)

    # a month later, everything is old
    later = time.time() + 31 * 86400
    bodies = rows(tmp_path / "archive", "SELECT count(*) FROM bodies")[0][0]
    log = next((tmp_path / "logs").glob("run-*.log"))
    os.utime(log, (later - 40 * 86400, later - 40 * 86400))
    report = prune(tmp_path, 30 * 86400.0, now=later)
    assert (report.responses, report.attempts, report.logs) == (stored, attempts, 1)
    assert report.bodies == bodies and report.bytes_freed > 0
    assert rows(tmp_path / "archive", "SELECT count(*) FROM bodies") == [(0,)]
    assert rows(tmp_path, "SELECT count(*) FROM attempts") == [(0,)]
    # the crawl's summary stays (the last successful run), beside the two prunes' own
    assert rows(tmp_path, "SELECT id, status FROM runs") == [(1, "done"), (2, "done"), (3, "done")]
    assert rows(tmp_path, "SELECT count(*) FROM matches") == [(20,)]  # data is never pruned

    dd = DataDir(tmp_path).lock()
    try:
        with pytest.raises(DataDirBusy):
            prune(tmp_path, 0.0)
    finally:
        dd.unlock()


async def test_a_run_halts_when_the_archive_cannot_be_written(
    start_site: StartSite, subset: list[Match], tmp_path: Path
) -> None:
    site = await start_site(subset[:40], latency=0.05)  # the writer fails mid-run
    Archive(tmp_path / "archive").close()
    db = sqlite3.connect(tmp_path / "archive" / "archive.db")
    with db:  # every new body fails the way SQLite says a disk is full
        db.execute(
            "CREATE TRIGGER full BEFORE INSERT ON bodies "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    db.close()
    pipe = football()
    outcome = await run_pipeline(
        pipe,
        tmp_path,
        RunOptions(workers=4),
        fetch_options=FetchOptions(base_url=site.url),
    )
    assert outcome.exit_code == 3
    assert "cannot write the archive" in (outcome.reason or "")
    assert sum(site.hits.values()) < 30  # stopped early, not after every item
