"""Alerts through the real CLI: the notifiers of a scrapeline.toml profile are told how a
run ended. A JSON webhook (a real local HTTP receiver) and a failures log get one alert
for a run that finished with failed items, naming the pipeline, the profile, the run and
the command to see more; the webhook's URL, given as ``${HOOK}``, is a secret and never
printed. A second, clean run is alerted as recovered."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_config_cli import PIPELINE, scrapeline

pytestmark = pytest.mark.slow

CONFIG = """
max_consecutive_failures = 0

[config]
token = "tok-{nonce}"

[profiles.prod]
workers = 4
data_dir = "data/prod"
notifiers = [
  {{ url = "${{HOOK}}", events = ["failures", "recovered"] }},
  {{ file = "failures.log" }},
]
"""


@pytest.fixture
def receiver() -> Iterator[tuple[list[dict[str, Any]], str]]:
    """A JSON webhook on 127.0.0.1: what it was sent, and its Apprise URL."""
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            received.append(json.loads(self.rfile.read(size)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received, f"json://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def test_a_profiles_notifiers_hear_of_failures_then_of_recovery(
    tmp_path: Path, site_url: str, receiver: tuple[list[dict[str, Any]], str]
) -> None:
    received, hook = receiver
    (tmp_path / "configured.py").write_text(PIPELINE)
    (tmp_path / "scrapeline.toml").write_text(CONFIG.format(nonce="a1b2c3"))
    env = {"HOOK": hook, "SCRAPELINE_BASE_URL": site_url}

    first = scrapeline("run", "configured.py", "--profile", "prod", cwd=tmp_path, env=env)
    assert first.returncode == 1, first.stderr  # every ninth match's stage fails
    assert len(received) == 1, received
    alert = received[0]["title"] + "\n" + received[0]["message"]
    for said in ("pipeline: configured", "profile: prod", "run: 1", "36 failed", "runs show"):
        assert said in alert, alert
    log = (tmp_path / "failures.log").read_text()
    assert "configured" in log and "run 1" in log
    assert hook not in first.stdout + first.stderr + log  # the URL is the secret

    # the stage's bug fixed, the next run redoes the failed items and all is done
    (tmp_path / "configured.py").write_text(PIPELINE.replace("item.key % 9 == 0", "False"))
    second = scrapeline("run", "configured.py", "--profile", "prod", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(received) == 2, received
    recovered = received[1]["title"] + "\n" + received[1]["message"]
    assert "run 2 done, after a run that was failed" in recovered, recovered
    assert "counts: 36 done, 0 failed" in recovered, recovered
