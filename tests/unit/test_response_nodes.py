"""The elements of a fetched page: searched in turn, and a missing one is a parse failure."""

from __future__ import annotations

import pytest

from scrapeline import Context, Item, Pipeline, Record
from scrapeline.errors import Category, ParseError
from scrapeline.fetch.response import PageNode, Response
from scrapeline.testing import run_stage

URL = "http://127.0.0.1:8000/results?offset=0"
PAGE = b"""<html><body><table id="results">
<tr class="match" data-id="1"><td class="date"> 2025-05-25 </td><td class="score">2-1</td></tr>
<tr class="match" data-id="2" hidden><td class="date">2025-05-26</td><td class="score"></td></tr>
<tr class="match" data-id="3"><td class="date">2025-05-27</td></tr>
</table></body></html>"""


def page() -> Response:
    return Response(url=URL, status=200, headers={}, body=PAGE)


def rows() -> list[PageNode]:
    return page().css("tr.match")


def test_css_gives_nodes_in_document_order_with_their_attributes() -> None:
    found = rows()
    assert [row.attributes["data-id"] for row in found] == ["1", "2", "3"]
    assert found[1].attributes["hidden"] is None  # an attribute without a value
    assert [row.tag for row in found] == ["tr", "tr", "tr"]
    assert page().css("tr.none") == []


@pytest.mark.parametrize(
    ("row", "selector", "expected"),
    [
        (0, "td.date", "2025-05-25"),  # stripped
        (0, "td.score", "2-1"),
        (1, "td.score", ""),  # there, but empty: not missing
    ],
)
def test_text_of_is_the_stripped_text_of_the_first_match(
    row: int, selector: str, expected: str
) -> None:
    assert rows()[row].text_of(selector) == expected


@pytest.mark.parametrize("default", ["", "-", "n/a"])
def test_text_of_gives_the_default_when_nothing_matches(default: str) -> None:
    assert rows()[2].text_of("td.score", default=default) == default


@pytest.mark.parametrize(
    "call",
    [
        lambda row: row.one("td.score"),
        lambda row: row.text_of("td.score"),
    ],
    ids=["one", "text_of"],
)
def test_a_missing_element_is_a_parse_failure_naming_the_selector_and_page(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParseError) as caught:
        call(rows()[2])
    assert caught.value.category is Category.PARSE
    assert "'td.score'" in str(caught.value) and URL in str(caught.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.one("div#match"),
        lambda r: r.text_of("div#match"),
    ],
    ids=["one", "text_of"],
)
def test_the_page_level_calls_fail_the_same_way(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParseError, match=r"no element matches 'div#match'") as caught:
        call(page())
    assert caught.value.url == URL


def test_the_page_level_calls_find_what_is_there() -> None:
    r = page()
    assert r.text_of("tr.match td.date") == "2025-05-25"
    assert r.text_of("h1", default="none") == "none"
    assert r.one("table").attributes == {"id": "results"}
    assert r.first("h1") is None and r.css_first("h1") is None


def test_nodes_search_within_themselves_only() -> None:
    third = rows()[2]
    assert [td.text() for td in third.css("td")] == ["2025-05-27"]
    assert third.css_first("td.score") is None
    cell = third.one("td.date")
    assert cell.parent is not None and cell.parent.attributes["data-id"] == "3"
    assert cell.url == URL  # a node deep down still knows its page


def test_text_keeps_selectolax_arguments() -> None:
    first = rows()[0]
    assert first.text(separator="|", strip=True) == "2025-05-25|2-1"
    assert first.one("td.date").text() == " 2025-05-25 "
    assert first.html is not None and first.html.startswith('<tr class="match"')


def scoreboard() -> Pipeline:
    pipe = Pipeline("cs2", base_url="https://stats.example")
    pipe.table("players", key=("match_id", "name"))

    @pipe.stage("players", on="match")
    async def players(ctx: Context, item: Item) -> list[Record]:
        page = await ctx.fetch(f"/matches/{item.key}")
        return [
            Record(
                "players",
                {
                    "match_id": item.key,
                    "name": row.text_of("td.name"),
                    "adr": float(row.text_of("td.adr")),
                },
            )
            for row in page.css("table.scoreboard tr.player")
        ]

    return pipe


async def test_a_stage_whose_row_lacks_a_cell_fails_as_parse_naming_it() -> None:
    page = (
        "<table class=scoreboard>"
        "<tr class=player><td class=name>s1mple</td><td class=adr>91.2</td></tr>"
        "<tr class=player><td class=name>ZywOo</td></tr></table>"
    )
    result = await run_stage(
        scoreboard(), "players", Item(key=9, kind="match"), {"/matches/9": (200, {}, page)}
    )
    assert result.failure is not None
    assert result.failure.category == "parse"
    assert "'td.adr'" in result.failure.message
    assert "https://stats.example/matches/9" in result.failure.message
