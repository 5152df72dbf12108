"""A refresh re-run against a real server, a real archive and a real SQLite ledger: a
page the site says is unchanged is not parsed, and its earlier records stay."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from scrapeline import Context, Item, Pipeline, Record
from scrapeline import events as ev
from scrapeline.demo.football_api import pipe as api
from scrapeline.errors import Unchanged
from scrapeline.fetch.archive import Archive
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.retry import RetryPolicy
from scrapeline.ledger.aio import AsyncLedger
from scrapeline.ledger.base import NewItem
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.runner.commit import Committer
from scrapeline.runner.execute import Executed, execute
from scrapeline.testing import ApiSite, serve_in_thread
from tests.servers import ConditionalSite, serve


def football() -> Pipeline:
    pipe = Pipeline("refreshing")
    pipe.table("matches", key="match_id")

    @pipe.discover("match")
    async def matches(ctx: Context, position: int) -> AsyncIterator[Item]:
        yield Item(key=1)  # not walked here: the test adds the items itself

    @pipe.stage("overview", on="match", version=2)
    async def overview(ctx: Context, item: Item) -> Record:
        page = await ctx.fetch(f"/etag/{item.key}")
        ctx.emit(Item(kind="half", key=f"{item.key}-1"))
        return Record("matches", {"match_id": item.key, "title": page.one("h1").text()})

    @pipe.stage("half", on="half")
    async def half(ctx: Context, item: Item) -> None:
        return None

    return pipe


@pytest.fixture
def site() -> ConditionalSite:
    return ConditionalSite()


@pytest.fixture
async def url(site: ConditionalSite) -> AsyncIterator[str]:
    async with serve(site.app()) as base:
        yield base


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    store = Archive(tmp_path / "archive")
    yield store
    store.close()


def client(url: str, archive: Archive) -> FetchClient:
    return FetchClient(base_url=url, archive=archive, retry=RetryPolicy(max_attempts=1))


async def run_once(
    pipe: Pipeline, queue: AsyncLedger, fetch: FetchClient, archive: Archive, now: float
) -> tuple[int, dict[tuple[str, object], Executed], list[ev.Event]]:
    """One run as the runner makes it: claim, execute each task (refreshed ones with
    ``refresh=True``), commit through the Committer."""
    run_id = await queue.begin_run(pipe.name, {}, now, 1)
    events: list[ev.Event] = []
    commits = Committer(
        queue,
        run_id=run_id,
        owner="w",
        versions={name: s.version for name, s in pipe.stages.items()},
        emit=events.append,
        wall_clock=time.time,
    )
    outcomes: dict[tuple[str, object], Executed] = {}
    while tasks := await queue.claim("w", 100, now, 60.0, stages=list(pipe.stages)):
        for task in tasks:
            item = Item(key=task.key, kind=task.kind, data=dict(task.data), date=task.date)
            done = await execute(
                pipe,
                pipe.stages[task.stage],
                item,
                fetch=fetch,
                timeout=None,
                run_id=run_id,
                refresh=task.refresh,
            )
            outcomes[(task.stage, task.key)] = done
            commits.add(task, done)
        await commits.commit()
    archive.flush()
    return run_id, outcomes, events


async def test_an_unchanged_page_keeps_its_records_and_a_changed_one_is_parsed_again(
    url: str, site: ConditionalSite, archive: Archive, tmp_path: Path
) -> None:
    pipe = football()
    ledger = SqliteLedger(tmp_path / "ledger.db")
    ledger.prepare(pipe.graph())
    ledger.adopt_tables({t.name: t.key for t in pipe.tables.values()})
    queue = AsyncLedger(ledger)
    try:
        found = await queue.begin_run(pipe.name, {}, 1_000.0, 1)
        ledger.add_items([NewItem(kind="match", key=k, date="2024-05-20") for k in (1, 2)], found)
        async with client(url, archive) as fetch:
            first, _, _ = await run_once(pipe, queue, fetch, archive, 1_000.0)
            site.version["2"] = 2  # match 2's page changed at the site; match 1's did not
            site.received.clear()
            assert ledger.refresh("overview", dated_from="2024-05-15", seen_since=0.0) == 2
            second, outcomes, events = await run_once(pipe, queue, fetch, archive, 2_000.0)
    finally:
        queue.close()

    # both asked conditionally; match 1 answered 304, match 2 a new page
    assert sorted(site.received) == [("/etag/1", '"1-v1"', None), ("/etag/2", '"2-v1"', None)]
    unchanged, changed = outcomes[("overview", 1)], outcomes[("overview", 2)]
    assert (unchanged.ok, unchanged.unchanged, unchanged.records, unchanged.children) == (
        True,
        True,
        [],
        [],
    )
    assert changed.ok and not changed.unchanged and changed.refresh
    assert list(ledger.records("matches")) == [
        {"match_id": 1, "title": "1 v1"},
        {"match_id": 2, "title": "2 v2"},
    ]
    # match 1's record is the first run's, untouched; match 2's was written again
    assert ledger.db.execute(
        "SELECT pk, run_id FROM records WHERE tbl='matches' ORDER BY pk"
    ).fetchall() == [("[1]", first), ("[2]", second)]
    assert ledger.counts()["overview"]["done"] == 2
    assert ledger.counts()["half"]["done"] == 2  # the children stay, done
    report = ledger.report(second)
    assert (report.refreshed_unchanged, report.refreshed_changed) == (1, 1)
    done = [e for e in events if isinstance(e, ev.TaskDone)]
    assert sorted((e.key, e.records) for e in done) == [(1, 0), (2, 1)]
    ledger.close()


async def test_a_refresh_whose_second_fetch_is_unchanged_parses_the_archived_page(
    url: str, site: ConditionalSite, archive: Archive
) -> None:
    pipe = Pipeline("two-pages")
    pipe.table("stats", key="match_id")

    @pipe.stage("stats", on="match")
    async def stats(ctx: Context, item: Item) -> Record:
        listing = await ctx.fetch(f"/plain/{item.key}")  # no validators: always 200
        page = await ctx.fetch(f"/etag/{item.key}-stats")
        return Record(
            "stats",
            {
                "match_id": item.key,
                "listing": listing.one("h1").text(),
                "stats": page.one("h1").text(),
                "unchanged": page.unchanged,
            },
        )

    item = Item(key=5, kind="match")
    async with client(url, archive) as fetch:
        before = await execute(pipe, pipe.stages["stats"], item, fetch=fetch, timeout=None)
        archive.flush()
        site.version["5"] = 2  # the first page changed, the second did not
        again = await execute(
            pipe, pipe.stages["stats"], item, fetch=fetch, timeout=None, refresh=True
        )
    assert before.ok and again.ok
    assert not again.unchanged and again.refresh
    assert site.received[-1] == ("/etag/5-stats", '"5-stats-v1"', None)  # answered 304
    assert [r.json for r in again.records] == [
        '{"match_id":5,"listing":"5 v2","stats":"5-stats v1","unchanged":true}'
    ]


async def test_without_refresh_nothing_is_conditional(
    url: str, site: ConditionalSite, archive: Archive
) -> None:
    pipe = football()
    item = Item(key=3, kind="match")
    async with client(url, archive) as fetch:
        await execute(pipe, pipe.stages["overview"], item, fetch=fetch, timeout=None)
        archive.flush()
        again = await execute(pipe, pipe.stages["overview"], item, fetch=fetch, timeout=None)
    assert site.received == [("/etag/3", None, None), ("/etag/3", None, None)]
    assert again.ok and not again.unchanged and not again.refresh and len(again.records) == 1


async def test_a_stage_that_catches_the_signal_still_ends_unchanged(
    url: str, archive: Archive
) -> None:
    pipe = Pipeline("stubborn")
    pipe.table("matches", key="match_id")
    caught: list[BaseException] = []

    @pipe.stage("overview", on="match")
    async def overview(ctx: Context, item: Item) -> Record:
        try:
            page = await ctx.fetch(f"/etag/{item.key}")
        except BaseException as exc:  # what a stage should not do
            caught.append(exc)
            return Record("matches", {"match_id": item.key, "title": "made up"})
        return Record("matches", {"match_id": item.key, "title": page.one("h1").text()})

    @pipe.stage("rethrows", on="match")
    async def rethrows(ctx: Context, item: Item) -> Record:
        try:
            await ctx.fetch(f"/etag/{item.key}")
        except Unchanged:
            raise ValueError("no page to parse") from None
        return Record("matches", {"match_id": item.key, "title": "-"})

    item = Item(key=4, kind="match")
    async with client(url, archive) as fetch:
        await execute(pipe, pipe.stages["overview"], item, fetch=fetch, timeout=None)
        archive.flush()
        done = [
            await execute(pipe, pipe.stages[name], item, fetch=fetch, timeout=None, refresh=True)
            for name in ("overview", "rethrows")
        ]
    assert [type(exc) for exc in caught] == [Unchanged]
    for outcome in done:
        assert (outcome.ok, outcome.unchanged, outcome.records) == (True, True, [])


async def test_the_api_examples_detail_is_parsed_again_only_when_the_api_changed_it(
    tmp_path: Path,
) -> None:
    site = ApiSite(latency=None)
    kept, corrected = [m for m in site.expected() if m.ft is not None][:2]
    assert corrected.ft is not None
    detail = api.stages["detail"]
    names = {"league": "Deutsche Bundesliga", "season": "2025/26"}  # what its listing gives
    with serve_in_thread(site) as url, Archive(tmp_path / "archive") as archive:
        async with client(url, archive) as fetch:
            for m in (kept, corrected):
                item = Item(key=m.id, kind="event", data=names)
                assert (await execute(api, detail, item, fetch=fetch, timeout=None)).ok
            archive.flush()
            site.correct(corrected.id, home=corrected.ft[0] + 3, away=corrected.ft[1])
            again = {
                m.id: await execute(
                    api,
                    detail,
                    Item(key=m.id, kind="event", data=names),
                    fetch=fetch,
                    timeout=None,
                    refresh=True,
                )
                for m in (kept, corrected)
            }
    assert site.not_modified == {f"/api/events/{kept.id}": 1}
    assert (again[kept.id].ok, again[kept.id].unchanged, again[kept.id].records) == (
        True,
        True,
        [],
    )
    changed = again[corrected.id]
    assert changed.ok and not changed.unchanged
    assert f'"home_score":{corrected.ft[0] + 3}' in changed.records[0].json
