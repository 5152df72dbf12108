"""The front door: scrapeline exports exactly this, and nothing it exports is missing."""

from __future__ import annotations

import scrapeline

PUBLIC = [
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


def test_the_public_api_is_exactly_this() -> None:
    # Adding or removing a name is a decision: change this list with it.
    assert scrapeline.__all__ == PUBLIC
    assert all(hasattr(scrapeline, name) for name in PUBLIC)


def test_every_error_shares_one_root() -> None:
    errors = [getattr(scrapeline, n) for n in PUBLIC if n.endswith(("Error", "Blocked", "Limited"))]
    assert all(issubclass(e, scrapeline.ScrapelineError) for e in errors)
    assert scrapeline.UsageError.exit_code == 2
