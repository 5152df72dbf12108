"""``scrapeline backfill`` through the CLI, against the rehearsal site: a slice by keys
or by dates redoes exactly its items' stages, reads what the archive holds (no
request to the site) unless told ``--refetch``, applies a new parser version, and
is recorded as a run of command "backfill"."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from scrapeline.testing import Match, RehearsalSite, load_sample, serve_in_thread

from .conftest import scrapeline

pytestmark = pytest.mark.slow

PIPELINE = """
from scrapeline import Context, Item, Pipeline, Record, offsets

pipe = Pipeline("football", base_url="http://127.0.0.1:8000", workers=4)
pipe.table("matches", key="match_id")
pipe.table("halves", key=("match_id", "half"))


@pipe.discover("match", pages=offsets(step=100))
async def results(ctx: Context, offset: int):
    page = await ctx.fetch(f"/results?offset={{offset}}")
    for row in page.css("tr.match"):
        yield Item(key=int(row.attributes["data-id"]), date=row.css_first("td.date").text())


@pipe.stage("overview", on="match", emits="half", version={version})
async def overview(ctx: Context, item: Item) -> Record:
    page = await ctx.fetch(f"/matches/{{item.key}}")
    for link in page.css("ul.halves a"):
        half = int((link.attributes["href"] or "").rsplit("/", 1)[-1])
        ctx.emit(key=f"{{item.key}}-{{half}}", data={{"match_id": item.key, "half": half}})
    return Record("matches", {{"match_id": item.key, "team1": page.text_of("h1 .team1"),
                              "parser": {version}}})


@pipe.stage("half_stats", on="half", after="overview")
async def half_stats(ctx: Context, item: Item) -> Record:
    match_id, half = item.data["match_id"], item.data["half"]
    page = await ctx.fetch(f"/matches/{{match_id}}/halves/{{half}}")
    return Record("halves", {{"match_id": match_id, "half": half,
                             "goals1": int(page.text_of("#half .goals1"))}})
"""


def write_pipeline(path: Path, version: int = 1) -> Path:
    path.write_text(textwrap.dedent(PIPELINE.format(version=version)))
    return path


def sample() -> list[Match]:
    """40 matches over several dates, some of them with halves."""
    return list(load_sample()[80:120])


@pytest.fixture
def site() -> Iterator[tuple[RehearsalSite, str]]:
    rehearsal = RehearsalSite(sample(), latency=None)
    with serve_in_thread(rehearsal) as url:
        yield rehearsal, url


def match_requests(site: RehearsalSite) -> dict[str, int]:
    """Requests so far to match and half pages, by path."""
    return {path: n for path, n in site.hits.items() if path.startswith("/matches/")}


def matches(db: Path) -> dict[int, tuple[object, object]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT json_extract(data, '$.match_id'), json_extract(data, '$.parser'), version "
            "FROM records WHERE tbl='matches'"
        ).fetchall()
    finally:
        conn.close()
    return {match_id: (parser, version) for match_id, parser, version in rows}


def runs(pipe: Path, data: Path) -> list[dict[str, object]]:
    listed = scrapeline("runs", str(pipe), "--data-dir", str(data), "--json")
    assert listed.returncode == 0, listed.stderr
    found: list[dict[str, object]] = json.loads(listed.stdout)
    return found


def test_backfill_by_keys_reads_the_archive_and_with_refetch_asks_the_site(
    site: tuple[RehearsalSite, str], tmp_path: Path
) -> None:
    rehearsal, url = site
    pipe, data = write_pipeline(tmp_path / "football.py"), tmp_path / "d"
    common = ("--base-url", url, "--data-dir", str(data))
    first = scrapeline("run", str(pipe), *common)
    assert first.returncode == 0, first.stderr
    before = dict(match_requests(rehearsal))
    chosen = [m for m in sample() if m.ft][:2]
    keys = ",".join(str(m.id) for m in chosen)

    archived = scrapeline("backfill", str(pipe), "--keys", f"match:{keys}", *common)
    assert archived.returncode == 0, archived.stderr
    assert match_requests(rehearsal) == before  # every page came from the archive
    [latest, *_] = runs(pipe, data)
    assert latest["command"] == "backfill" and latest["status"] == "done"
    assert latest["args"][:3] == [str(pipe), "--keys", f"match:{keys}"]
    stages = latest["stages"]
    assert isinstance(stages, dict)
    halves = sum(1 for path in before if path.count("/") == 4 and path.split("/")[2] in keys)
    assert stages["overview"]["done"] == 2 and stages["half_stats"]["done"] == halves

    fetched = scrapeline("backfill", str(pipe), "--keys", f"match:{keys}", "--refetch", *common)
    assert fetched.returncode == 0, fetched.stderr
    after = match_requests(rehearsal)
    asked = {path: after[path] - before.get(path, 0) for path in after}
    redone = {path: n for path, n in asked.items() if n}
    assert set(redone) == {p for p in after if p.split("/")[2] in {str(m.id) for m in chosen}}
    assert all(n == 1 for n in redone.values())
    assert len(redone) == 2 + halves


def test_a_new_parser_version_backfilled_by_dates_replaces_exactly_those_records(
    site: tuple[RehearsalSite, str], tmp_path: Path
) -> None:
    rehearsal, url = site
    pipe, data = write_pipeline(tmp_path / "football.py"), tmp_path / "d"
    common = ("--base-url", url, "--data-dir", str(data))
    assert scrapeline("run", str(pipe), *common).returncode == 0
    stored = matches(data / "ledger.db")
    assert set(stored.values()) == {(1, 1)}
    dates = sorted({m.date for m in sample()})
    assert len(dates) >= 3, dates
    low, high = dates[1], dates[-2]
    inside = {m.id for m in sample() if low <= m.date <= high}
    assert 0 < len(inside) < len(sample())
    before = dict(match_requests(rehearsal))

    write_pipeline(pipe, version=2)
    done = scrapeline(
        "backfill", str(pipe), "--dates", f"{low}:{high}", "--stage", "overview", *common
    )
    assert done.returncode == 0, done.stderr
    assert match_requests(rehearsal) == before  # from the archive
    now = matches(data / "ledger.db")
    assert {k for k, v in now.items() if v == (2, 2)} == inside
    assert {k for k, v in now.items() if v == (1, 1)} == set(stored) - inside
    [latest, *_] = runs(pipe, data)
    assert latest["command"] == "backfill"
    stages = latest["stages"]
    assert isinstance(stages, dict)
    assert stages["overview"]["done"] == len(inside)
    assert stages.get("half_stats", {}).get("done", 0) == 0  # --stage overview alone
    status = json.loads(scrapeline("status", str(pipe), "--data-dir", str(data), "--json").stdout)
    assert all(c["done"] == sum(c.values()) for c in status["stages"].values())


def test_an_empty_slice_says_so_and_a_bad_one_is_a_usage_error(
    site: tuple[RehearsalSite, str], tmp_path: Path
) -> None:
    _, url = site
    pipe, data = write_pipeline(tmp_path / "football.py"), tmp_path / "d"
    common = ("--base-url", url, "--data-dir", str(data))
    assert scrapeline("run", str(pipe), *common).returncode == 0
    count = len(runs(pipe, data))

    empty = scrapeline("backfill", str(pipe), "--dates", "1990-01-01:1990-12-31", *common)
    assert empty.returncode == 0, empty.stderr
    assert "nothing to backfill" in empty.stdout
    assert len(runs(pipe, data)) == count  # no run recorded

    for flags, message in [
        ((), "backfill needs a slice"),
        (("--keys", "match:1"), "the ledger has no item match:1"),
        (("--dates", "2024-02-30:2024-03-01"), "is not an ISO date"),
        (("--keys", "match:1", "--offsets", "0:100"), "--offsets re-walks the listing"),
        (("--keys", "team:1"), "the pipeline has no kind 'team'"),
        (("--keys", f"match:{sample()[0].id}", "--stage", "lineups"), "no stage 'lineups'"),
    ]:
        bad = scrapeline("backfill", str(pipe), *flags, *common)
        assert bad.returncode == 2, (flags, bad.stdout, bad.stderr)
        assert message in bad.stderr, (flags, bad.stderr)
    assert len(runs(pipe, data)) == count


def test_backfill_of_an_offset_range_redoes_the_items_found_there(
    site: tuple[RehearsalSite, str], tmp_path: Path
) -> None:
    _, url = site
    pipe, data = write_pipeline(tmp_path / "football.py"), tmp_path / "d"
    common = ("--base-url", url, "--data-dir", str(data))
    assert scrapeline("run", str(pipe), *common).returncode == 0
    write_pipeline(pipe, version=2)
    done = scrapeline("backfill", str(pipe), "--offsets", "0:0", *common)
    assert done.returncode == 0, done.stderr
    assert set(matches(data / "ledger.db").values()) == {(2, 2)}
    [latest, *_] = runs(pipe, data)
    assert latest["command"] == "backfill"
