"""Benchmark 2: engine overhead, no network. Where does a run's time go per task?

A pipeline of two no-op stages (``second`` after ``first``) over N items, driven
by the real Runner, the real SQLite ledger (a file, WAL, group commit) and the
real FetchClient over an in-process FakeFetcher. One *transition* is one
(item, stage) task taken from pending to done. Two variants alternate:

- ``noop``: the stages return at once (the engine alone: claim, run, commit);
- ``fetch``: each stage also awaits ``ctx.fetch`` of a fake page (the fetch
  client's allow-list, breaker, limiter and status steps included).

Discovery (1,000 items a listing page, keys made up, the listing "fetched" from
the fake) is a run of its own (no stage selected), then a second run on the same
ledger works through the stages alone (no discovery): the rate is that second
run's, on the event loop ``scrapeline run`` uses. Each run is a fresh child process
(``python -m bench.engine --child``), measured by the kernel. One more run under
cProfile, loop thread and ledger writer thread apart, shows where the time goes.
Console and log-file reporters are not attached here (the crawl has them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bench.common import PYTHON, Mode, Result, rel, run_measured, say, spread, tail

PAGE = 1000
VARIANTS = ("noop", "fetch")
BASE_URL = "http://engine.bench"


def build_pipeline(items: int, variant: str, workers: int) -> Any:
    from scrapeline import Context, Item, Pipeline, offsets

    pipe = Pipeline("engine", base_url=BASE_URL, workers=workers, concurrency=workers)

    @pipe.discover("thing", pages=offsets(step=PAGE))
    async def things(ctx: Context, offset: int) -> AsyncIterator[Item]:
        await ctx.fetch(f"/list?offset={offset}")
        for key in range(offset, min(offset + PAGE, items)):
            yield Item(key=key)

    if variant == "fetch":

        @pipe.stage("first", on="thing")
        async def first(ctx: Context, item: Item) -> None:
            await ctx.fetch(f"/things/{item.key}")

        @pipe.stage("second", on="thing", after="first")
        async def second(ctx: Context, item: Item) -> None:
            await ctx.fetch(f"/things/{item.key}/more")

    else:

        @pipe.stage("first", on="thing")
        async def first_noop(ctx: Context, item: Item) -> None:
            return None

        @pipe.stage("second", on="thing", after="first")
        async def second_noop(ctx: Context, item: Item) -> None:
            return None

    return pipe


async def _drive(items: int, variant: str, workers: int, data: Path) -> dict[str, Any]:
    from scrapeline import events as ev
    from scrapeline.fetch.client import FetchClient
    from scrapeline.fetch.limits import Politeness
    from scrapeline.fetch.retry import RetryPolicy
    from scrapeline.fetch.transport import FakeFetcher
    from scrapeline.ledger.aio import AsyncLedger
    from scrapeline.ledger.sqlite import SqliteLedger
    from scrapeline.runner.run import Runner, RunOptions

    page = (200, {"Content-Type": "text/html; charset=utf-8"}, b"<html><p>ok</p></html>")
    pipe = build_pipeline(items, variant, workers)
    # The pipeline's politeness and retries over the fake transport (no robots.txt
    # request, so that every run of the benchmark makes the same calls).
    client = FetchClient(
        base_url=pipe.base_url,
        hosts=pipe.hosts,
        politeness=Politeness(rate=pipe.rate, delay=pipe.delay, concurrency=pipe.concurrency),
        retry=RetryPolicy(max_attempts=pipe.max_attempts),
        fetcher=FakeFetcher(lambda request: page, keep_requests=False),
    )
    data.mkdir(parents=True, exist_ok=True)
    ledger = SqliteLedger(data / "ledger.db")
    queue = AsyncLedger(ledger)
    marks: dict[str, float] = {}
    done = 0

    def timing(event: Any) -> None:
        nonlocal done
        if isinstance(event, ev.TaskDone):
            done += 1
        elif isinstance(event, ev.RunStarted):
            marks.setdefault("started", time.perf_counter())
        elif isinstance(event, ev.RunFinished):
            marks["finished"] = time.perf_counter()

    # Two runs on one ledger: the first only walks the listing (no stage is run),
    # the second only runs the stages, so that the rate is the stages' alone.
    started = time.perf_counter()
    try:
        ledger.prepare(pipe.graph())

        async def begin(options: Any) -> int:
            # as the composition root does: record the run, retry what failed
            run_id = await queue.begin_run(pipe.name, options.public(), time.time(), 0)
            await queue.reset_failed()
            return int(run_id)

        listing = RunOptions(workers=workers, stages=())
        discover = Runner(pipe, queue, client, listing, run_id=await begin(listing))
        await discover.run()
        discovered = time.perf_counter()
        cpu1 = time.process_time()
        staged = RunOptions(workers=workers, discover=False)
        runner = Runner(pipe, queue, client, staged, run_id=await begin(staged), emit=timing)
        outcome = await runner.run()
    finally:
        queue.close()
        await client.close()
        ledger.close()
    ended = time.perf_counter()
    stage_phase = marks["finished"] - marks["started"]
    return {
        "exit_code": outcome.exit_code,
        "transitions": done,
        "wall": ended - started,
        "discovery_s": discovered - started,
        "stage_phase_s": stage_phase,
        "process_cpu": time.process_time() - cpu1,
        "transitions_per_s": done / stage_phase if stage_phase else 0.0,
        "transitions_per_s_whole_run": done / (ended - started),
    }


def _event_loop_run(main: Any) -> Any:
    """The loop ``scrapeline run`` uses (uvloop where installed), so the engine is
    measured as users get it; asyncio's own for commits from before that choice."""
    try:
        from scrapeline.runner.loop import run
    except ImportError:
        return asyncio.run(main)
    return run(main)


def child(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--variant", choices=VARIANTS, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args(argv)
    shutil.rmtree(args.data, ignore_errors=True)
    if args.profile is None:
        result = _event_loop_run(_drive(args.items, args.variant, args.workers, args.data))
    else:
        import cProfile

        from bench.profiled import profile_writer_thread, summarise

        loop, writer = cProfile.Profile(), cProfile.Profile()
        profile_writer_thread(writer)
        loop.enable()
        # asyncio's own loop, so that the profile sees its idle time (see profiled.py)
        result = asyncio.run(_drive(args.items, args.variant, args.workers, args.data))
        loop.disable()
        args.profile.mkdir(parents=True, exist_ok=True)
        loop.dump_stats(args.profile / "loop.prof")
        writer.dump_stats(args.profile / "writer.prof")
        result["profile"] = {"loop_thread": summarise(loop), "writer_thread": summarise(writer)}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["exit_code"] == 0 and result["transitions"] == 2 * args.items else 1


def _child_argv(items: int, variant: str, workers: int, scratch: Path) -> list[str]:
    return [
        PYTHON,
        "-m",
        "bench.engine",
        "--child",
        "--items",
        str(items),
        "--variant",
        variant,
        "--workers",
        str(workers),
        "--data",
        str(scratch / "data"),
        "--out",
        str(scratch / "result.json"),
    ]


def run(mode: Mode, *, items: int = 100_000, rounds: int = 3, workers: int = 8) -> Result:
    say(f"engine: {items:,} items x 2 no-op stages, {rounds} rounds, {workers} workers")
    runs: list[dict[str, Any]] = []
    for round_no in range(1, rounds + 1):
        for variant in VARIANTS:
            scratch = mode.scratch(f"engine/{variant}")
            argv = _child_argv(items, variant, workers, scratch)
            measured = run_measured(argv, out=scratch / "output.txt")
            if measured.returncode != 0:
                raise RuntimeError(f"engine run failed: {tail(scratch / 'output.txt')}")
            inner = json.loads((scratch / "result.json").read_text())
            record = {
                "round": round_no,
                "variant": variant,
                **inner,
                "process_wall": measured.wall,
                "cpu": measured.cpu,
                "max_rss_mb": measured.max_rss_mb,
                "us_per_transition": 1e6 / inner["transitions_per_s"],
                "cpu_us_per_transition": 1e6 * inner["process_cpu"] / inner["transitions"],
            }
            runs.append(record)
            say(
                f"    round {round_no} {variant:<6} {inner['transitions_per_s']:9.0f} transitions/s"
                f"  ({record['us_per_transition']:.1f} µs each; discovery "
                f"{inner['discovery_s']:.2f} s, stages {inner['stage_phase_s']:.2f} s, "
                f"rss {measured.max_rss_mb:.0f} MB)"
            )
    summary = {
        variant: {
            key: spread([r[key] for r in runs if r["variant"] == variant])
            for key in (
                "transitions_per_s",
                "us_per_transition",
                "cpu_us_per_transition",
                "transitions_per_s_whole_run",
                "discovery_s",
                "stage_phase_s",
                "max_rss_mb",
            )
        }
        for variant in VARIANTS
    }
    profiles: dict[str, Any] = {}
    if not mode.smoke:
        say("  profiling one run of each variant (cProfile, loop and writer threads) ...")
        for variant in VARIANTS:
            scratch = mode.scratch(f"engine/profile-{variant}")
            argv = [*_child_argv(items, variant, workers, scratch), "--profile", str(scratch)]
            measured = run_measured(argv, out=scratch / "output.txt")
            if measured.returncode == 0:
                inner = json.loads((scratch / "result.json").read_text())
                profiles[variant] = {
                    "wall_profiled": inner["wall"],
                    "transitions_per_s_profiled": inner["transitions_per_s"],
                    **inner["profile"],
                }
            else:
                say(f"    profiling failed: {tail(scratch / 'output.txt', 5)}")
    return Result(
        name="engine",
        mode=mode,
        data={
            "items": items,
            "stages": 2,
            "transitions_per_run": 2 * items,
            "workers": workers,
            "rounds": rounds,
            "command": " ".join(
                rel(a) if "/" in a else a
                for a in _child_argv(items, "VARIANT", workers, Path("RUN"))
            ),
            "runs": runs,
            "summary": summary,
            "profile": profiles,
        },
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.exit(child(sys.argv[2:]))
    sys.exit("usage: python -m bench engine (this module's --child is for the harness)")
