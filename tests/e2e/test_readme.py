"""The README's promises, checked: its pipeline runs as printed, its commands exist."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from .conftest import scrapeline

README = Path(__file__).parents[2] / "README.md"
pytestmark = pytest.mark.slow


def test_the_readme_opens_with_the_demo_and_test_commands() -> None:
    text = README.read_text()
    first_block = text.split("```sh", 1)[1].split("```", 1)[0]
    assert "make demo" in first_block and "make test" in first_block
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci


def test_the_readme_shows_the_bundled_example_as_it_is() -> None:
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert code is not None
    bundled = README.parent / "src" / "scrapeline" / "demo" / "football.py"
    assert code.group(1) == bundled.read_text()


def test_the_readme_pipeline_runs_as_printed(site_url: str, tmp_path: Path) -> None:
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert code is not None
    pipeline = tmp_path / "football.py"
    pipeline.write_text(code.group(1))
    data = tmp_path / "data"
    done = scrapeline(
        "run", str(pipeline), "--base-url", site_url, "--data-dir", str(data), "--end-offset", "100"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with sqlite3.connect(data / "ledger.db") as db:
        assert db.execute("SELECT count(*) FROM matches").fetchone() == (200,)
        assert db.execute("SELECT count(*) FROM halves").fetchone()[0] > 100


def test_demo_site_serves_until_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "scrapeline", "demo-site", "--port", "0", "--no-latency"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url, line
        with urllib.request.urlopen(f"{url.group(0)}/results?offset=0", timeout=10) as answer:
            assert b'<tr class="match"' in answer.read()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.communicate()


def test_the_readme_reads_the_latest_snapshot_as_printed(site_url: str, tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    (reader,) = [b for b in blocks if "published/latest" in b]
    data = tmp_path / "data" / "football"
    ran = scrapeline(
        "run",
        "scrapeline.demo.football",
        "--base-url",
        site_url,
        "--data-dir",
        str(data),
        "--publish",
        "--quiet",
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    script = tmp_path / "read_latest.py"
    script.write_text(reader + "\nprint(len(matches), len(halves), len(goals))\n")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    rows, halves, seasons = map(int, done.stdout.split())
    manifest = json.loads((data / "published" / "latest" / "manifest.json").read_text())
    assert rows == manifest["tables"]["matches"]["rows"] == 300
    assert halves == manifest["tables"]["halves"]["rows"] > 0
    assert seasons >= 1
