"""``run --limit N`` through the CLI, against the rehearsal site: the first N new
matches and their halves are done, nothing more is fetched; the next ``--limit N``
run takes the following N, and a run without it finishes the rest."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from scrapeline.testing import Match, RehearsalSite, load_sample, serve_in_thread

from .conftest import scrapeline

PIPE = "scrapeline.demo.football"
pytestmark = pytest.mark.slow


def sample() -> list[Match]:
    return list(load_sample()[80:330])  # 250 matches, played: they have halves


@pytest.fixture
def site() -> Iterator[tuple[RehearsalSite, str]]:
    rehearsal = RehearsalSite(sample(), latency=None)
    with serve_in_thread(rehearsal) as url:
        yield rehearsal, url


def stored(data: Path) -> list[int]:
    conn = sqlite3.connect(data / "ledger.db")
    try:
        return [r[0] for r in conn.execute("SELECT match_id FROM matches")]
    finally:
        conn.close()


def pages(site: RehearsalSite) -> set[str]:
    """The match ids whose match page was asked for."""
    return {p.split("/")[2] for p in site.hits if p.startswith("/matches/")}


def test_limit_works_the_first_n_new_matches_then_the_next_n(
    site: tuple[RehearsalSite, str], tmp_path: Path
) -> None:
    rehearsal, url = site
    data = tmp_path / "d"
    run = ("run", PIPE, "--base-url", url, "--data-dir", str(data), "--limit", "5")
    listing = [m.id for m in sample()]  # the listing's order

    first = scrapeline(*run)
    assert first.returncode == 0, first.stderr
    assert sorted(stored(data)) == sorted(listing[:5])
    assert pages(rehearsal) == {str(i) for i in listing[:5]}
    status = json.loads(scrapeline("status", PIPE, "--data-dir", str(data), "--json").stdout)
    assert status["stages"]["overview"] == {**status["stages"]["overview"], "done": 5}
    assert sum(status["stages"]["overview"].values()) == 5  # only 5 matches are known
    halves = status["stages"]["half_stats"]
    assert halves["done"] == sum(halves.values()) > 0  # their halves are done too

    second = scrapeline(*run)
    assert second.returncode == 0, second.stderr
    assert sorted(stored(data)) == sorted(listing[:10])
    assert all(rehearsal.hits[f"/matches/{i}"] == 1 for i in listing[:10])  # none twice

    rest = scrapeline("run", PIPE, "--base-url", url, "--data-dir", str(data))
    assert rest.returncode == 0, rest.stderr
    assert sorted(stored(data)) == sorted(listing)
    assert all(rehearsal.hits[f"/matches/{i}"] == 1 for i in listing)
    listed = json.loads(scrapeline("runs", PIPE, "--data-dir", str(data), "--json").stdout)
    assert [r["status"] for r in listed] == ["done"] * 3


def test_limit_with_only_is_a_usage_error(tmp_path: Path) -> None:
    done = scrapeline(
        "run", PIPE, "--data-dir", str(tmp_path / "d"), "--limit", "5", "--only", "match:1"
    )
    assert done.returncode == 2
    assert "--limit limits the top-level listings' walk" in done.stderr
    assert not (tmp_path / "d").exists()


def test_a_limit_past_a_page_resumes_where_the_last_limited_run_stopped(
    site: tuple[RehearsalSite, str], tmp_path: Path
) -> None:
    rehearsal, url = site
    data = tmp_path / "d"
    run = ("run", PIPE, "--base-url", url, "--data-dir", str(data), "--limit", "150")
    listing = [m.id for m in sample()]
    first = scrapeline(*run)
    assert first.returncode == 0, first.stderr
    assert sorted(stored(data)) == sorted(listing[:150])  # page 0 and half of page 100
    second = scrapeline(*run)
    assert second.returncode == 0, second.stderr
    assert sorted(stored(data)) == sorted(listing)  # the other 100: to the end
    assert all(rehearsal.hits[f"/matches/{i}"] == 1 for i in listing)
