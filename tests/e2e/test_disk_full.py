"""A data dir whose disk fills up mid-run: the run halts in one line, exit 3, and the
rerun after freeing space ends with every record there once."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scrapeline.testing import load_sample

from .conftest import lines, mounted_tmpfs, scrapeline

PIPE = "scrapeline.demo.football"
pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs: a run of 300 matches does not fit on it."""
    with mounted_tmpfs(tmp_path / "fs", "3m") as mount:
        yield mount


def table(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_full_disk_halts_in_one_line_and_the_rerun_recovers_everything(
    site_url: str, small_disk: Path
) -> None:
    data = small_disk / "d"
    full = scrapeline("run", PIPE, "--base-url", site_url, "--data-dir", str(data), timeout=120)
    assert full.returncode == 3, full.stderr
    assert "Traceback" not in full.stderr
    disk_lines = [line for line in lines(full.stderr) if "disk full" in line]
    assert len(disk_lines) == 1, full.stderr
    assert "free space and run again" in disk_lines[0]
    assert len(lines(full.stderr)) <= 3, full.stderr  # that line, and at most a note on the log

    # free space: the same files on a bigger disk
    grown = subprocess.run(
        ["mount", "-o", "remount,size=128m", str(small_disk)], capture_output=True, check=False
    )
    assert grown.returncode == 0, grown.stderr
    history = scrapeline("runs", PIPE, "--data-dir", str(data), "--json")
    assert history.returncode == 0, history.stderr
    [first] = json.loads(history.stdout)
    assert first["status"] in ("halted", "crashed"), first  # never left "running"
    assert first["status"] == "halted" or first["exit_code"] is None

    again = scrapeline("run", PIPE, "--base-url", site_url, "--data-dir", str(data), timeout=120)
    assert again.returncode == 0, again.stderr
    db = data / "ledger.db"
    matches = table(db, "SELECT match_id FROM matches")
    assert sorted(m for (m,) in matches) == sorted(m.id for m in load_sample()[:300])
    halves = table(db, "SELECT match_id, half FROM halves")
    assert len(halves) == len(set(halves)) > 0
    statuses = {status for (status,) in table(db, "SELECT DISTINCT status FROM tasks")}
    assert statuses == {"done"}
