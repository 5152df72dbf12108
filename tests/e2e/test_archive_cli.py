"""`scrapeline reparse`, `scrapeline prune` and `--no-archive`, as a user runs them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from scrapeline.testing import RehearsalSite, load_sample, serve_in_thread

from .conftest import scrapeline

PIPE = "scrapeline.demo.football"
pytestmark = pytest.mark.slow


def table(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_reparse_runs_from_the_archive_with_the_site_gone_then_prune(tmp_path: Path) -> None:
    data = tmp_path / "d"
    site = RehearsalSite(list(load_sample()[:150]), latency=None)
    with serve_in_thread(site) as url:
        done = scrapeline(
            "run", PIPE, "--base-url", url, "--data-dir", str(data), "--end-offset", "0"
        )
        assert done.returncode == 0, done.stderr
    hits = sum(site.hits.values())
    kept = "SELECT * FROM matches ORDER BY match_id"  # the typed table, its writer columns last
    matches = [row[:-5] for row in table(data / "ledger.db", kept)]
    assert len(matches) == 100

    again = scrapeline("reparse", PIPE, "--stage", "overview", "--data-dir", str(data))
    assert again.returncode == 0, again.stderr
    assert "re-parsing 100 done tasks of stage 'overview' from the archive" in again.stdout
    assert "✓ overview" in again.stdout and "✓ half_stats" not in again.stdout
    assert [row[:-5] for row in table(data / "ledger.db", kept)] == matches  # parsed alike
    assert sum(site.hits.values()) == hits

    outdated = scrapeline(
        "reparse", PIPE, "--stage", "half_stats", "--outdated", "--data-dir", str(data)
    )
    assert outdated.returncode == 0, outdated.stderr
    assert "re-parsing 0 tasks of stage 'half_stats' done by a version below 1" in outdated.stdout

    unknown = scrapeline("reparse", PIPE, "--stage", "lineups", "--data-dir", str(data))
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("error: unknown stage 'lineups'")
    assert "Traceback" not in unknown.stderr

    stored = table(data / "archive" / "archive.db", "SELECT count(*) FROM entries")[0][0]
    gone = scrapeline("prune", PIPE, "--older-than", "0s", "--data-dir", str(data))
    assert gone.returncode == 0, gone.stderr
    assert f"archive: {stored} responses forgotten, {stored} bodies deleted (" in gone.stdout
    assert "history: attempts of past runs" in gone.stdout
    assert table(data / "archive" / "archive.db", "SELECT count(*) FROM bodies") == [(0,)]
    nothing = scrapeline("reparse", PIPE, "--stage", "overview", "--data-dir", str(data))
    assert nothing.returncode == 2 and "holds no response fetched by stage" in nothing.stderr


def test_no_archive_keeps_no_bodies(site_url: str, tmp_path: Path) -> None:
    data = tmp_path / "d"
    done = scrapeline(
        "run",
        PIPE,
        "--base-url",
        site_url,
        "--data-dir",
        str(data),
        "--end-offset",
        "0",
        "--no-archive",
    )
    assert done.returncode == 0, done.stderr
    assert not (data / "archive").exists()
    assert table(data / "ledger.db", "SELECT count(*) FROM matches") == [(100,)]
    assert "--no-archive" in scrapeline("demo", "--help").stdout
