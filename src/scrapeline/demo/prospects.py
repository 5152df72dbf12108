"""The bundled example for several sources about the same entities: draft prospects.

Runs against the prospects rehearsal site (``python -m scrapeline.testing.prospects
--port 8000``), or any site of the same shape:
``scrapeline run scrapeline.demo.prospects --base-url http://...``.

    combine      /combine, then each page's rel="next" link  →  combine_player items
    combine      /combine/players/ID                        →  a `combine_players` row
    players      /api/players, then ?cursor=next_cursor     →  college_player items
    college      (the listing's own data)                   →  a `college_stats` row
    injuries     /injuries (one table)                      →  injury_line items
    injury       (the row's own data)                       →  an `injury_report` row

Each table is keyed by its source's own id and typed by a pydantic model. The
record checks are the site's quality rules (``QUALITY_RULES``): a record with an
empty name, a weight not above 0 or a 40-yard time not above 0 breaks an
``error`` rule: it is quarantined (``scrapeline quarantine``) and its item fails
(category ``validation``).

The three tables are reconciled into one table of prospects (``pipe.reconcile``):
names matched once folded (accents, case, punctuation, suffixes, "Last, First"),
told apart by college and position, college aliases resolved with
``COLLEGE_ALIASES``; height and position from the combine, the weight of the
later date (the combine's ``measured_on``, the API's ``weight_as_of``), the name
from the combine else the API; an injury line must match a prospect (it never
makes one). ``validate`` and ``publish`` compute it and publish ``prospects``,
``prospects_conflicts`` and ``prospects_unresolved``; ``scrapeline conflicts`` and
``scrapeline unresolved`` show the last two.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel

from scrapeline import Context, Expect, Item, ParseError, Pipeline, Record, cursors
from scrapeline.quality.authority import latest, prefer
from scrapeline.quality.reconcile import source
from scrapeline.quality.rules import not_null, unique
from scrapeline.testing.draft_truth import COLLEGE_ALIASES

pipe = Pipeline("prospects", base_url="http://127.0.0.1:8000", workers=8)


class CombinePlayer(BaseModel):
    """A combine detail page."""

    combine_id: int
    name: str
    college: str
    position: str
    height_in: int | None
    weight_lb: int | None
    forty: float | None
    measured_on: dt.date


class CollegeStats(BaseModel):
    """A player of the college-stats API."""

    player_id: str
    name: str
    college: str
    position: str
    height_in: int | None
    weight_lb: int | None
    weight_as_of: dt.date
    games: int
    yards: int | None
    touchdowns: int


class InjuryReport(BaseModel):
    """A line of the injury report."""

    report_id: str
    name: str
    college: str | None
    status: str
    updated: dt.date


pipe.table("combine_players", key="combine_id", schema=CombinePlayer)
pipe.table("college_stats", key="player_id", schema=CollegeStats)
pipe.table("injury_report", key="report_id", schema=InjuryReport)

# -- the quality rules: the names of the rehearsal site's QUALITY_RULES ------------------


def _name_present(r: dict[str, Any]) -> bool:
    """the name is empty"""
    return bool(r["name"].strip())


def _weight_positive(r: dict[str, Any]) -> bool:
    """the weight is not above 0"""
    return r["weight_lb"] is None or r["weight_lb"] > 0


def _forty_positive(r: dict[str, Any]) -> bool:
    """the 40-yard time is not above 0"""
    return r["forty"] is None or r["forty"] > 0


for _table in ("combine_players", "college_stats", "injury_report"):
    pipe.check(_table, name="name_present")(_name_present)
for _table in ("combine_players", "college_stats"):
    pipe.check(_table, name="weight_positive")(_weight_positive)
pipe.check("combine_players", name="forty_positive")(_forty_positive)


# -- parsing --------------------------------------------------------------------------


def inches(text: str, url: str) -> int | None:
    """'6-2' → 74; '' → None (not measured).

    >>> inches("6-2", "u"), inches("5-11", "u"), inches("", "u")
    (74, 71, None)
    """
    if not text:
        return None
    feet, sep, rest = text.partition("-")
    if not sep or not feet.isdigit() or not rest.isdigit():
        raise ParseError(f"height {text!r} is not FEET-INCHES", url=url)
    return int(feet) * 12 + int(rest)


def number(text: str, kind: type[int] | type[float], url: str) -> int | float | None:
    """A measurement's text as a number; '' → None."""
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise ParseError(f"{text!r} is not a number", url=url) from None


# -- the combine: a listing by next links, a page per player ----------------------------


@pipe.discover("combine_player", pages=cursors(), expect=Expect(selectors=("table#combine",)))
async def combine(ctx: Context, url: str | None) -> AsyncIterator[Item]:
    page = await ctx.fetch(url or "/combine")
    link = page.first("a[rel=next]")
    if link is not None:
        ctx.next_page(link.attributes["href"] or "")
    for row in page.css("tr.player"):
        yield Item(key=int(row.attributes["data-id"] or 0))


@pipe.stage("combine_detail", on="combine_player", expect=Expect(selectors=("#player",)))
async def combine_detail(ctx: Context, item: Item) -> Record:
    page = await ctx.fetch(f"/combine/players/{item.key}")
    url = page.url
    return Record(
        "combine_players",
        {
            "combine_id": item.key,
            "name": page.text_of("#player h1.name"),
            "college": page.text_of("dd.college"),
            "position": page.text_of("dd.position"),
            "height_in": inches(page.text_of("dd.height"), url),
            "weight_lb": number(page.text_of("dd.weight"), int, url),
            "forty": number(page.text_of("dd.forty"), float, url),
            "measured_on": page.text_of("dd.measured_on"),
        },
    )


# -- the college-stats API: a listing by cursor that carries each player ----------------


@pipe.discover(
    "college_player", pages=cursors(), expect=Expect(json_keys=("players", "next_cursor"))
)
async def players(ctx: Context, cursor: str | None) -> AsyncIterator[Item]:
    path = "/api/players" if cursor is None else f"/api/players?cursor={cursor}"
    body = (await ctx.fetch(path)).json()
    if body["next_cursor"] is not None:
        ctx.next_page(body["next_cursor"])
    for p in body["players"]:
        yield Item(key=p["id"], data=p)


@pipe.stage("college", on="college_player")
async def college(ctx: Context, item: Item) -> Record:
    p = item.data
    return Record(
        "college_stats",
        {
            "player_id": item.key,
            "name": p["name"],
            "college": p["college"],
            "position": p["position"],
            "height_in": p["height_in"],
            "weight_lb": p["weight"]["lb"],
            "weight_as_of": p["weight"]["as_of"],
            "games": p["stats"]["games"],
            "yards": p["stats"]["yards"],
            "touchdowns": p["stats"]["touchdowns"],
        },
    )


# -- the injury report: one table --------------------------------------------------------


@pipe.discover("injury_line", pages=cursors(), expect=Expect(selectors=("table#injuries",)))
async def injuries(ctx: Context, cursor: str | None) -> AsyncIterator[Item]:
    page = await ctx.fetch("/injuries")  # one page: no next_page, so the walk ends here
    for row in page.css("tr.injury"):
        yield Item(
            key=row.attributes["data-id"] or "",
            data={
                "name": row.text_of("td.name", ""),
                "college": row.text_of("td.college", "") or None,
                "status": row.text_of("td.status", ""),
                "updated": row.text_of("td.updated", ""),
            },
        )


@pipe.stage("injury", on="injury_line")
async def injury(ctx: Context, item: Item) -> Record:
    return Record("injury_report", {"report_id": item.key, **item.data})


# -- one table of prospects from the three ------------------------------------------------

pipe.reconcile(
    "prospects",
    sources={
        "combine": "combine_players",
        "college_stats": "college_stats",
        "injury_report": source(
            "injury_report", rename={"status": "injury_status", "updated": "injury_updated"}
        ),
    },
    identity="name",
    tie_breakers=("college", "position"),
    fields={
        "name": prefer("combine", "college_stats"),
        "height_in": prefer("combine"),
        "position": prefer("combine"),
        "weight_lb": latest("measured_on", college_stats="weight_as_of"),
    },
    aliases={"college": dict(COLLEGE_ALIASES)},
    required={"injury_report"},
    key="prospect_id",
)
pipe.rule("prospects", unique("prospect_id"), not_null("name", "college"))
