"""scrapeline.testing: a local football-results site to rehearse scrapes against.

Public API for your own tests as well as scrapeline's:

- :class:`RehearsalSite`, :func:`serve_in_thread`, :func:`serve_forever`: the
  site (aiohttp.web on 127.0.0.1, deterministic for a seed);
- :class:`Faults`, :class:`Fault`, :func:`decide`: fault injection;
- :class:`Match`, :func:`load_sample`, :func:`load_full`,
  :func:`find_full_dataset`: the openfootball data it serves.

Example::

    from scrapeline.testing import RehearsalSite, serve_in_thread

    with serve_in_thread(RehearsalSite(latency=None)) as base_url:
        ...  # fetch f"{base_url}/results?offset=0"
"""

from __future__ import annotations

from scrapeline.testing.faults import Fault, Faults, decide
from scrapeline.testing.football import Match, find_full_dataset, load_full, load_sample
from scrapeline.testing.site import RehearsalSite, serve_forever, serve_in_thread

__all__ = [
    "Fault",
    "Faults",
    "Match",
    "RehearsalSite",
    "decide",
    "find_full_dataset",
    "load_full",
    "load_sample",
    "serve_forever",
    "serve_in_thread",
]
