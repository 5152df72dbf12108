"""Every command's output goes through one redaction point: a password in the base URL,
the pipeline's own secrets and the values given with --secret come out of no command,
not in console lines, not in --json, not in any file of the data dir."""

from __future__ import annotations

import json
import sqlite3
import textwrap
import uuid
from pathlib import Path

import pytest

from scrapeline.testing import RehearsalSite, load_sample, serve_in_thread

from .conftest import lines, scrapeline

pytestmark = pytest.mark.slow

PIPELINE = """
from scrapeline import Item, Pipeline, Record, offsets

TOKEN = {token!r}
pipe = Pipeline("secretive", base_url={base!r}, secrets=[TOKEN], max_attempts=1)
pipe.table("matches", key="match_id")


@pipe.discover("match", pages=offsets(step=100))
async def results(ctx, offset):
    page = await ctx.fetch(f"/results?offset={{offset}}&token={{TOKEN}}")
    for row in page.css("tr.match"):
        yield Item(key=int(row.attributes["data-id"]))


@pipe.stage("overview", on="match")
async def overview(ctx, item):
    key = ctx.config.get("api_key", "")
    page = await ctx.fetch(f"/matches/{{item.key}}?token={{TOKEN}}&api_key={{key}}")
    if item.key % 5 == 0 or ctx.config.get("fail"):
        raise ValueError(f"stage bug mentioning {{TOKEN}} and {{key}}")
    return Record("matches", {{"match_id": item.key, "key_length": len(key)}})
"""


def write_pipeline(tmp_path: Path, site_url: str, token: str, password: str) -> Path:
    base = site_url.replace("://", f"://reader:{password}@")
    path = tmp_path / "secretive.py"
    path.write_text(textwrap.dedent(PIPELINE.format(token=token, base=base)))
    return path


def test_no_command_prints_a_secret(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:12]
    token, password, api_key = f"token-{tag}", f"urlpw-{tag}", f"apikey-{tag}"
    site = RehearsalSite(list(load_sample()[:12]), latency=None)
    data = tmp_path / "data"
    outputs: dict[str, str] = {}
    with serve_in_thread(site) as site_url:
        pipe = str(write_pipeline(tmp_path, site_url, token, password))
        at = ("--data-dir", str(data))
        commands = {
            "check": ("check", pipe, "--set", "fail=1", "--secret", f"api_key={api_key}"),
            "check --json": ("check", pipe, "--json", "--secret", f"api_key={api_key}"),
            "run": (
                "run",
                pipe,
                *at,
                "--secret",
                f"api_key={api_key}",
                "--max-consecutive-failures",
                "0",
            ),
            "status": ("status", pipe, *at),
            "status --json": ("status", pipe, *at, "--json"),
            "runs": ("runs", pipe, *at),
            "runs --json": ("runs", pipe, *at, "--json"),
            "reparse": (
                "reparse",
                pipe,
                "--stage",
                "overview",
                *at,
                "--secret",
                f"api_key={api_key}",
                "--max-consecutive-failures",
                "0",
            ),
            "prune --dry-run": ("prune", pipe, "--older-than", "0s", "--dry-run", *at),
            "usage error": (
                "run",
                pipe,
                *at,
                "--secret",
                f"api_key={api_key}",
                "--start-offset",
                "5",
                "--end-offset",
                "1",
            ),
        }
        for name, args in commands.items():
            done = scrapeline(*args, timeout=90)
            outputs[f"{name} stdout"] = done.stdout
            outputs[f"{name} stderr"] = done.stderr
            assert "Traceback" not in done.stderr, (name, done.stderr)
            outputs[f"{name} exit"] = str(done.returncode)

    # each command did its work: the test would not see a leak in output never made
    assert outputs["check exit"] == "1" and "stage bug mentioning ***" in outputs["check stdout"]
    assert "?token=***" in outputs["check stdout"]
    assert f"against {site_url.replace('://', '://***@')}" in outputs["check stdout"]
    report = json.loads(outputs["check --json stdout"])
    assert report["base_url"] == site_url.replace("://", "://***@")
    assert outputs["run exit"] == "1" and outputs["reparse exit"] == "1"
    assert json.loads(outputs["status --json stdout"])["items"] == {"match": 12}
    assert len(json.loads(outputs["runs --json stdout"])) == 1
    assert outputs["usage error exit"] == "2"
    conn = sqlite3.connect(data / "ledger.db")
    try:
        lengths = {n for (n,) in conn.execute("SELECT key_length FROM matches")}
        messages = [m for (m,) in conn.execute("SELECT message FROM tasks WHERE message != ''")]
    finally:
        conn.close()
    assert lengths == {len(api_key)}  # the stages had the --secret value
    assert messages and all("mentioning *** and ***" in m for m in messages)

    files = {str(p.relative_to(data)): p.read_bytes() for p in data.rglob("*") if p.is_file()}
    assert any(name.endswith(".log") for name in files)
    leaks = [
        f"{what} in {where}"
        for what, value in {"token": token, "password": password, "api key": api_key}.items()
        for where, content in [*((k, v.encode()) for k, v in outputs.items()), *files.items()]
        if value.encode() in content
    ]
    assert not leaks, leaks


def test_a_secret_read_from_the_environment(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    tag = uuid.uuid4().hex[:12]
    api_key = f"envkey-{tag}"
    site = RehearsalSite(list(load_sample()[:5]), latency=None)
    with serve_in_thread(site) as site_url:
        pipe = str(write_pipeline(tmp_path, site_url, f"token-{tag}", f"urlpw-{tag}"))
        data = tmp_path / "data"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "scrapeline",
                "run",
                pipe,
                "--data-dir",
                str(data),
                "--secret",
                "API_KEY_FOR_TEST",
                "--max-consecutive-failures",
                "0",
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
            env={**os.environ, "COLUMNS": "120", "API_KEY_FOR_TEST": api_key},
        )
        missing = scrapeline("run", pipe, "--data-dir", str(data), "--secret", "NO_SUCH_VAR_X")
    assert done.returncode == 1, done.stdout + done.stderr
    assert api_key not in done.stdout + done.stderr
    assert all(api_key.encode() not in p.read_bytes() for p in data.rglob("*") if p.is_file())
    assert missing.returncode == 2
    assert lines(missing.stderr) == [
        "error: --secret NO_SUCH_VAR_X: no environment variable NO_SUCH_VAR_X is set"
    ]
