"""``python -m bench COMMAND``: scrapeline's benchmarks. See bench/README.md.

Commands: ``all`` (every benchmark, then ``report``), ``crawl``, ``engine``,
``ledger``, ``rate``, ``resume``, ``tree``, ``limited``, ``refresh``, ``history``,
``publish``, ``reconcile``, ``rules``, ``validation``, ``smoke`` (all of them at tiny
sizes, a few seconds, no nginx or Scrapy: checks the harness works) and
``report`` (writes bench/RESULTS.md from the results in bench/results/).
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import time
import traceback
from collections.abc import Callable
from typing import Any

from bench.common import REPO, SOURCE_ENV, WORK, Mode, Result, say

FULL = Mode(smoke=False)
SMOKE = Mode(smoke=True)


def _crawl(args: argparse.Namespace, mode: Mode) -> Result:
    from bench import crawl

    if mode.smoke:
        return crawl.run(mode, matches_count=150, rounds=1, concurrency=4, with_scrapy=False)
    return crawl.run(
        mode,
        matches_count=args.matches,
        rounds=args.rounds or 3,
        concurrency=args.concurrency,
        with_scrapy=not args.no_scrapy,
        with_profile=not args.no_profile,
    )


def _engine(args: argparse.Namespace, mode: Mode) -> Result:
    from bench import engine

    if mode.smoke:
        return engine.run(mode, items=1_000, rounds=1, workers=4)
    return engine.run(mode, items=args.items, rounds=args.rounds or 3, workers=args.concurrency)


def _ledger(args: argparse.Namespace, mode: Mode) -> Result:
    from bench import ledger_scale

    if mode.smoke:
        return ledger_scale.run(mode, sizes=(1_000,), reps=1, work_after=0.2)
    sizes = tuple(int(float(s)) for s in args.sizes.split(","))
    return ledger_scale.run(mode, sizes=sizes, reps=args.rounds or 3)


def _rate(args: argparse.Namespace, mode: Mode) -> Result:
    from bench import rate

    if mode.smoke:
        return rate.run(mode, rates=(50,), rounds=1, seconds=0.5)
    return rate.run(mode, rounds=args.rounds or 2)


def _limited(args: argparse.Namespace, mode: Mode) -> Result:
    from bench import limited

    if mode.smoke:
        return limited.run(mode, rates=(20,), rounds=1, seconds=1.5, fault_seconds=1.0)
    return limited.run(mode, rounds=args.rounds or 2)


def _resume(args: argparse.Namespace, mode: Mode) -> Result:
    from bench import resume

    if mode.smoke:
        return resume.run(mode, matches_count=60, kills=2, min_delay=0.6, max_delay=0.9)
    return resume.run(mode, kills=args.kills, seed=args.seed)


def _tree(args: argparse.Namespace, mode: Mode) -> Result:
    from bench import tree

    if mode.smoke:
        return tree.run(mode, events_count=150, rounds=1, concurrency=4)
    return tree.run(
        mode, events_count=args.events, rounds=args.rounds or 3, concurrency=args.concurrency
    )


def _refresh(args: argparse.Namespace, mode: Mode) -> Result:
    from bench import refresh

    if mode.smoke:
        return refresh.run(mode, total=2_000, fresh=100, rounds=1, concurrency=4)
    return refresh.run(
        mode,
        rounds=args.rounds or 3,
        concurrency=args.concurrency,
        with_profile=not args.no_profile,
    )


def _history(args: argparse.Namespace, mode: Mode) -> Result:
    from bench import history

    if mode.smoke:
        return history.run(mode, shape=history.SMOKE, rounds=1)
    return history.run(mode, rounds=args.rounds or 3)


def _validation(args: argparse.Namespace, mode: Mode) -> Result:
    from bench import validation

    if mode.smoke:
        return validation.run(mode, records=2_000, rounds=1)
    return validation.run(mode, rounds=args.rounds or 5)


def _publish(args: argparse.Namespace, mode: Mode) -> Result:
    from bench import publish

    if mode.smoke:
        return publish.run(mode, sizes=publish.SMOKE_SIZES, rounds=1)
    return publish.run(mode, rounds=args.rounds or 3)


def _reconcile(args: argparse.Namespace, mode: Mode) -> Result:
    from bench import reconcile

    if mode.smoke:
        return reconcile.run(mode, people=1_200, rounds=1)
    return reconcile.run(mode, rounds=args.rounds or 3)


def _rules(args: argparse.Namespace, mode: Mode) -> Result:
    from bench import rules

    if mode.smoke:
        return rules.run(mode, rows=10_000, rounds=1)
    return rules.run(mode, rows=args.rows, rounds=args.rounds or 3)


BENCHMARKS: dict[str, Callable[[argparse.Namespace, Mode], Result]] = {
    "crawl": _crawl,
    "engine": _engine,
    "ledger": _ledger,
    "rate": _rate,
    "resume": _resume,
    "tree": _tree,
    "limited": _limited,
    "refresh": _refresh,
    "history": _history,
    "publish": _publish,
    "reconcile": _reconcile,
    "rules": _rules,
    "validation": _validation,
}


def _run_many(names: list[str], args: argparse.Namespace, mode: Mode) -> int:
    failed = []
    started = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        try:
            BENCHMARKS[name](args, mode).save()
        except Exception:
            traceback.print_exc()
            say(f"{name}: FAILED (see above); going on with the others")
            failed.append(name)
        say(f"{name}: {time.perf_counter() - t0:.0f} s\n")
    say(f"total: {time.perf_counter() - started:.0f} s")
    if failed:
        say(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


def _report(mode: Mode) -> int:
    from bench import report

    path = report.write(mode)
    say(f"wrote {path}")
    return 0


def _smoke_checks() -> int:
    """The smoke's own assertions: the harness produced sane, consistent results."""
    from bench.common import load_results

    results = load_results(SMOKE.results)
    problems: list[str] = []
    missing = set(BENCHMARKS) - set(results)
    if missing:
        problems.append(f"no result for {', '.join(sorted(missing))}")
    crawl: dict[str, Any] = results.get("crawl", {})
    if crawl and not crawl.get("same_rows_everywhere"):
        problems.append("crawl: the programs' rows differ from the expected rows")
    tree: dict[str, Any] = results.get("tree", {})
    if tree and not tree.get("same_rows_everywhere"):
        problems.append("tree: the programs' pages or rows differ from the tree's")
    refresh: dict[str, Any] = results.get("refresh", {})
    if refresh and not refresh.get("all_ok"):
        problems.append("refresh: a run was not all unchanged, or rewrote records")
    resume: dict[str, Any] = results.get("resume", {})
    if resume:
        for key in ("duplicate_fetches_of_done_items", "duplicated_records", "items_lost"):
            if resume.get(key) != 0:
                problems.append(f"resume: {key} = {resume.get(key)}")
        if resume.get("final_exit_code") != 0:
            problems.append(f"resume: last run exited {resume.get('final_exit_code')}")
    for problem in results.get("publish", {}).get("problems", [])[:3]:
        problems.append(f"publish: {problem}")
    history: dict[str, Any] = results.get("history", {})
    for problem in history.get("problems", [])[:3]:
        problems.append(f"history: {problem}")
    for problem in results.get("reconcile", {}).get("problems", [])[:3]:
        problems.append(f"reconcile: {problem}")
    ledger: dict[str, Any] = results.get("ledger", {})
    for size, info in ledger.get("per_size", {}).items():
        if info.get("problems"):
            problems.append(f"ledger {size}: {info['problems'][0]}")
    rules: dict[str, Any] = results.get("rules", {})
    for problem in rules.get("problems", [])[:3]:
        problems.append(f"rules: {problem}")
    rate: dict[str, Any] = results.get("rate", {})
    for run in rate.get("runs", []):
        if run.get("problems"):
            problems.append(f"rate {run['rate']}: {run['problems'][0]}")
    limited: dict[str, Any] = results.get("limited", {})
    for run in limited.get("limits", []):
        if run.get("problems"):
            problems.append(f"limited {run['rate']}: {run['problems'][0]}")
    for pair in limited.get("faults", []):
        for kind in ("clean", "faulty"):
            if pair[kind].get("problems"):
                problems.append(f"limited, {kind}: {pair[kind]['problems'][0]}")
    for problem in problems:
        say(f"smoke: {problem}")
    return 1 if problems else 0


def _reexec_at(rev: str, argv: list[str]) -> int:
    """Run this same command again with scrapeline's ``src/`` exported at ``rev``.

    Other people's unfinished edits in the working tree then do not leak into the
    numbers, and RESULTS.md names the exact commit measured.
    """
    done = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        say(f"--at {rev}: not a commit: {done.stderr.strip()}")
        return 2
    sha = done.stdout.strip()
    tree = WORK / "source" / sha[:12]
    if not (tree / "src" / "scrapeline" / "__init__.py").exists():
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", sha, "src"],
            capture_output=True,
            check=True,
        )
        tree.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tree, filter="data")
    say(f"measuring scrapeline at {sha[:12]} (exported to {tree.relative_to(REPO)})")
    env = {
        **os.environ,
        SOURCE_ENV: sha[:12],
        "PYTHONPATH": os.pathsep.join([str(tree / "src"), str(REPO)]),
    }
    return subprocess.run([sys.executable, "-m", "bench", *argv], env=env, cwd=REPO).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        default="all",
        choices=["all", *BENCHMARKS, "smoke", "report"],
        help="what to run (default: all)",
    )
    parser.add_argument("--rounds", type=int, help="rounds (repetitions) per benchmark")
    parser.add_argument("--matches", type=int, default=10_000, help="crawl: matches (10,000)")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="requests in flight / workers (8)"
    )
    parser.add_argument("--no-scrapy", action="store_true", help="crawl: leave Scrapy out")
    parser.add_argument("--no-profile", action="store_true", help="crawl: no profiled run")
    parser.add_argument("--items", type=int, default=100_000, help="engine: items (100,000)")
    parser.add_argument("--sizes", default="1e4,1e5,1e6", help="ledger: item counts (1e4,1e5,1e6)")
    parser.add_argument("--events", type=int, default=10_000, help="tree: events (10,000)")
    parser.add_argument("--kills", type=int, default=20, help="resume: SIGKILLs (20)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rules: rows (1,000,000)")
    parser.add_argument("--seed", type=int, default=20_250_101, help="resume: random seed")
    parser.add_argument(
        "--at",
        metavar="REV",
        help="measure scrapeline as committed at REV (e.g. HEAD), not the working tree",
    )
    args = parser.parse_args(argv)
    if args.at and not os.environ.get(SOURCE_ENV):
        return _reexec_at(args.at, sys.argv[1:] if argv is None else argv)

    if args.command == "report":
        return _report(FULL)
    if args.command == "smoke":
        say("smoke: every benchmark at a tiny size; no timings are judged\n")
        code = _run_many(list(BENCHMARKS), args, SMOKE)
        _report(SMOKE)
        return code or _smoke_checks()
    names = list(BENCHMARKS) if args.command == "all" else [args.command]
    code = _run_many(names, args, FULL)
    _report(FULL)
    return code


if __name__ == "__main__":
    sys.exit(main())
