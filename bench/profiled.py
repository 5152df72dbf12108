"""Run the scrapeline CLI in-process under cProfile, the ledger writer thread included.

cProfile sees one thread; the runner does its ledger work in a writer thread
(a one-thread executor). This starts a second profiler inside that thread, so
both halves of a run are profiled:

    python bench/profiled.py OUT_DIR run scrapeline.demo.football --base-url ...

writes ``OUT_DIR/loop.prof`` and ``OUT_DIR/writer.prof`` (pstats files) and
``OUT_DIR/profile.json`` (the top functions of each, for the report).
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

TOP = 25


def top_functions(stats: pstats.Stats, sort: str, limit: int = TOP) -> list[dict[str, Any]]:
    """The ``limit`` costliest functions by ``sort`` ('tottime' or 'cumulative')."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in raw.items():
        rows.append(
            {
                "function": f"{_short(filename)}:{line}({name})",
                "calls": calls,
                "tottime": round(tottime, 4),
                "cumtime": round(cumtime, 4),
            }
        )
    key = "tottime" if sort == "tottime" else "cumtime"
    rows.sort(key=lambda r: r[key], reverse=True)
    return rows[:limit]


def _short(filename: str) -> str:
    """A path shortened to the package it belongs to (no machine paths in results)."""
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in filename:
            tail = filename.split(marker, 1)[1]
            return tail.split("/", 1)[1] if marker == "/lib/python3" and "/" in tail else tail
    return filename.rsplit("/", 1)[-1] if filename.startswith("/") else filename


def summarise(profile: cProfile.Profile, total_hint: float | None = None) -> dict[str, Any]:
    stream = io.StringIO()
    stats = pstats.Stats(profile, stream=stream)
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    return {
        "total_tottime": round(total, 3),
        "by_tottime": top_functions(stats, "tottime"),
        "by_cumtime": top_functions(stats, "cumulative"),
    }


def profile_writer_thread(writer: cProfile.Profile) -> None:
    """Make every runner's ledger executor start ``writer`` in its thread."""
    import scrapeline.runner.run as run_module

    class ProfiledExecutor(ThreadPoolExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["initializer"] = writer.enable
            super().__init__(*args, **kwargs)

    run_module.ThreadPoolExecutor = ProfiledExecutor  # type: ignore[misc]


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    loop, writer = cProfile.Profile(), cProfile.Profile()
    profile_writer_thread(writer)
    from scrapeline.cli.main import app

    code = 0
    started = time.perf_counter()
    loop.enable()
    try:
        app(argv[1:], prog_name="scrapeline")
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        loop.disable()
    wall = time.perf_counter() - started
    loop.dump_stats(out / "loop.prof")
    writer.dump_stats(out / "writer.prof")
    document = {
        "wall": round(wall, 3),
        "exit_code": code,
        "loop_thread": summarise(loop),
        "writer_thread": summarise(writer),
    }
    (out / "profile.json").write_text(json.dumps(document, indent=2) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
