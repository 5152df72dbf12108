"""How a host's slowdown and recovery read, on the console and in the log file."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from scrapeline.events import Event
from scrapeline.fetch.events import HostRecovered, HostSlowed
from scrapeline.observe.render import render

NOW = datetime(2026, 5, 1, 4, 12, 1)


@pytest.mark.parametrize(
    ("event", "level", "text"),
    [
        (
            HostSlowed(host="127.0.0.1", rate=5.0, reason="429"),
            logging.WARNING,
            "host 127.0.0.1 slowed to 5.0/s after 429",
        ),
        (
            HostSlowed(host="h", rate=0.5, reason="breaker open"),
            logging.WARNING,
            "host h slowed to 0.5/s after breaker open",
        ),
        (
            HostSlowed(host="h", rate=123.456, reason="429"),
            logging.WARNING,
            "host h slowed to 123.5/s after 429",
        ),
        (HostRecovered(host="h", rate=20.0), logging.INFO, "host h back to 20.0/s"),
        (HostRecovered(host="h", rate=None), logging.INFO, "host h back to no rate limit"),
        (
            HostSlowed(host="u:p@h", rate=1.0, reason="429 at http://u:pw@h/x"),
            logging.WARNING,
            "host u:p@h slowed to 1.0/s after 429 at http://***@h/x",
        ),
    ],
)
def test_rate_changes_read_as(event: Event, level: int, text: str) -> None:
    line = render(event, now=NOW)
    assert line is not None
    assert (line.level, line.text.plain, line.log, line.shown) == (level, text, text, True)
