"""ctx.hand_on: a stage hands JSON values on to its item's later stages; a value that
is not JSON is refused at the call, and a failed stage hands on nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from scrapeline.context import Context
from scrapeline.errors import ValidationError
from scrapeline.fetch.response import Response
from scrapeline.model import Item
from scrapeline.pipeline import Pipeline
from scrapeline.runner.execute import execute


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
        raise AssertionError("hand_on never fetches")


def context(stage: str | None = "overview") -> Context:
    return Context(fetch=NoNetwork(), config={}, run_id=1, stage=stage, item=Item(key=7))


def test_values_handed_on_are_collected_and_a_later_value_wins() -> None:
    ctx = context()
    ctx.hand_on(performance_url="/matches/7/performance", maps=[1, 2])
    ctx.hand_on(performance_url="/matches/7/performance?v=2", rounds={"first": 12})
    assert ctx.handed == {
        "performance_url": "/matches/7/performance?v=2",
        "maps": [1, 2],
        "rounds": {"first": 12},
    }


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (object(), "object"),
        ({1, 2}, "set"),
        (b"raw", "bytes"),
        (2**70, "int"),
        ([1, object()], "list"),
    ],
    ids=["object", "set", "bytes", "past 64 bits", "nested"],
)
def test_a_value_that_is_not_json_is_refused_at_the_call(value: object, named: str) -> None:
    ctx = context()
    with pytest.raises(TypeError, match=rf"hand_on\(url=\.\.\.\) takes JSON values .* not {named}"):
        ctx.hand_on(ok="/fine", url=value)
    assert ctx.handed == {}


def test_a_discovery_cannot_hand_on() -> None:
    with pytest.raises(ValidationError, match=r"hand_on\(\) is for stages"):
        context(stage=None).hand_on(url="/x")


def pipeline(fails: bool) -> Pipeline:
    pipe = Pipeline("handing", base_url="http://127.0.0.1:9")

    @pipe.stage("overview", on="match")
    async def overview(ctx: Context, item: Item) -> None:
        ctx.hand_on(economy_url=f"/matches/{item.key}/economy")
        if fails:
            raise ValueError("no score on the page")

    return pipe


@pytest.mark.parametrize("fails", [False, True], ids=["succeeds", "fails"])
def test_what_a_stage_hands_on_leaves_with_its_success_only(fails: bool) -> None:
    pipe = pipeline(fails)
    done = asyncio.run(
        execute(
            pipe,
            pipe.stages["overview"],
            Item(key=7, kind="match"),
            fetch=NoNetwork(),
            timeout=None,
        )
    )
    assert done.ok is not fails
    assert done.handed == (None if fails else {"economy_url": "/matches/7/economy"})
