"""A browser pipeline run by the CLI: Ctrl+C or SIGTERM, twice, leaves no Chromium behind."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scrapeline.testing import RehearsalSite, load_sample, serve_in_thread
from tests.browsers import needs_browser, processes_using, wait_until_gone

pytestmark = [pytest.mark.slow, needs_browser, pytest.mark.timeout(180)]

PIPELINE = """
from scrapeline import Context, Expect, Item, Pipeline, Record, offsets

pipe = Pipeline(
    "jsfootball",
    base_url="http://127.0.0.1:8000",
    fetcher="browser",
    ready_selector="#match, table#results",
    workers=2,
)
pipe.table("matches", key="match_id")


@pipe.discover("match", pages=offsets(step=100))
async def results(ctx: Context, offset: int):
    page = await ctx.fetch(f"/results?offset={offset}")
    for row in page.css("tr.match"):
        yield Item(key=int(row.attributes["data-id"]))


@pipe.stage("overview", on="match", expect=Expect(selectors=("#match",)))
async def overview(ctx: Context, item: Item) -> Record:
    page = await ctx.fetch(f"/js/matches/{item.key}?delay={ctx.config.get('delay', '50')}")
    return Record("matches", {"match_id": item.key, "team1": page.text_of("#match .team1")})
"""


def write_pipeline(tmp_path: Path) -> Path:
    path = tmp_path / "jsfootball.py"
    path.write_text(PIPELINE)
    return path


@pytest.fixture
def site() -> Iterator[RehearsalSite]:
    """The rehearsal site in a thread, with its hit counts at hand."""
    served = RehearsalSite(list(load_sample()[:300]), latency=0.005)
    with serve_in_thread(served):
        yield served


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A TMPDIR for the CLI: the browser's profile lands there, so every process of the
    browser names it. Short, unlike tmp_path: Chromium puts a Unix socket in TMPDIR."""
    path = Path(tempfile.mkdtemp(prefix="sl-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def env_with(scratch: Path) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(scratch), "COLUMNS": "120"}


def test_a_browser_pipeline_runs_and_checks(site_url: str, tmp_path: Path, scratch: Path) -> None:
    pipeline = write_pipeline(tmp_path)
    data = tmp_path / "data"
    env = env_with(scratch)
    done = subprocess.run(
        [sys.executable, "-m", "scrapeline", "run", str(pipeline), "--base-url", site_url,
         "--data-dir", str(data), "--end-offset", "0", "--workers", "4", "--no-archive"],
        capture_output=True, text=True, timeout=150, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    with sqlite3.connect(data / "ledger.db") as db:
        assert db.execute("SELECT count(*) FROM matches WHERE team1 <> ''").fetchone() == (100,)
    checked = subprocess.run(
        [sys.executable, "-m", "scrapeline", "check", str(pipeline), "--base-url", site_url],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "all 2 checks hold" in checked.stdout
    assert wait_until_gone(scratch, timeout=2.0) == []
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_two_signals_leave_no_chromium_behind(
    site: RehearsalSite, tmp_path: Path, scratch: Path, signum: signal.Signals
) -> None:
    pipeline = write_pipeline(tmp_path)
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "scrapeline", "run", str(pipeline), "--base-url", site.url,
         "--data-dir", str(data), "--set", "delay=3000", "--grace", "30", "--no-archive"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_with(scratch),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        # match pages are loading in the browser (each takes 3 s to build)
        while not any(target.startswith("/js/matches/") for target in list(site.hits)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no match page was ever asked for"
            time.sleep(0.1)
        assert processes_using(scratch)
        proc.send_signal(signum)  # drain: in-flight pages finish ...
        time.sleep(0.5)
        proc.send_signal(signum)  # ... no: cancel them, close the browser
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err, err
    assert processes_using(scratch) == []  # gone before the CLI exited, not later
    assert list(scratch.iterdir()) == []  # the profile is removed too
