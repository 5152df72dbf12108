"""``scrapeline.run`` as a user calls it from Python: a real site, a real data dir."""

from __future__ import annotations

import importlib
from pathlib import Path

import scrapeline
from scrapeline.ledger.sqlite import SqliteLedger
from scrapeline.testing import RehearsalSite, load_sample, serve_in_thread


def football() -> scrapeline.Pipeline:
    import scrapeline.demo.football as module

    return importlib.reload(module).pipe


def test_a_run_from_python_fetches_every_match_and_the_next_finds_nothing_new(
    tmp_path: Path,
) -> None:
    matches = load_sample()[:30]
    pipe = football()
    events: list[object] = []
    with serve_in_thread(RehearsalSite(matches=matches, latency=None)) as url:
        outcome = scrapeline.run(
            pipe,
            tmp_path,
            scrapeline.RunOptions(workers=4),
            base_url=url,
            subscribers=[events.append],
        )
        again = scrapeline.run(pipe, tmp_path, base_url=url)
    assert outcome.status is scrapeline.RunStatus.DONE and outcome.reason is None
    assert again.status is scrapeline.RunStatus.DONE and again.run_id == outcome.run_id + 1
    assert pipe.base_url != url  # the run pointed its own settings at the site
    ledger = SqliteLedger(tmp_path / "ledger.db", read_only=True)
    try:
        ids = {row["match_id"] for row in ledger.records("matches")}
    finally:
        ledger.close()
    assert ids == {m.id for m in matches}
    finished = [e for e in events if type(e).__name__ == "RunFinished"]
    assert len(finished) == 1  # the subscriber heard this run, once


def test_a_bad_setting_is_raised_before_anything_is_written(tmp_path: Path) -> None:
    pipe = football()
    target = tmp_path / "never"
    try:
        scrapeline.run(pipe, target, base_url="ftp://example.org")
    except scrapeline.ScrapelineError as exc:
        assert exc.exit_code == 2
    else:
        raise AssertionError("a run with an ftp base_url started")
    assert not target.exists()
