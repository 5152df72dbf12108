"""``scrapeline.testing.run_stage``: test a stage's parser on a saved page, no site."""

from __future__ import annotations

from scrapeline import Context, Item, ParseError, Pipeline, Record
from scrapeline.testing import run_stage

HTML = {"Content-Type": "text/html; charset=utf-8"}


def matches() -> Pipeline:
    pipe = Pipeline("results", base_url="https://results.example")
    pipe.table("matches", key="id")

    @pipe.stage("overview", on="match", emits="half")
    async def overview(ctx: Context, item: Item) -> Record:
        page = await ctx.fetch(f"/matches/{item.key}")
        score = page.html.css_first(".score")
        if score is None:
            raise ParseError("no score on the match page")
        for half in (1, 2):
            ctx.emit(Item(key=f"{item.key}-{half}"))
        return Record("matches", {"id": item.key, "score": score.text(strip=True)})

    return pipe


async def test_a_stage_parses_a_saved_page_into_records_and_children() -> None:
    page = "<html><h1>Ajax v PSV</h1><p class='score'> 2-1 </p></html>"
    result = await run_stage(
        matches(), "overview", Item(key=42, kind="match"), {"/matches/42": (200, HTML, page)}
    )
    assert result.ok
    assert result.records == (Record("matches", {"id": 42, "score": "2-1"}),)
    assert [(c.kind, c.key, c.parent) for c in result.children] == [
        ("half", "42-1", ("match", 42)),
        ("half", "42-2", ("match", 42)),
    ]
    assert result.fetched == ("https://results.example/matches/42",)


async def test_a_missing_element_fails_the_item_as_parse() -> None:
    result = await run_stage(
        matches(), "overview", Item(key=42), {"/matches/42": (200, HTML, "<p>moved</p>")}
    )
    assert not result.ok
    assert result.failure is not None
    assert result.failure.category == "parse"
    assert result.failure.message == "no score on the match page"
    assert result.records == ()


async def test_a_url_with_no_canned_response_fails_as_http_4xx() -> None:
    result = await run_stage(matches(), "overview", Item(key=1), {})
    assert result.failure is not None
    assert result.failure.category == "http_4xx"


async def test_raises_gives_the_stages_own_exception() -> None:
    try:
        await run_stage(
            matches(), "overview", Item(key=1), {"/matches/1": (200, HTML, "<p/>")}, raises=True
        )
    except ParseError as exc:
        assert "no score" in str(exc)
    else:
        raise AssertionError("no ParseError raised")
