"""ctx.emit: a child item is given one way, as an Item or as an Item's fields by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from scrapeline.context import Context
from scrapeline.errors import ValidationError
from scrapeline.fetch.response import Response
from scrapeline.model import Item


class NoNetwork:
    async def get(
        self,
        url: str,
        *,
        stage: str | None = None,
        item_key: str | None = None,
        expect: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        raise AssertionError("emit never fetches")


def context(emits: str | None = "half") -> Context:
    return Context(
        fetch=NoNetwork(), config={}, run_id=1, stage="overview", item=Item(key=7), emits=emits
    )


@pytest.mark.parametrize(
    ("emits", "call", "expected"),
    [
        (
            "half",
            lambda ctx: ctx.emit(key="7-1", data={"half": 1}),
            Item(key="7-1", kind="half", data={"half": 1}),
        ),
        (
            "half",
            lambda ctx: ctx.emit(key="7-1", date="2025-05-25"),
            Item(key="7-1", kind="half", date="2025-05-25"),
        ),
        (
            None,
            lambda ctx: ctx.emit(key="7-1", kind="map", data={"n": 1}),
            Item(key="7-1", kind="map", data={"n": 1}),
        ),
        (
            "half",
            lambda ctx: ctx.emit(key="7-1", kind="map"),  # a given kind wins over emits
            Item(key="7-1", kind="map"),
        ),
        (
            "half",
            lambda ctx: ctx.emit(Item(key="7-2", data={"half": 2})),
            Item(key="7-2", kind="half", data={"half": 2}),
        ),
        (
            None,
            lambda ctx: ctx.emit(Item(key="7-2", kind="map", date="2025-05-25")),
            Item(key="7-2", kind="map", date="2025-05-25"),
        ),
    ],
)
def test_the_two_ways_give_the_same_child(emits: str | None, call: Any, expected: Item) -> None:
    ctx = context(emits)
    call(ctx)
    assert ctx.children == [expected]


def test_data_given_as_keywords_is_refused_naming_data() -> None:
    ctx = context()
    with pytest.raises(TypeError, match=r"emit\(\) got match_id=, half=: .*data=\{\.\.\.\}"):
        ctx.emit(key="7-1", match_id=7, half=1)
    assert ctx.children == []


def test_an_item_and_its_fields_at_once_are_refused() -> None:
    ctx = context()
    with pytest.raises(TypeError, match="not both"):
        ctx.emit(Item(key="7-1"), data={"half": 1})
    assert ctx.children == []


@pytest.mark.parametrize(
    ("emits", "call", "message"),
    [
        ("half", lambda ctx: ctx.emit(data={"half": 1}), "emit needs an Item or a key="),
        (None, lambda ctx: ctx.emit(key="7-1"), "has no kind"),
        (None, lambda ctx: ctx.emit(Item(key="7-1")), "has no kind"),
    ],
)
def test_a_child_that_cannot_be_stored_is_a_validation_error(
    emits: str | None, call: Any, message: str
) -> None:
    ctx = context(emits)
    with pytest.raises(ValidationError, match=message):
        call(ctx)
    assert ctx.children == []


def test_the_data_is_the_childs_own_copy() -> None:
    ctx = context()
    data = {"half": 1}
    ctx.emit(key="7-1", data=data)
    data["half"] = 2
    assert ctx.children[0].data == {"half": 1}
