"""Every module's examples run: a docstring example that no longer works is a failing test."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import scrapeline

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(scrapeline.__path__, prefix="scrapeline.")
    # importing it runs the CLI; it holds one line and no examples
    if m.name != "scrapeline.__main__"
)


def test_the_walk_finds_every_module() -> None:
    assert "scrapeline.model" in MODULES and "scrapeline.ledger.sqlite" in MODULES


def test_the_examples_are_found() -> None:
    # a module with examples is really run (a finder that found none would pass all)
    result = doctest.testmod(importlib.import_module("scrapeline.model"))
    assert result.attempted >= 3


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_of_a_module_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"
