"""scrapeline: durable, resumable scraping pipelines.

The public API, and nothing else. See the README for a complete pipeline.
"""

from __future__ import annotations

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
from scrapeline.pipeline import Pipeline, offsets, page_numbers

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
    "ParseError",
    "Pipeline",
    "PipelineError",
    "RateLimited",
    "Record",
    "Response",
    "ScrapelineError",
    "UsageError",
    "ValidationError",
    "offsets",
    "page_numbers",
]

__version__ = "0.1.0"
