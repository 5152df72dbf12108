"""What a run does to its data dir, seen from the CLI: settings are checked before
anything is written, planted links are never followed, files are the owner's alone,
and reading commands work where nothing may be written."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import scrapeline.demo.football as football

from .conftest import lines, mounted_tmpfs, scrapeline

PIPE = "scrapeline.demo.football"
pytestmark = pytest.mark.slow


def football_with(tmp_path: Path, old: str, new: str) -> str:
    """The bundled pipeline, one declaration changed, as a file of its own."""
    source = Path(football.__file__).read_text()
    assert old in source
    path = tmp_path / "football_changed.py"
    path.write_text(source.replace(old, new))
    return str(path)


def run_demo(site_url: str, data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return scrapeline(
        "run", PIPE, "--base-url", site_url, "--data-dir", str(data), "--end-offset", "0", *extra
    )


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A small file system of its own, which the test may remount read-only."""
    with mounted_tmpfs(tmp_path / "fs", "64m") as mount:
        yield mount


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('rate="fast"', "rate"),
        ("delay=-1", "delay"),
        ("concurrency=0", "concurrency"),
    ],
)
def test_a_bad_setting_is_refused_before_the_data_dir_is_made(
    tmp_path: Path, setting: str, message: str
) -> None:
    pipe = football_with(tmp_path, "workers=4)", f"workers=4, {setting})")
    data = tmp_path / "d"
    done = scrapeline("run", pipe, "--data-dir", str(data), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    [line] = lines(done.stderr)
    assert message in line
    assert not data.exists()  # no directory, no empty ledger.db
    status = scrapeline("status", pipe, "--data-dir", str(data), cwd=tmp_path)
    assert status.returncode == 2
    assert lines(status.stderr) == [
        f"error: no ledger in {data}: run the pipeline first (scrapeline run)"
    ]


def test_status_on_a_ledger_no_run_set_up_says_run_first(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "ledger.db").write_bytes(b"")  # what a run stopped before it began left
    for command in ("status", "runs"):
        done = scrapeline(command, PIPE, "--data-dir", str(data))
        assert done.returncode == 2, done.stderr
        assert lines(done.stderr) == [
            f"error: no ledger in {data}: run the pipeline first (scrapeline run)"
        ]


def test_a_lock_that_is_a_symlink_is_refused_and_its_target_untouched(
    site_url: str, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    data = tmp_path / "d"
    data.mkdir()
    (data / "lock").symlink_to(victim)
    done = run_demo(site_url, data)
    assert done.returncode == 2, done.stderr
    [line] = lines(done.stderr)
    assert "symbolic link" in line and "lock" in line
    assert victim.read_text() == "precious\n"


def test_a_planted_probe_link_is_never_written_through(site_url: str, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    data = tmp_path / "d"
    data.mkdir()
    (data / ".write-test").symlink_to(victim)
    done = run_demo(site_url, data)
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == "precious\n"


def test_a_ledger_that_is_a_symlink_is_refused(site_url: str, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    data = tmp_path / "d"
    data.mkdir()
    (data / "ledger.db").symlink_to(victim)
    done = run_demo(site_url, data)
    assert done.returncode != 0
    assert "symbolic link" in done.stderr and "Traceback" not in done.stderr
    assert victim.read_text() == "precious\n"


def test_everything_in_the_data_dir_is_the_owners_alone(site_url: str, tmp_path: Path) -> None:
    data = tmp_path / "d"
    old = os.umask(0o022)  # the usual umask: without care, files come out world-readable
    try:
        done = run_demo(site_url, data)
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    found = {p.relative_to(data).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [data]}
    found |= {
        p.relative_to(data).as_posix(): stat.S_IMODE(p.lstat().st_mode) for p in data.rglob("*")
    }
    names = set(found)
    assert {"ledger.db", "lock", "logs", "archive"} <= names
    assert any(n.startswith("logs/run-") for n in names)
    assert any(n.startswith("archive/") for n in names)
    open_to_others = {n: oct(m) for n, m in found.items() if m & 0o077}
    assert open_to_others == {}


def test_a_stricter_umask_of_the_users_is_kept(site_url: str, tmp_path: Path) -> None:
    data = tmp_path / "d"
    old = os.umask(0o277)  # the user wants files they cannot even write by accident
    try:
        done = run_demo(site_url, data, "--no-archive")
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    [log] = (data / "logs").glob("run-*.log")
    assert stat.S_IMODE(log.stat().st_mode) == 0o400


def test_status_and_runs_read_a_data_dir_on_a_read_only_file_system(
    site_url: str, tmpfs: Path
) -> None:
    data = tmpfs / "d"
    assert run_demo(site_url, data).returncode == 0
    remount = subprocess.run(
        ["mount", "-o", "remount,ro", str(tmpfs)], capture_output=True, text=True, check=False
    )
    if remount.returncode != 0:
        pytest.skip(f"cannot remount read-only here: {remount.stderr.strip()}")
    before = sorted(p.name for p in data.iterdir())
    status = scrapeline("status", PIPE, "--data-dir", str(data), "--json")
    assert status.returncode == 0, status.stderr
    info = json.loads(status.stdout)
    assert info["stages"]["overview"]["done"] == 100
    assert info["last_run"]["status"] == "done"
    history = scrapeline("runs", PIPE, "--data-dir", str(data), "--json")
    assert history.returncode == 0, history.stderr
    assert [r["status"] for r in json.loads(history.stdout)] == ["done"]
    assert sorted(p.name for p in data.iterdir()) == before
