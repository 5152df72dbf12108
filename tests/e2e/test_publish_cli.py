"""``scrapeline publish``, ``snapshots``, ``rollback`` and ``run --publish`` in a
subprocess against the rehearsal site: exit codes, output, and a publish taken
while a run is writing that still copies one committed state."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from scrapeline.testing import RehearsalSite, load_sample, serve_in_thread

from .conftest import scrapeline, start

pytestmark = pytest.mark.slow

PIPE = "scrapeline.demo.football"


def records(db: Path) -> int:
    """Records the run has committed so far (0 before it made its ledger)."""
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM records").fetchone()[0])
    except sqlite3.OperationalError:  # the run has not made its tables yet
        return 0
    finally:
        conn.close()


def test_publish_while_a_run_writes_copies_one_committed_state(tmp_path: Path) -> None:
    data = tmp_path / "data"
    site = RehearsalSite(list(load_sample()[:300]), latency=0.03)
    with serve_in_thread(site) as url:
        run = start("run", PIPE, "--data-dir", str(data), "--base-url", url, "--workers", "4")
        try:
            deadline = time.monotonic() + 30
            while records(data / "ledger.db") < 60:
                assert run.poll() is None, run.communicate()
                assert time.monotonic() < deadline, "the run wrote no records"
                time.sleep(0.05)
            published = scrapeline("publish", PIPE, "--data-dir", str(data), "--json")
            still_running = run.poll() is None
        finally:
            _out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert still_running, "the run ended before the publish: nothing was tested"
    assert published.returncode == 0, published.stderr
    report = json.loads(published.stdout)
    latest = data / "published" / "latest"
    manifest = json.loads((latest / "manifest.json").read_text())
    matches, halves = manifest["tables"]["matches"], manifest["tables"]["halves"]
    # a matches row per done overview, a halves row per done half_stats: counted in
    # the same read as the records, so the two agree only if one state was read
    assert matches["rows"] == manifest["tasks_done"]["overview"]
    assert halves["rows"] == manifest["tasks_done"].get("half_stats", 0)
    assert 0 < matches["rows"] < 300, "the publish was not taken mid-run"
    assert report["tables"] == {"matches": matches["rows"], "halves": halves["rows"]}
    # every half's match is there: half items come from overview's completion
    orphans = duckdb.sql(
        f"SELECT count(*) FROM '{latest / 'halves.parquet'}' h "
        f"ANTI JOIN '{latest / 'matches.parquet'}' m USING (match_id)"
    ).fetchall()
    assert orphans == [(0,)]
    assert pq.ParquetFile(latest / "matches.parquet").metadata.num_rows == matches["rows"]


def test_publish_snapshots_rollback(tmp_path: Path, site_url: str) -> None:
    data = tmp_path / "data"
    ran = scrapeline("run", PIPE, "--data-dir", str(data), "--base-url", site_url, "--quiet")
    assert ran.returncode == 0, ran.stderr

    first = scrapeline("publish", PIPE, "--data-dir", str(data), "--duckdb", "--csv")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith("published ")
    first_id = lines[0].split()[1]
    assert any(line.split()[:3] == ["matches", "300", "rows"] for line in lines)
    time.sleep(1.05)  # the next snapshot's id is the next second
    second = scrapeline("publish", PIPE, "--data-dir", str(data), "--json", "--keep", "5")
    assert second.returncode == 0, second.stderr
    second_id = json.loads(second.stdout)["snapshot"]
    latest = data / "published" / "latest"
    assert os.readlink(latest) == second_id

    listed = scrapeline("snapshots", PIPE, "--data-dir", str(data), "--json")
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert [(s["id"], s["latest"]) for s in found] == [(first_id, False), (second_id, True)]
    assert found[0]["tables"]["matches"] == 300
    assert found[0]["rows"] == sum(found[0]["tables"].values())
    assert found[0]["created_at"].endswith("+00:00")
    table = scrapeline("snapshots", PIPE, "--data-dir", str(data))
    assert table.returncode == 0 and first_id in table.stdout and "latest" in table.stdout

    back = scrapeline("rollback", PIPE, first_id, "--data-dir", str(data))
    assert back.returncode == 0, back.stderr
    assert back.stdout.startswith(f"latest -> {first_id}")
    assert os.readlink(latest) == first_id
    assert (latest / "dataset.duckdb").is_file() and (latest / "matches.csv").is_file()

    unknown = scrapeline("rollback", PIPE, "20000101T000000Z", "--data-dir", str(data))
    assert unknown.returncode == 2
    assert unknown.stderr.count("\n") == 1 and "no snapshot '20000101T000000Z'" in unknown.stderr
    assert os.readlink(latest) == first_id

    runs = scrapeline("runs", PIPE, "--data-dir", str(data), "--json")
    commands = [r["command"] for r in json.loads(runs.stdout)]
    assert commands[:2] == ["publish", "publish"]


def test_publish_usage_errors_exit_2(tmp_path: Path) -> None:
    missing = scrapeline("publish", PIPE, "--data-dir", str(tmp_path / "none"))
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: no ledger in") and missing.stderr.count("\n") == 1
    bad = scrapeline("publish", PIPE, "--data-dir", str(tmp_path), "--keep", "0")
    assert bad.returncode == 2
    listed = scrapeline("snapshots", PIPE, "--data-dir", str(tmp_path / "none"))
    assert listed.returncode == 2


def test_run_publish_publishes_after_a_run_that_ends_done(tmp_path: Path, site_url: str) -> None:
    data = tmp_path / "data"
    done = scrapeline(
        "run", PIPE, "--data-dir", str(data), "--base-url", site_url, "--quiet", "--publish"
    )
    assert done.returncode == 0, done.stderr
    assert "published " in done.stdout
    manifest = json.loads((data / "published" / "latest" / "manifest.json").read_text())
    assert manifest["tables"]["matches"]["rows"] == 300


def test_run_publish_fails_the_run_when_the_publish_fails(tmp_path: Path, site_url: str) -> None:
    data = tmp_path / "data"
    pipeline = tmp_path / "bad_table.py"
    pipeline.write_text(
        "from scrapeline.demo.football import *  # noqa\n"
        "from scrapeline.demo.football import pipe\n"
        "pipe.table('.hidden', key='match_id')\n"
    )
    done = scrapeline(
        "run",
        str(pipeline),
        "--data-dir",
        str(data),
        "--base-url",
        site_url,
        "--quiet",
        "--publish",
    )
    assert done.returncode == 1, done.stderr
    assert "error: publish: table '.hidden' cannot be a file name" in done.stderr
    assert not (data / "published" / "latest").exists()
