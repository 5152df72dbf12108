"""The examples in the fetch modules' docstrings run and say what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "scrapeline.fetch.breaker",
    "scrapeline.fetch.contract",
    "scrapeline.fetch.events",
    "scrapeline.fetch.limits",
    "scrapeline.fetch.proxies",
    "scrapeline.fetch.retry",
    "scrapeline.fetch.response",
    "scrapeline.fetch.robots",
    "scrapeline.fetch.settings",
    "scrapeline.fetch.status",
    "scrapeline.fetch.transport",
    "scrapeline.secrets",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
