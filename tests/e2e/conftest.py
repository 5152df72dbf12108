"""Helpers for driving the real CLI in a subprocess."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from scrapeline.testing import RehearsalSite, load_sample, serve_in_thread


def scrapeline(
    *args: str, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m scrapeline ARGS`` to the end; capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "scrapeline", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "120"},
        check=False,
    )


def start(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scrapeline", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "120"},
    )


@pytest.fixture
def site_url() -> Iterator[str]:
    """The rehearsal site with 300 matches and a little latency, in a thread."""
    site = RehearsalSite(list(load_sample()[:300]), latency=0.005)
    with serve_in_thread(site) as url:
        yield url


def lines(text: str) -> Sequence[str]:
    return [line for line in text.splitlines() if line.strip()]


@contextlib.contextmanager
def mounted_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``where``, unmounted afterwards. Needs root: elsewhere the
    test skips, saying why, except in CI (CI=true), where it must run and so fails."""
    where.mkdir()
    why = "mounting a tmpfs needs root" if os.geteuid() != 0 else None
    if why is None:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            capture_output=True,
            text=True,
            check=False,
        )
        why = f"cannot mount a tmpfs here: {done.stderr.strip()}" if done.returncode else None
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why} (CI must run this test)")
        pytest.skip(why)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
