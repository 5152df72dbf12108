"""BrowserFetcher against the rehearsal site, with Debian's Chromium.

Skipped, with the reason, when Playwright or Chromium is missing (``make test``
installs Chromium where it can). Every test checks that no process of the browser
outlives it, whichever way the fetcher ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scrapeline.errors import FetchTimeout, HostNotAllowed, NetworkError
from scrapeline.fetch.response import Request
from scrapeline.testing import RehearsalSite, serve_in_thread
from tests.browsers import needs_browser, processes_using, wait_until_gone

pytestmark = [needs_browser, pytest.mark.timeout(120)]


def browser(**kwargs: object):  # type: ignore[no-untyped-def]
    from scrapeline.fetch.browser import BrowserFetcher

    return BrowserFetcher(**kwargs)  # type: ignore[arg-type]


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A port that refuses connections for as long as the block runs: bound, never
    listening, so no other process can start listening on it meanwhile."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


# Bounds on waits for conditions: reached only when something is broken, so generous
# (launching Chromium on a loaded machine takes tens of seconds).
SLOW = 90.0


async def test_a_match_page_through_the_browser_parses_like_any_page(start_site) -> None:  # type: ignore[no-untyped-def]
    site = await start_site()
    match = site.matches[99]
    fetcher = browser()
    try:
        page = await fetcher.fetch(Request(url=f"{site.url}/matches/{match.id}"))
        assert page.status == 200 and page.url == f"{site.url}/matches/{match.id}"
        assert page.content_type == "text/html"
        assert page.one("h1 .score").text() == match.score
        assert page.text_of("h1 .team1") == match.team1  # UTF-8 survives the DOM round trip
        missing = await fetcher.fetch(Request(url=f"{site.url}/matches/1"))
        assert missing.status == 404
        # pictures and fonts are not fetched: only the two pages reached the site. Chromium
        # may ask for /favicon.ico on its own, outside the page's request interception
        # (so no fetcher can hold it back); that one is not the page's and is left out.
        pages = {path: n for path, n in site.hits.items() if path != "/favicon.ico"}
        assert pages == {f"/matches/{match.id}": 1, "/matches/1": 1}
    finally:
        await fetcher.close()


async def test_the_ready_selector_waits_for_the_script_to_build_the_page(start_site) -> None:  # type: ignore[no-untyped-def]
    site = await start_site()
    match = site.matches[99]
    url = f"{site.url}/js/matches/{match.id}"
    waiting = browser(ready_selector="#match")
    try:
        page = await waiting.fetch(Request(url=f"{url}?delay=300"))
        assert page.text_of("#match h1 .team1") == match.team1
        assert page.first("#app") is None  # the shell was replaced
    finally:
        await waiting.close()
    hasty = browser()
    try:  # the script builds the page a minute after it loads: long after this fetch
        shell = await hasty.fetch(Request(url=f"{url}?delay=60000"))
        assert shell.first("#match") is None and shell.first("#app") is not None
    finally:
        await hasty.close()


async def test_a_ready_selector_that_never_appears_is_a_fetch_timeout(start_site) -> None:  # type: ignore[no-untyped-def]
    site = await start_site()
    fetcher = browser(ready_selector="#never", timeout=5.0)
    try:
        # launch first (a text page: nothing to wait for), so that only the page is timed
        robots = await fetcher.fetch(Request(url=f"{site.url}/robots.txt"))
        assert robots.status == 200
        started = time.monotonic()
        with pytest.raises(FetchTimeout, match=r"ready selector '#never' did not appear"):
            await fetcher.fetch(Request(url=f"{site.url}/matches/{site.matches[0].id}"))
        assert time.monotonic() - started < 30.0  # the default timeout was not used
    finally:
        await fetcher.close()


async def test_refused_connections_and_undeclared_hosts(start_site) -> None:  # type: ignore[no-untyped-def]
    site = await start_site()
    port = int(site.url.rsplit(":", 1)[1])
    with refusing_port() as closed:
        fetcher = browser(hosts=[f"127.0.0.1:{closed}"])
        try:
            with pytest.raises(NetworkError) as refused:
                await fetcher.fetch(Request(url=f"http://127.0.0.1:{closed}/"))
            assert "ERR_CONNECTION_REFUSED" in refused.value.message
            with pytest.raises(HostNotAllowed, match="undeclared host 'localhost'"):
                await fetcher.fetch(Request(url=f"http://localhost:{port}/results"))
        finally:
            await fetcher.close()


async def test_close_leaves_no_process_and_no_profile(start_site) -> None:  # type: ignore[no-untyped-def]
    site = await start_site()
    fetcher = browser()
    await fetcher.fetch(Request(url=f"{site.url}/results"))
    profile = fetcher.profile
    assert profile is not None and profile.is_dir()
    assert processes_using(profile)  # the browser and its helpers
    await fetcher.close()
    assert processes_using(profile) == []
    assert not profile.exists()
    await fetcher.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await fetcher.fetch(Request(url=f"{site.url}/results"))


async def test_a_cancelled_fetch_and_a_cancelled_close_leave_nothing(start_site) -> None:  # type: ignore[no-untyped-def]
    site = await start_site()
    fetcher = browser(ready_selector="#match")
    target = f"/js/matches/{site.matches[99].id}?delay=60000"
    task = asyncio.ensure_future(fetcher.fetch(Request(url=site.url + target)))
    deadline = time.monotonic() + SLOW
    while not site.hits[target]:  # launched, and the page is loading
        assert time.monotonic() < deadline, "the browser never asked for the page"
        await asyncio.sleep(0.05)
    profile = fetcher.profile
    assert profile is not None and processes_using(profile)
    driver = driver_process(fetcher)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    closing = asyncio.ensure_future(fetcher.close())
    await asyncio.sleep(0)  # the close has begun ...
    closing.cancel()  # ... and is cut short, as a second Ctrl+C would
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert processes_using(profile) == []
    assert not profile.exists()
    # The driver was killed, not stopped: let this event loop see it exit before the
    # test ends, or whether its transport is reported unclosed depends on the load.
    await asyncio.wait_for(driver.wait(), timeout=SLOW)


def driver_process(fetcher: object) -> asyncio.subprocess.Process:
    """The Playwright driver's process (Playwright does not publish it)."""
    manager = getattr(fetcher, "_manager", None)
    proc = getattr(getattr(getattr(manager, "_client", None), "_transport", None), "_proc", None)
    assert isinstance(proc, asyncio.subprocess.Process), "Playwright's internals changed"
    return proc


# -- a process that ends without closing its fetcher -------------------------------------

SCRIPT = """
import asyncio, sys
from scrapeline.fetch.browser import BrowserFetcher
from scrapeline.fetch.response import Request

async def main() -> None:
    fetcher = BrowserFetcher()
    page = await fetcher.fetch(Request(url=sys.argv[1]))
    print(fetcher.profile, page.status, flush=True)
    if sys.argv[2] == "wait":
        await asyncio.sleep(3600)

asyncio.run(main())
"""


@pytest.fixture
def site_url() -> Iterator[str]:
    with serve_in_thread(RehearsalSite(latency=None)) as url:
        yield url


def run_script(site_url: str, mode: str, tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    script = tmp_path / "fetch_once.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), f"{site_url}/results", mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, so that the test can kill it all
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else ""
    profile, status = line.split()
    assert status == "200"
    return proc, Path(profile)


def test_a_fetcher_never_closed_is_killed_at_exit(site_url: str, tmp_path: Path) -> None:
    proc, profile = run_script(site_url, "exit", tmp_path)
    _, err = proc.communicate(timeout=SLOW)
    assert proc.returncode == 0, err
    assert wait_until_gone(profile, timeout=SLOW) == []
    assert not profile.exists()


def test_a_sigkilled_process_takes_its_browser_with_it(site_url: str, tmp_path: Path) -> None:
    proc, profile = run_script(site_url, "wait", tmp_path)
    assert processes_using(profile)
    proc.kill()  # the driver sees its pipe close and closes the browser
    proc.communicate(timeout=SLOW)
    assert wait_until_gone(profile, timeout=SLOW) == []


def test_after_a_kill_of_the_whole_group_the_next_fetcher_reaps_what_is_left(
    site_url: str, tmp_path: Path
) -> None:
    from scrapeline.fetch.browser import reap_orphans

    proc, profile = run_script(site_url, "wait", tmp_path)
    os.killpg(proc.pid, signal.SIGKILL)  # Python and the driver: nobody closes anything
    proc.communicate(timeout=SLOW)
    # Chromium (its own process group) exits when the driver's pipe closes ...
    assert wait_until_gone(profile, timeout=SLOW) == []
    # ... but its profile is left behind, until the next BrowserFetcher starts
    assert profile.is_dir()
    assert reap_orphans() >= 1
    assert not profile.exists()


def test_the_reaper_kills_a_browser_whose_owner_died(tmp_path: Path) -> None:
    from scrapeline.fetch import browser as module

    dead_pid = subprocess.Popen(["true"])
    dead_pid.wait()
    profile = Path(tempfile.mkdtemp(prefix=f"{module.PROFILE_PREFIX}{dead_pid.pid}.0-"))
    env = {
        **os.environ,
        "SCRAPELINE_BROWSER_OWNER": str(dead_pid.pid),
        "SCRAPELINE_BROWSER_PROFILE": str(profile),
    }
    # stands in for a Chromium orphaned by an owner that died: own session, our marker
    orphan = subprocess.Popen(["sleep", "60"], env=env, start_new_session=True)
    try:
        # a loaded machine may take a moment to show the new process in /proc
        deadline = time.monotonic() + 5
        while not processes_using(profile) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_using(profile)
        assert module.reap_orphans() >= 1
        assert orphan.wait(timeout=5) == -signal.SIGKILL
        assert not profile.exists()
    finally:
        orphan.kill()
        orphan.wait()
