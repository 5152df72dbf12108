"""Fixtures shared by every test layer.

- ``start_site``: start a :class:`~scrapeline.testing.RehearsalSite` on
  127.0.0.1, port 0, without latency unless asked; every site it started is
  stopped at teardown.
- ``football_sample``: the packaged sample, loaded once per session (treat
  it as read-only).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest

from scrapeline.testing import Match, RehearsalSite, load_sample

StartSite = Callable[..., Awaitable[RehearsalSite]]


@pytest.fixture(scope="session")
def football_sample() -> Sequence[Match]:
    return tuple(load_sample())


@pytest.fixture
async def start_site() -> AsyncIterator[StartSite]:
    started: list[RehearsalSite] = []

    async def start(*args: Any, **kwargs: Any) -> RehearsalSite:
        kwargs.setdefault("latency", None)
        site = RehearsalSite(*args, **kwargs)
        await site.start()
        started.append(site)
        return site

    yield start
    for site in started:
        await site.stop()
