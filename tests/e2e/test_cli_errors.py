"""The CLI's usage errors are one line on stderr and exit 2, never a traceback; and
the small flags (--version, prune --dry-run) do what they say."""

from __future__ import annotations

import importlib.metadata
import socket
import sqlite3
import textwrap
from pathlib import Path

import pytest

from .conftest import lines, scrapeline

pytestmark = pytest.mark.slow

PIPE = """\
from scrapeline import Item, Pipeline, Record, offsets

pipe = Pipeline("tiny", base_url="http://127.0.0.1:9")
pipe.table("matches", key="match_id")


@pipe.discover("match", pages=offsets(step=100))
async def results(ctx, offset):
    yield Item(key=1)


@pipe.stage("overview", on="match")
async def overview(ctx, item):
    return Record("matches", {"match_id": item.key})
"""


def one_error_line(done: object, *parts: str) -> str:
    stderr: str = done.stderr  # type: ignore[attr-defined]
    assert done.returncode == 2, stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    assert len(lines(stderr)) == 1, stderr
    line = lines(stderr)[0]
    assert line.startswith("error: ")
    for part in parts:
        assert part in line, line
    return line


def test_version_prints_the_installed_version() -> None:
    done = scrapeline("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"scrapeline {importlib.metadata.version('scrapeline')}\n"


def test_demo_site_on_a_busy_port_is_one_line_and_exit_2() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = scrapeline("demo-site", "--port", str(port), "--no-latency", timeout=30)
    one_error_line(done, str(port))


def test_an_exception_at_import_names_file_and_line_for_a_relative_path(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import scrapeline\n\nraise ValueError('boom')\n")
    done = scrapeline("status", "broken.py", cwd=tmp_path)
    one_error_line(done, "pipeline file broken.py does not import (line 3): ValueError: boom")


def test_an_error_in_a_module_the_file_imports_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "helper_mod.py").write_text("x = 1\nraise KeyError('deep')\n")
    (tmp_path / "p.py").write_text("import sys\nsys.path.insert(0, '.')\nimport helper_mod\n")
    done = scrapeline("status", "p.py", cwd=tmp_path)
    one_error_line(done, "pipeline file p.py does not import (line 3): KeyError")


def test_a_pipeline_path_with_colons_is_a_path(tmp_path: Path) -> None:
    folder = tmp_path / "dir:with:colons"
    folder.mkdir()
    (folder / "p.py").write_text(PIPE)
    data = tmp_path / "nothing-here"
    for target in ("dir:with:colons/p.py", "dir:with:colons/p.py:pipe"):
        done = scrapeline("status", target, "--data-dir", str(data), cwd=tmp_path)
        # loaded: the error is the missing ledger, not the pipeline path
        one_error_line(done, "no ledger in")
    done = scrapeline("status", "dir:with:colons/p.py:nope", cwd=tmp_path)
    one_error_line(done, "no Pipeline named 'nope'")


def test_a_table_named_like_the_ledgers_own_fails_when_declared(tmp_path: Path) -> None:
    (tmp_path / "p.py").write_text(PIPE.replace('table("matches"', 'table("sqlite_stat1"'))
    done = scrapeline("run", "p.py", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    one_error_line(done, "'sqlite_stat1'", "kept by the ledger")
    assert not (tmp_path / "data").exists()


def test_a_stage_on_a_kind_nothing_produces_is_refused(tmp_path: Path) -> None:
    orphan = PIPE + textwrap.dedent(
        """

        @pipe.stage("half_stats", on="half")
        async def half_stats(ctx, item):
            return None
        """
    )
    (tmp_path / "p.py").write_text(orphan)
    for command in ("run", "check"):
        done = scrapeline(command, "p.py", cwd=tmp_path)
        one_error_line(done, "'half_stats'", "'half'", "no stage emits")
    assert list(tmp_path.iterdir()) == [tmp_path / "p.py"]


def test_prune_dry_run_says_what_would_go_and_removes_nothing(
    site_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    done = scrapeline(
        "run",
        "scrapeline.demo.football",
        "--base-url",
        site_url,
        "--data-dir",
        str(data),
        "--end-offset",
        "0",
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    def state() -> tuple[dict[str, int], int, int]:
        files = {str(p): p.stat().st_size for p in sorted(data.rglob("*")) if p.is_file()}
        conn = sqlite3.connect(data / "ledger.db")
        try:
            (attempts,) = conn.execute("SELECT count(*) FROM attempts").fetchone()
            conn.execute("ATTACH ? AS archive", (str(data / "archive" / "archive.db"),))
            (responses,) = conn.execute("SELECT count(*) FROM archive.entries").fetchone()
        finally:
            conn.close()
        return files, attempts, responses

    before = state()
    assert before[1] > 0 and before[2] > 0
    dry = scrapeline(
        "prune",
        "scrapeline.demo.football",
        "--older-than",
        "0s",
        "--dry-run",
        "--data-dir",
        str(data),
    )
    assert dry.returncode == 0, dry.stdout + dry.stderr
    after = state()
    assert after[1:] == before[1:]
    # every file still there at its size (a read-only SQLite reader may leave an empty
    # WAL and its index beside the ledger, as `status` does)
    assert {p: n for p, n in after[0].items() if p in before[0]} == before[0]
    out = dry.stdout
    assert "would prune" in out and "nothing removed" in out, out
    assert f"attempts of past runs {before[1]}" in out, out
    assert "responses" in out and "run logs 1" in out, out

    real = scrapeline(
        "prune", "scrapeline.demo.football", "--older-than", "0s", "--data-dir", str(data)
    )
    assert real.returncode == 0, real.stdout + real.stderr
    assert state()[1:] == (0, 0)  # the dry run counted what the real one removed
    # the same figures as the real prune (bytes aside: compressed there, not here)
    dry_lines, real_lines = lines(dry.stdout), lines(real.stdout)
    assert dry_lines[2] == real_lines[2]
    assert dry_lines[1].split("(")[0] == real_lines[1].split("(")[0]
    assert " 0 responses" not in dry_lines[1]


def test_a_syntax_error_names_the_line_for_a_relative_path(tmp_path: Path) -> None:
    (tmp_path / "typo.py").write_text("x = 1\n\ndef f(:\n")
    done = scrapeline("status", "typo.py", cwd=tmp_path)
    one_error_line(done, "pipeline file typo.py does not import (line 3): SyntaxError")


@pytest.mark.parametrize(
    ("only", "parts"),
    [
        ("season", ("--only season", "expected KIND:KEY")),
        ("season:", ("--only season:", "expected KIND:KEY")),
        ("season:2019", ("--only season:2019", "no kind 'season'", "match")),
        ("match:404", ("--only match:404", "the ledger has no match '404'")),
    ],
)
def test_only_with_a_bad_item_is_one_line_and_writes_nothing(
    tmp_path: Path, only: str, parts: tuple[str, ...]
) -> None:
    pipe = tmp_path / "tiny.py"
    pipe.write_text(PIPE)
    data = tmp_path / "data"
    done = scrapeline("run", str(pipe), "--data-dir", str(data), "--only", only)
    one_error_line(done, *parts)
    if (data / "ledger.db").exists():  # an item not in the ledger: no run was begun
        with sqlite3.connect(data / "ledger.db") as db:
            assert db.execute("SELECT count(*) FROM runs").fetchone() == (0,)
