"""Secrets planted in a pipeline never come out: not in the console, not in any file of
the data dir (ledger, logs, archive), byte for byte, after a run through an
authenticating proxy (and a dead one) against a site where some pages fail."""

from __future__ import annotations

import socket
import sqlite3
import textwrap
import uuid
from pathlib import Path

import pytest

from scrapeline.testing import Faults, ForwardProxy, RehearsalSite, load_sample, serve_in_thread

from .conftest import scrapeline

pytestmark = pytest.mark.slow


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_no_secret_reaches_the_console_or_the_data_dir(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:12]
    secrets = {
        "api key header": f"apikey-{tag}",
        "cookie": f"cookie-{tag}",
        "proxy password": f"proxypw-{tag}",
        "token in URLs": f"token-{tag}",
        "base URL password": f"urlpw-{tag}",
    }
    matches = list(load_sample()[:20])
    # Failing pages apart from each other: three next to each other, two attempts each,
    # are six failures in a row, which opens the host's circuit breaker (a 30 s pause).
    failing = tuple(f"/matches/{m.id}" for m in matches[::9])
    # Random faults on match pages only: the fault plan is drawn from the request target,
    # which holds the random token, and a listing that fails twice would leave no items.
    faults = Faults(fail_paths=failing, server_error=0.1, drop=0.05, only_paths_prefix="/matches/")
    site = RehearsalSite(matches, latency=None, faults=faults)
    proxy = ForwardProxy(credentials=("scraper", secrets["proxy password"]))
    with serve_in_thread(site) as site_url, serve_in_thread(proxy) as proxy_url:
        live = proxy_url.replace("://", f"://scraper:{secrets['proxy password']}@")
        dead = f"http://scraper:{secrets['proxy password']}@127.0.0.1:{closed_port()}"
        base = site_url.replace("://", f"://reader:{secrets['base URL password']}@")
        pipeline = tmp_path / "secretive.py"
        pipeline.write_text(
            textwrap.dedent(
                f"""
                from scrapeline import Item, Pipeline, Record, offsets

                TOKEN = {secrets["token in URLs"]!r}
                pipe = Pipeline(
                    "secretive",
                    base_url={base!r},
                    headers={{"X-Api-Key": {secrets["api key header"]!r}}},
                    cookies={{"session": {secrets["cookie"]!r}}},
                    proxies=[{dead!r}, {live!r}],
                    secrets=[TOKEN],
                    max_attempts=2,
                )
                pipe.table("matches", key="match_id")


                @pipe.discover("match", pages=offsets(step=100))
                async def results(ctx, offset):
                    page = await ctx.fetch(f"/results?offset={{offset}}&token={{TOKEN}}")
                    for row in page.css("tr.match"):
                        yield Item(key=int(row.attributes["data-id"]))


                @pipe.stage("overview", on="match")
                async def overview(ctx, item):
                    page = await ctx.fetch(f"/matches/{{item.key}}?token={{TOKEN}}")
                    if item.key % 7 == 0:
                        raise ValueError(f"stage bug mentioning {{TOKEN}}")
                    return Record("matches", {{"match_id": item.key, "h1": page.text_of("h1")}})
                """
            )
        )
        data = tmp_path / "data"
        done = scrapeline(
            "run", str(pipeline), "--data-dir", str(data), "--max-consecutive-failures", "0"
        )

    assert done.returncode == 1, done.stdout + done.stderr  # some items failed, as planned
    assert proxy.forwarded > 0 and proxy.refused == 0  # the proxy took our credentials
    conn = sqlite3.connect(data / "ledger.db")
    try:
        messages = [m for (m,) in conn.execute("SELECT message FROM tasks WHERE message != ''")]
    finally:
        conn.close()
    assert len(messages) >= 3 and any("***" in m for m in messages)  # redacted, not absent
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in files) and any(p.name == "ledger.db" for p in files)
    log_text = "".join(p.read_text() for p in files if p.suffix == ".log")
    assert "benched" in log_text  # the dead proxy was tried and put aside

    outputs = {"stdout": done.stdout.encode(), "stderr": done.stderr.encode()}
    outputs |= {str(p.relative_to(data)): p.read_bytes() for p in files}
    leaks = [
        f"{what} in {where}"
        for what, value in secrets.items()
        for where, content in outputs.items()
        if value.encode() in content
    ]
    assert not leaks, leaks
