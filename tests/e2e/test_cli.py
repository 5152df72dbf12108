"""The CLI as a user runs it: a real subprocess, a real site, real exit codes and signals."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import time
from pathlib import Path

import pytest

from scrapeline.testing import load_sample

from .conftest import lines, scrapeline, start

PIPE = "scrapeline.demo.football"
pytestmark = pytest.mark.slow


def count(db: Path, sql: str) -> int:
    """Run a count query; 0 while the ledger is still being created."""
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return 0
        raise
    finally:
        conn.close()


def test_run_prints_a_line_per_item_and_a_summary(site_url: str, tmp_path: Path) -> None:
    data = tmp_path / "d"
    done = scrapeline(
        "run", PIPE, "--base-url", site_url, "--data-dir", str(data), "--end-offset", "0"
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "✓ overview" in out and "✓ half_stats" in out
    assert re.search(r"^\[\s*1/\d+\] match \d+ ✓ overview \(\d+\.\ds\)", out, re.M)
    assert "\x1b[" not in out  # not a terminal: plain lines, no control codes
    assert "overview" in out and "half_stats" in out and "p95" in out
    assert count(data / "ledger.db", "SELECT count(*) FROM matches") == 100
    logs = list((data / "logs").glob("run-*-1.log"))
    assert len(logs) == 1 and "DEBUG" in logs[0].read_text()


def test_status_and_runs_as_json(site_url: str, tmp_path: Path) -> None:
    data = str(tmp_path / "d")
    scrapeline("run", PIPE, "--base-url", site_url, "--data-dir", data, "--end-offset", "0")
    status = scrapeline("status", PIPE, "--data-dir", data, "--json")
    assert status.returncode == 0, status.stderr
    info = json.loads(status.stdout)
    assert info["stages"]["overview"]["done"] == 100
    assert info["items"]["match"] == 100
    runs = scrapeline("runs", PIPE, "--data-dir", data, "--json")
    [only] = json.loads(runs.stdout)
    assert (only["id"], only["status"], only["exit_code"]) == (1, "done", 0)
    table = scrapeline("status", PIPE, "--data-dir", data)
    assert "half_stats" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.py"], "pipeline file not found: missing.py"),
        (["run", PIPE, "--no-such-flag"], "No such option"),
        (["run", PIPE, "--workers", "0"], "--workers"),
        (["run", PIPE, "--start-offset", "200", "--end-offset", "100"], "before --start-offset"),
        (["run", PIPE, "--set", "novalue"], "KEY=VALUE"),
        (["status", PIPE, "--data-dir", "nowhere"], "run the pipeline first"),
    ],
)
def test_usage_errors_exit_2_with_one_clear_line(
    args: list[str], message: str, tmp_path: Path
) -> None:
    done = scrapeline(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_pipeline_file_that_does_not_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from scrapeline import Pipeline\npipe = Pipeline('x')\n1/0\n")
    done = scrapeline("run", str(bad), cwd=tmp_path)
    assert done.returncode == 2
    assert lines(done.stderr) == [
        f"error: pipeline file {bad} does not import (line 3): ZeroDivisionError: division by zero"
    ]


def test_a_data_dir_that_is_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = scrapeline("run", PIPE, "--data-dir", str(blocker / "sub"))
    assert done.returncode == 2
    assert "is not writable" in done.stderr and "Traceback" not in done.stderr


def test_a_second_run_on_a_busy_data_dir_names_the_running_process(
    site_url: str, tmp_path: Path
) -> None:
    data = str(tmp_path / "d")
    # The first run holds the data dir for as long as the test needs: its site takes
    # the connection and never answers (a fast site could let it finish first).
    silent = socket.create_server(("127.0.0.1", 0))
    mute_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    first = start("run", PIPE, "--base-url", mute_url, "--data-dir", data, "--grace", "1")
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "d" / "logs").exists() or not list(
            (tmp_path / "d" / "logs").iterdir()
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        second = scrapeline("run", PIPE, "--base-url", site_url, "--data-dir", data)
        assert second.returncode == 2
        assert f"pid {first.pid}" in second.stderr
        assert first.poll() is None  # it was busy, not finished
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
        silent.close()


def test_ctrl_c_drains_exits_130_and_the_next_run_resumes(site_url: str, tmp_path: Path) -> None:
    data = tmp_path / "d"
    proc = start("run", PIPE, "--base-url", site_url, "--data-dir", str(data), "--workers", "2")
    deadline = time.monotonic() + 30
    while (
        not (data / "ledger.db").exists()
        or count(data / "ledger.db", "SELECT count(*) FROM tasks WHERE status='done'") < 20
    ):
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Stopping" in out and "INTERRUPTED (exit 130) — interrupted by SIGINT" in out, out
    assert count(data / "ledger.db", "SELECT count(*) FROM tasks WHERE status='running'") == 0
    again = scrapeline("run", PIPE, "--base-url", site_url, "--data-dir", str(data))
    assert again.returncode == 0, again.stderr
    assert count(data / "ledger.db", "SELECT count(*) FROM matches") == 300


def test_sigkill_at_any_point_loses_nothing_and_duplicates_nothing(
    site_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "d"
    db = data / "ledger.db"
    sample = load_sample()[:300]
    want_halves = sum(2 for m in sample if m.halves)
    for step in (1, 40, 150, 250):  # kill each run after it settled this many more tasks
        before = count(db, "SELECT count(*) FROM tasks WHERE status='done'") if db.exists() else 0
        proc = start("run", PIPE, "--base-url", site_url, "--data-dir", str(data), "--workers", "6")
        try:
            deadline = time.monotonic() + 30
            while proc.poll() is None:
                if db.exists():
                    done = count(db, "SELECT count(*) FROM tasks WHERE status='done'")
                    if done >= before + step:
                        break
                assert time.monotonic() < deadline
                time.sleep(0.01)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=10)
        # never a record without its done mark, never a done mark without its record
        assert count(db, "SELECT count(*) FROM matches") == count(
            db, "SELECT count(*) FROM tasks WHERE stage='overview' AND status='done'"
        )
        assert count(db, "SELECT count(*) FROM halves") == count(
            db, "SELECT count(*) FROM tasks WHERE stage='half_stats' AND status='done'"
        )
    final = scrapeline("run", PIPE, "--base-url", site_url, "--data-dir", str(data))
    assert final.returncode == 0, final.stdout + final.stderr
    assert count(db, "SELECT count(*) FROM matches") == 300
    assert count(db, "SELECT count(DISTINCT match_id) FROM matches") == 300
    assert count(db, "SELECT count(*) FROM halves") == want_halves
    assert count(db, "SELECT count(*) FROM items WHERE kind='half'") == want_halves
    assert count(db, "SELECT count(*) FROM tasks WHERE status != 'done'") == 0
    runs = count(db, "SELECT count(*) FROM runs WHERE status='crashed'")
    assert runs == 4


def test_demo_runs_clean_on_a_fresh_directory(tmp_path: Path) -> None:
    done = scrapeline("demo", "--no-latency", "--end-offset", "100", cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "rehearsal site at http://127.0.0.1:" in done.stdout
    assert "data/demo/ledger.db" in done.stdout
    assert count(tmp_path / "data" / "demo" / "ledger.db", "SELECT count(*) FROM matches") == 200
