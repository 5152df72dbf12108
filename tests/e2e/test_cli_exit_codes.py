"""The exit code of ``scrapeline run`` follows the run's status, and agrees with the
exit code the runner records with the run; ``status`` calls leased tasks claimed."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scrapeline.cli.exits import RUN_EXIT_CODES
from scrapeline.ledger.base import RunStatus
from scrapeline.testing import Faults, RehearsalSite, load_sample, serve_in_thread

from .conftest import scrapeline, start

PIPE = "scrapeline.demo.football"


@pytest.fixture
def site() -> Iterator[tuple[RehearsalSite, str]]:
    rehearsal = RehearsalSite(list(load_sample()[:300]), latency=0.005)
    with serve_in_thread(rehearsal) as url:
        yield rehearsal, url


def done_tasks(db: Path) -> int:
    """Tasks done so far; 0 before the run has created the ledger and its tables."""
    if not db.exists():
        return 0
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM tasks WHERE status='done'").fetchone()[0])
    except sqlite3.OperationalError:  # the file is there, its schema not yet
        return 0
    finally:
        conn.close()


def last_run(data: Path) -> dict[str, object]:
    runs = scrapeline("runs", PIPE, "--data-dir", str(data), "--json")
    assert runs.returncode == 0, runs.stderr
    newest: dict[str, object] = json.loads(runs.stdout)[0]
    return newest


@pytest.mark.parametrize(
    ("faults", "flags", "status"),
    [
        (Faults(), (), RunStatus.DONE),
        (
            Faults(broken=0.2, only_paths_prefix="/matches/"),
            ("--max-consecutive-failures", "0"),
            RunStatus.FAILED,
        ),
        (Faults(broken=1.0, only_paths_prefix="/matches/"), (), RunStatus.HALTED),
    ],
    ids=["done", "failed", "halted"],
)
def test_a_run_exits_with_the_code_of_its_status(
    site: tuple[RehearsalSite, str],
    tmp_path: Path,
    faults: Faults,
    flags: tuple[str, ...],
    status: RunStatus,
) -> None:
    rehearsal, url = site
    rehearsal.faults = faults
    data = tmp_path / "d"
    done = scrapeline(
        "run", PIPE, "--base-url", url, "--data-dir", str(data), "--end-offset", "0", *flags
    )
    run = last_run(data)
    assert run["status"] == status.value, done.stdout + done.stderr
    # the CLI's table, the code the runner recorded, and the process's code agree
    assert done.returncode == RUN_EXIT_CODES[status] == run["exit_code"]


def test_an_interrupted_run_exits_130_as_recorded(
    site: tuple[RehearsalSite, str], tmp_path: Path
) -> None:
    _, url = site
    data = tmp_path / "d"
    proc = start("run", PIPE, "--base-url", url, "--data-dir", str(data), "--workers", "2")
    try:
        deadline = time.monotonic() + 30
        while done_tasks(data / "ledger.db") < 10:
            assert proc.poll() is None and time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # its pipes closed, whatever happened
    run = last_run(data)
    assert run["status"] == RunStatus.INTERRUPTED.value, err
    assert proc.returncode == RUN_EXIT_CODES[RunStatus.INTERRUPTED] == run["exit_code"] == 130


def test_status_calls_tasks_leased_ahead_claimed_not_running(tmp_path: Path) -> None:
    # a slow site and two workers: the run leases a batch of tasks far larger than
    # the two in flight, which is what status must not call running
    rehearsal = RehearsalSite(list(load_sample()[:300]), latency=0.2)
    data = tmp_path / "d"
    with serve_in_thread(rehearsal) as url:
        proc = start("run", PIPE, "--base-url", url, "--data-dir", str(data), "--workers", "2")
        try:
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None and time.monotonic() < deadline, "nothing claimed"
                shown = scrapeline("status", PIPE, "--data-dir", str(data), "--json")
                if shown.returncode == 0:
                    info = json.loads(shown.stdout)
                    if info["stages"]["overview"]["claimed"] > 2:
                        break
                time.sleep(0.1)
            assert all("running" not in counts for counts in info["stages"].values())
            table = scrapeline("status", PIPE, "--data-dir", str(data))
            assert table.returncode == 0, table.stderr
            header = next(line for line in table.stdout.splitlines() if "stage" in line)
            assert "claimed" in header and "running" not in header
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=60)
