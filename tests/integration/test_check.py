"""`check_pipeline` against the rehearsal site: one sample per step, contracts reported."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from scrapeline import Context, Expect, Item, ParseError, Pipeline, Record, offsets
from scrapeline.testing import Faults
from scrapeline.workspace.check import check_pipeline


def football() -> Pipeline:
    """A fresh copy of the example pipeline (tests point it at their own site)."""
    import scrapeline.demo.football as module

    return importlib.reload(module).pipe


def listing_only(
    site_url: str,
    *,
    listing: Expect | None = None,
    match: Expect | None = None,
    path: str = "/matches/{key}",
) -> Pipeline:
    pipe = Pipeline("mini", base_url=site_url)
    pipe.table("matches", key="match_id")

    @pipe.discover("match", pages=offsets(step=100), expect=listing)
    async def results(ctx: Context, offset: int) -> AsyncIterator[Item]:
        page = await ctx.fetch(f"/results?offset={offset}")
        for row in page.css("tr.match"):
            yield Item(key=int(row.attributes["data-id"] or 0))

    @pipe.stage("overview", on="match", expect=match)
    async def overview(ctx: Context, item: Item) -> Record:
        page = await ctx.fetch(path.format(key=item.key))
        return Record("matches", {"match_id": item.key, "team1": page.text_of("h1 .team1")})

    return pipe


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # so a data dir written by mistake would show up here


async def test_every_contract_holds_on_the_healthy_site(start_site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    site = await start_site()
    report = await check_pipeline(football(), base_url=site.url)
    assert report.ok and report.exit_code == 0
    assert [(s.step, s.name) for s in report.steps] == [
        ("discovery", "results"),
        ("stage", "overview"),
        ("stage", "half_stats"),
    ]
    listing, overview, half = report.steps
    assert listing.position == 0 and listing.items == {"match": 100}
    [page] = listing.fetches
    assert (page.url, page.status, page.declared, page.problems) == (
        f"{site.url}/results?offset=0",
        200,
        True,
        (),
    )
    # the last row of the first page: the oldest, a played match with halves
    assert overview.item == site.matches[99].id
    assert overview.records == 1 and overview.items == {"half": 2}
    assert half.item == f"{overview.item}-1" and half.records == 1
    assert half.fetches[0].url == f"{site.url}/matches/{overview.item}/halves/1"
    # one request per step (and robots.txt once), nothing written anywhere
    assert site.hits["/robots.txt"] == 1 and site.hits.total() == 1 + 3
    assert list(tmp_path.iterdir()) == []


async def test_a_broken_layout_breaks_the_overview_contract(start_site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    site = await start_site(faults=Faults(broken=1.0))  # match pages lack their <h1>
    report = await check_pipeline(football(), base_url=site.url)
    assert not report.ok and report.exit_code == 1
    listing, overview, half = report.steps
    assert listing.ok
    assert not overview.contract_ok and overview.category == "contract"
    [page] = overview.fetches
    assert page.status == 200 and page.problems == ("no element matches 'h1 .score'",)
    assert half.skipped == "no sample 'half' item: overview emitted none"
    assert list(tmp_path.iterdir()) == []


async def test_a_sample_that_does_not_parse_is_reported_with_its_error(start_site) -> None:  # type: ignore[no-untyped-def]
    site = await start_site()
    pipe = Pipeline("mini", base_url=site.url)

    @pipe.discover("match")
    async def results(ctx: Context, offset: int) -> AsyncIterator[Item]:
        yield Item(key=site.matches[0].id)

    @pipe.stage("overview", on="match")
    async def overview_stage(ctx: Context, item: Item) -> Record:
        await ctx.fetch(f"/matches/{item.key}")
        raise ParseError("no score where the score should be")

    report = await check_pipeline(pipe)
    overview = report.steps[1]
    assert overview.contract_ok and not overview.parse_ok and not report.ok
    assert (overview.category, overview.error) == ("parse", "no score where the score should be")
    [page] = overview.fetches
    assert not page.declared and page.ok


async def test_a_listing_that_breaks_its_contract_leaves_the_stages_unchecked(
    start_site,
) -> None:  # type: ignore[no-untyped-def]
    site = await start_site()
    pipe = listing_only(site.url, listing=Expect(selectors=("table#fixtures",)))
    report = await check_pipeline(pipe)
    listing, overview = report.steps
    assert listing.category == "contract" and listing.items == {}
    assert listing.fetches[0].problems == ("no element matches 'table#fixtures'",)
    assert overview.skipped and not report.ok
    assert site.hits.total() == 1 + 1  # robots.txt, the listing


async def test_an_error_status_and_a_wanted_status(start_site) -> None:  # type: ignore[no-untyped-def]
    site = await start_site()
    missing = listing_only(site.url, path="/matches/{key}/halves/9")
    report = await check_pipeline(missing)
    page = report.steps[1].fetches[0]
    assert page.status == 404 and page.error is not None and page.error.startswith("http_4xx")
    assert report.steps[1].category == "http_4xx"

    # a stage that declares the 404 it gets: the contract holds, the parse fails
    wanted = listing_only(site.url, path="/matches/{key}/halves/9", match=Expect(status={200, 404}))
    report = await check_pipeline(wanted)
    overview = report.steps[1]
    assert overview.contract_ok and overview.fetches[0].status == 404
    assert overview.category == "parse"


async def test_content_type_and_json_keys_are_checked(start_site) -> None:  # type: ignore[no-untyped-def]
    site = await start_site()
    pipe = listing_only(
        site.url, match=Expect(content_type="application/json", json_keys=("data.items",))
    )
    report = await check_pipeline(pipe)
    assert report.steps[1].fetches[0].problems == (
        "content type 'text/html', expected 'application/json'",
        "body is not JSON",
    )


async def test_the_report_as_json_names_every_fetch(start_site) -> None:  # type: ignore[no-untyped-def]
    site = await start_site(faults=Faults(broken=1.0))
    data = (await check_pipeline(football(), base_url=site.url)).as_dict()
    assert data["ok"] is False and data["pipeline"] == "football"
    overview = data["steps"][1]
    assert overview["fetches"][0]["contract"] == "broken"
    assert overview["fetches"][0]["problems"] == ["no element matches 'h1 .score'"]
    assert data["steps"][0]["fetches"][0]["contract"] == "holds"


async def test_a_listing_whose_items_a_run_could_not_store_fails_check(start_site) -> None:  # type: ignore[no-untyped-def]
    site = await start_site()
    pipe = Pipeline("mini", base_url=site.url)
    pipe.table("matches", key="match_id")

    @pipe.discover("match", pages=offsets(step=100))
    async def results(ctx: Context, offset: int) -> AsyncIterator[Item]:
        page = await ctx.fetch(f"/results?offset={offset}")
        for row in page.css("tr.match"):  # a parsed node is no JSON: a natural slip
            yield Item(key=int(row.attributes["data-id"] or 0), data={"teams": row})

    @pipe.stage("overview", on="match")
    async def overview(ctx: Context, item: Item) -> Record:
        return Record("matches", {"match_id": item.key})

    report = await check_pipeline(pipe)
    listing = report.steps[0]
    assert not report.ok and listing.category == "validation"
    assert listing.error is not None and "field 'teams'" in listing.error
