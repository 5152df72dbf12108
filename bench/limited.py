"""Benchmark 6: a site that rate-limits, and a site that fails now and then.

**Rate-limited site.** The rehearsal site (in a thread, no latency) admits R requests
per second through a token bucket (``burst`` = R/10, at least 2) and answers every
request beyond it 429 with ``Retry-After: 1``. ``bench/pipelines/limited_pipe.py``,
with **no rate** of its own and 16 workers, crawls about ``seconds`` (30) of work at R:
the first seconds go to learning R (each 429 pauses the host for a second), so a
shorter run mostly measures that.
Reported per R: the successful (200) answers per second over the run, first to last
arrival, and their ratio to R (target ≥ 0.8); the share of requests answered 429
(target < 5 %); breaker openings (target 0), counted in the run's log file.

**Failing site.** The same crawl with 4 workers and a politeness ``rate`` of 50/s,
against the site (60 ms an answer, so that 4 workers can send about 66/s at most)
answering 10 % of requests 503 (random but seeded, retries drawn afresh), and
against the site without faults: about 15 s of work each. The run is bound by its
rate, so retries waiting out their backoff should cost little more than the retried
requests themselves, as long as a retry's wait holds no worker: wall-time ratio,
first to last arrival, faulty ÷ clean (target ≤ 1.5).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.common import (
    BENCH,
    Child,
    Mode,
    Result,
    load_average,
    load_matches,
    rel,
    say,
    scrapeline_cmd,
    spread,
    tail,
)
from bench.rate import plan
from bench.sites import RecordingSite

PIPE_FILE = BENCH / "pipelines" / "limited_pipe.py"
WORKERS = 16
FAULT_RATE = 50
FAULT_WORKERS = 4
FAULT_SHARE = 0.1
FAULT_LATENCY = 0.06
"""Seconds the site takes for each answer in the fault runs: 4 workers can then send
at most about 66 requests/s, so a worker held by a retry's backoff shows."""


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; one per admitted request.

    >>> bucket = TokenBucket(rate=10, burst=2, now=0.0)
    >>> [bucket.take(0.0), bucket.take(0.0), bucket.take(0.0), bucket.take(0.1)]
    [True, True, False, True]
    """

    def __init__(self, *, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.at = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class LimitedSite(RecordingSite):
    """The rehearsal site behind a token bucket of ``rate`` requests/s (None: no limit);
    ``answers`` records ``(time.monotonic(), status)`` for every request."""

    def __init__(self, *args: Any, rate: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bucket = (
            None
            if rate is None
            else TokenBucket(rate=rate, burst=max(2.0, rate / 10), now=time.monotonic())
        )
        self.answers: list[tuple[float, int]] = []

    def app(self) -> web.Application:
        app = super().app()
        app.middlewares.insert(1, self._limit)  # after the recording, before the site
        return app

    @web.middleware
    async def _limit(self, request: web.Request, handler: Any) -> web.StreamResponse:
        now = time.monotonic()
        if self.bucket is not None and not self.bucket.take(now):
            self.answers.append((now, 429))
            return web.Response(status=429, text="Too Many Requests", headers={"Retry-After": "1"})
        response: web.StreamResponse = await handler(request)
        self.answers.append((now, response.status))
        return response


def _crawl(
    mode: Mode,
    site: LimitedSite,
    name: str,
    *,
    page: int,
    pages: int,
    env: dict[str, str],
    timeout: float,
) -> tuple[int, float, Path]:
    """Run the pipeline against ``site``; (exit code, process wall, scratch dir)."""
    from bench.sites import warm_up
    from scrapeline.testing import serve_in_thread

    scratch = mode.scratch(f"limited/{name}")
    with serve_in_thread(site) as url:
        warm_up(url, site.arrivals)
        site.answers.clear()
        if site.bucket is not None:  # a full bucket when the crawl begins
            site.bucket.tokens, site.bucket.at = site.bucket.burst, time.monotonic()
        child = Child(
            scrapeline_cmd(
                "run",
                str(PIPE_FILE),
                "--base-url",
                url,
                "--data-dir",
                str(scratch / "data"),
                "--end-offset",
                str((pages - 1) * page),
            ),
            out=scratch / "output.txt",
            env={"BENCH_PAGE_SIZE": str(page), **env},
        )
        measured = child.wait(timeout=timeout)
    return measured.returncode, measured.wall, scratch


def _log_lines(scratch: Path, marker: str) -> int:
    """Lines of the run's log file(s) that contain ``marker``."""
    return sum(
        line.count(marker) > 0
        for log in (scratch / "data" / "logs").glob("run-*.log")
        for line in log.read_text(errors="replace").splitlines()
    )


def one_limit(mode: Mode, rate: int, seconds: float, round_no: int) -> dict[str, Any]:
    count, page, pages = plan(rate, seconds)
    load = load_average()
    matches, _ = load_matches(count, sample=True)
    site = LimitedSite(matches, page_size=page, latency=None, rate=rate)
    code, wall, scratch = _crawl(
        mode,
        site,
        f"R{rate}",
        page=page,
        pages=pages,
        env={"BENCH_WORKERS": str(WORKERS)},
        timeout=seconds * 10 + 60,
    )
    ok = [at for at, status in site.answers if status == 200]
    limited = sum(1 for _, status in site.answers if status == 429)
    total = len(site.answers)
    span = ok[-1] - ok[0] if len(ok) > 1 else 0.0
    achieved = (len(ok) - 1) / span if span else 0.0
    openings = _log_lines(scratch, "keeps failing: breaker open")
    problems = []
    if code != 0:
        problems.append(f"exit code {code}: {tail(scratch / 'output.txt', 5)}")
    pages_ok = sum(1 for target, n in site.served.items() if n and target != "/robots.txt")
    if pages_ok != count + pages:
        problems.append(f"{pages_ok} pages answered 200, expected {count + pages}")
    record = {
        "rate": rate,
        "round": round_no,
        "requests": total,
        "ok": len(ok),
        "answered_429": limited,
        "share_429": limited / total if total else 0.0,
        "span_s": span,
        "achieved_ok_per_s": achieved,
        "achieved_over_rate": achieved / rate,
        "breaker_openings": openings,
        "slowdowns": _log_lines(scratch, " slowed to "),
        "wall_s": wall,
        "load_average_before": load,
        "exit_code": code,
        "problems": problems,
    }
    say(
        f"    R={rate:>4}/s round {round_no}: {len(ok)} ok of {total} requests in {span:.2f} s "
        f"→ {achieved:7.2f}/s ({achieved / rate:.3f} R), {100 * record['share_429']:.1f}% 429, "
        f"{openings} breaker openings" + "".join(f"  {p}" for p in problems)
    )
    return record


def one_fault_run(mode: Mode, share: float, seconds: float, round_no: int) -> dict[str, Any]:
    from scrapeline.testing import Faults

    count, page, pages = plan(FAULT_RATE, seconds)
    load = load_average()
    matches, _ = load_matches(count, sample=True)
    faults = Faults(server_error=share) if share else None
    site = LimitedSite(matches, page_size=page, latency=FAULT_LATENCY, faults=faults, seed=round_no)
    name = f"faults{int(share * 100)}"
    code, wall, scratch = _crawl(
        mode,
        site,
        name,
        page=page,
        pages=pages,
        env={"BENCH_WORKERS": str(FAULT_WORKERS), "BENCH_RATE": f"{FAULT_RATE}/s"},
        timeout=seconds * 10 + 60,
    )
    times = [at for at, _ in site.answers]
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    failed = sum(1 for _, status in site.answers if status == 503)
    problems = []
    if code != 0:
        problems.append(f"exit code {code}: {tail(scratch / 'output.txt', 5)}")
    record = {
        "share_503": share,
        "round": round_no,
        "requests": len(times),
        "answered_503": failed,
        "span_s": span,
        "wall_s": wall,
        "load_average_before": load,
        "exit_code": code,
        "problems": problems,
    }
    say(
        f"    {int(share * 100):>2}% 503 round {round_no}: {len(times)} requests "
        f"({failed} answered 503) in {span:.2f} s, process {wall:.2f} s"
        + "".join(f"  {p}" for p in problems)
    )
    return record


def run(
    mode: Mode,
    *,
    rates: tuple[int, ...] = (20, 200),
    rounds: int = 2,
    seconds: float = 30.0,
    fault_seconds: float = 15.0,
) -> Result:
    say(
        f"limited: a site admitting R in {rates}/s (429 beyond), {WORKERS} workers, no rate; "
        f"then {int(FAULT_SHARE * 100)}% 503s at rate {FAULT_RATE}/s, {FAULT_WORKERS} workers; "
        f"{rounds} rounds"
    )
    limits: list[dict[str, Any]] = []
    faults: list[dict[str, Any]] = []
    for round_no in range(1, rounds + 1):
        limits += [one_limit(mode, rate, seconds, round_no) for rate in rates]
        clean = one_fault_run(mode, 0.0, fault_seconds, round_no)
        faulty = one_fault_run(mode, FAULT_SHARE, fault_seconds, round_no)
        ratio = faulty["span_s"] / clean["span_s"] if clean["span_s"] else None
        faults.append({"round": round_no, "clean": clean, "faulty": faulty, "ratio": ratio})
        say(f"    round {round_no}: wall ratio with 503s {ratio or 0:.2f}×")
    summary = {
        "per_rate": {
            str(rate): {
                "achieved_over_rate": spread(
                    [r["achieved_over_rate"] for r in limits if r["rate"] == rate]
                ),
                "share_429": spread([r["share_429"] for r in limits if r["rate"] == rate]),
                "breaker_openings": max(r["breaker_openings"] for r in limits if r["rate"] == rate),
            }
            for rate in rates
        },
        "fault_wall_ratio": spread([f["ratio"] for f in faults if f["ratio"] is not None]),
    }
    return Result(
        name="limited",
        mode=mode,
        data={
            "rates": list(rates),
            "rounds": rounds,
            "seconds": seconds,
            "fault_seconds": fault_seconds,
            "workers": WORKERS,
            "fault": {
                "share_503": FAULT_SHARE,
                "rate": FAULT_RATE,
                "workers": FAULT_WORKERS,
                "latency_s": FAULT_LATENCY,
            },
            "pipeline": rel(PIPE_FILE),
            "command": (
                f"BENCH_WORKERS=W [BENCH_RATE=50/s] BENCH_PAGE_SIZE=P scrapeline run "
                f"{rel(PIPE_FILE)} --base-url URL --data-dir DIR --end-offset E"
            ),
            "limits": limits,
            "faults": faults,
            "summary": summary,
        },
    )
