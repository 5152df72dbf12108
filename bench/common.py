"""What every benchmark shares: paths, child-process measurement, statistics, results.

Results are JSON files in ``bench/results/``, committed with RESULTS.md so that one
benchmark run again leaves the others' figures in place (``bench/.work/smoke/`` for
the smoke run); ``python -m bench report`` turns them into ``bench/RESULTS.md``.
Paths written into results are relative to the repository, never absolute.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work"
PYTHON = sys.executable
PIPELINE = "scrapeline.demo.football"
SOURCE_ENV = "BENCH_SCRAPELINE_AT"
"""Set (to a commit) when ``--at REV`` runs scrapeline from an export of that commit."""


@dataclass(frozen=True, kw_only=True)
class Mode:
    """Sizes and where results go: the full benchmark or the tiny smoke."""

    smoke: bool = False

    @property
    def results(self) -> Path:
        return WORK / "smoke" if self.smoke else BENCH / "results"

    def scratch(self, name: str) -> Path:
        """A fresh scratch directory for one benchmark."""
        path = WORK / ("smoke-tmp" if self.smoke else "tmp") / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path


def load_average() -> float | None:
    """The 1-minute load average (other work on this shared machine), or None."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def say(message: str) -> None:
    print(message, flush=True)


def rel(path: Path | str) -> str:
    """``path`` relative to the repository, or its bare name when outside it.

    For anything written to results: no absolute machine paths there."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(REPO))
    except ValueError:
        return Path(path).name


# -- statistics -------------------------------------------------------------------------


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median, min, max and every value (rounded for reading)."""
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0, "values": []}
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
        "values": list(values),
    }


def max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    """The largest number of ``times`` inside any half-open window ``[t, t + window)``."""
    ordered = sorted(times)
    best = start = 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


# -- child processes ------------------------------------------------------------------


@dataclass(kw_only=True)
class Measured:
    """One child process, measured by the kernel: wall, CPU and peak RSS."""

    wall: float
    cpu: float
    user: float
    system: float
    max_rss_mb: float
    returncode: int
    started: float = 0.0
    """``time.monotonic()`` just before the process was started."""


class Child:
    """A child process, measured by the kernel through ``bench/spawn.py``.

    The shim reports the command's own CPU, peak RSS and wall time (see its
    docstring for why a process started straight from the harness cannot).
    ``send(SIGKILL)`` kills the command itself, not only the shim.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        out: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        fd, name = tempfile.mkstemp(prefix="spawn-", suffix=".json")
        os.close(fd)
        self._result = Path(name)
        sink = open(out, "wb") if out else subprocess.DEVNULL  # noqa: SIM115
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                [PYTHON, "-S", str(BENCH / "spawn.py"), name, "--", *argv],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={**os.environ, "COLUMNS": "120", **(env or {})},
                cwd=REPO,
            )
        finally:
            if out:
                sink.close()  # type: ignore[union-attr]
        self.measured: Measured | None = None

    def _collect(self) -> Measured:
        try:
            info = json.loads(self._result.read_text())
        except (OSError, ValueError):
            info = {}
        finally:
            self._result.unlink(missing_ok=True)
        code = self.proc.returncode
        self.measured = Measured(
            wall=float(info.get("wall", 0.0)),
            cpu=float(info.get("user", 0.0)) + float(info.get("system", 0.0)),
            user=float(info.get("user", 0.0)),
            system=float(info.get("system", 0.0)),
            max_rss_mb=float(info.get("max_rss_kb", 0)) / 1024,  # KiB on Linux
            returncode=int(info.get("exit_code", code if code is not None else -1)),
            started=float(info.get("started_monotonic", self.started)),
        )
        return self.measured

    def done(self) -> bool:
        if self.measured is not None:
            return True
        if self.proc.poll() is None:
            return False
        self._collect()
        return True

    def send(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1 if sig == signal.SIGKILL else sig)

    def wait(self, timeout: float = 1800) -> Measured:
        """Block until it exits (killed past ``timeout`` seconds); its measurement."""
        if self.measured is not None:
            return self.measured
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.send(signal.SIGKILL)
            self.proc.wait()
        except BaseException:
            self.send(signal.SIGKILL)
            raise
        return self._collect()


def run_measured(
    argv: Sequence[str],
    *,
    out: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 1800,
) -> Measured:
    """Run ``argv`` to the end and measure it; it is killed past ``timeout`` seconds."""
    return Child(argv, out=out, env=env).wait(timeout)


def scrapeline_cmd(*args: str) -> list[str]:
    return [PYTHON, "-m", "scrapeline", *args]


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


# -- the data the crawls scrape ---------------------------------------------------------


def load_matches(count: int, *, sample: bool = False) -> tuple[list[Any], str]:
    """The ``count`` newest matches of the full set (or of the packaged sample).

    ``sample`` (or no full set to be found) takes them from the packaged sample.
    Returns the matches, newest first, and a label naming where they came from.
    """
    from scrapeline.testing import find_full_dataset, load_full, load_sample

    full = None if sample else find_full_dataset()
    if full is not None:
        return list(load_full(full)[:count]), f"full openfootball set, {count:,} newest"
    packaged = load_sample()
    return list(packaged[:count]), f"packaged sample, {min(count, len(packaged)):,} newest"


def expected_records(matches: Iterable[Any]) -> dict[str, set[tuple[Any, ...]]]:
    """The rows every crawler must produce, as the bundled pipeline shapes them."""
    out: dict[str, set[tuple[Any, ...]]] = {"matches": set(), "halves": set()}
    for m in matches:
        ft = m.ft
        out["matches"].add(
            (
                m.id,
                m.date,
                m.time or None,
                m.competition,
                m.season,
                m.round or None,
                m.team1,
                m.team2,
                ft[0] if ft else None,
                ft[1] if ft else None,
            )
        )
        if m.halves is not None:
            for n, (g1, g2) in enumerate(m.halves, start=1):
                out["halves"].add((m.id, n, g1, g2))
    return out


MATCH_COLUMNS = (
    "match_id",
    "date",
    "time",
    "competition",
    "season",
    "round",
    "team1",
    "team2",
    "goals1",
    "goals2",
)
HALF_COLUMNS = ("match_id", "half", "goals1", "goals2")


def rows_from_jsonl(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Rows of a JSON-lines output with a ``table`` field (baseline and Scrapy)."""
    out: dict[str, list[tuple[Any, ...]]] = {"matches": [], "halves": []}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            table = row.pop("table")
            columns = MATCH_COLUMNS if table == "matches" else HALF_COLUMNS
            out[table].append(tuple(row.get(c) for c in columns))
    return out


def rows_from_ledger(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Rows of the ``matches`` and ``halves`` views of a scrapeline ledger.

    A view that does not exist (no row of that table was ever written) is empty."""
    if not db.exists():
        raise FileNotFoundError(f"no ledger at {rel(db)}")
    out: dict[str, list[tuple[Any, ...]]] = {}
    with sqlite3.connect(db) as conn:
        views = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        for table, columns in (("matches", MATCH_COLUMNS), ("halves", HALF_COLUMNS)):
            if table not in views:
                out[table] = []
                continue
            out[table] = conn.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
    return out


def fingerprint(rows: Mapping[str, Iterable[tuple[Any, ...]]]) -> str:
    digest = hashlib.sha256()
    for table in sorted(rows):
        for row in sorted(rows[table], key=repr):
            digest.update(repr((table, row)).encode())
    return digest.hexdigest()[:16]


def compare(
    got: Mapping[str, list[tuple[Any, ...]]], want: Mapping[str, set[tuple[Any, ...]]]
) -> list[str]:
    """What differs between a program's rows and the expected rows (empty: the same)."""
    problems: list[str] = []
    for table, expected in want.items():
        rows = got.get(table, [])
        unique = set(rows)
        if len(unique) != len(rows):
            problems.append(f"{table}: {len(rows) - len(unique)} duplicated rows")
        missing, extra = expected - unique, unique - expected
        if missing:
            problems.append(f"{table}: {len(missing)} missing, e.g. {sorted(missing)[:2]}")
        if extra:
            problems.append(f"{table}: {len(extra)} unexpected, e.g. {sorted(extra)[:2]}")
    return problems


# -- results and machine info ---------------------------------------------------------


def _cmd_output(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout or done.stderr).strip()


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    exported = os.environ.get(SOURCE_ENV)
    if exported:
        commit, dirty = f"{exported} (exported clean with --at)", ""
    else:
        commit = _cmd_output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
        dirty = _cmd_output(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "scrapeline": _version("scrapeline"),
        "aiohttp": _version("aiohttp"),
        "selectolax": _version("selectolax"),
        "commit": commit + (" + uncommitted changes in src/" if dirty else ""),
    }


@dataclass(kw_only=True)
class Result:
    """One benchmark's result file."""

    name: str
    mode: Mode
    data: dict[str, Any] = field(default_factory=dict)

    def save(self) -> Path:
        self.mode.results.mkdir(parents=True, exist_ok=True)
        path = self.mode.results / f"{self.name}.json"
        document = {
            "benchmark": self.name,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "smoke": self.mode.smoke,
            "machine": machine(),
            "load_average_at_end": load_average(),
            **self.data,
        }
        path.write_text(json.dumps(document, indent=2, default=str) + "\n")
        say(f"  wrote {rel(path)}")
        return path


def load_results(directory: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.json")):
        document = json.loads(path.read_text())
        out[document.get("benchmark", path.stem)] = document
    return out
