"""What ``scrapeline run`` says it sent to each host, and why it stopped, as a user sees
it: a real subprocess against the rehearsal site (or a port nobody listens on)."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from scrapeline.testing import Fault, Faults, RehearsalSite, decide, load_sample, serve_in_thread

from .conftest import scrapeline

PIPE = "scrapeline.demo.football"


@pytest.fixture
def site() -> Iterator[tuple[RehearsalSite, str]]:
    rehearsal = RehearsalSite(list(load_sample()[:100]), latency=None, seed=11)
    with serve_in_thread(rehearsal) as url:
        yield rehearsal, url


def host_line(output: str, host: str) -> str:
    (line,) = [
        ln for ln in output.splitlines() if re.search(rf"\b{re.escape(host)}  requests ", ln)
    ]
    return line


def test_run_runs_and_status_show_what_was_sent_to_the_host(
    site: tuple[RehearsalSite, str], tmp_path: Path
) -> None:
    rehearsal, url = site
    rehearsal.faults = Faults(server_error=0.1)
    data = str(tmp_path / "d")
    done = scrapeline(
        "run", PIPE, "--base-url", url, "--data-dir", data, "--end-offset", "0",
        "--max-consecutive-failures", "0",
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    host = url.removeprefix("http://")
    served_5xx = sum(
        decide(rehearsal.faults, rehearsal.seed, target, nth) is Fault.SERVER_ERROR
        for target, times in rehearsal.hits.items()
        for nth in range(times)
    )
    assert served_5xx > 0
    line = host_line(done.stdout, host)
    said = re.fullmatch(
        rf"{re.escape(host)}  requests ([\d,]+)  retries (\d+)  429s 0  5xx ([\d,]+)", line
    )
    assert said is not None, line
    requests, retries, five = (int(g.replace(",", "")) for g in said.groups())
    assert requests == sum(rehearsal.hits.values()) and five == served_5xx
    (log,) = (tmp_path / "d" / "logs").glob("run-*-1.log")
    assert retries == len(re.findall(r" DEBUG scrapeline\.run: retry ", log.read_text())) > 0
    assert f'"{host}": {{"requests": {requests}, "retries": {retries}' in log.read_text()

    runs = scrapeline("runs", PIPE, "--data-dir", data)
    assert runs.returncode == 0, runs.stderr
    assert f"run 1  {line}" in runs.stdout.splitlines()
    status = scrapeline("status", PIPE, "--data-dir", data)
    assert f"  {line}" in status.stdout.splitlines()
    (stored,) = json.loads(scrapeline("runs", PIPE, "--data-dir", data, "--json").stdout)
    assert stored["hosts"] == {
        host: {
            "requests": requests,
            "retries": retries,
            "rate_limited": 0,
            "server_errors": five,
            "network_errors": 0,
        }
    }


def test_a_site_down_from_the_first_request_exits_3_naming_the_host(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = str(tmp_path / "d")
    done = scrapeline("run", PIPE, "--base-url", f"http://127.0.0.1:{port}", "--data-dir", data)
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"Halted: 127.0.0.1:{port} is down: connection refused (" in done.stdout
    assert "discovery failed" not in done.stdout + done.stderr
    assert f"127.0.0.1:{port}  requests 4  retries 3  429s 0  5xx 0  no answer 4" in done.stdout
    (run,) = json.loads(scrapeline("runs", PIPE, "--data-dir", data, "--json").stdout)
    assert (run["status"], run["exit_code"]) == ("halted", 3)
    assert run["reason"].startswith(f"127.0.0.1:{port} is down: connection refused (")


def test_a_run_that_meets_a_changed_layout_says_so(
    site: tuple[RehearsalSite, str], tmp_path: Path
) -> None:
    rehearsal, url = site
    rehearsal.faults = Faults(broken=1.0, only_paths_prefix="/matches/")
    done = scrapeline(
        "run", PIPE, "--base-url", url, "--data-dir", str(tmp_path / "d"), "--workers", "1"
    )
    assert done.returncode == 3, done.stderr
    assert (
        "Halted: the site's layout may have changed: 3 responses in a row broke the contract "
        "of stage overview"
    ) in done.stdout.splitlines()
    assert "likely banned or site down" not in done.stdout + done.stderr


def test_demo_shows_what_it_sent_to_the_rehearsal_site(tmp_path: Path) -> None:
    done = scrapeline("demo", "--no-latency", "--end-offset", "0", cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    site = re.search(r"rehearsal site at http://(127\.0\.0\.1:\d+)", done.stdout)
    assert site is not None
    line = host_line(done.stdout, site.group(1))
    assert re.fullmatch(
        rf"{re.escape(site.group(1))}  requests [\d,]+  retries 0  429s 0  5xx 0", line
    )
