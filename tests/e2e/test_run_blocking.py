"""A stage that blocks the event loop: a stop signal still ends the run, with its summary
printed, its leases given back and the run recorded as interrupted."""

from __future__ import annotations

import json
import signal
import sqlite3
import textwrap
import time
from pathlib import Path

import pytest

from .conftest import start

pytestmark = pytest.mark.slow

BLOCKING = textwrap.dedent(
    """
    import time
    from pathlib import Path

    from scrapeline import Context, Item, Pipeline, Record

    pipe = Pipeline("blocking")
    pipe.table("matches", key="match_id")


    @pipe.discover("match")
    async def results(ctx: Context, offset: int):
        if offset == 0:
            for key in range(1, 21):
                yield Item(key=key)


    @pipe.stage("overview", on="match")
    async def overview(ctx: Context, item: Item) -> Record:
        if item.key == 3:
            Path(ctx.config["marker"]).write_text("blocked")
            time.sleep(3600)  # blocks the event loop: no await, no thread
        return Record("matches", {"match_id": item.key})
    """
)


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "signals",
    [(signal.SIGTERM, signal.SIGTERM), (signal.SIGINT, signal.SIGINT), (signal.SIGTERM,)],
    ids=["two-sigterms", "two-ctrl-c", "one-sigterm"],
)
def test_a_stage_blocking_the_loop_cannot_outlast_a_stop_signal(
    tmp_path: Path, signals: tuple[signal.Signals, ...]
) -> None:
    pipeline = tmp_path / "blocking.py"
    pipeline.write_text(BLOCKING)
    marker, data = tmp_path / "marker", tmp_path / "d"
    proc = start(
        "run", str(pipeline), "--data-dir", str(data), "--workers", "1", "--grace", "1",
        "--set", f"marker={marker}",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the stage never started"
            time.sleep(0.05)
        for sig in signals:
            proc.send_signal(sig)
            time.sleep(0.2)
        # one signal: the drain's grace (1 s) and the settling time; two: the grace
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "INTERRUPTED (exit 130)" in out, out
    assert "a stage blocked the event loop (overview match 3)" in out + err
    db = data / "ledger.db"
    assert query(db, "SELECT count(*) FROM tasks WHERE status='running'") == [(0,)]
    assert query(db, "SELECT count(*) FROM tasks WHERE status='done'") == [(2,)]
    [(status, summary)] = query(db, "SELECT status, summary FROM runs")
    assert status == "interrupted" and json.loads(str(summary))["exit_code"] == 130
