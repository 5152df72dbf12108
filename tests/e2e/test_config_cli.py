"""The configuration file through the real CLI: a scrapeline.toml of two profiles beside
a pipeline of the rehearsal site. The profile's settings are the run's (the ledger's
stored options, the data dir it wrote), an environment variable beats the profile, a
flag beats the variable, a ``${TOKEN}`` secret never comes out, and ``config show``
says where each value came from."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

PIPELINE = textwrap.dedent(
    """
    from scrapeline import Item, Pipeline, Record, offsets

    # the site's address comes from SCRAPELINE_BASE_URL; this one answers nothing
    pipe = Pipeline("configured", base_url="http://127.0.0.1:9", workers=1)
    pipe.table("matches", key="match_id")


    @pipe.discover("match", pages=offsets(step=100))
    async def results(ctx, offset):
        page = await ctx.fetch(f"/results?offset={offset}")
        for row in page.css("tr.match"):
            yield Item(key=int(row.attributes["data-id"]))


    @pipe.stage("overview", on="match")
    async def overview(ctx, item):
        token = ctx.config["token"]
        page = await ctx.fetch(f"/matches/{item.key}?token={token}")
        if item.key % 9 == 0:
            raise ValueError(f"stage bug mentioning {token}")
        return Record("matches", {"match_id": item.key, "h1": page.text_of("h1")})
    """
)

CONFIG = textwrap.dedent(
    """
    max_consecutive_failures = 0

    [config]
    token = "${TOKEN}"

    [profiles.dev]
    workers = 2
    data_dir = "data/dev"

    [profiles.prod]
    workers = 6
    data_dir = "data/prod"
    """
).lstrip()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "configured.py").write_text(PIPELINE)
    (tmp_path / "scrapeline.toml").write_text(CONFIG)
    return tmp_path


def scrapeline(*args: str, cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m scrapeline ARGS`` in ``cwd``, with ``env`` added to the environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPELINE_")}
    return subprocess.run(
        [sys.executable, "-m", "scrapeline", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**clean, "COLUMNS": "120", **env},
        check=False,
    )


def stored_options(data_dir: Path) -> list[dict[str, Any]]:
    """The options of each run the ledger recorded, oldest first."""
    conn = sqlite3.connect(data_dir / "ledger.db")
    try:
        rows = conn.execute("SELECT options FROM runs ORDER BY id").fetchall()
    finally:
        conn.close()
    return [json.loads(options) for (options,) in rows]


def stored_workers(data_dir: Path) -> list[int]:
    """The workers of each run the ledger recorded, oldest first."""
    return [options["workers"] for options in stored_options(data_dir)]


def test_the_profile_env_and_flags_set_the_run_and_the_secret_stays_hidden(
    project: Path, site_url: str
) -> None:
    token = f"tok-{uuid.uuid4().hex[:12]}"
    env = {"TOKEN": token, "SCRAPELINE_BASE_URL": site_url}
    pipeline = str(project / "configured.py")

    prod = scrapeline(
        "run", pipeline, "--profile", "prod", "--end-offset", "0", cwd=project, env=env
    )
    assert prod.returncode == 1, prod.stdout + prod.stderr  # the planned stage bugs
    [stored] = stored_options(project / "data" / "prod")
    assert stored["workers"] == 6 and stored["max_consecutive_failures"] == 0  # file's top
    assert stored["invocation"]["profile"] == "prod"
    assert not (project / "data" / "dev").exists()

    # SCRAPELINE_PROFILE chooses dev; SCRAPELINE_WORKERS beats its workers
    dev_env = {**env, "SCRAPELINE_PROFILE": "dev", "SCRAPELINE_WORKERS": "3"}
    dev = scrapeline("run", pipeline, "--end-offset", "0", cwd=project, env=dev_env)
    assert dev.returncode == 1, dev.stdout + dev.stderr
    assert stored_workers(project / "data" / "dev") == [3]
    assert stored_options(project / "data" / "dev")[0]["invocation"]["profile"] == "dev"

    # and a flag beats the variable
    flagged = scrapeline(
        "run", pipeline, "--end-offset", "0", "--workers", "5", cwd=project, env=dev_env
    )
    assert flagged.returncode == 1, flagged.stdout + flagged.stderr
    assert stored_workers(project / "data" / "dev") == [3, 5]

    conn = sqlite3.connect(project / "data" / "prod" / "ledger.db")
    try:
        messages = [m for (m,) in conn.execute("SELECT message FROM tasks WHERE message != ''")]
    finally:
        conn.close()
    assert messages and all("stage bug mentioning ***" in m for m in messages)
    outputs = {
        f"{name} {what}": text.encode()
        for name, done in {"prod": prod, "dev": dev, "flagged": flagged}.items()
        for what, text in (("stdout", done.stdout), ("stderr", done.stderr))
    }
    files = [p for p in (project / "data").rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in files)
    outputs |= {str(p.relative_to(project)): p.read_bytes() for p in files}
    assert "failed" in prod.stdout + prod.stderr  # the console did report the failures
    leaks = [where for where, content in outputs.items() if token.encode() in content]
    assert not leaks, leaks


def test_config_show_says_where_each_value_came_from(project: Path) -> None:
    token = f"tok-{uuid.uuid4().hex[:12]}"
    toml = project / "scrapeline.toml"
    env = {"TOKEN": token, "SCRAPELINE_WORKERS": "3", "SCRAPELINE_BASE_URL": "http://127.0.0.1:8"}
    done = scrapeline(
        "config",
        "show",
        str(project / "configured.py"),
        "--profile",
        "prod",
        "--json",
        cwd=project,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["file"] == str(toml) and report["profile"] == "prod"
    assert report["profiles"] == ["dev", "prod"]
    settings = report["settings"]
    sources = {name: settings[name]["source"] for name in settings}
    assert sources["workers"] == "env SCRAPELINE_WORKERS" and settings["workers"]["value"] == 3
    assert sources["data_dir"] == f"profile prod ({toml}:12)"
    assert settings["data_dir"]["value"] == str(project / "data" / "prod")
    assert sources["max_consecutive_failures"] == f"{toml}:1"
    assert sources["base_url"] == "env SCRAPELINE_BASE_URL"
    assert sources["item_timeout"] == "default"
    assert settings["config.token"] == {"value": "***", "source": f"{toml}:4", "secret": True}
    assert token not in done.stdout + done.stderr

    text = scrapeline("config", "show", str(project / "configured.py"), cwd=project, env=env)
    assert text.returncode == 0, text.stderr
    assert "profile     (none; the file has dev, prod)" in text.stdout
    workers = next(line for line in text.stdout.splitlines() if line.startswith("workers "))
    assert workers.split() == ["workers", "3", "env", "SCRAPELINE_WORKERS"]
    assert token not in text.stdout


def test_a_bad_file_or_profile_exits_2_in_one_line_before_anything_is_written(
    project: Path,
) -> None:
    pipeline = str(project / "configured.py")
    env = {"TOKEN": "tok-abcdef"}
    unknown = scrapeline("run", pipeline, "--profile", "staging", cwd=project, env=env)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        f"error: unknown profile 'staging' (flag --profile): {project / 'scrapeline.toml'} "
        "has dev, prod"
    )

    missing = scrapeline("run", pipeline, "--profile", "prod", cwd=project, env={})
    assert missing.returncode == 2
    assert "config.token: the environment variable TOKEN is not set" in missing.stderr

    (project / "scrapeline.toml").write_text(CONFIG.replace("workers = 6", 'workers = "6"'))
    wrong = scrapeline("run", pipeline, "--profile", "prod", cwd=project, env=env)
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == (
        f"error: {project / 'scrapeline.toml'}:11: profiles.prod.workers: "
        "Input should be a valid integer"
    )
    assert not (project / "data").exists()


def test_demo_reads_the_configuration_of_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / "scrapeline.toml").write_text(
        '[profiles.quick]\nworkers = 7\ndata_dir = "demo-data"\n\n'
        "[profiles.quick.output]\nquiet = true\n"
    )
    done = scrapeline(
        "demo", "--profile", "quick", "--no-latency", "--end-offset", "0", cwd=tmp_path, env={}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert stored_workers(tmp_path / "demo-data") == [7]
    assert not (tmp_path / "data").exists()  # not the demo's own default, data/demo
    # the profile's output.quiet: the summary, no line per item
    assert "run 1 of football: done" in done.stdout
    assert "✓ overview" not in done.stdout
    loud = scrapeline(
        "demo", "--no-latency", "--end-offset", "0", "--force-rescrape", cwd=tmp_path, env={}
    )
    assert loud.returncode == 0, loud.stdout + loud.stderr
    assert "✓ overview" in loud.stdout  # without the profile, the lines are there
