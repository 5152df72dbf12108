"""scrapeline.testing: a local football-results site to rehearse scrapes against.

Public API for your own tests as well as scrapeline's:

- :class:`RehearsalSite`, :func:`serve_in_thread`, :func:`serve_forever`: the
  site (aiohttp.web on 127.0.0.1, deterministic for a seed);
- :class:`Faults`, :class:`Fault`, :func:`decide`: fault injection;
- :class:`ForwardProxy`: an HTTP forward proxy (credentials, a broken mode) that
  :func:`serve_in_thread` runs too;
- :class:`Match`, :func:`load_sample`, :func:`load_full`,
  :func:`find_full_dataset`: the openfootball data it serves.

Names are imported on first use, so ``python -m scrapeline.testing.site`` and
``python -m scrapeline.testing.football`` run without importing themselves
twice, and reading the data does not import aiohttp.

Example::

    from scrapeline.testing import RehearsalSite, serve_in_thread

    with serve_in_thread(RehearsalSite(latency=None)) as base_url:
        ...  # fetch f"{base_url}/results?offset=0"
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapeline.testing.faults import Fault, Faults, decide
    from scrapeline.testing.football import Match, find_full_dataset, load_full, load_sample
    from scrapeline.testing.proxy import ForwardProxy
    from scrapeline.testing.site import RehearsalSite, serve_forever, serve_in_thread

__all__ = [
    "Fault",
    "Faults",
    "ForwardProxy",
    "Match",
    "RehearsalSite",
    "decide",
    "find_full_dataset",
    "load_full",
    "load_sample",
    "serve_forever",
    "serve_in_thread",
]

_HOME = {
    "Fault": "faults",
    "Faults": "faults",
    "decide": "faults",
    "Match": "football",
    "find_full_dataset": "football",
    "load_full": "football",
    "load_sample": "football",
    "ForwardProxy": "proxy",
    "RehearsalSite": "site",
    "serve_forever": "site",
    "serve_in_thread": "site",
}


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
