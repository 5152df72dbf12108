"""--force-rescrape through the CLI: a failing stage keeps the last good records, and says so."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from scrapeline.testing import Faults, RehearsalSite, load_sample, serve_in_thread

from .conftest import scrapeline

PIPE = "scrapeline.demo.football"
pytestmark = pytest.mark.slow


@pytest.fixture
def site() -> Iterator[tuple[RehearsalSite, str]]:
    rehearsal = RehearsalSite(list(load_sample()[:300]), latency=0.005)
    with serve_in_thread(rehearsal) as url:
        yield rehearsal, url


def rows(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """The tables' rows, without the five columns that say which run wrote them."""
    conn = sqlite3.connect(db)
    try:
        return {
            "matches": [r[:-5] for r in conn.execute("SELECT match_id, * FROM matches ORDER BY 1")],
            "halves": [
                r[:-5] for r in conn.execute("SELECT match_id, * FROM halves ORDER BY 1, half")
            ],
        }
    finally:
        conn.close()


def test_a_failed_rescrape_keeps_the_records_says_so_and_a_healthy_one_replaces_them(
    site: tuple[RehearsalSite, str], tmp_path: Path
) -> None:
    rehearsal, url = site
    data = str(tmp_path / "d")
    run = ("run", PIPE, "--base-url", url, "--data-dir", data, "--end-offset", "0")
    first = scrapeline(*run)
    assert first.returncode == 0, first.stderr
    before = rows(tmp_path / "d" / "ledger.db")
    assert len(before["matches"]) == 100
    # the match pages of one id prefix (a few matches of the first page) answer
    # without their heading: those matches fail their overview
    prefix = str(before["halves"][-1][0])[:5]  # ten ids, some with halves
    broken = sum(1 for r in before["matches"] if str(r[0]).startswith(prefix))
    broken_halves = sum(1 for r in before["halves"] if str(r[0]).startswith(prefix))
    assert 2 <= broken <= 10 and broken_halves

    rehearsal.faults = Faults(broken=1.0, only_paths_prefix=f"/matches/{prefix}")
    failed = scrapeline(*run, "--force-rescrape", "--max-consecutive-failures", "0")
    assert failed.returncode == 1, failed.stderr
    # the run summary's failed items say the last good record is still there
    listed = [line for line in failed.stdout.splitlines() if line.startswith("  overview match")]
    assert len(listed) == broken
    assert all(line.endswith("(its 1 record from run 1 is kept)") for line in listed), listed
    status = json.loads(scrapeline("status", PIPE, "--data-dir", data, "--json").stdout)
    assert status["stages"]["overview"]["failed"] == broken
    # the halves of the failed matches wait for their overview: theirs are kept too
    assert status["kept"] == {"halves": broken_halves, "matches": broken}
    table = scrapeline("status", PIPE, "--data-dir", data).stdout
    kept = f"kept from an earlier run (task not done): halves {broken_halves}, matches {broken}"
    assert kept in table
    assert rows(tmp_path / "d" / "ledger.db") == before  # nothing lost

    rehearsal.faults = Faults()  # the site recovers
    healthy = scrapeline(*run)
    assert healthy.returncode == 0, healthy.stderr
    status = json.loads(scrapeline("status", PIPE, "--data-dir", data, "--json").stdout)
    assert status["kept"] == {}
    assert all(c["done"] == sum(c.values()) for c in status["stages"].values())
    assert "kept from an earlier run" not in scrapeline("status", PIPE, "--data-dir", data).stdout
    assert rows(tmp_path / "d" / "ledger.db") == before
