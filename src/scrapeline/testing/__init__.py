"""scrapeline.testing: a local football-results site to rehearse scrapes against.

Public API for your own tests as well as scrapeline's:

- :class:`RehearsalSite`, :func:`serve_in_thread`, :func:`serve_forever`: the
  site (aiohttp.web on 127.0.0.1, deterministic for a seed);
- :class:`ApiSite`: the same matches as a JSON API (tournaments → seasons →
  events, page numbers and cursors, ETags and 304s, publishing and corrections);
- :class:`ProspectsSite`: three sources about one draft class of prospects (a
  combine site, a college-stats API, an injury report) and their ``truth``, for
  rehearsing a multi-source reconciliation;
- :class:`Faults`, :class:`Fault`, :func:`decide`: fault injection;
- :class:`ForwardProxy`: an HTTP forward proxy (credentials, a broken mode) that
  :func:`serve_in_thread` runs too;
- :class:`Match`, :func:`load_sample`, :func:`load_full`,
  :func:`find_full_dataset`: the openfootball data it serves;
- :func:`run_stage` (:class:`StageResult`, :class:`StageFailure`): one stage on one
  item against canned responses, to test a parser without a site;
- :class:`FakeFetcher`: an in-process transport answering from a dict or a function;
- :class:`MemoryLedger`: the in-memory ledger, held to the same contract as SQLite.

Names are imported on first use, so ``python -m scrapeline.testing.site``,
``python -m scrapeline.testing.api``, ``python -m scrapeline.testing.prospects`` and
``python -m scrapeline.testing.football``
run without importing themselves twice, and reading the data does not import aiohttp.

Example::

    from scrapeline.testing import RehearsalSite, serve_in_thread

    with serve_in_thread(RehearsalSite(latency=None)) as base_url:
        ...  # fetch f"{base_url}/results?offset=0"

Testing a stage's parser on a saved page (runnable)::

    >>> import asyncio
    >>> from scrapeline import Context, Item, Pipeline, Record
    >>> from scrapeline.testing import run_stage
    >>> pipe = Pipeline("demo", base_url="https://results.example")
    >>> _ = pipe.table("teams", key="name")
    >>> @pipe.stage("teams", on="match")
    ... async def teams(ctx: Context, item: Item) -> list[Record]:
    ...     page = await ctx.fetch(f"/matches/{item.key}")
    ...     return [Record("teams", {"name": n.text()}) for n in page.html.css(".team")]
    >>> page = '<p class="team">Ajax</p><p class="team">PSV</p>'
    >>> result = asyncio.run(run_stage(pipe, "teams", Item(key=1, kind="match"),
    ...     {"/matches/1": (200, {"Content-Type": "text/html"}, page)}))
    >>> [r.data["name"] for r in result.records]
    ['Ajax', 'PSV']
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapeline.fetch.transport import FakeFetcher
    from scrapeline.ledger.memory import MemoryLedger
    from scrapeline.testing.api import ApiSite
    from scrapeline.testing.faults import Fault, Faults, decide
    from scrapeline.testing.football import Match, find_full_dataset, load_full, load_sample
    from scrapeline.testing.prospects import ProspectsSite
    from scrapeline.testing.proxy import ForwardProxy
    from scrapeline.testing.serving import serve_forever, serve_in_thread
    from scrapeline.testing.site import RehearsalSite
    from scrapeline.testing.stage import StageFailure, StageResult, run_stage

__all__ = [
    "ApiSite",
    "FakeFetcher",
    "Fault",
    "Faults",
    "ForwardProxy",
    "Match",
    "MemoryLedger",
    "ProspectsSite",
    "RehearsalSite",
    "StageFailure",
    "StageResult",
    "decide",
    "find_full_dataset",
    "load_full",
    "load_sample",
    "run_stage",
    "serve_forever",
    "serve_in_thread",
]

_HOME = {
    "ApiSite": "api",
    "Fault": "faults",
    "Faults": "faults",
    "decide": "faults",
    "Match": "football",
    "find_full_dataset": "football",
    "load_full": "football",
    "load_sample": "football",
    "ForwardProxy": "proxy",
    "ProspectsSite": "prospects",
    "RehearsalSite": "site",
    "serve_forever": "serving",
    "serve_in_thread": "serving",
    "StageFailure": "stage",
    "StageResult": "stage",
    "run_stage": "stage",
    "FakeFetcher": "scrapeline.fetch.transport",
    "MemoryLedger": "scrapeline.ledger.memory",
}


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = home if "." in home else f"{__name__}.{home}"
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
