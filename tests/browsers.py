"""What the browser-fetcher tests share: whether they can run, and finding our processes."""

from __future__ import annotations

import os
import signal
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
if SKIP_REASON is not None and os.environ.get("CI") == "true":
    # In CI the browser tests must run: make test installs what they need.
    raise RuntimeError(f"the browser tests cannot run in CI: {SKIP_REASON}")
needs_browser = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")


_PF_EXITING = 0x4  # the kernel's task flag for a process that is exiting
_SIGKILL_BIT = 1 << (signal.SIGKILL - 1)


def _dying(pid: str, stat_fields: list[bytes]) -> bool:
    """Whether a process is already on its way out: a zombie, exiting, or SIGKILLed.

    ``kill()`` returns as soon as SIGKILL is queued; the process disappears only once
    the scheduler runs it, which on a loaded machine can be a while later. It can no
    longer do anything, so for "no process outlives the browser" it counts as gone.
    """
    if stat_fields[0] in (b"Z", b"X", b"x"):
        return True
    if int(stat_fields[6]) & _PF_EXITING:
        return True
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            key, _, value = line.partition(b":")
            if key in (b"SigPnd", b"ShdPnd") and int(value.strip(), 16) & _SIGKILL_BIT:
                return True
    return False


def processes_using(path: Path | str) -> list[tuple[int, str]]:
    """Live processes whose command line or environment names ``path``.

    Processes already dying (zombies, exiting, or with a SIGKILL pending) are not live:
    whether they are still listed depends only on how busy the machine is."""
    needle = os.fsencode(str(path))
    found: list[tuple[int, str]] = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{name}/environ", "rb") as f:
                environ = f.read()
            if needle not in cmdline and needle not in environ:
                continue
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            if _dying(name, stat[stat.rindex(b")") + 2 :].split()):
                continue
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
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
