"""The event loop a command runs on: uvloop where it is installed, asyncio's own elsewhere.

uvloop (libuv, in C) halves the loop's share of a fast crawl's CPU time. It is a
dependency on Linux and macOS; ``SCRAPELINE_LOOP=asyncio`` picks the standard loop
(to rule the loop out when hunting a problem).

    >>> async def answer() -> int:
    ...     return 42
    >>> run(answer())
    42
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion in a new event loop, like :func:`asyncio.run`."""
    if os.environ.get("SCRAPELINE_LOOP", "").lower() != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(main)
    return asyncio.run(main)
