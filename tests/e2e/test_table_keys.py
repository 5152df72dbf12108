"""A table's key is part of its schema: changing it is refused at start, in one line."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import scrapeline.demo.football as football

from .conftest import lines, scrapeline

pytestmark = pytest.mark.slow


def halves(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM halves").fetchone()[0])
    finally:
        conn.close()


def test_a_changed_table_key_is_refused_and_no_row_is_duplicated(
    site_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "d"
    common = ["--base-url", site_url, "--data-dir", str(data), "--end-offset", "0"]
    first = scrapeline("run", football.__file__, *common)
    assert first.returncode == 0, first.stderr
    before = halves(data / "ledger.db")
    assert before > 100
    source = Path(football.__file__).read_text()
    assert 'key=("match_id", "half")' in source
    changed = tmp_path / "football.py"
    changed.write_text(source.replace('key=("match_id", "half")', 'key=("half", "match_id")'))
    again = scrapeline("run", str(changed), *common, "--force-rescrape")
    assert again.returncode == 2, again.stderr
    [line] = lines(again.stderr)
    assert line.startswith(
        "error: table halves: key changed from (match_id, half) to (half, match_id); "
    )
    assert halves(data / "ledger.db") == before
    same = scrapeline("run", football.__file__, *common, "--force-rescrape")
    assert same.returncode == 0, same.stderr
    assert halves(data / "ledger.db") == before
