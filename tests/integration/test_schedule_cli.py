"""``scrapeline schedule`` as a user types it: a bad cron expression is one line and
exit 2, ``--print`` gives what the OS scheduler takes, with absolute paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import scrapeline.demo.football as football_module

PIPELINE = str(Path(football_module.__file__))


def scrapeline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scrapeline", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "120"},
        check=False,
    )


def test_a_bad_cron_expression_exits_2_in_one_line(tmp_path: Path) -> None:
    done = scrapeline("schedule", PIPELINE, "--cron", "0 6 * *", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --cron '0 6 * *' is not a cron expression: five fields (minute hour day "
        "month weekday, e.g. '0 6 * * *'), a sixth for seconds, or @daily, @hourly"
    ]
    assert not (tmp_path / "data").exists()  # nothing was started or written


def test_print_crontab_and_systemd_give_the_entries_with_the_runs_options(tmp_path: Path) -> None:
    crontab = scrapeline(
        "schedule", PIPELINE, "--cron", "0 6 * * *", "--print", "crontab",
        "--", "--workers", "8", cwd=tmp_path,
    )  # fmt: skip
    assert crontab.returncode == 0, crontab.stderr
    assert crontab.stdout == (
        f"0 6 * * * cd {tmp_path} && {sys.executable} -m scrapeline run {PIPELINE} "
        f"--data-dir {tmp_path / 'data' / 'football'} --workers 8\n"
    )
    systemd = scrapeline(
        "schedule", PIPELINE, "--cron", "30 5 * * mon-fri", "--data-dir", "d",
        "--print", "systemd", cwd=tmp_path,
    )  # fmt: skip
    assert systemd.returncode == 0, systemd.stderr
    assert "# scrapeline-football.service" in systemd.stdout
    assert (
        f"ExecStart={sys.executable} -m scrapeline run {PIPELINE} --data-dir {tmp_path / 'd'}\n"
        in systemd.stdout
    )
    assert "OnCalendar=Mon..Fri *-*-* 05:30:00\nPersistent=true\n" in systemd.stdout
    refused = scrapeline(
        "schedule", PIPELINE, "--cron", "0 6 1 * mon", "--print", "systemd", cwd=tmp_path
    )
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "has no systemd OnCalendar form" in refused.stderr


def test_the_printed_entry_uses_the_profiles_data_dir(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "football.py").write_text(Path(PIPELINE).read_text())
    (project / "scrapeline.toml").write_text('[profiles.prod]\ndata_dir = "data/prod"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    crontab = scrapeline(
        "schedule", str(project / "football.py"), "--cron", "0 6 * * *",
        "--profile", "prod", "--print", "crontab", cwd=elsewhere,
    )  # fmt: skip
    assert crontab.returncode == 0, crontab.stderr
    # the profile's data dir counts from its file's directory, not from where cron starts
    assert crontab.stdout.rstrip().endswith(
        f"--profile prod --data-dir {project / 'data' / 'prod'}"
    ), crontab.stdout
