"""Benchmark 1: the end-to-end crawl, scrapeline against a plain aiohttp script and Scrapy.

The bundled football pipeline crawls the local rehearsal site (N newest matches:
listing, match and half pages), no rate limit, no artificial latency, durable
state on; with the archive on and off when this scrapeline build has the switch.
It is compared with ``bench/baseline_aiohttp.py`` (stateless, a fixed pool of
in-flight requests) and ``bench/scrapy_spider.py`` (Scrapy in its own virtualenv),
all with the same number of requests in flight.

The site is pre-rendered to files and served by nginx (one worker), whose access
log counts every program's requests; its CPU use is read from /proc during each
run, and its capacity is measured with wrk, so it can be shown not to be the
bottleneck. Programs alternate (A B C D, A B C D, ...) for several rounds; each
run's rows are compared with the expected rows before its speed is reported.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH,
    PIPELINE,
    PYTHON,
    WORK,
    Mode,
    Result,
    compare,
    expected_records,
    fingerprint,
    load_average,
    load_matches,
    rel,
    rows_from_jsonl,
    rows_from_ledger,
    run_measured,
    say,
    scrapeline_cmd,
    spread,
    tail,
)

SCRAPY_VERSION = "2.19.0"
SCRAPY_VENV = WORK / "scrapy-venv"
PROFILE_DIR = WORK / "profile-crawl"
ROBOTS = "/robots.txt"
"""Asked for by scrapeline before its first page; not a page of the crawl."""


@dataclass(frozen=True, kw_only=True)
class Program:
    name: str
    label: str
    argv: Callable[[str, Path], list[str]]
    """(base URL, run directory) → command line."""
    rows: Callable[[Path], dict[str, list[tuple[Any, ...]]]]


@dataclass(frozen=True, kw_only=True)
class Crawl:
    concurrency: int
    end_offset: int


def ensure_scrapy() -> Path:
    """A virtualenv with Scrapy in ``.work/scrapy-venv`` (created once; idempotent)."""
    python = SCRAPY_VENV / "bin" / "python"
    stamp = SCRAPY_VENV / ".scrapy-version"
    if python.exists() and stamp.exists() and stamp.read_text().strip() == SCRAPY_VERSION:
        return python
    say(f"  creating {rel(SCRAPY_VENV)} with Scrapy {SCRAPY_VERSION} ...")
    shutil.rmtree(SCRAPY_VENV, ignore_errors=True)
    subprocess.run([PYTHON, "-m", "venv", str(SCRAPY_VENV)], check=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"scrapy=={SCRAPY_VERSION}"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pip install scrapy=={SCRAPY_VERSION} failed: {done.stderr[-2000:]}")
    stamp.write_text(SCRAPY_VERSION + "\n")
    return python


def archive_switch() -> tuple[list[str], list[str]] | None:
    """``(on, off)`` flags of ``scrapeline run`` for the archive, or None if it has none."""
    done = subprocess.run(scrapeline_cmd("run", "--help"), capture_output=True, text=True)
    text = done.stdout
    if not re.search(r"--no-archive\b", text):
        return None
    on = ["--archive"] if re.search(r"(?<![\w-])--archive\b", text) else []
    return on, ["--no-archive"]


def programs(crawl: Crawl, *, scrapy: Path | None) -> list[Program]:
    n, end = str(crawl.concurrency), str(crawl.end_offset)

    def baseline(url: str, d: Path) -> list[str]:
        script = str(BENCH / "baseline_aiohttp.py")
        return [PYTHON, script, "--base-url", url, "--concurrency", n, "--end-offset", end]

    def scrapeline(extra: Sequence[str]) -> Callable[[str, Path], list[str]]:
        def argv(url: str, d: Path) -> list[str]:
            return scrapeline_cmd(
                "run",
                PIPELINE,
                "--base-url",
                url,
                "--data-dir",
                str(d / "data"),
                "--workers",
                n,
                "--end-offset",
                end,
                *extra,
            )

        return argv

    def jsonl(url_argv: Callable[[str, Path], list[str]]) -> Callable[[str, Path], list[str]]:
        return lambda url, d: [*url_argv(url, d), "--out", str(d / "rows.jsonl")]

    def from_jsonl(d: Path) -> dict[str, list[tuple[Any, ...]]]:
        return rows_from_jsonl(d / "rows.jsonl")

    def from_ledger(d: Path) -> dict[str, list[tuple[Any, ...]]]:
        return rows_from_ledger(d / "data" / "ledger.db")

    found: list[Program] = [
        Program(
            name="baseline",
            label="aiohttp + selectolax (no state)",
            argv=jsonl(baseline),
            rows=from_jsonl,
        )
    ]
    switch = archive_switch()
    if switch is None:
        found.append(
            Program(
                name="scrapeline",
                label="scrapeline (durable; this build has no archive switch)",
                argv=scrapeline([]),
                rows=from_ledger,
            )
        )
    else:
        on, off = switch
        found += [
            Program(
                name="scrapeline_archive_off",
                label="scrapeline, archive off",
                argv=scrapeline(off),
                rows=from_ledger,
            ),
            Program(
                name="scrapeline_archive_on",
                label="scrapeline, archive on",
                argv=scrapeline(on),
                rows=from_ledger,
            ),
        ]
    if scrapy is not None:

        def scrapy_argv(url: str, d: Path) -> list[str]:
            script = str(BENCH / "scrapy_spider.py")
            return [str(scrapy), script, "--base-url", url, "--concurrency", n, "--end-offset", end]

        found.append(
            Program(
                name="scrapy",
                label=f"Scrapy {SCRAPY_VERSION}",
                argv=jsonl(scrapy_argv),
                rows=from_jsonl,
            )
        )
    return found


class _InThreadSite:
    """The smoke test's server: the rehearsal site in a thread (no nginx)."""

    def __init__(self, matches: Sequence[Any]) -> None:
        from bench.sites import RecordingSite

        self.site = RecordingSite(list(matches), latency=None)
        self._cm: Any = None
        self.url = ""
        self._seen = 0

    def __enter__(self) -> _InThreadSite:
        from scrapeline.testing import serve_in_thread

        self._cm = serve_in_thread(self.site)
        self.url = self._cm.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(None, None, None)

    def cpu_seconds(self) -> float:
        return 0.0

    connections: int | None = None
    stalls: tuple[int, float] = (0, 0.0)

    def take(self) -> tuple[int, int, int, float]:
        arrivals = self.site.arrivals[self._seen :]
        self._seen += len(arrivals)
        robots = sum(1 for _, target in arrivals if target == ROBOTS)
        span = arrivals[-1][0] - arrivals[0][0] if len(arrivals) > 1 else 0.0
        self.stalls = stalls([at for at, _ in arrivals])
        return len(arrivals), len(arrivals) - robots, robots, span


class _NginxSite:
    def __init__(self, root: Path) -> None:
        from bench.sites import Nginx

        self.nginx = Nginx(root)

    def __enter__(self) -> _NginxSite:
        self.nginx.__enter__()
        self.url = self.nginx.url
        return self

    def __exit__(self, *exc: object) -> None:
        self.nginx.__exit__()

    def cpu_seconds(self) -> float:
        return self.nginx.cpu_seconds()

    connections: int | None = None
    stalls: tuple[int, float] = (0, 0.0)

    def take(self) -> tuple[int, int, int, float]:
        hits = self.nginx.rotate()
        self.connections = len({h.connection for h in hits})
        robots = sum(1 for h in hits if h.target == ROBOTS)
        ok = sum(1 for h in hits if h.status == 200 and h.target != ROBOTS)
        span = hits[-1].at - hits[0].at if len(hits) > 1 else 0.0
        self.stalls = stalls([h.at for h in hits])
        return len(hits), ok, robots, span


STALL = 0.010
"""Seconds without any request reaching the server, with 8 in flight: a stall."""


def stalls(times: list[float]) -> tuple[int, float]:
    """How many gaps between consecutive arrivals exceed :data:`STALL`, and their sum."""
    ordered = sorted(times)
    gaps = [b - a for a, b in itertools.pairwise(ordered) if b - a > STALL]
    return len(gaps), sum(gaps)


def one_run(
    program: Program, site: Any, run_dir: Path, want: Any, expected_pages: int
) -> dict[str, Any]:
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    site.take()  # whatever came before is not this run's
    load = load_average()
    nginx_before = site.cpu_seconds()
    measured = run_measured(program.argv(site.url, run_dir), out=run_dir / "output.txt")
    requests, ok_pages, robots, span = site.take()
    nginx_cpu = site.cpu_seconds() - nginx_before
    problems: list[str] = []
    if measured.returncode != 0:
        problems.append(f"exit code {measured.returncode}: {tail(run_dir / 'output.txt', 5)}")
    try:
        rows = program.rows(run_dir)
        problems += compare(rows, want)
        digest = fingerprint(rows)
    except Exception as exc:  # missing or unreadable output
        problems.append(f"cannot read its rows: {type(exc).__name__}: {exc}")
        digest = ""
    if ok_pages != expected_pages:
        problems.append(f"fetched {ok_pages} pages with status 200, expected {expected_pages}")
    record = {
        "program": program.name,
        "ok": not problems,
        "problems": problems,
        "rows_fingerprint": digest,
        "wall": measured.wall,
        "cpu": measured.cpu,
        "user": measured.user,
        "system": measured.system,
        "max_rss_mb": measured.max_rss_mb,
        "requests": requests,
        "robots_txt_requests": robots,
        "connections": site.connections,
        "stalls": site.stalls[0],
        "stalled_s": site.stalls[1],
        "pages": ok_pages,
        "request_span": span,
        "pages_per_s": ok_pages / measured.wall if measured.wall else 0.0,
        "span_pages_per_s": ok_pages / span if span else 0.0,
        "cpu_ms_per_page": 1000 * measured.cpu / ok_pages if ok_pages else None,
        "server_cpu": nginx_cpu,
        "server_busy": nginx_cpu / measured.wall if measured.wall else 0.0,
        "load_average_before": load,
    }
    flag = "ok" if record["ok"] else "ROWS DIFFER: " + "; ".join(problems)
    say(
        f"    {program.name:<24} {record['pages_per_s']:8.0f} pages/s  "
        f"{measured.wall:6.2f} s  cpu {measured.cpu:6.2f} s  "
        f"rss {measured.max_rss_mb:5.0f} MB  server busy {record['server_busy']:.0%}  {flag}"
    )
    return record


def summarise(runs: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """Median and min–max per program, and ratios to the baseline and to Scrapy."""
    out: dict[str, Any] = {}
    for name in names:
        mine = [r for r in runs if r["program"] == name and r["ok"]]
        out[name] = {
            "runs_ok": len(mine),
            "runs": len([r for r in runs if r["program"] == name]),
            **{
                key: spread([r[key] for r in mine if r.get(key) is not None])
                for key in (
                    "connections",
                    "stalled_s",
                    "pages_per_s",
                    "span_pages_per_s",
                    "cpu_ms_per_page",
                    "max_rss_mb",
                    "wall",
                    "server_busy",
                )
            },
        }
    ratios: dict[str, Any] = {}
    by_round: dict[int, dict[str, dict[str, Any]]] = {}
    for r in runs:
        if r["ok"]:
            by_round.setdefault(r["round"], {})[r["program"]] = r
    for name in names:
        for ref in ("baseline", "scrapy"):
            if name == ref or ref not in names:
                continue
            speed = [
                rr[name]["pages_per_s"] / rr[ref]["pages_per_s"]
                for rr in by_round.values()
                if name in rr and ref in rr
            ]
            cpu = [
                rr[name]["cpu_ms_per_page"] / rr[ref]["cpu_ms_per_page"]
                for rr in by_round.values()
                if name in rr and ref in rr
            ]
            ratios[f"{name}/{ref}"] = {
                "pages_per_s": spread(speed),
                "cpu_per_page": spread(cpu),
            }
    return {"programs": out, "ratios": ratios}


def capacity(url: str, crawl_pages: dict[str, str], connections: int) -> dict[str, Any]:
    from bench.sites import ensure_wrk, wrk_capacity

    wrk = ensure_wrk()
    if wrk is None:
        return {}
    out = {}
    for kind, path in crawl_pages.items():
        out[kind] = wrk_capacity(wrk, url + path, connections=connections, seconds=4)
        say(f"    wrk {kind:<8} {out[kind]['requests_per_s'] or 0:10.0f} requests/s")
    return out


def profile_scrapeline(url: str, crawl: Crawl) -> dict[str, Any]:
    """One extra scrapeline run under cProfile (not timed): where its time goes.

    With the archive off when there is a switch: the variant the main targets are about.
    """
    import json

    switch = archive_switch()
    extra = switch[1] if switch else []

    shutil.rmtree(PROFILE_DIR, ignore_errors=True)
    PROFILE_DIR.mkdir(parents=True)
    argv = [
        PYTHON,
        str(BENCH / "profiled.py"),
        str(PROFILE_DIR),
        "run",
        PIPELINE,
        "--base-url",
        url,
        "--data-dir",
        str(PROFILE_DIR / "data"),
        "--workers",
        str(crawl.concurrency),
        "--end-offset",
        str(crawl.end_offset),
        *extra,
    ]
    measured = run_measured(argv, out=PROFILE_DIR / "output.txt")
    path = PROFILE_DIR / "profile.json"
    if measured.returncode != 0 or not path.exists():
        say(f"    profiling failed: {tail(PROFILE_DIR / 'output.txt', 5)}")
        return {}
    document: dict[str, Any] = json.loads(path.read_text())
    document["note"] = "cProfile of one extra run (about 2x slower than unprofiled)"
    document["options"] = " ".join(extra) or "default options"
    return document


def run(
    mode: Mode,
    *,
    matches_count: int = 10_000,
    rounds: int = 3,
    concurrency: int = 8,
    with_scrapy: bool = True,
    with_profile: bool = True,
) -> Result:
    say(f"crawl: {matches_count:,} matches, {rounds} rounds, {concurrency} requests in flight")
    matches, source = load_matches(matches_count, sample=mode.smoke)
    want = expected_records(matches)
    from bench.sites import prerender

    site_files = prerender(matches, f"crawl-{len(matches)}")
    crawl = Crawl(concurrency=concurrency, end_offset=site_files.last_offset)
    notes: list[str] = []
    scrapy = None
    if mode.smoke:
        notes.append("smoke: the rehearsal site in a thread instead of nginx; Scrapy skipped")
        say("  smoke: serving the rehearsal site in-process (no nginx); skipping Scrapy")
        site: Any = _InThreadSite(matches)
    else:
        site = _NginxSite(site_files.root)
        if with_scrapy:
            scrapy = ensure_scrapy()
    progs = programs(crawl, scrapy=scrapy)
    if archive_switch() is None:
        notes.append(
            "this scrapeline build has no archive switch (`scrapeline run --no-archive`): "
            "one scrapeline variant was measured, and it writes no archive"
        )
    runs: list[dict[str, Any]] = []
    server: dict[str, Any] = {}
    profile: dict[str, Any] = {}
    with site:
        if not mode.smoke:
            server["nginx"] = site.nginx.version()
            server["nginx_workers"] = site.nginx.workers
            say("  nginx capacity (wrk, one thread; the crawlers' pages):")
            first = matches[0]
            server["capacity"] = capacity(
                site.url,
                {
                    "listing": "/results?offset=0",
                    "match": f"/matches/{first.id}",
                },
                connections=concurrency,
            )
        for round_no in range(1, rounds + 1):
            say(f"  round {round_no}/{rounds}")
            for program in progs:
                run_dir = mode.scratch(f"crawl/{program.name}")
                record = one_run(program, site, run_dir, want, site_files.pages)
                record["round"] = round_no
                runs.append(record)
                os.sync()
                time.sleep(0.5)
        if with_profile and not mode.smoke:
            say("  profiling one scrapeline run (cProfile, loop and writer threads) ...")
            profile = profile_scrapeline(site.url, crawl)
    names = [p.name for p in progs]
    digests = {r["rows_fingerprint"] for r in runs if r["ok"]}
    return Result(
        name="crawl",
        mode=mode,
        data={
            "source": source,
            "matches": len(matches),
            "pages": {
                "total": site_files.pages,
                "listing": site_files.listing_pages,
                "match": site_files.match_pages,
                "half": site_files.half_pages,
            },
            "rows": {t: len(v) for t, v in want.items()},
            "concurrency": concurrency,
            "rounds": rounds,
            "programs": {p.name: p.label for p in progs},
            "commands": {
                p.name: " ".join(rel(a) if "/" in a else a for a in p.argv("URL", Path("RUN")))
                for p in progs
            },
            "server": server,
            "same_rows_everywhere": len(digests) == 1
            and all(r["ok"] for r in runs)
            and bool(digests),
            "runs": runs,
            "summary": summarise(runs, names),
            "profile": profile,
            "notes": notes,
        },
    )
