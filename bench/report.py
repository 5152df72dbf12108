"""``python -m bench report``: bench/RESULTS.md from the JSON results of the last runs.

Everything in RESULTS.md is computed from ``bench/results/*.json``; rerun
the benchmarks and this, and the page follows. Targets are judged here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import BENCH, Mode, load_results, spread


@dataclass(frozen=True)
class Target:
    what: str
    goal: str
    measured: str
    met: bool | None  # None: could not be measured


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _spread(s: dict[str, Any] | None, digits: int = 0, scale: float = 1.0) -> str:
    """``median (min–max)``."""
    if not s or s.get("median") is None:
        return "–"
    med, lo, hi = (s[k] * scale for k in ("median", "min", "max"))
    if s.get("n", 0) <= 1:
        return _num(med, digits)
    return f"{_num(med, digits)} ({_num(lo, digits)}–{_num(hi, digits)})"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    marks = {"l": "---", "r": "--:", "c": ":-:"}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _profile_rows(profile: dict[str, Any], key: str, limit: int) -> list[list[str]]:
    """Rows of a function table; 'share' is own time (or cumulative, for a cumtime list)."""
    total = profile.get("total_tottime") or 0.0
    field = "cumtime" if "cumtime" in key else "tottime"
    rows = []
    listed = profile.get(key, [])
    if field == "cumtime" and total:  # entry points (main, run) hold everything: no news
        listed = [row for row in listed if row["cumtime"] < 0.95 * total]
    for row in listed[:limit]:
        share = f"{100 * row[field] / total:.0f}%" if total else ""
        rows.append(
            [
                f"`{row['function']}`",
                f"{row['calls']:,}",
                f"{row['tottime']:.2f}",
                share,
                f"{row['cumtime']:.2f}",
            ]
        )
    return rows


def _idle_share(profile: dict[str, Any]) -> float | None:
    """Share of a thread's profiled time spent waiting (epoll, the writer's queue, locks)."""
    total = profile.get("total_tottime") or 0.0
    if not total:
        return None
    waiting = sum(
        c["tottime"]
        for c in profile.get("by_component", [])
        if c["component"].startswith("waiting")
    )
    return float(waiting / total)


def _profile_section(title: str, document: dict[str, Any], limit: int = 10) -> list[str]:
    lines = [f"**{title}**", ""]
    header = ["function", "calls", "own s", "share", "cum s"]
    for thread, label in (("loop_thread", "event-loop thread"), ("writer_thread", "ledger writer")):
        profile = document.get(thread)
        if not profile:
            continue
        idle = _idle_share(profile)
        idle_text = f"; waiting (epoll / queue) {idle:.0%} of it" if idle is not None else ""
        lines.append(
            f"{label}: {profile.get('total_tottime', 0):.2f} s profiled{idle_text}. "
            f"Own time by component, then the top {limit} functions by own time:"
        )
        lines.append("")
        total = profile.get("total_tottime") or 0.0
        components = [
            [c["component"], f"{c['tottime']:.2f}", f"{100 * c['tottime'] / total:.0f}%"]
            for c in profile.get("by_component", [])[:10]
            if total
        ]
        if components:
            lines += _table(["component", "own s", "share"], components, "lrr")
        lines += _table(header, _profile_rows(profile, "by_tottime", limit), "lrrrr")
        if thread == "loop_thread" and profile.get("scrapeline_by_cumtime"):
            lines += [
                "scrapeline's own functions by cumulative time (callees included; "
                "coroutine calls count once per resumption):",
                "",
            ]
            lines += _table(
                header, _profile_rows(profile, "scrapeline_by_cumtime", limit + 6), "lrrrr"
            )
    return lines


# -- sections ---------------------------------------------------------------------------


def _scrapeline_name(crawl: dict[str, Any]) -> str:
    programs = crawl.get("programs", {})
    return "scrapeline_archive_off" if "scrapeline_archive_off" in programs else "scrapeline"


def crawl_section(crawl: dict[str, Any], targets: list[Target]) -> list[str]:
    lines = ["## 1. End-to-end crawl", ""]
    pages = crawl["pages"]
    server = crawl.get("server", {})
    cap = server.get("capacity", {})
    cap_text = ", ".join(
        f"{kind} page {_num(v.get('requests_per_s'))} req/s" for kind, v in cap.items()
    )
    lines += [
        f"The bundled pipeline (`scrapeline.demo.football`) against the rehearsal site: "
        f"{crawl['source']} — {pages['total']:,} pages ({pages['listing']:,} listing, "
        f"{pages['match']:,} match, {pages['half']:,} half), {crawl['rows']['matches']:,} "
        f"`matches` rows and {crawl['rows']['halves']:,} `halves` rows. No rate limit, "
        f"no artificial latency, {crawl['concurrency']} requests in flight for every program, "
        f"{crawl['rounds']} rounds, programs alternating within each round. Each program "
        "starts cold in its own process; wall time is the whole process (start-up included).",
        "",
    ]
    if server:
        lines += [
            f"Site: the pages pre-rendered to files, served by nginx {server.get('nginx', '')} "
            f"with {server.get('nginx_workers', 1)} worker on 127.0.0.1. Capacity with wrk "
            f"(1 thread, {crawl['concurrency']} connections): {cap_text or 'not measured'}. "
            "'server busy' is the nginx worker's CPU time over the program's wall time: far "
            "below 100%, so the site is not the bottleneck.",
            "",
        ]
    same = crawl.get("same_rows_everywhere")
    lines += [
        "Rows check: "
        + (
            "every run of every program produced exactly the expected rows (same set, "
            "no duplicates) and fetched every page once with status 200."
            if same
            else "**some runs produced different rows; those runs are left out of the "
            "speeds** (see problems below)."
        ),
        "",
    ]
    summary = crawl["summary"]
    rows = []
    for name, label in crawl["programs"].items():
        s = summary["programs"][name]
        busy = spread(
            [r["cpu"] / r["wall"] for r in crawl["runs"] if r["program"] == name and r["ok"]]
        )
        rows.append(
            [
                label,
                _spread(s["pages_per_s"]),
                _spread(s.get("span_pages_per_s")),
                _spread(s["cpu_ms_per_page"], 3),
                _spread(busy, 0, 100) + "%",
                _spread(s["max_rss_mb"]),
                _spread(s["wall"], 1),
                _spread(s["server_busy"], 0, 100) + "%" if s["server_busy"]["median"] else "–",
                _spread(s.get("connections")),
                _spread(s.get("stalled_s"), 1),
                f"{s['runs_ok']}/{s['runs']}",
            ]
        )
    lines += _table(
        [
            "program",
            "pages/s",
            "pages/s, first→last request",
            "CPU ms/page",
            "CPU ÷ wall",
            "peak RSS MB",
            "wall s",
            "server busy",
            "connections",
            "stalled s",
            "runs ok",
        ],
        rows,
    )
    lines += [
        "Median (min–max) over the rounds. 'CPU ÷ wall' near 100% means the program is "
        "bound by its one core; below that it waits (on the server, on another thread, on "
        "work not yet available). 'stalled s': the time, summed, in gaps of more than 10 ms "
        "between two requests reaching the server, with 8 meant to be in flight (from "
        "nginx's millisecond timestamps): a program at 100% CPU that stalls works in bursts; "
        "one below 100% that stalls is waiting. Ratios, per round then median (min–max):",
        "",
    ]
    ratio_rows = []
    for key, r in summary["ratios"].items():
        name, ref = key.split("/")
        ratio_rows.append(
            [
                f"{crawl['programs'].get(name, name)} ÷ {crawl['programs'].get(ref, ref)}",
                _spread(r["pages_per_s"], 2),
                _spread(r["cpu_per_page"], 2),
            ]
        )
    lines += _table(["ratio", "pages/s", "CPU per page"], ratio_rows)
    problems = [(r["round"], r["program"], p) for r in crawl["runs"] for p in r["problems"]]
    if problems:
        lines += ["Problems:", ""]
        lines += [f"- round {rnd}, {prog}: {p}" for rnd, prog, p in problems] + [""]
    for note in crawl.get("notes", []):
        lines += [f"Note: {note}.", ""]
    lines += ["Commands (URL and RUN filled in by the harness):", "", "```"]
    lines += [f"{name}: {cmd}" for name, cmd in crawl["commands"].items()]
    lines += ["```", ""]
    profile = crawl.get("profile")
    if profile:
        options = f", `{profile['options']}`" if profile.get("options") else ""
        lines += _profile_section(
            f"Where scrapeline's time goes (one extra run under cProfile{options}, on "
            "asyncio's own loop so that idle time shows as waiting, "
            f"{profile.get('wall', 0):.1f} s wall)",
            profile,
        )

    sl = _scrapeline_name(crawl)
    ratios = summary["ratios"]
    off = ratios.get(f"{sl}/baseline", {})
    speed = off.get("pages_per_s", {}).get("median")
    cpu = off.get("cpu_per_page", {}).get("median")
    vs_scrapy = ratios.get(f"{sl}/scrapy", {}).get("pages_per_s", {}).get("median")
    on = ratios.get("scrapeline_archive_on/baseline", {}).get("pages_per_s", {}).get("median")
    rss = summary["programs"].get(sl, {}).get("max_rss_mb", {}).get("max")
    has_switch = "scrapeline_archive_on" in crawl["programs"]
    targets += [
        Target(
            "crawl, durable, archive off: pages/s vs baseline",
            "≥ 0.8×",
            f"{_num(speed, 2)}×",
            None if speed is None else speed >= 0.8,
        ),
        Target(
            "crawl, durable, archive off: pages/s vs Scrapy",
            "≥ 10×",
            f"{_num(vs_scrapy, 1)}×",
            None if vs_scrapy is None else vs_scrapy >= 10,
        ),
        Target(
            "crawl, archive on: pages/s vs baseline",
            "≥ 0.6×",
            f"{_num(on, 2)}×" if has_switch else "no archive switch in this build",
            (on >= 0.6 if on is not None else None) if has_switch else None,
        ),
        Target(
            "crawl: CPU per page vs baseline",
            "≤ 1.3×",
            f"{_num(cpu, 2)}×",
            None if cpu is None else cpu <= 1.3,
        ),
        Target(
            "crawl: peak RSS of scrapeline (10k crawl, worst round)",
            "≤ 150 MB",
            f"{_num(rss)} MB",
            None if rss is None else rss <= 150,
        ),
    ]
    return lines


def engine_section(engine: dict[str, Any], targets: list[Target]) -> list[str]:
    lines = ["## 2. Engine overhead", ""]
    lines += [
        f"{engine['items']:,} items × {engine['stages']} stages (`second` after `first`) = "
        f"{engine['transitions_per_run']:,} transitions (an (item, stage) task taken from "
        f"pending to done) per run; the real Runner, SQLite ledger (file, WAL, group commit) "
        f"and FetchClient, over an in-process FakeFetcher; {engine['workers']} workers; "
        f"{engine['rounds']} rounds, variants alternating. `noop`: the stages return at once; "
        "`fetch`: each also awaits one `ctx.fetch` of a fake page. Rates are those of the "
        "stage phase: a first run on the ledger only discovers the items (no stage), a second "
        "only runs the stages (no discovery); the same event loop as `scrapeline run` "
        "(uvloop); a fresh process per run; no console or log-file reporter attached.",
        "",
    ]
    rows = []
    for variant, s in engine["summary"].items():
        rows.append(
            [
                f"`{variant}`",
                _spread(s["transitions_per_s"]),
                _spread(s["us_per_transition"], 1),
                _spread(s["cpu_us_per_transition"], 1),
                _spread(s["transitions_per_s_whole_run"]),
                _spread(s["discovery_s"], 2),
                _spread(s["max_rss_mb"]),
            ]
        )
    lines += _table(
        [
            "variant",
            "transitions/s",
            "µs/transition",
            "CPU µs/transition",
            "whole run, transitions/s",
            f"discovery of {engine['items']:,} items, s",
            "peak RSS MB",
        ],
        rows,
    )
    lines += ["Command:", "", "```", engine["command"], "```", ""]
    for variant, document in engine.get("profile", {}).items():
        lines += _profile_section(
            f"Where the time goes, `{variant}` (one extra run under cProfile, on asyncio's "
            "own loop so that idle time shows as waiting: "
            f"{_num(document.get('transitions_per_s_profiled'))} transitions/s profiled)",
            document,
        )
    noop = engine["summary"].get("noop", {}).get("transitions_per_s", {}).get("median")
    targets.append(
        Target(
            "engine: item-stage transitions per second (no-op stages)",
            "≥ 30,000/s",
            f"{_num(noop)}/s",
            None if noop is None else noop >= 30_000,
        )
    )
    return lines


def ledger_section(ledger: dict[str, Any], targets: list[Target]) -> list[str]:
    lines = ["## 3. Ledger scale", ""]
    lines += [
        "A ledger of N items of `bench/pipelines/ledger_pipe.py` (one stage), filled through "
        "the ledger API (`add_items` in batches of 20,000, then `claim` + `complete` of the "
        "first half, one small record each), copied fresh for every measurement (page "
        f"cache warm). {ledger['reps']} repetitions each. *Run → first request*: from starting "
        "`scrapeline run` to its first request reaching the site (robots.txt or the listing); "
        "*→ first item fetch*: to the first stage request (work resumed). The run then works "
        f"{ledger['work_after_first_item_fetch_s']:g} s and is stopped with SIGINT; its peak "
        "RSS covers all of that.",
        "",
    ]
    floor = ledger.get("startup_floor_s")
    if floor:
        lines += [
            f"Start-up floor: `scrapeline --help` takes {_spread(floor, 2)} s (Python, imports).",
            "",
        ]
    rows = []
    for size, info in ledger["per_size"].items():
        rows.append(
            [
                f"{int(size):,}",
                _num(info["ledger_mb"]),
                _spread(info["status_wall"], 2),
                _spread(info["status_rss_mb"]),
                _spread(info["to_first_fetch"], 2),
                _spread(info["to_first_item_fetch"], 2),
                _spread(info["run_rss_mb"]),
                _num(info["fill_seconds"], 1),
            ]
        )
    lines += _table(
        [
            "items",
            "ledger MB",
            "`status` s",
            "`status` RSS MB",
            "run → first request s",
            "run → first item fetch s",
            "run RSS MB",
            "fill s",
        ],
        rows,
    )
    problems = [p for info in ledger["per_size"].values() for p in info.get("problems", [])]
    if problems:
        lines += ["Problems:", ""] + [f"- {p}" for p in problems] + [""]
    lines += ["Commands:", "", "```"]
    lines += [f"{k}: {v}" for k, v in ledger["commands"].items()] + ["```", ""]
    big = ledger["per_size"].get(str(10**6))
    if big:
        first = big["to_first_fetch"].get("median")
        first_item = big["to_first_item_fetch"].get("median")
        status = big["status_wall"].get("median")
        rss = max(x for x in (big["status_rss_mb"].get("max"), big["run_rss_mb"].get("max")) if x)
        targets += [
            Target(
                "1M ledger: run start → first request / → first item fetch",
                "≤ 2 s",
                f"{_num(first, 2)} s / {_num(first_item, 2)} s",
                None if first_item is None else first_item <= 2 and (first or 0) <= 2,
            ),
            Target(
                "1M ledger: `scrapeline status`",
                "≤ 1 s",
                f"{_num(status, 2)} s",
                None if status is None else status <= 1,
            ),
            Target(
                "1M ledger: peak RSS (run and status, worst)",
                "≤ 150 MB",
                f"{_num(rss)} MB",
                rss <= 150,
            ),
        ]
    else:
        targets.append(Target("1M ledger", "–", "not measured", None))
    return lines


def rate_section(rate: dict[str, Any], targets: list[Target]) -> list[str]:
    lines = ["## 4. Rate fidelity", ""]
    lines += [
        "`bench/pipelines/rate_pipe.py` with `rate=R` (8 workers) against the rehearsal site "
        f"(in-process, no latency), about {rate['seconds']:g} s of work per R (at least 30 "
        f"requests), {rate['rounds']} rounds. Arrival times are taken by the site. Achieved "
        "rate = (n − 1) / (last − first arrival); the window count is the most arrivals in "
        "any [t, t + 1 s).",
        "",
    ]
    rows = []
    ok_rate = ok_window = True
    worst = None
    for r, s in rate["summary"].items():
        ratio = s["achieved_over_rate"]
        rows.append(
            [
                f"{r}/s",
                ", ".join(str(n) for n in s["requests"]),
                _spread(ratio, 3),
                str(s["max_in_1s_window"]),
                "yes" if s["max_in_1s_window"] > int(r) else "no",
            ]
        )
        low = ratio.get("min")
        if low is not None:
            worst = low if worst is None else min(worst, low)
            ok_rate = ok_rate and low >= 0.95
        ok_window = ok_window and s["max_in_1s_window"] <= int(r)
    lines += _table(["R", "requests", "achieved ÷ R", "max in any 1 s", "above R?"], rows, "lrrrc")
    run_rows = []
    for run in rate.get("runs", []):
        run_rows.append(
            [
                f"{run['rate']}/s",
                str(run["round"]),
                f"{run['achieved_over_rate']:.3f}",
                str(run["max_in_1s_window"]),
                f"{_num(run.get('smallest_gap_ms'), 1)} / {_num(run.get('interval_ms'), 1)}",
                _num(run.get("load_average_before"), 1),
            ]
        )
    if run_rows and "interval_ms" in rate["runs"][0]:
        lines += ["Each run:", ""]
        lines += _table(
            [
                "R",
                "round",
                "achieved ÷ R",
                "max in any 1 s",
                "smallest gap between arrivals / 1/R, ms",
                "load average",
            ],
            run_rows,
        )
    for run in rate.get("runs", []):
        if run.get("worst_window_ms"):
            offsets = run["worst_window_ms"]
            lines += [
                f"R = {run['rate']}/s, round {run['round']}: {len(offsets)} arrivals within "
                f"{offsets[-1]:.1f} ms, at (ms from the first) "
                + ", ".join(f"{o:g}" for o in offsets)
                + ". Arrival times are taken by the site's event loop in the harness "
                "process, so a delay on this shared machine (see the load average) moves "
                "them as well as the client's starts.",
                "",
            ]
    lines += ["Command:", "", "```", rate["command"], "```", ""]
    targets += [
        Target(
            "rate: achieved ≥ 0.95 R (worst run over all R)",
            "≥ 0.95",
            f"{_num(worst, 3)}",
            None if worst is None else ok_rate,
        ),
        Target(
            "rate: never above R in any 1-s window",
            "≤ R",
            "never above" if ok_window else "above R in some window",
            ok_window,
        ),
    ]
    return lines


def resume_section(resume: dict[str, Any], targets: list[Target]) -> list[str]:
    lines = ["## 5. Resume cost", ""]
    lines += [
        f"The bundled pipeline on one data dir against the rehearsal site ({resume['source']}, "
        f"{resume['latency_s'] * 1000:g} ms latency, 8 workers): {resume['kills']} runs each "
        f"SIGKILLed after a random delay of {resume['delay_range_s'][0]:g}–"
        f"{resume['delay_range_s'][1]:g} s from its start (seed {resume['seed']}; "
        f"{resume['kills_mid_run']} of them still running when killed), then one run to the "
        "end. The site records every request.",
        "",
    ]
    rows = [
        ["duplicate fetches of items already done", str(resume["duplicate_fetches_of_done_items"])],
        ["duplicated records", str(resume["duplicated_records"])],
        ["items lost", str(resume["items_lost"])],
        ["kills that left records and done marks apart", str(resume["torn_commits"])],
        ["tasks not done after the last run", str(resume["tasks_not_done_at_end"])],
        ["last run's exit code", str(resume["final_exit_code"])],
        ["pages of in-flight items fetched again (allowed)", str(resume["redone_in_flight_pages"])],
    ]
    lines += _table(["", "count"], rows)
    expected = resume["expected_rows"]
    lines += [
        f"Expected rows: {expected['matches']:,} `matches`, {expected['halves']:,} `halves`. "
        + (
            "The final tables equal them exactly."
            if not resume["row_differences"]
            else "Differences: " + "; ".join(resume["row_differences"])
        ),
        "",
        "Command:",
        "",
        "```",
        resume["command"],
        "```",
        "",
    ]
    zero = (
        resume["duplicate_fetches_of_done_items"] == 0
        and resume["duplicated_records"] == 0
        and resume["items_lost"] == 0
    )
    targets.append(
        Target(
            f"resume after {resume['kills']} SIGKILLs: duplicate fetches / records / lost",
            "0 / 0 / 0",
            f"{resume['duplicate_fetches_of_done_items']} / {resume['duplicated_records']} / "
            f"{resume['items_lost']}",
            zero and resume["final_exit_code"] == 0,
        )
    )
    return lines


def tree_section(tree: dict[str, Any], targets: list[Target]) -> list[str]:
    lines = ["## 6. Listing-tree crawl", ""]
    pages = tree["pages"]
    server = tree.get("server", {})
    cap = server.get("capacity", {})
    cap_text = ", ".join(
        f"{kind} page {_num(v.get('requests_per_s'))} req/s" for kind, v in cap.items()
    )
    lines += [
        f"`{tree['pipeline']}` (the bundled `scrapeline.demo.football_api` with path-style "
        f"URLs) against the JSON API site: {tree['source']} — {pages['total']:,} pages "
        f"({pages.get('tournament_listing', 0):,} tournament listing, "
        f"{pages.get('season_listing', 0):,} season listing, "
        f"{pages.get('event_listing', 0):,} event listing, {pages.get('detail', 0):,} detail; "
        f"20 rows a listing page, page numbers from 0 until `hasNextPage` is false), "
        f"{tree['rows']['events']:,} `events` rows. A listing per tournament and per season, "
        f"each walked page after page. No rate limit, no artificial latency, "
        f"{tree['concurrency']} requests in flight for both programs, {tree['rounds']} rounds, "
        "programs alternating; each starts cold in its own process, wall time includes "
        "start-up.",
        "",
    ]
    if server:
        lines += [
            "Site: the API site's own answers pre-rendered to files, served by nginx "
            f"{server.get('nginx', '')} with {server.get('nginx_workers', 1)} worker on "
            f"127.0.0.1. Capacity with wrk (1 thread, {tree['concurrency']} connections): "
            f"{cap_text or 'not measured'}.",
            "",
        ]
    lines += [
        "Pages and rows check: "
        + (
            "every run of both programs fetched exactly the tree's pages (each once, status "
            "200) and produced exactly the `events` rows the details hold."
            if tree.get("same_rows_everywhere")
            else "**some runs fetched other pages or produced other rows; those runs are "
            "left out of the speeds** (see problems below)."
        ),
        "",
    ]
    summary = tree["summary"]
    rows = []
    for name, label in tree["programs"].items():
        s = summary["programs"][name]
        busy = spread(
            [r["cpu"] / r["wall"] for r in tree["runs"] if r["program"] == name and r["ok"]]
        )
        rows.append(
            [
                label,
                _spread(s["pages_per_s"]),
                _spread(s.get("span_pages_per_s")),
                _spread(s["cpu_ms_per_page"], 3),
                _spread(busy, 0, 100) + "%",
                _spread(s["max_rss_mb"]),
                _spread(s["wall"], 1),
                _spread(s["server_busy"], 0, 100) + "%" if s["server_busy"]["median"] else "–",
                _spread(s.get("stalled_s"), 1),
                f"{s['runs_ok']}/{s['runs']}",
            ]
        )
    lines += _table(
        [
            "program",
            "pages/s",
            "pages/s, first→last request",
            "CPU ms/page",
            "CPU ÷ wall",
            "peak RSS MB",
            "wall s",
            "server busy",
            "stalled s",
            "runs ok",
        ],
        rows,
    )
    ratio_rows = [
        [
            " ÷ ".join(tree["programs"].get(n, n) for n in key.split("/")),
            _spread(r["pages_per_s"], 2),
            _spread(r["cpu_per_page"], 2),
        ]
        for key, r in summary["ratios"].items()
    ]
    lines += ["Median (min–max) over the rounds; ratios per round, then median (min–max):", ""]
    lines += _table(["ratio", "pages/s", "CPU per page"], ratio_rows)
    problems = [(r["round"], r["program"], p) for r in tree["runs"] for p in r["problems"]]
    if problems:
        lines += ["Problems:", ""]
        lines += [f"- round {rnd}, {prog}: {p}" for rnd, prog, p in problems] + [""]
    for note in tree.get("notes", []):
        lines += [f"Note: {note}.", ""]
    lines += ["Commands (URL and RUN filled in by the harness):", "", "```"]
    lines += [f"{name}: {cmd}" for name, cmd in tree["commands"].items()]
    lines += ["```", ""]
    speed = summary["ratios"].get("scrapeline/baseline", {}).get("pages_per_s", {}).get("median")
    targets.append(
        Target(
            "tree crawl (JSON API), durable, archive off: pages/s vs baseline",
            "≥ 0.8×",
            f"{_num(speed, 2)}×",
            None if speed is None else speed >= 0.8,
        )
    )
    return lines


def limited_section(limited: dict[str, Any], targets: list[Target]) -> list[str]:
    lines = ["## 7. Rate-limited and failing sites", ""]
    fault = limited["fault"]
    lines += [
        f"`{limited['pipeline']}` with **no rate**, {limited['workers']} workers, against the "
        "rehearsal site (in-process, no latency) behind a token bucket admitting R requests/s "
        "(burst R/10, at least 2) and answering 429 with `Retry-After: 1` beyond it; about "
        f"{limited['seconds']:g} s of work at R, {limited['rounds']} rounds. Counted by the "
        "site: successful (200) answers per second from the first to the last, the share of "
        "requests answered 429; breaker openings from the run's log file.",
        "",
    ]
    rows = []
    worst_ratio: float | None = None
    worst_share: float | None = None
    openings = 0
    for r, s in limited["summary"]["per_rate"].items():
        ratio, share = s["achieved_over_rate"], s["share_429"]
        rows.append(
            [
                f"{r}/s",
                _spread(ratio, 3),
                _spread(share, 1, 100) + " %",
                str(s["breaker_openings"]),
            ]
        )
        if ratio.get("min") is not None:
            low = ratio["min"]
            worst_ratio = low if worst_ratio is None else min(worst_ratio, low)
        if share.get("max") is not None:
            high = share["max"]
            worst_share = high if worst_share is None else max(worst_share, high)
        openings = max(openings, s["breaker_openings"])
    lines += _table(["R", "200s/s ÷ R", "requests answered 429", "breaker openings"], rows, "lrrr")
    lines += [
        f"Then the same crawl with {fault['workers']} workers and `rate={fault['rate']}/s` "
        f"(rate-bound, about {limited['fault_seconds']:g} s of work), against the site "
        f"({fault.get('latency_s', 0) * 1000:g} ms an answer) "
        f"answering {fault['share_503'] * 100:g} % of requests 503 (seeded per round) and "
        "against the site without faults; wall time from the first to the last request "
        "the site saw.",
        "",
    ]
    fault_rows = [
        [
            str(pair["round"]),
            f"{pair['clean']['span_s']:.2f}",
            f"{pair['faulty']['span_s']:.2f} ({pair['faulty']['answered_503']} × 503)",
            _num(pair["ratio"], 2) + "×",
        ]
        for pair in limited["faults"]
    ]
    lines += _table(["round", "no faults, s", "10 % 503s, s", "ratio"], fault_rows, "lrrr")
    problems = [p for r in limited["limits"] for p in r["problems"]]
    problems += [
        p for pair in limited["faults"] for k in ("clean", "faulty") for p in pair[k]["problems"]
    ]
    if problems:
        lines += ["Problems:", ""] + [f"- {p}" for p in problems] + [""]
    lines += ["Command:", "", "```", limited["command"], "```", ""]
    wall = limited["summary"]["fault_wall_ratio"].get("median")
    targets += [
        Target(
            "rate-limited site, no rate set: 200s/s ÷ R (worst run)",
            "≥ 0.8",
            _num(worst_ratio, 3),
            None if worst_ratio is None else worst_ratio >= 0.8,
        ),
        Target(
            "rate-limited site: requests answered 429 (worst run)",
            "< 5 %",
            f"{_num(None if worst_share is None else 100 * worst_share, 1)} %",
            None if worst_share is None else worst_share < 0.05,
        ),
        Target(
            "rate-limited site: breaker openings",
            "0",
            str(openings),
            openings == 0,
        ),
        Target(
            "10 % 503s, rate-bound: wall time vs no faults",
            "≤ 1.5×",
            f"{_num(wall, 2)}×",
            None if wall is None else wall <= 1.5,
        ),
    ]
    return lines


def refresh_section(refresh: dict[str, Any], targets: list[Target]) -> list[str]:
    lines = ["## 8. Daily refresh", ""]
    s = refresh["summary"]
    set_up = refresh.get("set_up", {})
    server = refresh.get("server", {})
    site = (
        f"{server.get('nginx', 'nginx')} ({server.get('nginx_workers', 1)} worker, ETag on)"
        if server
        else "aiohttp in a thread (smoke)"
    )
    lines += [
        f"`{refresh['pipeline']}` over a ledger of {refresh['items']:,} things: "
        f"{refresh['items'] - refresh['fresh']:,} dated years ago, done, one record each "
        f"(filled through the ledger API), and the {refresh['fresh']:,} newest, dated "
        f"yesterday, found and fetched by one real run first (archive on), so the archive "
        f"holds their validators. Served as static JSON files by {site} on 127.0.0.1. "
        f"Measured: `scrapeline run` again, {refresh['rounds']} rounds, each on a fresh copy "
        f"of that data dir, {refresh['concurrency']} workers; the refresh window "
        f"({refresh['refresh_window']}) re-opens the {refresh['fresh']:,} tasks and every "
        "re-fetch is conditional. Items/s is the fresh items over the run's own wall time "
        "(stored in its summary: run start to end, process start-up left out).",
        "",
        "Check: "
        + (
            f"every round's {refresh['fresh']:,} re-fetches were answered 304 (nginx's log), "
            "the listing's first page was all known (one listing request), the run's "
            f"attempts and its printed summary say {refresh['fresh']:,} refreshed, all "
            "unchanged, and no record row was rewritten (none carries the run's id; the "
            "table is the same, byte for byte)."
            if refresh.get("all_ok")
            else "**some rounds were not all unchanged or rewrote records; they are left "
            "out of the speeds** (see problems below)."
        ),
        "",
    ]
    lines += _table(
        [
            "items/s (run wall)",
            "run wall s",
            "items/s (process wall)",
            "process wall s",
            "CPU s",
            "peak RSS MB",
            "records rewritten",
            "runs ok",
        ],
        [
            [
                _spread(s["items_per_s"]),
                _spread(s["run_wall"], 3),
                _spread(s["process_items_per_s"]),
                _spread(s["process_wall"], 2),
                _spread(s["cpu"], 2),
                _spread(s["max_rss_mb"]),
                f"{refresh['records_rewritten']:,}",
                f"{s['runs_ok']}/{s['runs']}",
            ]
        ],
    )
    lines += [
        "Median (min–max) over the rounds. The set-up run (first fetch of the fresh items, "
        f"{set_up.get('listing_pages', '–')} listing pages): {_num(set_up.get('wall'), 2)} s.",
        "",
    ]
    problems = [(r["round"], p) for r in refresh["runs"] for p in r["problems"]]
    if problems:
        lines += ["Problems:", ""]
        lines += [f"- round {rnd}: {p}" for rnd, p in problems] + [""]
    for note in refresh.get("notes", []):
        lines += [f"Note: {note}.", ""]
    lines += ["Command (URL and DIR filled in by the harness):", "", "```"]
    lines += [refresh["command"], "```", ""]
    if refresh.get("profile"):
        lines += _profile_section(
            "Where a refresh's time goes: cProfile of one extra round "
            f"(its run took {_num(refresh['profile'].get('run_wall'), 2)} s profiled)",
            refresh["profile"],
        )
    speed = s["items_per_s"].get("median")
    targets.append(
        Target(
            "daily refresh: items/s, all unchanged",
            "≥ 3,000/s",
            f"{_num(speed)}/s",
            None if speed is None else speed >= 3_000,
        )
    )
    rewritten = refresh.get("records_rewritten")
    targets.append(
        Target(
            "daily refresh: records rewritten",
            "0",
            _num(rewritten),
            None if rewritten is None or not refresh["runs"] else rewritten == 0,
        )
    )
    return lines


def history_section(history: dict[str, Any], targets: list[Target]) -> list[str]:
    lines = ["## 9. Run history", ""]
    lines += [
        f"`{history['pipeline']}` (stages {', '.join(history['stages'])}) over a ledger of "
        f"{history['runs']:,} runs and {history['attempts']:,} attempts "
        f"({history['ledger_mb']:,.0f} MB; {history['items']:,} items, the "
        f"{history['pending_items']:,} newest pending), filled straight into the ledger's "
        "tables with `executemany` (the runs' summaries as real runs store them, every 97th "
        "run crashed and read from its attempts), then ANALYZE. Each command is a whole "
        f"process through the real CLI on a fresh copy, {history['rounds']} rounds. "
        "*Run → first request / first item fetch*: `scrapeline run` against a local site "
        "on a copy of that ledger and on a copy of the same ledger with no runs and no "
        "attempts (its items and tasks the same), alternating; the run is stopped with "
        f"SIGINT {history['work_after_first_item_fetch_s']:g} s after its first item fetch.",
        "",
        "Output check: "
        + (
            "`runs` listed the 20 newest runs, newest first, with the status, counts per "
            "stage, categories and failed stage each was filled with; `runs show` the "
            "newest run's counts and every item it failed, in order, still failed with its "
            "message; `health` the tasks, done, failed, records, success rate, p50/p95 and "
            "top error categories (per run, before, trend) of the 10 newest runs, as filled."
            if history.get("all_ok")
            else "**some outputs were wrong; those rounds are left out of the timings** "
            "(see problems below)."
        ),
        "",
    ]
    floor = history.get("startup_floor_s")
    if floor:
        lines += [
            f"Start-up floor: `scrapeline --help` takes {_spread(floor, 2)} s (Python, imports).",
            "",
        ]
    measured = history["commands_measured"]
    labels = {
        "runs": "`runs --json`",
        "show": "`runs show ID --json`",
        "health": "`health --json`",
        "runs_empty": "`runs --json`, no history",
        "health_empty": "`health --json`, no history",
    }
    rows = [
        [
            labels.get(name, name),
            _spread(m["wall"], 2),
            _spread(m["cpu"], 2),
            _spread(m["max_rss_mb"]),
            f"{m['runs_ok']}/{m['runs']}",
        ]
        for name, m in measured.items()
    ]
    lines += _table(["command", "wall s", "CPU s", "peak RSS MB", "rounds ok"], rows)
    inside: dict[str, float] = {}
    for p in history.get("query_plans", []):
        inside.setdefault(p["command"], p["command_s_in_process"])
    if inside:
        lines += [
            "The same three as calls in one process, imports and start-up left out "
            "(the ledger opened, read and closed): "
            + ", ".join(f"{name} {_num(s, 3)} s" for name, s in inside.items())
            + ". The rest of a command's wall time is Python starting and importing.",
            "",
        ]
    start = history["start"]
    start_rows = [
        [
            label,
            _spread(start[which]["to_first_fetch"], 2),
            _spread(start[which]["to_first_item_fetch"], 2),
            _spread(start[which]["process_wall"], 2),
            _spread(start[which]["cpu"], 2),
            _spread(start[which]["max_rss_mb"]),
            f"{start[which]['runs_ok']}/{start[which]['runs']}",
        ]
        for which, label in (
            ("history", f"{history['runs']:,} runs, {history['attempts']:,} attempts"),
            ("empty", "no history"),
        )
    ]
    lines += _table(
        [
            "`scrapeline run` on",
            "→ first request s",
            "→ first item fetch s",
            "process wall s",
            "CPU s",
            "peak RSS MB",
            "rounds ok",
        ],
        start_rows,
    )
    calls = {w: start[w].get("start_calls", {}).get("median") for w in ("history", "empty")}
    if calls["history"] is not None and calls["empty"] is not None:
        lines += [
            "The ledger calls of a run's start alone, in-process on a fresh copy (open, "
            "prepare, begin the run, reset the failed tasks, claim a first batch): "
            f"{_num(1000 * calls['history'], 1)} ms with the history, "
            f"{_num(1000 * calls['empty'], 1)} ms without (medians).",
            "",
        ]
    plans = history.get("query_plans", [])
    if plans:
        lines += [
            "The statements the three commands run (traced in-process on the same ledger), "
            "the time of each alone and SQLite's plan:",
            "",
        ]
        lines += _table(
            ["command", "statement", "s", "plan"],
            [
                [
                    p["command"],
                    "`" + p["sql"][:140] + ("…" if len(p["sql"]) > 140 else "") + "`",
                    _num(p["seconds"], 3),
                    "; ".join(p["plan"]),
                ]
                for p in plans
            ],
            "llrl",
        )
    if history.get("problems"):
        lines += ["Problems:", ""] + [f"- {p}" for p in history["problems"]] + [""]
    for note in history.get("notes", []):
        lines += [f"Note: {note}.", ""]
    lines += ["Commands:", "", "```"]
    lines += [f"{k}: {v}" for k, v in history["commands"].items()] + ["```", ""]
    size = f"{history['runs']:,} runs / {history['attempts']:,} attempts"
    for name, goal, limit in (
        ("runs", "≤ 0.5 s", 0.5),
        ("show", "≤ 0.5 s", 0.5),
        ("health", "≤ 1 s", 1.0),
    ):
        wall = measured.get(name, {}).get("wall", {}).get("median")
        targets.append(
            Target(
                f"{size}: {labels[name]}",
                goal,
                f"{_num(wall, 2)} s",
                None if wall is None else wall <= limit,
            )
        )
    with_history = start["history"]["to_first_item_fetch"]
    without = start["empty"]["to_first_item_fetch"]
    a, b = with_history.get("median"), without.get("median")
    if a is None or b is None:
        targets.append(Target(f"{size}: run start-up vs no history", "–", "not measured", None))
    else:
        # noise: the spread of the runs without history, at least 0.1 s
        noise = max(0.1, (without.get("max") or b) - (without.get("min") or b))
        targets.append(
            Target(
                f"{size}: run → first item fetch, vs no history",
                "not slower beyond noise (max(0.1 s, spread without))",
                f"{_num(a, 2)} s vs {_num(b, 2)} s ({a - b:+.2f} s, noise {_num(noise, 2)} s)",
                a - b <= noise,
            )
        )
    return lines


def publish_section(publish: dict[str, Any], targets: list[Target]) -> list[str]:
    lines = ["## 10. Publishing", ""]
    lines += [
        f"`scrapeline publish` of `{publish['pipeline']}` (one table, {publish['columns']} "
        "columns declared with a schema: ints, nullable ints, a float, a bool, strs, a date "
        "and a datetime with an offset) from a ledger filled straight with SQL, as a whole "
        f"process through the real CLI, {publish['rounds']} rounds per size; the output, "
        "the manifest's row count and checksum and the Parquet file (read back by pyarrow) "
        "checked each time.",
        "",
        "| rows | wall s | CPU s | peak RSS MB | rows/s | ledger MB | Parquet MB |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in publish["per_size"].values():
        lines.append(
            f"| {size['rows']:,} | {_spread(size['wall_s'], 2)} | {_spread(size['cpu_s'], 2)} "
            f"| {_spread(size['peak_rss_mb'])} | {_num(size['rows_per_s'])} "
            f"| {_num(size['ledger_mb'])} | {_num(size['parquet_mb'], 1)} |"
        )
    lines.append("")
    sizes = list(publish["per_size"].values())
    largest = sizes[-1]
    if largest["rows"] >= 1_000_000:
        targets.append(
            Target(
                what="publish 1,000,000 rows (10 columns) to Parquet",
                goal=f"≤ {publish['target_seconds_at_1m']:g} s",
                measured=f"{_num(largest['wall_s']['median'], 2)} s",
                met=publish.get("meets_time_target"),
            )
        )
    growth = publish.get("peak_rss_growth_largest_over_smallest")
    if growth is not None and len(sizes) > 1:
        targets.append(
            Target(
                what=f"publish peak RSS, {sizes[-1]['rows']:,} vs {sizes[0]['rows']:,} rows",
                goal="flat (≤ 1.25×)",
                measured=f"{growth:.2f}×",
                met=growth <= 1.25,
            )
        )
    for problem in publish.get("problems", [])[:5]:
        lines.append(f"- problem: {problem}")
    lines.append("")
    return lines


def reconcile_section(rec: dict[str, Any], targets: list[Target]) -> list[str]:
    lines = ["## 11. Reconciliation", ""]
    per = ", ".join(f"{n} {c:,}" for n, c in rec["source_records"].items())
    lines += [
        f"{rec['records']:,} source records ({per}) about {rec['people']:,} generated "
        f'prospects (seed {rec["seed"]}: accents, "Last, First", suffixes, initials, '
        "college aliases, missing fields, re-measured weights, namesakes, injury reports of "
        "unknown people), reconciled in-process by `scrapeline.quality.reconcile` with the "
        "declaration of `bench/reconcile.py` (identity `name`, tie-breakers college and "
        f"position, four authority rules, injuries required), {rec['rounds']} rounds, cold "
        f"caches. Then {rec['changed_records']:,} of the records changed "
        f"({100 * rec['change_share']:g} %: corrections and removals) through "
        "`Reconciler.update`.",
        "",
        "Check: "
        + (
            "the state after every update equals a full reconcile of the changed inputs, "
            "and every round gave the same outputs."
            if not rec.get("problems")
            else "**" + "; ".join(rec["problems"]) + "**"
        ),
        "",
    ]
    update = rec["update"]
    lines += _table(
        ["measured", "value"],
        [
            ["full reconcile, s", _spread(rec["full_s"], 2)],
            ["full reconcile, CPU s", _spread(rec.get("full_cpu_s"), 2)],
            ["source records/s", _num(rec["records_per_s"])],
            ["entities", _num(rec["entities"])],
            ["conflicts", _num(rec["conflicts"])],
            [
                "unresolved",
                f"{rec['unresolved']:,} ("
                + ", ".join(f"{k} {v:,}" for k, v in rec["unresolved_by_reason"].items())
                + ")",
            ],
            ["update after the change, s", _spread(rec["update_s"], 3)],
            ["update after the change, CPU s", _spread(rec.get("update_cpu_s"), 3)],
            [
                "update's output",
                f"{update['entities_upserted']:,} upserted, {update['entities_removed']:,} "
                f"removed, {update['unresolved']:,} unresolved, {update['settled']:,} settled",
            ],
            [
                f"full, fuzzy on (threshold {rec['fuzzy']['threshold']}), s",
                _num(rec["fuzzy"]["full_s"], 2),
            ],
        ],
    )
    size = f"{rec['records']:,} records"
    full, upd = rec["full_s"]["median"], rec["update_s"]["median"]
    targets.append(
        Target(
            f"{size}: full reconcile", "≤ 10 s", f"{full:.2f} s", full <= rec["targets"]["full_s"]
        )
    )
    targets.append(
        Target(
            f"{size}: update after {100 * rec['change_share']:g} % changed",
            "≤ 1 s",
            f"{upd:.3f} s",
            upd <= rec["targets"]["update_s"],
        )
    )
    return lines


def rules_section(rules: dict[str, Any], targets: list[Target]) -> list[str]:
    rows = rules["rows"]
    lines = ["## 12. Table rules", ""]
    lines += [
        f"The usual table rules ({', '.join(f'`{r}`' for r in rules['rules'])}) over a "
        f"`matches` table of {rows:,} rows and {rules['columns']} columns and a `teams` table "
        f"of {rules['teams']:,} rows, Parquet files read through DuckDB views as a snapshot "
        f"is ({', '.join(f'{k} {v} MB' for k, v in rules['parquet_mb'].items())}); "
        "`scrapeline.quality.rules.evaluate` on a fresh connection each time, "
        f"{rules['rounds']} rounds. *Dirty*: the same table with one row in "
        f"{rules['broken_every']:,} broken for each row rule, so each counts and samples "
        "its failing rows.",
        "",
        "Results check: "
        + (
            "the clean table passed every rule; the dirty one failed each row rule with "
            "exactly the rows broken, each with a sample of five."
            if rules.get("all_ok")
            else "**wrong results**: " + "; ".join(rules.get("problems", [])[:3])
        ),
        "",
    ]
    lines += _table(
        ["evaluated", "wall s"],
        [
            ["all rules, clean table", _spread(rules["clean_s"], 2)],
            ["all rules, dirty table", _spread(rules["dirty_s"], 2)],
            *[[f"`{k}` alone", _spread(v, 3)] for k, v in rules["per_rule_s"].items()],
        ],
    )
    wall = rules["clean_s"].get("median")
    targets.append(
        Target(
            f"table rules: {len(rules['rules'])} rules over {rows:,} rows",
            f"≤ {rules['target_s']:g} s",
            f"{_num(wall, 2)} s",
            None if wall is None else wall <= rules["target_s"] and bool(rules.get("all_ok")),
        )
    )
    return lines


def validation_section(validation: dict[str, Any], targets: list[Target]) -> list[str]:
    measured = validation["us_per_record"]
    targets.append(
        Target(
            what=f"validate a record ({validation['columns']} columns, a check) on the way in",
            goal=f"≤ {validation['target_us_per_record']:g} µs",
            measured=f"{measured:.2f} µs",
            met=validation.get("meets_target"),
        )
    )
    return [
        "## 13. Validation on the way in",
        "",
        f"`Pipeline.check_record` on {validation['records']:,} records of a "
        f"{validation['columns']}-column schema with one `warn` check (best of "
        f"{validation['rounds']} rounds, CPU time): **{measured:.2f} µs a record**; the same "
        f"records through a table without a schema: "
        f"{validation['us_per_record_without_schema']:.2f} µs.",
        "",
    ]


SECTIONS: list[tuple[str, Callable[[dict[str, Any], list[Target]], list[str]]]] = [
    ("crawl", crawl_section),
    ("engine", engine_section),
    ("ledger", ledger_section),
    ("rate", rate_section),
    ("resume", resume_section),
    ("tree", tree_section),
    ("limited", limited_section),
    ("refresh", refresh_section),
    ("history", history_section),
    ("publish", publish_section),
    ("reconcile", reconcile_section),
    ("rules", rules_section),
    ("validation", validation_section),
]


def render(results: dict[str, dict[str, Any]], smoke: bool = False) -> str:
    targets: list[Target] = []
    body: list[str] = []
    for name, section in SECTIONS:
        if name in results:
            body += section(results[name], targets)
        else:
            body += [f"## {name}", "", "Not run yet: `python -m bench " + name + "`.", ""]
    any_result = next(iter(results.values()), {})
    machine = any_result.get("machine", {})
    dates = sorted(r.get("date", "") for r in results.values())
    crawl = results.get("crawl", {})
    nginx = crawl.get("server", {}).get("nginx")
    scrapy = next((v for k, v in crawl.get("programs", {}).items() if k == "scrapy"), None)
    head = [
        "# Benchmark results" + (" (smoke: tiny sizes, timings meaningless)" if smoke else ""),
        "",
        "Written by `python -m bench report` from the results of `make bench` "
        "(`python -m bench all`); do not edit by hand. How each benchmark works: "
        "bench/README.md.",
        "",
        f"- Date: {dates[0][:10] if dates else '–'}"
        + (f" to {dates[-1][:10]}" if dates and dates[-1][:10] != dates[0][:10] else ""),
        f"- Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
        f"{machine.get('memory_gb', '?')} GB, {machine.get('os', '?')}, "
        f"kernel {machine.get('kernel', '?')}; shared and noisy, hence rounds and medians",
        f"- scrapeline {machine.get('scrapeline', '?')} (the commit of each run is below); "
        f"Python {machine.get('python', '?')}, SQLite {machine.get('sqlite', '?')}, "
        f"aiohttp {machine.get('aiohttp', '?')}, selectolax {machine.get('selectolax', '?')}"
        + (f", {scrapy}" if scrapy else "")
        + (f", nginx {nginx}" if nginx else ""),
        "- Reproduce: `make bench` (all of them and this page, about 36 minutes); one "
        "benchmark: `make bench ARGS=crawl` (or engine, ledger, rate, resume, tree, limited, "
        "refresh, history, publish, reconcile, rules), then "
        "`make bench ARGS=report`.",
        "",
    ]
    runs_rows = [
        [
            name,
            r.get("date", "–").replace("T", " ").replace("+00:00", " UTC"),
            r.get("machine", {}).get("commit", "?"),
            _num(r.get("load_average_at_end"), 1),
        ]
        for name, r in results.items()
    ]
    head += ["Runs (the load average shows how busy the shared machine was):", ""]
    head += _table(["benchmark", "finished", "scrapeline commit", "load average"], runs_rows)
    head += [
        "## Targets",
        "",
    ]
    verdict = {True: "met", False: "**missed**", None: "not measured"}
    head += _table(
        ["target", "goal", "measured", ""],
        [[t.what, t.goal, t.measured, verdict[t.met]] for t in targets],
        "lrrc",
    )
    return "\n".join(head + body).rstrip() + "\n"


def write(mode: Mode) -> Path:
    results = load_results(mode.results)
    text = render(results, smoke=mode.smoke)
    path = (mode.results / "RESULTS.md") if mode.smoke else (BENCH / "RESULTS.md")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
