"""scrapeline: durable, resumable scraping pipelines.

The public API, and nothing else. See the README for a complete pipeline.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from scrapeline.context import Context
from scrapeline.errors import (
    Blocked,
    Category,
    ConfigError,
    ContractError,
    FetchError,
    HTTPError,
    ItemError,
    NetworkError,
    ParseError,
    PipelineError,
    RateLimited,
    ScrapelineError,
    UsageError,
    ValidationError,
)
from scrapeline.fetch.contract import Expect
from scrapeline.fetch.response import Response
from scrapeline.model import Item, Record
from scrapeline.pipeline import Pipeline, cursors, offsets, page_numbers

if TYPE_CHECKING:  # imported on first use: a pipeline file need not load the engine
    from scrapeline.ledger.base import RunStatus
    from scrapeline.runner.run import Outcome, RunOptions
    from scrapeline.running import run

__all__ = [
    "Blocked",
    "Category",
    "ConfigError",
    "Context",
    "ContractError",
    "Expect",
    "FetchError",
    "HTTPError",
    "Item",
    "ItemError",
    "NetworkError",
    "Outcome",
    "ParseError",
    "Pipeline",
    "PipelineError",
    "RateLimited",
    "Record",
    "Response",
    "RunOptions",
    "RunStatus",
    "ScrapelineError",
    "UsageError",
    "ValidationError",
    "cursors",
    "offsets",
    "page_numbers",
    "run",
]

__version__ = "0.1.0"

_ENGINE = {
    "Outcome": "scrapeline.runner.run",
    "RunOptions": "scrapeline.runner.run",
    "RunStatus": "scrapeline.ledger.base",
    "run": "scrapeline.running",
}


def __getattr__(name: str) -> object:
    home = _ENGINE.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
