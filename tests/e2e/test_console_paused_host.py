"""A host that answers 429 with Retry-After: the console says at once that it is paused,
for how long and until when, instead of going quiet for the length of the pause."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from scrapeline.testing import serve_in_thread


def start(*args: str) -> subprocess.Popen[str]:
    """``python -m scrapeline ARGS`` with its output on pipes, block-buffered as a
    user's pipe would be (no PYTHONUNBUFFERED): a line must be flushed to be seen."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.Popen(
        [sys.executable, "-m", "scrapeline", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**env, "COLUMNS": "120"},
    )


PIPELINE = textwrap.dedent(
    """
    from scrapeline import Context, Item, Pipeline, Record

    pipe = Pipeline("paused", base_url="http://127.0.0.1:9", workers=1)
    pipe.table("pages", key="n")


    @pipe.discover("page")
    async def listing(ctx: Context, offset: int):
        if offset == 0:
            for key in range(1, 4):
                yield Item(key=key)


    @pipe.stage("get", on="page")
    async def get(ctx: Context, item: Item) -> Record:
        await ctx.fetch(f"/pages/{item.key}")
        return Record("pages", {"n": item.key})
    """
)


class TooManyRequests:
    """A site whose every page answers 429 with ``Retry-After: 30``; it notes when."""

    def __init__(self) -> None:
        self.answered_429: list[float] = []
        """time.monotonic() of each 429 sent."""
        self._runner: web.AppRunner | None = None
        self._url = ""

    @property
    def url(self) -> str:
        return self._url

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._page)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self._url = f"http://{host}:{self._runner.addresses[0][1]}"
        return self._url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _page(self, request: web.Request) -> web.Response:
        if request.path == "/robots.txt":
            return web.Response(status=404)
        self.answered_429.append(time.monotonic())
        return web.Response(status=429, headers={"Retry-After": "30"}, text="slow down")


def first_line(
    proc: subprocess.Popen[str], prefix: str, *, within: float
) -> tuple[float, str, list[str]]:
    """The first stdout line starting with ``prefix``, with time.monotonic() when it
    was read, and every line read until then. Fails after ``within`` seconds, or
    when the output ends without it."""
    lines: queue.Queue[tuple[float, str] | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put((time.monotonic(), line.rstrip("\n")))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + within
    seen: list[str] = []
    while True:
        try:
            got = lines.get(timeout=max(deadline - time.monotonic(), 0.0))
        except queue.Empty:
            pytest.fail(f"no line starting {prefix!r} within {within} s; saw {seen}")
        if got is None:
            pytest.fail(f"the output ended without a line starting {prefix!r}; saw {seen}")
        read_at, line = got
        seen.append(line)
        if line.startswith(prefix):
            return read_at, line, seen


@pytest.fixture
def site() -> Iterator[TooManyRequests]:
    site = TooManyRequests()
    with serve_in_thread(site):
        yield site


def test_the_console_says_when_a_host_is_paused_within_a_second(
    site: TooManyRequests, tmp_path: Path
) -> None:
    pipeline = tmp_path / "paused.py"
    pipeline.write_text(PIPELINE)
    host = urlsplit(site.url).hostname or ""  # the fetch layer names a host without its port
    proc = start(
        "run", str(pipeline), "--data-dir", str(tmp_path / "d"), "--base-url", site.url,
    )  # fmt: skip
    try:
        read_at, line, _ = first_line(proc, f"host {host} paused", within=30)
        assert re.fullmatch(
            rf"host {re.escape(host)} paused 30s \([^)]*429[^)]*\), resumes at \d\d:\d\d:\d\d",
            line,
        ), line
        assert site.answered_429, "the site never answered 429"
        assert read_at - site.answered_429[0] < 1.0
        # the host stays paused: nothing more was asked of it meanwhile
        assert len(site.answered_429) == 1
    finally:
        for _ in range(2):  # drain, then cancel: the pause would last 30 s
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                time.sleep(0.3)
        proc.communicate(timeout=60)
