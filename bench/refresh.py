"""Benchmark 7: the daily refresh. How fast does a run re-check the newest items?

A ledger of ``total`` things (``bench/pipelines/refresh_pipe.py``) where all but
the ``fresh`` newest are old (dated years ago) and done, one ``things`` record
each, filled through the ledger API (``SqliteLedger.add_items``, ``claim`` and
``complete``) and cached in ``.work/refresh/``. Its site lists every thing, 100
a page, newest first, and has a JSON page for each fresh one (dated yesterday):
static files served by nginx with an ETag and a Last-Modified.

Set-up, once per invocation (the archive keys responses by URL, port included,
so it is made against the nginx the rounds use): on a copy of the filled ledger
one real ``scrapeline run`` (archive on, the default) finds the ``fresh`` newest
on the listing's first pages, stops at the first page it already knows, and
fetches their pages, so the archive holds their validators. That data dir
(``ledger.db`` and ``archive/``) is the pristine copy.

Measured, per round, on a fresh copy of it: ``scrapeline run`` again. The
refresh window (7 days) re-opens the ``fresh`` tasks, the listing's first page
is all known (the walk stops), and every conditional re-fetch is answered
``304 Not Modified`` (nginx's access log says so), so every task is done as
unchanged: the run's attempts say ``fresh`` refreshed, all unchanged, and no
record row is rewritten (none carries the run's id; the table's rows are the
same, byte for byte). Items/s is ``fresh`` over the wall time the run stores in
its summary (run start to end, process start-up left out); the whole process's
wall time, CPU and peak RSS are reported beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH,
    PYTHON,
    WORK,
    Mode,
    Result,
    load_average,
    rel,
    run_measured,
    say,
    scrapeline_cmd,
    spread,
    tail,
)
from bench.crawl import ROBOTS

PIPE_FILE = BENCH / "pipelines" / "refresh_pipe.py"
STORE = WORK / "refresh"
PROFILE_DIR = WORK / "profile-refresh"
PAGE_SIZE = 100
BATCH = 20_000
OLDEST = date(2019, 1, 1)
THINGS = "/fresh/things/"
LISTING = "/fresh/listing/"
REFRESHED_LINE = re.compile(r"refreshed (\d+): (\d+) unchanged, (\d+) changed")


# -- the things, their site and the filled ledger ---------------------------------------


def thing(key: int, *, total: int, fresh: int, today: date) -> dict[str, Any]:
    """Thing ``key`` (1..total) as its page has it: the ``fresh`` highest keys are dated
    yesterday, the others a day per hundred keys from 2019 on.

    >>> thing(1, total=10, fresh=2, today=date(2025, 6, 2))["date"]
    '2019-01-01'
    >>> thing(9, total=10, fresh=2, today=date(2025, 6, 2))["date"]
    '2025-06-01'
    """
    if key > total - fresh:
        day = today - timedelta(days=1)
    else:
        day = OLDEST + timedelta(days=key // PAGE_SIZE)
    return {"key": key, "date": day.isoformat(), "title": f"thing {key}", "score": key % 97}


def listing_pages(total: int) -> int:
    """Pages of the listing of ``total`` things, 100 a page.

    >>> listing_pages(100), listing_pages(101)
    (1, 2)
    """
    return max(1, -(-total // PAGE_SIZE))


def render_site(total: int, fresh: int, today: date) -> Path:
    """The site's files under ``.work/site/refresh-TOTAL-FRESH`` (cached by content).

    ``fresh/listing/N.json`` lists every thing, newest (highest key) first, with
    ``hasNextPage``; ``fresh/things/K.json`` is the page of each fresh thing (the
    older ones' pages are never asked for)."""
    root = WORK / "site" / f"refresh-{total}-{fresh}"
    stamp = root / ".rendered"
    stamp_text = f"{total} {fresh} {today.isoformat()} {PAGE_SIZE}"
    if stamp.exists() and stamp.read_text() == stamp_text:
        return root
    say(f"  rendering the site: a listing of {total:,} things, {fresh:,} pages ...")
    shutil.rmtree(root, ignore_errors=True)
    (root / "fresh" / "listing").mkdir(parents=True)
    (root / "fresh" / "things").mkdir()
    newest_first = range(total, 0, -1)
    pages = listing_pages(total)
    for page in range(pages):
        keys = newest_first[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
        rows = []
        for k in keys:
            t = thing(k, total=total, fresh=fresh, today=today)
            rows.append({"key": k, "date": t["date"]})
        body = {"page": page, "things": rows, "hasNextPage": page + 1 < pages}
        (root / "fresh" / "listing" / f"{page}.json").write_text(json.dumps(body))
    for k in range(total - fresh + 1, total + 1):
        body = {"thing": thing(k, total=total, fresh=fresh, today=today)}
        (root / "fresh" / "things" / f"{k}.json").write_text(json.dumps(body))
    stamp.write_text(stamp_text)
    return root


def _fill_tag(total: int, fresh: int) -> str:
    """Changes when the ledger's code, the pipeline or this file does: the cached
    ledger is filled again then."""
    import scrapeline.ledger.schema as schema
    import scrapeline.ledger.sqlite as sqlite

    digest = hashlib.sha256(f"{total} {fresh}".encode())
    for path in (schema.__file__, sqlite.__file__, __file__, str(PIPE_FILE)):
        digest.update(Path(path or "").read_bytes())
    return digest.hexdigest()[:12]


def fill(total: int, fresh: int) -> Path:
    """A ledger with things ``1 .. total - fresh``, all done with one record each (cached).

    Filled through the ledger API as a run would leave it: items added in batches,
    their ``fetch`` tasks claimed and completed with the record the stage makes."""
    from bench.pipelines.refresh_pipe import thing_row
    from scrapeline import Record
    from scrapeline.ledger.base import Completion, NewItem, RecordRow, RunStatus
    from scrapeline.ledger.sqlite import SqliteLedger
    from scrapeline.loader import load_pipeline

    older = total - fresh
    STORE.mkdir(parents=True, exist_ok=True)
    path = STORE / f"older-{older}.db"
    stamp = STORE / f"older-{older}.stamp"
    tag = _fill_tag(total, fresh)
    if path.exists() and stamp.exists() and stamp.read_text() == tag:
        return path
    for old in STORE.glob(f"older-{older}.db*"):
        old.unlink()
    say(f"  filling a ledger with {older:,} older things, all done, through the ledger API ...")
    pipe = load_pipeline(str(PIPE_FILE))
    today = datetime.now(UTC).date()
    started = time.perf_counter()
    ledger = SqliteLedger(path)
    try:
        ledger.prepare(pipe.graph())
        ledger.adopt_tables({t.name: t.key for t in pipe.tables.values()})
        run_id = ledger.begin_run(pipe.name, {"filled_by": "bench"}, time.time(), 0)
        things = [thing(k, total=total, fresh=fresh, today=today) for k in range(1, older + 1)]
        for first in range(0, older, BATCH):
            batch = [
                NewItem(kind="thing", key=t["key"], date=t["date"])
                for t in things[first : first + BATCH]
            ]
            ledger.add_items(batch, run_id)
        owner, done = "bench-filler", 0
        while done < older:
            tasks = ledger.claim(owner, min(BATCH, older - done), time.time(), 3600.0)
            if not tasks:
                raise RuntimeError("the ledger had fewer pending tasks than expected")
            completions = []
            for task in tasks:
                pk, text = pipe.encode_record(
                    Record("things", thing_row(things[int(task.key) - 1]))
                )
                completions.append(
                    Completion(
                        task=task,
                        owner=owner,
                        records=[RecordRow(table="things", pk=pk, json=text)],
                        started=time.time(),
                        duration=0.001,
                    )
                )
            ledger.complete(completions, run_id, time.time())
            done += len(tasks)
        ledger.end_run(run_id, RunStatus.DONE, time.time(), {"done": done, "failed": 0})
    finally:
        ledger.close()
    stamp.write_text(tag)
    say(f"  filled in {time.perf_counter() - started:.1f} s, {path.stat().st_size / 1e6:.0f} MB")
    return path


# -- the sites: nginx, or (smoke) the files from a thread ---------------------------------


@dataclass(frozen=True, kw_only=True)
class Served:
    """One request a site answered: its status and target."""

    status: int
    target: str


class _NginxSite:
    def __init__(self, root: Path) -> None:
        from bench.sites import Nginx

        self.nginx = Nginx(root)
        self.url = ""

    def __enter__(self) -> _NginxSite:
        self.nginx.__enter__()
        self.url = self.nginx.url
        return self

    def __exit__(self, *exc: object) -> None:
        self.nginx.__exit__()

    def cpu_seconds(self) -> float:
        return self.nginx.cpu_seconds()

    def take(self) -> list[Served]:
        return [Served(status=h.status, target=h.target) for h in self.nginx.rotate()]


class _InThreadSite:
    """The smoke test's server: the files from aiohttp in a thread (no nginx).

    ``FileResponse`` sends an ETag and a Last-Modified and answers a conditional
    request with 304, as nginx does."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = ""
        self._served: list[Served] = []
        self._cm: Any = None

    def _app(self) -> Any:
        from aiohttp import web

        async def fresh(request: web.Request) -> web.StreamResponse:
            file = self.root / (request.path.lstrip("/") + ".json")
            if ".." in request.path or not file.is_file():
                return web.Response(status=404)
            return web.FileResponse(file)

        async def robots(request: web.Request) -> web.StreamResponse:
            return web.Response(text="User-agent: *\nAllow: /\n")

        async def record(request: web.Request, response: web.StreamResponse) -> None:
            # called as the answer goes out: a FileResponse's 304 is decided by then
            self._served.append(Served(status=response.status, target=request.path))

        app = web.Application()
        app.on_response_prepare.append(record)
        app.router.add_get(ROBOTS, robots)
        app.router.add_get("/fresh/{tail:.+}", fresh)
        return app

    def __enter__(self) -> _InThreadSite:
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


# -- reading a data dir ------------------------------------------------------------------


def records_digest(db: Path) -> tuple[int, str]:
    """How many record rows the ledger holds and a digest of every one, all columns."""
    digest = hashlib.sha256()
    count = 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        for row in conn.execute(
            "SELECT tbl, pk, item_id, stage, version, run_id, data FROM records ORDER BY tbl, pk"
        ):
            digest.update(repr(row).encode())
            count += 1
    return count, digest.hexdigest()[:16]


def last_run(db: Path) -> dict[str, Any]:
    """The newest run of the ledger: its id, status, stored summary, what its attempts
    say (settled, refreshed, unchanged) and how many record rows carry its id."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        run_id, status, text = conn.execute(
            "SELECT id, status, summary FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
        attempts, refreshed, unchanged = conn.execute(
            "SELECT count(*), coalesce(sum(refresh), 0), coalesce(sum(unchanged), 0) "
            "FROM attempts WHERE run_id=?",
            (run_id,),
        ).fetchone()
        (written,) = conn.execute(
            "SELECT count(*) FROM records WHERE run_id=?", (run_id,)
        ).fetchone()
    return {
        "run_id": run_id,
        "status": status,
        "summary": json.loads(text),
        "attempts": attempts,
        "refreshed": refreshed,
        "unchanged": unchanged,
        "records_written": written,
    }


def printed_refresh(output: Path) -> tuple[int, int, int] | None:
    """The run's own ``refreshed N: U unchanged, C changed`` line, or None.

    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "out.txt"
    >>> _ = f.write_text("run 2 of x: done\\nrefreshed 12: 9 unchanged, 3 changed\\n")
    >>> printed_refresh(f)
    (12, 9, 3)
    """
    try:
        found = REFRESHED_LINE.search(output.read_text(errors="replace"))
    except OSError:
        return None
    return None if found is None else (int(found[1]), int(found[2]), int(found[3]))


def copy_data(source: Path, target: Path) -> None:
    """A fresh copy of a data dir: ledger and archive (the lock and logs left out)."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("lock", "logs"))


def served_problems(
    served: Sequence[Served], *, fresh: int, status: int, listing: int | None
) -> list[str]:
    """What differs from ``fresh`` thing pages answered ``status``, each once, and (when
    given) exactly ``listing`` listing pages answered 200.

    >>> ok = [Served(status=304, target="/fresh/things/1"),
    ...       Served(status=200, target="/fresh/listing/0")]
    >>> served_problems(ok, fresh=1, status=304, listing=None)
    []
    >>> served_problems(ok, fresh=2, status=200, listing=1)
    ['1 thing pages asked for, expected 2', '1 thing pages answered other than 200, e.g. 304']
    """
    pages = [s for s in served if s.target.startswith(THINGS)]
    problems = []
    if len(pages) != fresh or len({s.target for s in pages}) != len(pages):
        problems.append(f"{len(pages)} thing pages asked for, expected {fresh}")
    other = [s for s in pages if s.status != status]
    if other:
        problems.append(
            f"{len(other)} thing pages answered other than {status}, e.g. {other[0].status}"
        )
    walked = [s for s in served if s.target.startswith(LISTING)]
    if listing is not None and (len(walked) != listing or any(s.status != 200 for s in walked)):
        problems.append(f"listing pages answered: {[(s.target, s.status) for s in walked]}")
    return problems


def run_argv(url: str, data: Path, concurrency: int) -> list[str]:
    return scrapeline_cmd(
        "run",
        str(PIPE_FILE),
        "--base-url",
        url,
        "--data-dir",
        str(data),
        "--workers",
        str(concurrency),
    )


# -- the set-up run and the measured rounds ---------------------------------------------


def set_up(
    site: Any, older: Path, scratch: Path, *, total: int, fresh: int, concurrency: int
) -> dict[str, Any]:
    """The first real run on a copy of the filled ledger: it finds and fetches the fresh
    things, so the archive holds their validators. Raises if it did not."""
    data = scratch / "pristine"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    shutil.copyfile(older, data / "ledger.db")
    site.take()
    out = scratch / "set-up.txt"
    measured = run_measured(run_argv(site.url, data, concurrency), out=out)
    served = site.take()
    problems = served_problems(served, fresh=fresh, status=200, listing=None)
    if measured.returncode != 0:
        problems.append(f"exit code {measured.returncode}: {tail(out, 5)}")
    count, digest = records_digest(data / "ledger.db")
    if count != total:
        problems.append(f"{count:,} records after the set-up run, expected {total:,}")
    if not (data / "archive").is_dir():
        problems.append("no archive after the set-up run")
    if problems:
        raise RuntimeError("the set-up run went wrong: " + "; ".join(problems))
    walked = sum(1 for s in served if s.target.startswith(LISTING))
    say(
        f"  set-up run: {fresh:,} new things fetched, {walked} listing pages, "
        f"{measured.wall:.2f} s; {count:,} records"
    )
    return {
        "data": data,
        "records": count,
        "records_digest": digest,
        "wall": measured.wall,
        "listing_pages": walked,
        "summary": last_run(data / "ledger.db")["summary"],
    }


def one_round(
    site: Any, pristine: dict[str, Any], run_dir: Path, *, fresh: int, concurrency: int
) -> dict[str, Any]:
    data = run_dir / "data"
    copy_data(pristine["data"], data)
    site.take()  # whatever came before is not this run's
    load = load_average()
    server_before = site.cpu_seconds()
    out = run_dir / "output.txt"
    measured = run_measured(run_argv(site.url, data, concurrency), out=out)
    served = site.take()
    server_cpu = site.cpu_seconds() - server_before
    problems: list[str] = []
    if measured.returncode != 0:
        problems.append(f"exit code {measured.returncode}: {tail(out, 5)}")
    problems += served_problems(served, fresh=fresh, status=304, listing=1)
    db = data / "ledger.db"
    run = last_run(db)
    count, digest = records_digest(db)
    if run["records_written"]:
        problems.append(f"{run['records_written']:,} record rows written by the run")
    if (count, digest) != (pristine["records"], pristine["records_digest"]):
        problems.append(f"the records changed: {count:,} rows, expected {pristine['records']:,}")
    if (run["refreshed"], run["unchanged"]) != (fresh, fresh):
        problems.append(
            f"attempts: {run['refreshed']:,} refreshed, {run['unchanged']:,} unchanged; "
            f"expected {fresh:,} and {fresh:,}"
        )
    printed = printed_refresh(out)
    if printed != (fresh, fresh, 0):
        problems.append(f"the run printed refreshed/unchanged/changed {printed}")
    wall = float(run["summary"].get("wall") or 0.0)
    record = {
        "ok": not problems,
        "problems": problems,
        "run_wall": wall,
        "items_per_s": fresh / wall if wall else 0.0,
        "process_wall": measured.wall,
        "process_items_per_s": fresh / measured.wall if measured.wall else 0.0,
        "cpu": measured.cpu,
        "max_rss_mb": measured.max_rss_mb,
        "requests": len(served),
        "not_modified": sum(1 for s in served if s.status == 304 and s.target.startswith(THINGS)),
        "thing_pages_200": sum(
            1 for s in served if s.status == 200 and s.target.startswith(THINGS)
        ),
        "listing_pages": sum(1 for s in served if s.target.startswith(LISTING)),
        "refreshed": run["refreshed"],
        "unchanged": run["unchanged"],
        "changed": run["refreshed"] - run["unchanged"],
        "printed": list(printed) if printed else None,
        "records_written": run["records_written"],
        "records": count,
        "records_same": (count, digest) == (pristine["records"], pristine["records_digest"]),
        "stored_summary": run["summary"],
        "server_cpu": server_cpu,
        "load_average_before": load,
    }
    flag = "ok" if record["ok"] else "WRONG: " + "; ".join(problems)
    say(
        f"    {record['items_per_s']:8,.0f} items/s (run {wall:.3f} s; process "
        f"{measured.wall:.2f} s, cpu {measured.cpu:.2f} s, rss {measured.max_rss_mb:.0f} MB); "
        f"{record['not_modified']:,} × 304, {count:,} records, "
        f"{record['records_written']} rewritten  {flag}"
    )
    return record


def profile_round(
    site: Any, pristine: dict[str, Any], *, fresh: int, concurrency: int
) -> dict[str, Any]:
    """One extra round under cProfile (``bench/profiled.py``; not timed): where its time
    goes. Empty when it failed or was not all unchanged."""
    shutil.rmtree(PROFILE_DIR, ignore_errors=True)
    PROFILE_DIR.mkdir(parents=True)
    data = PROFILE_DIR / "data"
    copy_data(pristine["data"], data)
    argv = run_argv(site.url, data, concurrency)
    site.take()
    out = PROFILE_DIR / "output.txt"
    measured = run_measured(
        [PYTHON, str(BENCH / "profiled.py"), str(PROFILE_DIR), *argv[3:]], out=out
    )
    problems = served_problems(site.take(), fresh=fresh, status=304, listing=1)
    path = PROFILE_DIR / "profile.json"
    if measured.returncode != 0 or problems or not path.exists():
        say(f"    profiling failed: {'; '.join(problems) or tail(out, 5)}")
        return {}
    document: dict[str, Any] = json.loads(path.read_text())
    document["note"] = "cProfile of one extra round (slower than unprofiled)"
    document["run_wall"] = last_run(data / "ledger.db")["summary"].get("wall")
    say(f"    profiled round: run {document['run_wall']} s; {rel(PROFILE_DIR)}/*.prof")
    return document


def run(
    mode: Mode,
    *,
    total: int = 100_000,
    fresh: int = 1_000,
    rounds: int = 3,
    concurrency: int = 8,
    with_profile: bool = True,
) -> Result:
    say(
        f"refresh: {fresh:,} fresh things over a ledger of {total:,}, {rounds} rounds, "
        f"{concurrency} workers"
    )
    today = datetime.now(UTC).date()
    root = render_site(total, fresh, today)
    older = fill(total, fresh)
    scratch = mode.scratch("refresh")
    notes: list[str] = []
    server: dict[str, Any] = {}
    if mode.smoke:
        notes.append("smoke: the files served from a thread (aiohttp) instead of nginx")
        say("  smoke: serving the files in-process (no nginx)")
    site: Any = _InThreadSite(root) if mode.smoke else _NginxSite(root)
    runs: list[dict[str, Any]] = []
    with site:
        if not mode.smoke:
            server = {"nginx": site.nginx.version(), "nginx_workers": site.nginx.workers}
        pristine = set_up(site, older, scratch, total=total, fresh=fresh, concurrency=concurrency)
        for round_no in range(1, rounds + 1):
            say(f"  round {round_no}/{rounds}")
            record = one_round(
                site, pristine, scratch / "run", fresh=fresh, concurrency=concurrency
            )
            record["round"] = round_no
            runs.append(record)
            os.sync()
            time.sleep(0.5)
        profile: dict[str, Any] = {}
        if with_profile and not mode.smoke:
            say("  profiling one more round (cProfile, loop and ledger writer)")
            profile = profile_round(site, pristine, fresh=fresh, concurrency=concurrency)
    good = [r for r in runs if r["ok"]]
    return Result(
        name="refresh",
        mode=mode,
        data={
            "items": total,
            "fresh": fresh,
            "refresh_window": "7d",
            "rounds": rounds,
            "concurrency": concurrency,
            "pipeline": rel(PIPE_FILE),
            "command": f"scrapeline run {rel(PIPE_FILE)} --base-url URL --data-dir DIR "
            f"--workers {concurrency}",
            "server": server,
            "set_up": {k: v for k, v in pristine.items() if k != "data"},
            "all_ok": bool(runs) and len(good) == len(runs),
            "records_rewritten": sum(r["records_written"] for r in runs),
            "summary": {
                "items_per_s": spread([r["items_per_s"] for r in good]),
                "run_wall": spread([r["run_wall"] for r in good]),
                "process_wall": spread([r["process_wall"] for r in good]),
                "process_items_per_s": spread([r["process_items_per_s"] for r in good]),
                "cpu": spread([r["cpu"] for r in good]),
                "max_rss_mb": spread([r["max_rss_mb"] for r in good]),
                "runs_ok": len(good),
                "runs": len(runs),
            },
            "runs": runs,
            "profile": profile,
            "notes": notes,
        },
    )
