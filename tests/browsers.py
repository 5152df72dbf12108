"""What the browser-fetcher tests share: whether they can run, and finding our processes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from scrapeline.errors import ConfigError


def _why_not() -> str | None:
    try:
        from scrapeline.fetch.browser import find_chromium, playwright_installed
    except ImportError as exc:  # pragma: no cover - the module itself needs no extra
        return f"scrapeline.fetch.browser does not import: {exc}"
    if not playwright_installed():
        return "Playwright is not installed: pip install 'scrapeline[browser]'"
    try:
        find_chromium()
    except ConfigError as exc:
        return f"{exc} (make test installs Debian's chromium where it can)"
    if not Path("/proc/self/environ").exists():
        return "finding the browser's processes needs /proc (Linux)"
    return None


SKIP_REASON = _why_not()
needs_browser = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")


def processes_using(path: Path | str) -> list[tuple[int, str]]:
    """Live processes (zombies excluded) whose command line or environment names ``path``."""
    needle = os.fsencode(str(path))
    found: list[tuple[int, str]] = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            if stat[stat.rindex(b")") + 2 :].split()[0] == b"Z":
                continue
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{name}/environ", "rb") as f:
                environ = f.read()
        except (OSError, ValueError):
            continue
        if needle in cmdline or needle in environ:
            found.append((int(name), cmdline.replace(b"\0", b" ").decode(errors="replace")))
    return found


def wait_until_gone(path: Path | str, timeout: float = 10.0) -> list[tuple[int, str]]:
    """Poll until no process names ``path``; return what is still there after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        left = processes_using(path)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)
