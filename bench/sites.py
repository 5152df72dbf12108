"""The sites the benchmarks crawl.

- :func:`prerender` writes every page of the rehearsal site (for a list of
  matches) to files, with the rehearsal site's own rendering functions, so a
  static server can answer with the exact same bytes.
- :class:`Nginx` serves those files from Debian's nginx, one worker, bound to
  127.0.0.1 on a free port, as a foreground child of the harness. Its access
  log (``$msec $status $request_uri``) is the ground truth of what each program
  fetched and when; :meth:`Nginx.rotate` hands one program's requests over.
- :class:`RecordingSite` is the in-process rehearsal site (aiohttp, in a
  thread) that also records the arrival time of every request, for the rate,
  ledger-scale and resume benchmarks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.common import WORK, free_port, say, wait_for_port
from scrapeline.testing import RehearsalSite
from scrapeline.testing.football import listing_key
from scrapeline.testing.site import half_page, listing_page, match_page

PAGE_SIZE = 100


@dataclass(frozen=True, kw_only=True)
class Prerendered:
    root: Path
    listing_pages: int
    match_pages: int
    half_pages: int
    last_offset: int

    @property
    def pages(self) -> int:
        return self.listing_pages + self.match_pages + self.half_pages


def _listing_order(matches: Sequence[Any]) -> list[Any]:
    ordered = sorted(matches, key=listing_key)
    ordered.reverse()
    return ordered


def prerender(matches: Sequence[Any], name: str) -> Prerendered:
    """Write the site's pages for ``matches`` under ``.work/site/NAME`` (cached by content).

    Layout: ``results/OFFSET.html`` (plus the empty page after the last one),
    ``matches/ID.html`` and ``matches/ID/halves/N.html``.
    """
    ordered = _listing_order(matches)
    digest = hashlib.sha256(repr([(m.id, m.date, m.ft, m.ht) for m in ordered]).encode())
    stamp_text = digest.hexdigest()
    root = WORK / "site" / name
    stamp = root / ".rendered"
    last = max(0, (len(ordered) - 1) // PAGE_SIZE * PAGE_SIZE)
    halves = sum(2 for m in ordered if m.halves is not None)
    info = Prerendered(
        root=root,
        listing_pages=last // PAGE_SIZE + 1,
        match_pages=len(ordered),
        half_pages=halves,
        last_offset=last,
    )
    if stamp.exists() and stamp.read_text() == stamp_text:
        return info
    say(f"  pre-rendering {len(ordered):,} matches to {name}/ ...")
    shutil.rmtree(root, ignore_errors=True)
    (root / "results").mkdir(parents=True)
    (root / "matches").mkdir()
    for offset in range(0, last + 2 * PAGE_SIZE, PAGE_SIZE):
        rows = ordered[offset : offset + PAGE_SIZE]
        more = offset + PAGE_SIZE < len(ordered)
        page = listing_page(rows, offset + PAGE_SIZE if more else None)
        (root / "results" / f"{offset}.html").write_text(page, encoding="utf-8")
    for m in ordered:
        (root / "matches" / f"{m.id}.html").write_text(match_page(m), encoding="utf-8")
        if m.halves is not None:
            folder = root / "matches" / str(m.id) / "halves"
            folder.mkdir(parents=True)
            for n in (1, 2):
                (folder / f"{n}.html").write_text(half_page(m, n), encoding="utf-8")
    stamp.write_text(stamp_text)
    return info


# -- nginx ----------------------------------------------------------------------------

NGINX_CANDIDATES = ("nginx", "/usr/sbin/nginx")


def find_nginx() -> str | None:
    for candidate in NGINX_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def apt_install(*packages: str) -> None:
    """``apt-get install`` (after ``apt-get update``); raises if that is not possible."""
    if os.geteuid() != 0:
        raise RuntimeError(f"need root to apt-get install {' '.join(packages)}; install it first")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    say(f"  installing {' '.join(packages)} from Debian's packages ...")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
        check=True,
        env=env,
        capture_output=True,
    )


def ensure_nginx() -> str:
    found = find_nginx()
    if found is None:
        apt_install("nginx")
        found = find_nginx()
    if found is None:
        raise RuntimeError("nginx is not installed and could not be installed")
    return found


def ensure_wrk() -> str | None:
    found = shutil.which("wrk")
    if found is None:
        try:
            apt_install("wrk")
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            say(f"  wrk not available ({exc}); capacity is measured by the baseline only")
            return None
        found = shutil.which("wrk")
    return found


_NGINX_CONF = """\
# Written by bench/sites.py: a static copy of the rehearsal site.
{user}worker_processes {workers};
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    default_type text/html;
    charset utf-8;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 120s;
    keepalive_requests 1000000;
    server_tokens off;
    etag off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    log_format bench '$msec $status $connection $request_uri';
    access_log {prefix}/access.log bench buffer=256k flush=5s;
    map $arg_offset $results_page {{
        ""            0;
        "~^[0-9]+$"   $arg_offset;
        default       invalid;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {root};
        location = /results {{ try_files /results/$results_page.html =404; }}
        location /matches/ {{ try_files $uri.html =404; }}
        location = /robots.txt {{ return 200 "User-agent: *\\nAllow: /\\n"; }}
        # The pre-rendered JSON API (bench/tree.py): /api/X is the file api/X.json.
        location /api/ {{ default_type application/json; try_files $uri.json =404; }}
        # The daily-refresh site (bench/refresh.py): /fresh/X is the file fresh/X.json,
        # with an ETag besides its Last-Modified, so conditional requests get a 304.
        location /fresh/ {{ etag on; default_type application/json; try_files $uri.json =404; }}
    }}
}}
"""


@dataclass(frozen=True, kw_only=True)
class Hit:
    at: float
    """Seconds since the epoch, millisecond resolution (nginx's $msec)."""
    status: int
    connection: int
    """nginx's connection serial number: how many connections a program opened."""
    target: str


class Nginx:
    """nginx serving a pre-rendered site; use as a context manager."""

    def __init__(self, root: Path, *, workers: int = 1, access_log: bool = True) -> None:
        self.binary = ensure_nginx()
        self.root = root
        self.workers = workers
        self.prefix = WORK / "nginx"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.access_log = access_log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def version(self) -> str:
        done = subprocess.run([self.binary, "-v"], capture_output=True, text=True, check=False)
        return (done.stderr or done.stdout).strip().replace("nginx version: ", "")

    def __enter__(self) -> Nginx:
        shutil.rmtree(self.prefix, ignore_errors=True)
        (self.prefix / "tmp").mkdir(parents=True)
        self.port = free_port()
        conf = _NGINX_CONF.format(
            user="user root;\n" if os.geteuid() == 0 else "",
            workers=self.workers,
            prefix=self.prefix,
            port=self.port,
            root=self.root,
        )
        if not self.access_log:
            conf = conf.replace(
                f"access_log {self.prefix}/access.log bench buffer=256k flush=5s;",
                "access_log off;",
            )
        (self.prefix / "nginx.conf").write_text(conf)
        self.proc = subprocess.Popen(
            [self.binary, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=open(self.prefix / "stderr.log", "wb"),
        )
        try:
            wait_for_port(self.port)
        except OSError:
            self.__exit__()
            raise RuntimeError(
                "nginx did not start: " + (self.prefix / "stderr.log").read_text()[-500:]
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: flushes the log
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def worker_pids(self) -> list[int]:
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(p) for p in children.read_text().split()]
        except OSError:
            return []

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by nginx's workers (from /proc)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in self.worker_pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        return total

    def rotate(self) -> list[Hit]:
        """Every request logged since the last rotation (the log is reopened empty)."""
        assert self.proc is not None
        log = self.prefix / "access.log"
        taken = self.prefix / "access.taken.log"
        if not log.exists():
            return []
        log.rename(taken)
        self.proc.send_signal(signal.SIGUSR1)  # flush buffers, reopen the log
        deadline = time.monotonic() + 10
        while not log.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not reopen its access log")
            time.sleep(0.01)
        time.sleep(0.05)  # the workers reopen after the master
        hits: list[Hit] = []
        for line in taken.read_text().splitlines():
            at, status, connection, target = line.split(" ", 3)
            hits.append(
                Hit(at=float(at), status=int(status), connection=int(connection), target=target)
            )
        taken.unlink()
        return hits


def wrk_capacity(wrk: str, url: str, *, connections: int, seconds: float) -> dict[str, Any]:
    """Requests per second ``wrk`` gets from ``url`` (one thread, ``connections`` open)."""
    done = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", url],
        capture_output=True,
        text=True,
        check=False,
    )
    rate = None
    for line in done.stdout.splitlines():
        if line.startswith("Requests/sec:"):
            rate = float(line.split(":", 1)[1])
    return {"url_path": url.split("/", 3)[-1], "connections": connections, "requests_per_s": rate}


# -- the in-process site that records arrivals -------------------------------------------


def warm_up(url: str, arrivals: list[tuple[float, str]]) -> None:
    """One request to a freshly started site, then forget it.

    A new aiohttp server handles its first request late (lazy set-up), which
    would show as a short gap to the next arrival; the measured program should
    find the server as it is on every later request.
    """
    with contextlib.suppress(OSError):
        urllib.request.urlopen(url + "/robots.txt", timeout=10).read()
    arrivals.clear()


def first_arrivals(
    child: Any, arrivals: list[tuple[float, str]], *, item: str, timeout: float = 120.0
) -> tuple[float | None, float | None]:
    """Watch ``arrivals`` while ``child`` (a bench.common.Child) runs: when its first
    request arrived and its first request for a target starting with ``item``, each
    None if it never came (the child ended, or ``timeout`` s after it started)."""
    first = first_item = None
    deadline = child.started + timeout
    seen = 0
    while first_item is None and time.monotonic() < deadline and not child.done():
        time.sleep(0.002)
        fresh = arrivals[seen:]
        seen += len(fresh)
        for at, target in fresh:
            if first is None:
                first = at
            if target.startswith(item):
                first_item = at
                break
    return first, first_item


class RecordingSite(RehearsalSite):
    """The rehearsal site, recording ``(time.monotonic(), target)`` for every request.

    Run it with :func:`scrapeline.testing.serve_in_thread`; ``arrivals`` grows as
    requests arrive (appending to a list is atomic, so the harness may read it).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: list[tuple[float, str]] = []

    def app(self) -> web.Application:
        app = super().app()
        app.middlewares.insert(0, self._record)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.arrivals.append((time.monotonic(), request.raw_path))
        response: web.StreamResponse = await handler(request)
        return response


# -- a small site of numbered things (ledger scale) ---------------------------------------


class ThingsSite:
    """Lists ``thing`` keys 0..total-1, 100 a page, and a page per key; records arrivals.

    ``GET /things?offset=N`` → ``<li class="thing" data-key="K">`` rows;
    ``GET /things/K`` → ``<h1>thing K</h1>``. Serve it with :func:`serve_app`.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.arrivals: list[tuple[float, str]] = []

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/things", self._listing)
        app.router.add_get(r"/things/{key:\d+}", self._thing)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.arrivals.append((time.monotonic(), request.raw_path))
        response: web.StreamResponse = await handler(request)
        return response

    async def _listing(self, request: web.Request) -> web.StreamResponse:
        offset = int(request.query.get("offset", "0"))
        rows = "".join(
            f'<li class="thing" data-key="{k}">{k}</li>'
            for k in range(offset, min(offset + 100, self.total))
        )
        return web.Response(text=f"<html><ul>{rows}</ul></html>", content_type="text/html")

    async def _thing(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        return web.Response(text=f"<html><h1>thing {key}</h1></html>", content_type="text/html")


@contextmanager
def serve_app(app: web.Application) -> Iterator[str]:
    """Serve an aiohttp application on 127.0.0.1 (a free port) in a thread; yield its URL."""
    ready: concurrent.futures.Future[tuple[asyncio.AbstractEventLoop, asyncio.Event, str]] = (
        concurrent.futures.Future()
    )

    async def serve() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        stop = asyncio.Event()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            ready.set_result((asyncio.get_running_loop(), stop, f"http://127.0.0.1:{port}"))
            await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise
        finally:
            await runner.cleanup()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    loop, stop, url = ready.result(timeout=30)
    try:
        yield url
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
