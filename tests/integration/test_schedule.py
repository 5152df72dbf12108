"""The foreground scheduler for real: ``scrapeline schedule`` in a subprocess firing
every second (a sixth cron field), each trigger running the football pipeline as a
child process against the rehearsal site, stopped with SIGTERM; the ledger and the
scheduler's own lines say what happened."""

from __future__ import annotations

import itertools
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import scrapeline.demo.football as football_module
from scrapeline.ledger.base import RunInfo, RunStatus
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.ops.schedule import read_last_trigger, write_last_trigger
from scrapeline.testing import RehearsalSite, load_sample, serve_in_thread

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="signals to a process group"),
]

PIPELINE = str(Path(football_module.__file__))


class Scheduler:
    """``scrapeline schedule`` in a subprocess; its lines (its own on stderr, its runs'
    on both streams) are read as they come, so a test waits for one, never sleeps."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scrapeline", "schedule", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "120", "PYTHONUNBUFFERED": "1"},  # lines as they come
        )
        self.lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self.seen: list[str] = []  # the scheduler's own lines, in order
        self.output: list[str] = []
        for name, stream in (("out", self.proc.stdout), ("err", self.proc.stderr)):
            threading.Thread(target=self._read, args=(name, stream), daemon=True).start()

    def _read(self, name: str, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put((name, line.rstrip("\n")))
        self.lines.put((name, None))

    def wait_for(self, predicate: object, timeout: float = 90) -> str:
        """The next line for which ``predicate(line)`` holds."""
        while True:
            _, line = self.lines.get(timeout=timeout)
            if line is None:
                continue
            self.output.append(line)
            if " schedule: " in line:
                self.seen.append(line.split(" schedule: ", 1)[1])
            if predicate(line):  # type: ignore[operator]
                return line

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=90)
        closed = 0
        while closed < 2:  # both streams to their end
            _, line = self.lines.get(timeout=30)
            if line is None:
                closed += 1
            elif " schedule: " in line:
                self.seen.append(line.split(" schedule: ", 1)[1])
        for stream in (self.proc.stdout, self.proc.stderr):
            assert stream is not None
            stream.close()
        return code


@pytest.fixture
def site_url() -> Iterator[str]:
    with serve_in_thread(RehearsalSite(list(load_sample()[:30]), latency=None)) as url:
        yield url


def runs_of(data: Path) -> list[RunInfo]:
    ledger = SqliteLedger(data / "ledger.db")
    try:
        return sorted(ledger.runs(100), key=lambda r: r.id)
    finally:
        ledger.close()


def test_every_second_it_runs_the_pipeline_never_two_at_once_until_sigterm(
    tmp_path: Path, site_url: str
) -> None:
    data = tmp_path / "data"
    scheduler = Scheduler(
        PIPELINE, "--cron", "* * * * * *", "--data-dir", str(data),
        "--", "--base-url", site_url, "--workers", "2",
    )  # fmt: skip
    for _ in range(3):
        scheduler.wait_for(lambda line: " schedule: run (pid " in line)
    assert scheduler.stop() == 0
    started = [line for line in scheduler.seen if ": run started (pid " in line]
    exited = [line for line in scheduler.seen if line.startswith("run (pid ")]
    assert len(started) >= 3 and len(exited) == len(started)
    assert all(line.endswith("exited 0: done") for line in exited)
    assert scheduler.seen[-1] == "stopped"
    runs = runs_of(data)
    assert len(runs) == len(started)  # every child ran: none found the data dir busy
    assert all(r.status is RunStatus.DONE for r in runs)
    for earlier, later in itertools.pairwise(runs):
        assert earlier.ended_at is not None and later.started_at >= earlier.ended_at
    assert read_last_trigger(data / "state" / "schedule.json") is not None


def test_a_failing_run_is_logged_and_the_schedule_goes_on(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on: each run halts, exit 3
        s.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{s.getsockname()[1]}"
    data = tmp_path / "data"
    scheduler = Scheduler(
        PIPELINE, "--cron", "* * * * * *", "--data-dir", str(data), "--", "--base-url", down
    )
    for _ in range(2):
        scheduler.wait_for(lambda line: line.endswith("exited 3: halted"))
    assert scheduler.stop() == 0
    assert [r.status for r in runs_of(data)][:2] == [RunStatus.HALTED, RunStatus.HALTED]


def test_a_missed_run_is_caught_up_once_and_sigterm_drains_the_running_one(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    state = data / "state" / "schedule.json"
    write_last_trigger(state, datetime.now() - timedelta(days=3))  # down for three days
    site = RehearsalSite(list(load_sample()[:60]), latency=0.2)  # a run of many seconds
    with serve_in_thread(site) as url:
        scheduler = Scheduler(
            PIPELINE, "--cron", "@daily", "--data-dir", str(data),
            "--", "--base-url", url, "--workers", "1",
        )  # fmt: skip
        scheduler.wait_for(lambda line: " ✓ overview" in line)  # the caught-up run is at work
        assert scheduler.stop() == 0
    assert [line.split(" at ")[0] for line in scheduler.seen if "catching up" in line] == [
        "catching up the run due"
    ]
    assert sum(": run started (pid " in line for line in scheduler.seen) == 1
    assert scheduler.seen[-2].endswith("exited 130: interrupted")  # drained, waited for
    (run,) = runs_of(data)
    assert run.status is RunStatus.INTERRUPTED  # it recorded its end: not crashed
    midnight = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0)
    assert read_last_trigger(state) in (midnight, midnight + timedelta(days=1))
