"""Run the scrapeline CLI in-process under cProfile, the ledger writer thread included.

cProfile sees one thread; the ledger's work is done in a writer thread
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
import os
import pstats
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

TOP = 25


def top_functions(
    stats: pstats.Stats, sort: str, limit: int = TOP, only: str | None = None
) -> list[dict[str, Any]]:
    """The ``limit`` costliest functions by ``sort`` ('tottime' or 'cumulative').

    ``only``: functions whose file path contains it (e.g. ``/src/scrapeline/``).
    """
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in raw.items():
        if only is not None and only not in filename:
            continue
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


_BUILTIN_GROUPS = (
    ("'poll' of 'select.epoll'", "waiting: event loop idle (epoll)"),
    ("'get' of '_queue.SimpleQueue'", "waiting: writer thread idle (queue)"),
    ("acquire", "waiting: locks"),
    ("sqlite3.", "sqlite3 (C)"),
    ("socket", "sockets (C)"),
    ("selectolax", "selectolax (C)"),
    ("orjson", "orjson (C)"),
)


def component(filename: str, name: str) -> str:
    """Which part of the program a profiled function belongs to, for a breakdown."""
    if filename == "~":
        for mark, group in _BUILTIN_GROUPS:
            if mark in name:
                return group
        return "other built-ins (C)"
    if filename.startswith("<frozen"):
        return "imports"
    if filename.startswith("<"):
        return "generated code (dataclass __init__ ...)"
    if "/src/scrapeline/" in filename:
        parts = filename.split("/src/scrapeline/", 1)[1].split("/")
        return "scrapeline." + (parts[0] if len(parts) > 1 else parts[0].removesuffix(".py"))
    if "/site-packages/" in filename:
        return filename.split("/site-packages/", 1)[1].split("/")[0].removesuffix(".py")
    if "/lib/python3" in filename:
        tail = filename.split("/lib/python3", 1)[1].split("/")
        return "stdlib " + (tail[1].removesuffix(".py") if len(tail) > 1 else "?")
    return filename.rsplit("/", 1)[-1]


def by_component(stats: pstats.Stats) -> list[dict[str, Any]]:
    """Own time summed per component, costliest first."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    totals: dict[str, float] = {}
    for (filename, _line, name), (_cc, _calls, tottime, _cumtime, _callers) in raw.items():
        group = component(filename, name)
        totals[group] = totals.get(group, 0.0) + tottime
    ordered = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)
    return [{"component": k, "tottime": round(v, 4)} for k, v in ordered]


def summarise(profile: cProfile.Profile) -> dict[str, Any]:
    stats = pstats.Stats(profile, stream=io.StringIO())
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    return {
        "total_tottime": round(total, 3),
        "by_component": by_component(stats),
        "by_tottime": top_functions(stats, "tottime"),
        "by_cumtime": top_functions(stats, "cumulative"),
        "scrapeline_by_cumtime": top_functions(
            stats, "cumulative", limit=40, only="/src/scrapeline/"
        ),
    }


def profile_writer_thread(writer: cProfile.Profile) -> None:
    """Make every ledger writer thread (:class:`~scrapeline.ledger.aio.AsyncLedger`) start
    ``writer`` in its thread."""
    import importlib

    try:  # the executor's home; before the async ledger port it was the runner's
        aio_module = importlib.import_module("scrapeline.ledger.aio")
    except ModuleNotFoundError:
        aio_module = importlib.import_module("scrapeline.runner.run")

    class ProfiledExecutor(ThreadPoolExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["initializer"] = writer.enable
            super().__init__(*args, **kwargs)

    setattr(aio_module, "ThreadPoolExecutor", ProfiledExecutor)  # noqa: B010


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    loop, writer = cProfile.Profile(), cProfile.Profile()
    profile_writer_thread(writer)
    # asyncio's own loop, whose idle time cProfile sees (select.epoll.poll); uvloop
    # waits inside C code that the profile would charge to the running coroutine
    os.environ["SCRAPELINE_LOOP"] = "asyncio"
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
