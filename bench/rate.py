"""Benchmark 4: rate fidelity. Does a configured rate R hold, as the site sees it?

``bench/pipelines/rate_pipe.py`` (``rate=R``, 8 workers) crawls the rehearsal
site (in a thread, no latency) with enough work for about 10 s at R (30 requests
for R = 2/s). The site records the arrival time of every request, listing pages
included. Reported per R:

- achieved rate: (n - 1) / (last arrival - first arrival), and its ratio to R
  (every request counts, ``/robots.txt`` included: the site sees them all);
- the largest number of arrivals in any 1-second window ``[t, t + 1)``,
  which must never exceed R.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from bench.common import (
    BENCH,
    Child,
    Mode,
    Result,
    load_average,
    load_matches,
    max_in_window,
    rel,
    say,
    scrapeline_cmd,
    spread,
    tail,
)

PIPE_FILE = BENCH / "pipelines" / "rate_pipe.py"
TARGET_SECONDS = 10.0
MIN_REQUESTS = 30


def plan(rate: float, seconds: float = TARGET_SECONDS) -> tuple[int, int, int]:
    """(matches, page size, listing pages) giving about ``rate * seconds`` requests."""
    total = max(MIN_REQUESTS, round(rate * seconds))
    page = 100 if total > 101 else total - 1
    pages = math.ceil(total / (page + 1))
    return total - pages, page, pages


def _worst_window(times: list[float], window: float = 1.0) -> list[float]:
    """Arrival offsets (ms) inside the fullest 1-s window: to see what crowded it."""
    best: list[float] = []
    for i, t in enumerate(times):
        inside = [u for u in times[i:] if u < t + window]
        if len(inside) > len(best):
            best = inside
    return [round(1000 * (u - best[0]), 2) for u in best]


def one_rate(mode: Mode, rate: int, seconds: float, round_no: int) -> dict[str, Any]:
    from bench.sites import RecordingSite, warm_up
    from scrapeline.testing import serve_in_thread

    count, page, pages = plan(rate, seconds)
    load = load_average()
    matches, _ = load_matches(count, sample=True)
    site = RecordingSite(matches, page_size=page, latency=None)
    scratch = mode.scratch(f"rate/{rate}")
    with serve_in_thread(site) as url:
        warm_up(url, site.arrivals)
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
            env={"BENCH_RATE": f"{rate}/s", "BENCH_PAGE_SIZE": str(page)},
        )
        measured = child.wait(timeout=seconds * 6 + 60)
    times = [at for at, _ in site.arrivals]
    n = len(times)
    span = times[-1] - times[0] if n > 1 else 0.0
    achieved = (n - 1) / span if span else 0.0
    window = max_in_window(times)
    gaps = sorted(b - a for a, b in itertools.pairwise(times))
    problems = []
    if measured.returncode != 0:
        problems.append(f"exit code {measured.returncode}: {tail(scratch / 'output.txt', 5)}")
    robots = sum(1 for _, target in site.arrivals if target == "/robots.txt")
    if n - robots != count + pages:
        problems.append(f"{n - robots} pages fetched, expected {count + pages}")
    record = {
        "rate": rate,
        "round": round_no,
        "requests": n,
        "robots_txt_requests": robots,
        "span_s": span,
        "achieved": achieved,
        "achieved_over_rate": achieved / rate,
        "max_in_1s_window": window,
        "over_rate": window > rate,
        "smallest_gap_ms": 1000 * gaps[0] if gaps else None,
        "gap_p1_ms": 1000 * gaps[len(gaps) // 100] if gaps else None,
        "interval_ms": 1000 / rate,
        "worst_window_ms": _worst_window(times) if window > rate else None,
        "load_average_before": load,
        "exit_code": measured.returncode,
        "problems": problems,
    }
    say(
        f"    R={rate:>4}/s round {round_no}: {n} requests in {span:.2f} s → {achieved:7.2f}/s "
        f"({achieved / rate:.3f} R), max {window} in any 1 s"
        + "".join(f"  {problem}" for problem in problems)
    )
    return record


def run(
    mode: Mode,
    *,
    rates: tuple[int, ...] = (2, 20, 200),
    rounds: int = 2,
    seconds: float = TARGET_SECONDS,
) -> Result:
    say(f"rate: R in {rates} per second, about {seconds:g} s of work each, {rounds} rounds")
    runs = [
        one_rate(mode, rate, seconds, round_no)
        for round_no in range(1, rounds + 1)
        for rate in rates
    ]
    summary = {
        str(rate): {
            "achieved_over_rate": spread(
                [r["achieved_over_rate"] for r in runs if r["rate"] == rate]
            ),
            "max_in_1s_window": max(r["max_in_1s_window"] for r in runs if r["rate"] == rate),
            "requests": [r["requests"] for r in runs if r["rate"] == rate],
        }
        for rate in rates
    }
    return Result(
        name="rate",
        mode=mode,
        data={
            "rates": list(rates),
            "rounds": rounds,
            "seconds": seconds,
            "pipeline": rel(PIPE_FILE),
            "command": (
                f"BENCH_RATE=R/s BENCH_PAGE_SIZE=P scrapeline run {rel(PIPE_FILE)} "
                "--base-url URL --data-dir DIR --end-offset E"
            ),
            "runs": runs,
            "summary": summary,
        },
    )
