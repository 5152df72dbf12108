"""The bundled example: football results, a page per match, a page per half.

Runs against the rehearsal site (``scrapeline demo`` starts one for you), or any
site with the same pages: ``scrapeline run football.py --base-url http://...``.

    results listing (/results?offset=0,100,…)  →  match items
    overview   (/matches/ID)                    →  a `matches` row, one `half` item per half
    half_stats (/matches/ID/halves/N)           →  a `halves` row
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from scrapeline import Context, Expect, Item, ParseError, Pipeline, Record, offsets

pipe = Pipeline("football", base_url="http://127.0.0.1:8000", workers=4)
pipe.table("matches", key="match_id")
pipe.table("halves", key=("match_id", "half"))


def goals(text: str, url: str) -> tuple[int, int] | None:
    """'2-1' → (2, 1); '' → None (not played yet)."""
    if not text:
        return None
    home, sep, away = text.partition("-")
    if not sep or not home.isdigit() or not away.isdigit():
        raise ParseError(f"score {text!r} is not N-N", url=url)
    return int(home), int(away)


@pipe.discover("match", pages=offsets(step=100), expect=Expect(selectors=("table#results",)))
async def results(ctx: Context, offset: int) -> AsyncIterator[Item]:
    page = await ctx.fetch(f"/results?offset={offset}")
    for row in page.css("tr.match"):
        date = row.css_first("td.date")
        yield Item(key=int(row.attributes["data-id"] or 0), date=date.text() if date else None)


@pipe.stage("overview", on="match", emits="half", expect=Expect(selectors=("#match", "h1 .score")))
async def overview(ctx: Context, item: Item) -> Record:
    page = await ctx.fetch(f"/matches/{item.key}")
    ft = goals(page.text_of("h1 .score"), page.url)
    for link in page.css("ul.halves a"):
        half = int((link.attributes["href"] or "").rsplit("/", 1)[-1])
        ctx.emit(key=f"{item.key}-{half}", data={"match_id": item.key, "half": half})
    return Record(
        "matches",
        {
            "match_id": item.key,
            "date": page.text_of("dd.date"),
            "time": page.text_of("dd.time") or None,
            "competition": page.text_of("dd.competition"),
            "season": page.text_of("dd.season"),
            "round": page.text_of("dd.round") or None,
            "team1": page.text_of("h1 .team1"),
            "team2": page.text_of("h1 .team2"),
            "goals1": ft[0] if ft else None,
            "goals2": ft[1] if ft else None,
        },
    )


@pipe.stage("half_stats", on="half", after="overview", expect=Expect(selectors=("#half",)))
async def half_stats(ctx: Context, item: Item) -> Record:
    match_id, half = item.data["match_id"], item.data["half"]
    page = await ctx.fetch(f"/matches/{match_id}/halves/{half}")
    return Record(
        "halves",
        {
            "match_id": match_id,
            "half": half,
            "goals1": int(page.text_of("#half .goals1")),
            "goals2": int(page.text_of("#half .goals2")),
        },
    )
