"""``scrapeline validate`` in a subprocess: the table rules and derived tables over
what a run stored, as a publish would check them, publishing nothing; exit 1 when
an ``error`` rule fails, and ``publish`` then refuses to move ``latest``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import scrapeline

pytestmark = pytest.mark.slow

BUNDLED = Path(__file__).parents[2] / "src" / "scrapeline" / "demo" / "football.py"

RULES = """

from scrapeline.quality.rules import accepted, between, row_count, sql

pipe.derive(
    "goals_per_season",
    sql="SELECT season, count(*) AS matches, sum(goals1 + goals2) AS goals "
    "FROM matches WHERE goals1 IS NOT NULL GROUP BY season",
    key="season",
)
pipe.rule("goals_per_season", between("matches", min=1))
pipe.rule("matches", between("goals1", max={max_goals}), row_count(min=100000, severity="warn"))
pipe.rule("halves", accepted("half", [1, 2]))
pipe.rule(
    "matches",
    sql("SELECT * FROM matches WHERE goals1 + goals2 > 12", name="no_double_figures"),
)
"""


def pipeline(tmp_path: Path, *, max_goals: int) -> Path:
    """The bundled example with more rules: one that ``max_goals`` can make fail."""
    path = tmp_path / f"football_{max_goals}.py"
    path.write_text(BUNDLED.read_text() + RULES.format(max_goals=max_goals))
    return path


@pytest.fixture
def data(tmp_path: Path, site_url: str) -> Path:
    data = tmp_path / "data"
    ran = scrapeline(
        "run", str(BUNDLED), "--data-dir", str(data), "--base-url", site_url, "--quiet"
    )
    assert ran.returncode == 0, ran.stderr
    return data


def test_rules_that_hold_exit_0_with_a_line_each(tmp_path: Path, data: Path) -> None:
    done = scrapeline("validate", str(pipeline(tmp_path, max_goals=20)), "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "ok    matches           unique(match_id)" in lines
    assert any(line.startswith("ok    goals_per_season  unique(season)") for line in lines)
    warned = [line for line in lines if line.startswith("warn")]
    assert len(warned) == 1 and "row_count(min=100000)" in warned[0], lines
    assert lines[-1].endswith("0 errors failed, 1 warning")
    assert not (data / "published").exists(), "validate published something"


def test_a_failing_error_rule_exits_1_and_publish_keeps_latest(tmp_path: Path, data: Path) -> None:
    good, bad = pipeline(tmp_path, max_goals=20), pipeline(tmp_path, max_goals=1)
    assert scrapeline("publish", str(good), "--data-dir", str(data)).returncode == 0
    latest = (data / "published" / "latest").resolve()

    done = scrapeline("validate", str(bad), "--data-dir", str(data), "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["passed"] is False and report["errors"] == 1
    (failed,) = [r for r in report["rules"] if not r["passed"] and r["severity"] == "error"]
    assert failed["table"] == "matches" and failed["rule"].startswith("between(goals1")
    assert failed["failing"] > 0 and all(row["goals1"] > 1 for row in failed["sample"])
    assert report["tables"]["goals_per_season"] >= 1

    refused = scrapeline("publish", str(bad), "--data-dir", str(data))
    assert refused.returncode == 1
    assert "between(goals1" in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert (data / "published" / "latest").resolve() == latest


def test_validate_without_a_ledger_is_a_usage_error(tmp_path: Path) -> None:
    done = scrapeline("validate", str(BUNDLED), "--data-dir", str(tmp_path / "none"))
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and len(done.stderr.splitlines()) == 1
