"""Conditional GETs against a real local server: the archive's ETag and Last-Modified
go out only when asked for, and a 304 is answered from the archive."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from scrapeline.errors import ContractError
from scrapeline.fetch.archive import Archive
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.contract import Expect
from scrapeline.fetch.events import Fetched, FetchEvent
from scrapeline.fetch.retry import RetryPolicy
from tests.servers import LAST_MODIFIED, ConditionalSite, serve


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


def client_for(url: str, archive: Archive | None, events: list[FetchEvent]) -> FetchClient:
    return FetchClient(
        base_url=url, archive=archive, retry=RetryPolicy(max_attempts=1), on_event=events.append
    )


async def test_a_304_to_the_archived_etag_returns_the_archived_page_marked_unchanged(
    url: str, site: ConditionalSite, archive: Archive
) -> None:
    events: list[FetchEvent] = []
    async with client_for(url, archive, events) as client:
        first = await client.get("/etag/a", item_key="1", conditional=True)
        archive.flush()
        again = await client.get("/etag/a", item_key="1", conditional=True)
    # nothing was archived before the first request: it went out plain
    assert site.received == [("/etag/a", None, None), ("/etag/a", '"a-v1"', None)]
    assert not first.unchanged
    assert again.unchanged
    assert (again.status, again.text, again.url) == (200, "<h1>a v1</h1>", f"{url}/etag/a")
    assert again.one("h1").text() == "a v1"
    archive.flush()
    assert archive.count() == 1  # the 304 is not archived again
    assert [e.status for e in events if isinstance(e, Fetched)] == [200, 304]


async def test_a_caller_that_stops_at_an_unchanged_page_gets_the_304_without_its_body(
    url: str, site: ConditionalSite, archive: Archive
) -> None:
    contract = Expect(selectors=("h1",))
    async with client_for(url, archive, []) as client:
        await client.get("/etag/d", item_key="1", conditional=True)
        archive.flush()
        again = await client.get(
            "/etag/d", item_key="1", conditional=True, unchanged_body=False, expect=contract
        )
    # the archived body was not read (nor held to the contract): the 304, marked
    assert (again.status, again.unchanged, again.body) == (304, True, b"")
    assert site.received[-1] == ("/etag/d", '"d-v1"', None)


async def test_a_last_modified_page_is_asked_if_modified_since(
    url: str, site: ConditionalSite, archive: Archive
) -> None:
    async with client_for(url, archive, []) as client:
        await client.get("/dated/b", conditional=True)
        archive.flush()
        again = await client.get("/dated/b", conditional=True)
    assert site.received[-1] == ("/dated/b", None, LAST_MODIFIED)
    assert again.unchanged and again.text == "<h1>b v1</h1>"


async def test_a_changed_page_gets_a_200_that_becomes_the_archives_latest(
    url: str, site: ConditionalSite, archive: Archive
) -> None:
    async with client_for(url, archive, []) as client:
        await client.get("/etag/c", conditional=True)
        archive.flush()
        site.version["c"] = 2
        changed = await client.get("/etag/c", conditional=True)
        archive.flush()
        after = await client.get("/etag/c", conditional=True)
    assert not changed.unchanged and changed.text == "<h1>c v2</h1>"
    assert site.received[1] == ("/etag/c", '"c-v1"', None)
    assert site.received[2] == ("/etag/c", '"c-v2"', None)  # the new page's validator
    assert after.unchanged and after.text == "<h1>c v2</h1>"
    archive.flush()
    assert archive.count() == 2


async def test_validators_go_out_only_when_the_request_is_conditional(
    url: str, site: ConditionalSite, archive: Archive
) -> None:
    async with client_for(url, archive, []) as client:
        await client.get("/etag/d")
        archive.flush()
        again = await client.get("/etag/d")
        await client.get("/plain/e", conditional=True)
        archive.flush()
        plain = await client.get("/plain/e", conditional=True)  # archived, but no validators
    assert site.received == [
        ("/etag/d", None, None),
        ("/etag/d", None, None),
        ("/plain/e", None, None),
        ("/plain/e", None, None),
    ]
    assert not again.unchanged and not plain.unchanged
    archive.flush()
    assert archive.count() == 4


async def test_without_an_archive_a_conditional_get_is_a_plain_request(
    url: str, site: ConditionalSite
) -> None:
    async with client_for(url, None, []) as client:
        await client.get("/etag/f", conditional=True)
        second = await client.get("/etag/f", conditional=True)
    assert site.received == [("/etag/f", None, None), ("/etag/f", None, None)]
    assert second.status == 200 and not second.unchanged


async def test_the_archived_page_of_the_same_item_is_the_one_asked_about(
    url: str, site: ConditionalSite, archive: Archive
) -> None:
    async with client_for(url, archive, []) as client:
        await client.get("/etag/g", item_key="1")
        archive.flush()
        site.version["g"] = 2
        await client.get("/etag/g", item_key="2")  # stored later, for another item
        archive.flush()
        site.version["g"] = 1
        mine = await client.get("/etag/g", item_key="1", conditional=True)
    assert site.received[-1] == ("/etag/g", '"g-v1"', None)
    assert mine.unchanged and mine.text == "<h1>g v1</h1>"


async def test_a_304_that_was_not_asked_for_is_what_it_was(
    url: str, site: ConditionalSite, archive: Archive
) -> None:
    async with client_for(url, archive, []) as client:
        plain = await client.get("/always-304")
        nothing_archived = await client.get("/always-304", conditional=True)
        with pytest.raises(ContractError):  # a stage's contract wants a 200
            await client.get("/always-304", conditional=True, expect=Expect())
    for response in (plain, nothing_archived):
        assert (response.status, response.body, response.unchanged) == (304, b"", False)
    archive.flush()
    assert archive.count() == 0


async def test_an_unchanged_page_is_held_to_the_stages_contract_as_archived(
    url: str, archive: Archive
) -> None:
    async with client_for(url, archive, []) as client:
        await client.get("/etag/h", conditional=True)
        archive.flush()
        kept = await client.get("/etag/h", conditional=True, expect=Expect(selectors=("h1",)))
        assert kept.unchanged
        with pytest.raises(ContractError, match=r"table\.stats"):
            await client.get("/etag/h", conditional=True, expect=Expect(selectors=("table.stats",)))
