"""``scrapeline runs``, ``runs show``, ``runs --last-success`` and ``health`` as a user
runs them: a real subprocess against the rehearsal site, real exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import orjson
import pytest

from .conftest import scrapeline, start

PIPE = "scrapeline.demo.football"
SECRET = "tok-5ecret-value"
pytestmark = pytest.mark.slow


def run_once(site_url: str, data: Path, *extra: str) -> None:
    done = scrapeline(
        "run", PIPE, "--base-url", site_url, "--data-dir", str(data), "--end-offset", "0", *extra
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_runs_lists_and_shows_a_run_in_utc_with_its_secrets_masked(
    site_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "d"
    run_once(site_url, data, "--secret", f"TOKEN={SECRET}")
    listed = scrapeline("runs", PIPE, "--data-dir", str(data), "--json")
    assert listed.returncode == 0, listed.stderr
    [run] = json.loads(listed.stdout)
    assert run["command"] == "run" and run["status"] == "done"
    assert "--secret" in run["args"] and "TOKEN=***" in run["args"]
    assert run["started"].endswith("+00:00") and run["stages"]["overview"]["done"] == 100
    table = scrapeline("runs", PIPE, "--data-dir", str(data))
    assert "+00:00" in table.stdout and "done" in table.stdout
    for how in (["runs", PIPE, "1"], ["runs", "show", PIPE, "1"]):
        shown = scrapeline(*how, "--data-dir", str(data))
        assert shown.returncode == 0, shown.stderr
        assert "run 1: done" in shown.stdout and "TOKEN=***" in shown.stdout
        assert SECRET not in shown.stdout
    rows = list(
        csv.DictReader(
            io.StringIO(scrapeline("runs", PIPE, "--data-dir", str(data), "--csv").stdout)
        )
    )
    assert [(r["id"], r["status"], r["command"]) for r in rows] == [("1", "done", "run")]
    assert SECRET not in (data / "ledger.db").read_bytes().decode("latin-1")


def test_runs_show_of_an_unknown_run_and_json_with_csv_are_usage_errors(
    site_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "d"
    run_once(site_url, data)
    unknown = scrapeline("runs", "show", PIPE, "99", "--data-dir", str(data))
    assert unknown.returncode == 2 and "no run 99" in unknown.stderr
    both = scrapeline("runs", PIPE, "--data-dir", str(data), "--json", "--csv")
    assert both.returncode == 2 and "choose one" in both.stderr


def test_last_success_says_its_age_and_exits_1_when_too_old_or_missing(
    site_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "d"
    data.mkdir()
    none = scrapeline("runs", PIPE, "--data-dir", str(data), "--last-success")
    assert none.returncode == 1 and len(none.stderr.strip().splitlines()) == 1
    assert "no successful run yet" in none.stderr
    run_once(site_url, data)
    fresh = scrapeline("runs", PIPE, "--data-dir", str(data), "--last-success", "--max-age", "26h")
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.startswith("last success: run 1, finished ") and "ago" in fresh.stdout
    # as if that success had been two days ago
    path = data / "state" / "last_success.json"
    body = orjson.loads(path.read_bytes())
    body["finished_at_unix"] -= 2 * 86400
    path.write_bytes(orjson.dumps(body))
    stale = scrapeline("runs", PIPE, "--data-dir", str(data), "--last-success", "--max-age", "26h")
    assert stale.returncode == 1 and "older than --max-age 26h" in stale.stdout
    lenient = scrapeline(
        "runs", PIPE, "--data-dir", str(data), "--last-success", "--max-age", "3d", "--json"
    )
    assert lenient.returncode == 0 and json.loads(lenient.stdout)["stale"] is False
    wrong = scrapeline("runs", PIPE, "--data-dir", str(data), "--last-success", "--max-age", "soon")
    assert wrong.returncode == 2 and "invalid duration" in wrong.stderr


def test_a_killed_run_reads_as_crashed_at_once(site_url: str, tmp_path: Path) -> None:
    data = tmp_path / "d"
    db = data / "ledger.db"
    proc = start("run", PIPE, "--base-url", site_url, "--data-dir", str(data), "--workers", "2")
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None:
            if db.exists():
                conn = sqlite3.connect(db)
                try:
                    done = conn.execute("SELECT count(*) FROM attempts").fetchone()[0]
                except sqlite3.OperationalError:
                    done = 0
                finally:
                    conn.close()
                if done >= 20:
                    break
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)
    listed = scrapeline("runs", PIPE, "--data-dir", str(data), "--json")
    [run] = json.loads(listed.stdout)
    assert run["status"] == "crashed" and run["ended"] is None
    assert run["stages"]["overview"]["done"] >= 20  # read from its attempts
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT status FROM runs").fetchall() == [("crashed",)]
    finally:
        conn.close()


def test_health_as_json_and_as_a_table(site_url: str, tmp_path: Path) -> None:
    data = tmp_path / "d"
    run_once(site_url, data)
    run_once(site_url, data, "--force-rescrape")
    report = scrapeline("health", PIPE, "--data-dir", str(data), "--runs", "1", "--json")
    assert report.returncode == 0, report.stderr
    info = json.loads(report.stdout)
    assert (info["runs"], info["compared_with"]) == ([2], [1])
    overview = next(s for s in info["stages"] if s["stage"] == "overview")
    assert (overview["tasks"], overview["success_rate"], overview["records"]) == (100, 1.0, 100)
    table = scrapeline("health", PIPE, "--data-dir", str(data))
    assert table.returncode == 0 and "overview" in table.stdout and "100.0%" in table.stdout
