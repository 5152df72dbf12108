"""Response contracts: what a stage declares a good response looks like.

A stage that says ``expect=Expect(selectors=("table.stats",))`` learns at fetch
time, with a clear message, that the site changed its layout or served an empty
shell, instead of failing later with a confusing parse error.

Contract:

- :func:`check_contract` returns None when the response meets every expectation
  and raises :class:`ContractError` otherwise, naming what is wrong (the status
  first: when the status is wrong the body is not examined).
- ``status`` in an :class:`Expect` also tells the client which statuses are *wanted*:
  a stage expecting ``{200, 404}`` gets the 404 back instead of an HTTPError.
- Contract failures are never retried: the same page would break it again.
- ``json_keys`` are dotted paths through JSON objects: ``"data.items"`` means
  ``body["data"]["items"]`` exists.

    >>> from scrapeline.fetch.response import Response
    >>> page = Response(url="http://h/m/1", status=200, headers={}, body=b"<table class=stats>")
    >>> check_contract(Expect(selectors=("table.stats",)), page)
    >>> try:
    ...     check_contract(Expect(selectors=("div.score",)), page)
    ... except ContractError as error:
    ...     print(error.message)
    response breaks its contract: no element matches 'div.score'
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from typing import Any

from scrapeline.errors import ContractError, ParseError
from scrapeline.fetch.response import Response


@dataclass(frozen=True, slots=True, kw_only=True)
class Expect:
    """What a good response looks like. Every field left at its default is not checked,
    except ``status`` (200 unless said otherwise)."""

    status: Set[int] = frozenset({200})
    content_type: str | None = None
    """The media type without parameters, e.g. ``"application/json"``."""
    selectors: tuple[str, ...] = ()
    """CSS selectors that must each match at least one element."""
    json_keys: tuple[str, ...] = ()
    """Dotted key paths that must exist in a JSON object body."""

    def __post_init__(self) -> None:
        # Accept a set, a single string, any iterable; store hashable, canonical values.
        object.__setattr__(self, "status", frozenset(self.status))
        if isinstance(self.selectors, str):
            object.__setattr__(self, "selectors", (self.selectors,))
        if isinstance(self.json_keys, str):
            object.__setattr__(self, "json_keys", (self.json_keys,))
        if self.content_type is not None:
            object.__setattr__(self, "content_type", self.content_type.strip().lower())


def _has_path(data: Any, path: str) -> bool:
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def contract_problems(expect: Expect, response: Response) -> list[str]:
    """Every way ``response`` falls short of ``expect`` (empty when it meets it)."""
    if response.status not in expect.status:
        wanted = ", ".join(str(s) for s in sorted(expect.status))
        return [f"status {response.status}, expected {wanted}"]
    problems: list[str] = []
    if expect.content_type is not None and response.content_type != expect.content_type:
        got = response.content_type or "none"
        problems.append(f"content type {got!r}, expected {expect.content_type!r}")
    problems.extend(
        f"no element matches {selector!r}"
        for selector in expect.selectors
        if response.first(selector) is None
    )
    if expect.json_keys:
        try:
            data = response.json()
        except ParseError:
            problems.append("body is not JSON")
        else:
            problems.extend(
                f"JSON has no key {key!r}" for key in expect.json_keys if not _has_path(data, key)
            )
    return problems


def check_contract(expect: Expect, response: Response) -> None:
    """Raise :class:`ContractError` if ``response`` does not meet ``expect``."""
    problems = contract_problems(expect, response)
    if problems:
        raise ContractError(
            "response breaks its contract: " + "; ".join(problems),
            url=response.url,
            status=response.status,
        )
