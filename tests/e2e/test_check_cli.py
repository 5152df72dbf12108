"""`scrapeline check` as a user runs it: a real subprocess against the rehearsal site."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from scrapeline.testing import Faults, RehearsalSite, load_sample, serve_in_thread

from .conftest import lines, scrapeline

PIPE = "scrapeline.demo.football"
pytestmark = pytest.mark.slow


@pytest.fixture
def broken_url() -> Iterator[str]:
    site = RehearsalSite(list(load_sample()[:300]), latency=None, faults=Faults(broken=1.0))
    with serve_in_thread(site) as url:
        yield url


def test_check_reports_every_contract_holding_and_exits_0(site_url: str, tmp_path: Path) -> None:
    done = scrapeline("check", PIPE, "--base-url", site_url, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = lines(done.stdout)
    assert out[0] == f"check football against {site_url}"
    assert out[1] == "✓ discovery results (match listing at 0): found 100 match items"
    assert out[2] == f"    GET {site_url}/results?offset=0 → 200, contract holds"
    assert out[3].startswith("✓ stage overview (match ")
    assert out[3].endswith("parsed: 1 record, 2 half items")
    assert out[5].startswith("✓ stage half_stats (half ")
    assert out[-1] == "all 3 checks hold · exit 0"
    assert list(tmp_path.iterdir()) == []  # no data dir, no ledger


def test_check_names_the_broken_contract_and_exits_1(broken_url: str, tmp_path: Path) -> None:
    done = scrapeline("check", PIPE, "--base-url", broken_url, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "✗ stage overview (match " in out and "): contract broken" in out
    assert "→ 200, contract broken: no element matches 'h1 .score'" in out
    assert "- stage half_stats: not checked, no sample 'half' item: overview emitted none" in out
    assert lines(out)[-1] == "2 of 3 checks failed · exit 1"
    assert "Traceback" not in done.stderr


def test_check_json(broken_url: str, tmp_path: Path) -> None:
    done = scrapeline("check", PIPE, "--base-url", broken_url, "--json", cwd=tmp_path)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["ok"] is False
    assert [(s["name"], s["ok"]) for s in report["steps"]] == [
        ("results", True),
        ("overview", False),
        ("half_stats", False),
    ]
    assert report["steps"][1]["fetches"][0]["problems"] == ["no element matches 'h1 .score'"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "missing.py"], "pipeline file not found: missing.py"),
        (["check", PIPE, "--base-url", "ftp://x"], "invalid base_url"),
        (["check", PIPE, "--set", "novalue"], "KEY=VALUE"),
    ],
)
def test_check_usage_errors_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    done = scrapeline(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_an_unreachable_site_exits_1_with_the_network_error(tmp_path: Path) -> None:
    done = scrapeline("check", PIPE, "--base-url", "http://127.0.0.1:9", cwd=tmp_path, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "→ no response: network:" in done.stdout
