"""Benchmark 6: a listing-tree crawl of a JSON API, scrapeline against a stateless aiohttp walk.

The API site (``scrapeline.testing.ApiSite``) for the N newest played events of
the full data set — tournaments → seasons → events (page numbers from 0,
``hasNextPage``, 20 a page) → one detail per event — is pre-rendered to static
files by requesting every page of an in-process ApiSite, so the bodies are the
site's own, and served by nginx (one worker) under path-style URLs
(``/api/seasons/S/events/page/N``, no query strings). The durable crawl
(``bench/pipelines/tree_pipe.py``, the bundled ``football_api`` example with those
URLs; archive off when ``scrapeline run`` has the switch) is compared with
``bench/baseline_tree.py`` (asyncio + aiohttp + orjson, no state), both with the
same number of requests in flight, alternating for several rounds.

Before a run's speed counts, its pages are checked against the pre-rendered set
(every page once, status 200, nothing else; from nginx's access log) and its
``events`` rows against the rows the details hold.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH,
    PYTHON,
    WORK,
    Mode,
    Result,
    compare,
    fingerprint,
    load_average,
    rel,
    run_measured,
    say,
    scrapeline_cmd,
    tail,
)
from bench.crawl import ROBOTS, Program, archive_switch, capacity, stalls, summarise

PIPE_FILE = BENCH / "pipelines" / "tree_pipe.py"
EVENT_COLUMNS = (
    "event_id",
    "tournament",
    "season",
    "date",
    "round",
    "home",
    "away",
    "home_score",
    "away_score",
    "status",
)
RENDER_CONCURRENCY = 8


# -- the events and their pre-rendered API ---------------------------------------------


def newest_played(count: int, *, sample: bool = False) -> tuple[list[Any], str]:
    """The ``count`` newest matches with a result, of the full set (or the packaged sample).

    ``sample`` (or no full set to be found) takes them from the packaged sample.
    Returns them newest first and a label naming where they came from.
    """
    from scrapeline.testing import find_full_dataset, load_full, load_sample

    full = None if sample else find_full_dataset()
    source = "full openfootball set" if full is not None else "packaged sample"
    matches = load_full(full) if full is not None else load_sample()
    played = [m for m in matches if m.ft is not None][:count]
    return played, f"{source}, {len(played):,} newest played"


@dataclass(frozen=True, kw_only=True)
class ApiFiles:
    """The pre-rendered API: where it is, its pages (URL paths) by kind, the expected rows."""

    root: Path
    pages: dict[str, list[str]]
    """``tournament_listing``, ``season_listing``, ``event_listing``, ``detail`` → paths."""
    rows: set[tuple[Any, ...]]
    """The ``events`` rows the details hold, as the pipeline shapes them."""

    @property
    def paths(self) -> set[str]:
        return {p for paths in self.pages.values() for p in paths}

    @property
    def total(self) -> int:
        return sum(len(paths) for paths in self.pages.values())


def _listing_pages(rows: int, page_size: int) -> int:
    """Pages of a listing of ``rows`` rows: page 0 always, then as many as the rows fill.

    >>> _listing_pages(0, 20), _listing_pages(20, 20), _listing_pages(21, 20)
    (1, 1, 2)
    """
    return max(1, -(-rows // page_size))


def _urls(site: Any) -> list[tuple[str, str, str]]:
    """``(kind, ApiSite target, path-style path)`` of every page of ``site``'s tree."""
    size = site.page_size
    out = [
        ("tournament_listing", f"/api/tournaments?page={n}", f"/api/tournaments/page/{n}")
        for n in range(_listing_pages(len(site.tournaments), size))
    ]
    for t in site.tournaments:
        out += [
            (
                "season_listing",
                f"/api/tournaments/{t.id}/seasons?page={n}",
                f"/api/tournaments/{t.id}/seasons/page/{n}",
            )
            for n in range(_listing_pages(len(t.seasons), size))
        ]
        for s in t.seasons:
            events = site.events_of(s.id)
            out += [
                (
                    "event_listing",
                    f"/api/seasons/{s.id}/events?page={n}",
                    f"/api/seasons/{s.id}/events/page/{n}",
                )
                for n in range(_listing_pages(len(events), size))
            ]
            out += [("detail", f"/api/events/{e.id}", f"/api/events/{e.id}") for e in events]
    return out


def event_row(event: dict[str, Any]) -> tuple[Any, ...]:
    """An ``events`` row of a detail's ``event``, in :data:`EVENT_COLUMNS` order."""
    return (
        event["id"],
        event["tournament"],
        event["season"],
        event["startDate"],
        event["round"],
        event["homeTeam"]["name"],
        event["awayTeam"]["name"],
        event["homeScore"],
        event["awayScore"],
        event["status"],
    )


async def _download(base: str, urls: Sequence[tuple[str, str, str]], root: Path) -> None:
    import aiohttp

    limit = asyncio.Semaphore(RENDER_CONCURRENCY)
    async with aiohttp.ClientSession() as session:

        async def one(target: str, path: str) -> None:
            async with limit, session.get(base + target) as response:
                body = await response.read()
                if response.status != 200:
                    raise RuntimeError(f"the API site answered {response.status} to {target}")
            file = root / (path.lstrip("/") + ".json")
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(body)

        await asyncio.gather(*(one(target, path) for _, target, path in urls))


def prerender_api(matches: Sequence[Any], name: str) -> ApiFiles:
    """Write the API site's pages for ``matches`` under ``.work/site/NAME`` (cached by content).

    Each page is the body an in-process :class:`~scrapeline.testing.ApiSite`
    answers, saved as ``api/…/page/N.json`` and ``api/events/ID.json``; nginx
    serves ``/api/X`` from ``api/X.json`` as ``application/json``. A manifest
    beside them lists the pages and the expected rows, so a cached copy needs no
    site.
    """
    from scrapeline.testing import ApiSite, serve_in_thread

    digest = hashlib.sha256(repr([(m.id, m.date, m.ft, m.ht) for m in matches]).encode())
    stamp_text = digest.hexdigest()
    root = WORK / "site" / name
    stamp, manifest = root / ".rendered", root / "manifest.json"
    if stamp.exists() and stamp.read_text() == stamp_text and manifest.exists():
        document = json.loads(manifest.read_text())
        return ApiFiles(
            root=root,
            pages=document["pages"],
            rows={tuple(row) for row in document["rows"]},
        )
    say(f"  pre-rendering the API of {len(matches):,} events to {name}/ ...")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    site = ApiSite(list(matches), latency=None)
    urls = _urls(site)
    with serve_in_thread(site) as base:
        asyncio.run(_download(base, urls, root))
    pages: dict[str, list[str]] = {}
    for kind, _, path in urls:
        pages.setdefault(kind, []).append(path)
    rows = {
        event_row(json.loads((root / (path.lstrip("/") + ".json")).read_bytes())["event"])
        for path in pages.get("detail", [])
    }
    manifest.write_text(json.dumps({"pages": pages, "rows": sorted(rows, key=repr)}))
    stamp.write_text(stamp_text)
    return ApiFiles(root=root, pages=pages, rows=rows)


# -- the sites: nginx, or (smoke) the files from a thread ---------------------------------


@dataclass(frozen=True, kw_only=True)
class Served:
    """One request a site saw: when, its status, its connection (if known), its target."""

    at: float
    status: int
    target: str
    connection: int | None = None


class _NginxApi:
    def __init__(self, root: Path) -> None:
        from bench.sites import Nginx

        self.nginx = Nginx(root)
        self.url = ""

    def __enter__(self) -> _NginxApi:
        self.nginx.__enter__()
        self.url = self.nginx.url
        return self

    def __exit__(self, *exc: object) -> None:
        self.nginx.__exit__()

    def cpu_seconds(self) -> float:
        return self.nginx.cpu_seconds()

    def take(self) -> list[Served]:
        return [
            Served(at=h.at, status=h.status, target=h.target, connection=h.connection)
            for h in self.nginx.rotate()
        ]


class _InThreadApi:
    """The smoke test's server: the pre-rendered files from aiohttp in a thread (no nginx)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = ""
        self._served: list[Served] = []
        self._cm: Any = None

    def _app(self) -> Any:
        from aiohttp import web

        async def api(request: web.Request) -> web.StreamResponse:
            file = self.root / (request.path.lstrip("/") + ".json")
            if ".." in request.path or not file.is_file():
                response = web.Response(status=404)
            else:
                response = web.Response(body=file.read_bytes(), content_type="application/json")
            self._served.append(Served(at=time.time(), status=response.status, target=request.path))
            return response

        async def robots(request: web.Request) -> web.StreamResponse:
            self._served.append(Served(at=time.time(), status=200, target=ROBOTS))
            return web.Response(text="User-agent: *\nAllow: /\n")

        app = web.Application()
        app.router.add_get(ROBOTS, robots)
        app.router.add_get("/api/{tail:.+}", api)
        return app

    def __enter__(self) -> _InThreadApi:
        from bench.sites import serve_app

        self._cm = serve_app(self._app())
        self.url = self._cm.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(None, None, None)

    def cpu_seconds(self) -> float:
        return 0.0

    def take(self) -> list[Served]:
        taken, self._served = self._served, []
        return taken


# -- the programs and one measured run ---------------------------------------------------


def rows_from_events_view(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of the ``events`` view of a scrapeline ledger (empty if never written)."""
    if not db.exists():
        raise FileNotFoundError(f"no ledger at {rel(db)}")
    with sqlite3.connect(db) as conn:
        views = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if "events" not in views:
            return {"events": []}
        return {"events": conn.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events").fetchall()}


def rows_from_events_jsonl(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The rows the baseline wrote, one JSON object a line."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                rows.append(tuple(row.get(c) for c in EVENT_COLUMNS))
    return {"events": rows}


def programs(concurrency: int) -> list[Program]:
    n = str(concurrency)
    switch = archive_switch()
    off = switch[1] if switch else []

    def baseline(url: str, d: Path) -> list[str]:
        script, out = str(BENCH / "baseline_tree.py"), str(d / "rows.jsonl")
        return [PYTHON, script, "--base-url", url, "--concurrency", n, "--out", out]

    def scrapeline(url: str, d: Path) -> list[str]:
        return scrapeline_cmd(
            "run",
            str(PIPE_FILE),
            "--base-url",
            url,
            "--data-dir",
            str(d / "data"),
            "--workers",
            n,
            *off,
        )

    return [
        Program(
            name="baseline",
            label="aiohttp + orjson (no state)",
            argv=baseline,
            rows=lambda d: rows_from_events_jsonl(d / "rows.jsonl"),
        ),
        Program(
            name="scrapeline",
            label="scrapeline (durable, archive off)"
            if switch
            else "scrapeline (durable; this build has no archive switch)",
            argv=scrapeline,
            rows=lambda d: rows_from_events_view(d / "data" / "ledger.db"),
        ),
    ]


def page_problems(served: Sequence[Served], expected: set[str]) -> list[str]:
    """What differs between the pages a run fetched and the tree's pages (empty: the same).

    Every page once with status 200; robots.txt aside, nothing else.

    >>> ok = [Served(at=0, status=200, target=t) for t in ("/a", "/b", "/robots.txt")]
    >>> page_problems(ok, {"/a", "/b"})
    []
    >>> page_problems([*ok, Served(at=0, status=404, target="/c")], {"/a", "/b", "/d"})
    ['1 pages missing, e.g. /d', '1 answers not 200, e.g. 404 /c']
    """
    pages = [s for s in served if s.target != ROBOTS]
    fetched = [s.target for s in pages if s.status == 200]
    unique = set(fetched)
    problems = []
    if len(unique) != len(fetched):
        problems.append(f"{len(fetched) - len(unique)} pages fetched more than once")
    if expected - unique:
        problems.append(f"{len(expected - unique)} pages missing, e.g. {min(expected - unique)}")
    if unique - expected:
        problems.append(f"{len(unique - expected)} unexpected pages, e.g. {min(unique - expected)}")
    bad = [s for s in pages if s.status != 200]
    if bad:
        problems.append(f"{len(bad)} answers not 200, e.g. {bad[0].status} {bad[0].target}")
    return problems


def one_run(program: Program, site: Any, run_dir: Path, api: ApiFiles) -> dict[str, Any]:
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    site.take()  # whatever came before is not this run's
    load = load_average()
    server_before = site.cpu_seconds()
    measured = run_measured(program.argv(site.url, run_dir), out=run_dir / "output.txt")
    served: list[Served] = site.take()
    server_cpu = site.cpu_seconds() - server_before
    problems: list[str] = []
    if measured.returncode != 0:
        problems.append(f"exit code {measured.returncode}: {tail(run_dir / 'output.txt', 5)}")
    pages_wrong = page_problems(served, api.paths)
    problems += pages_wrong
    try:
        rows = program.rows(run_dir)
        problems += compare(rows, {"events": api.rows})
        digest = fingerprint(rows)
    except Exception as exc:  # missing or unreadable output
        problems.append(f"cannot read its rows: {type(exc).__name__}: {exc}")
        digest = ""
    ok_pages = sum(1 for s in served if s.status == 200 and s.target != ROBOTS)
    times = [s.at for s in served]
    span = max(times) - min(times) if len(times) > 1 else 0.0
    stalled = stalls(times)
    connections = {s.connection for s in served if s.connection is not None}
    record = {
        "program": program.name,
        "ok": not problems,
        "same_pages": not pages_wrong,
        "problems": problems,
        "rows_fingerprint": digest,
        "wall": measured.wall,
        "cpu": measured.cpu,
        "user": measured.user,
        "system": measured.system,
        "max_rss_mb": measured.max_rss_mb,
        "requests": len(served),
        "robots_txt_requests": sum(1 for s in served if s.target == ROBOTS),
        "connections": len(connections) if connections else None,
        "stalls": stalled[0],
        "stalled_s": stalled[1],
        "pages": ok_pages,
        "request_span": span,
        "pages_per_s": ok_pages / measured.wall if measured.wall else 0.0,
        "span_pages_per_s": ok_pages / span if span else 0.0,
        "cpu_ms_per_page": 1000 * measured.cpu / ok_pages if ok_pages else None,
        "server_cpu": server_cpu,
        "server_busy": server_cpu / measured.wall if measured.wall else 0.0,
        "load_average_before": load,
    }
    flag = "ok" if record["ok"] else "DIFFERS: " + "; ".join(problems)
    say(
        f"    {program.name:<12} {record['pages_per_s']:8.0f} pages/s  "
        f"{measured.wall:6.2f} s  cpu {measured.cpu:6.2f} s  "
        f"rss {measured.max_rss_mb:5.0f} MB  server busy {record['server_busy']:.0%}  {flag}"
    )
    return record


def run(mode: Mode, *, events_count: int = 10_000, rounds: int = 3, concurrency: int = 8) -> Result:
    say(f"tree: {events_count:,} events, {rounds} rounds, {concurrency} requests in flight")
    matches, source = newest_played(events_count, sample=mode.smoke)
    api = prerender_api(matches, f"tree-{len(matches)}")
    counts = {kind: len(paths) for kind, paths in api.pages.items()}
    say(
        "  pages: "
        + ", ".join(f"{n:,} {kind.replace('_', ' ')}" for kind, n in counts.items())
        + f" ({api.total:,})"
    )
    notes: list[str] = []
    if mode.smoke:
        notes.append("smoke: the pre-rendered files served from a thread instead of nginx")
        say("  smoke: serving the pre-rendered files in-process (no nginx)")
    if archive_switch() is None:
        notes.append("this scrapeline build has no archive switch: it ran with its default")
    progs = programs(concurrency)
    runs: list[dict[str, Any]] = []
    server: dict[str, Any] = {}
    site: Any = _InThreadApi(api.root) if mode.smoke else _NginxApi(api.root)
    with site:
        if not mode.smoke:
            server["nginx"] = site.nginx.version()
            server["nginx_workers"] = site.nginx.workers
            say("  nginx capacity (wrk, one thread; the crawlers' pages):")
            server["capacity"] = capacity(
                site.url,
                {
                    "listing": api.pages["event_listing"][0],
                    "detail": api.pages["detail"][0],
                },
                connections=concurrency,
            )
        for round_no in range(1, rounds + 1):
            say(f"  round {round_no}/{rounds}")
            for program in progs:
                record = one_run(program, site, mode.scratch(f"tree/{program.name}"), api)
                record["round"] = round_no
                runs.append(record)
                os.sync()
                time.sleep(0.5)
    digests = {r["rows_fingerprint"] for r in runs if r["ok"]}
    return Result(
        name="tree",
        mode=mode,
        data={
            "source": source,
            "events": len(matches),
            "pages": {"total": api.total, **counts},
            "rows": {"events": len(api.rows)},
            "pipeline": rel(PIPE_FILE),
            "concurrency": concurrency,
            "rounds": rounds,
            "programs": {p.name: p.label for p in progs},
            "commands": {
                p.name: " ".join(rel(a) if "/" in a else a for a in p.argv("URL", Path("RUN")))
                for p in progs
            },
            "server": server,
            "same_pages_everywhere": all(r["same_pages"] for r in runs) and bool(runs),
            "same_rows_everywhere": len(digests) == 1
            and all(r["ok"] for r in runs)
            and bool(digests),
            "runs": runs,
            "summary": summarise(runs, [p.name for p in progs]),
            "notes": notes,
        },
    )
