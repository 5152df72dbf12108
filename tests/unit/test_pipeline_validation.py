"""Declarations the ledger could not hold, and stages that could never run, are refused
when the pipeline is declared or validated, in one line, never at the first run."""

from __future__ import annotations

import re

import pytest

from scrapeline.errors import PipelineError
from scrapeline.ledger.schema import MIGRATIONS
from scrapeline.model import Item
from scrapeline.pipeline import RESERVED_TABLES, Pipeline


async def _noop(ctx: object, item: object) -> None:
    return None


async def _listing(ctx: object, position: object):  # type: ignore[no-untyped-def]
    yield Item(key=1)


def football() -> Pipeline:
    pipe = Pipeline("football")
    pipe.discover("match")(_listing)
    return pipe


@pytest.mark.parametrize(
    "name",
    [
        "sqlite_stat1",
        "sqlite_sequence",
        "SQLITE_master",
        "runs",
        "items",
        "Tasks",
        "records",
        "attempts",
        "walks",
        "stages",
        "items_parent",
        "tasks_status_stage",
    ],
)
def test_a_table_named_like_the_ledgers_own_is_refused(name: str) -> None:
    with pytest.raises(PipelineError, match="kept by the ledger") as caught:
        football().table(name, key="id")
    assert "\n" not in str(caught.value) and repr(name) in str(caught.value)


@pytest.mark.parametrize("name", ["", "  ", 'say "hi"', "tab\tname"])
def test_a_table_name_the_ledger_cannot_quote_is_refused(name: str) -> None:
    with pytest.raises(PipelineError, match="table name must be"):
        football().table(name, key="id")


@pytest.mark.parametrize("name", ["matches", "match_stats", "match-stats", "runs_by_team"])
def test_ordinary_table_names_are_accepted(name: str) -> None:
    assert football().table(name, key="id").name == name


def test_every_name_the_ledger_schema_creates_is_reserved() -> None:
    created = {
        m.group(1).lower()
        for migration in MIGRATIONS
        for m in re.finditer(r"CREATE\s+(?:TABLE|INDEX|VIEW)\s+(\w+)", migration, re.I)
    }
    assert created and created <= RESERVED_TABLES


def test_a_stage_on_a_kind_nothing_produces_is_refused_naming_stage_and_kind() -> None:
    pipe = football()
    pipe.stage("overview", on="match")(_noop)
    pipe.stage("half_stats", on="half")(_noop)
    with pytest.raises(PipelineError) as caught:
        pipe.validate()
    message = str(caught.value)
    assert "'half_stats'" in message and "'half'" in message and "\n" not in message


def test_a_kind_a_stage_emits_or_a_discovery_yields_is_produced() -> None:
    pipe = football()
    pipe.stage("overview", on="match", emits="half")(_noop)
    pipe.stage("half_stats", on="half")(_noop)
    pipe.validate()


def test_a_stage_may_declare_several_kinds_it_emits() -> None:
    pipe = football()
    pipe.stage("overview", on="match", emits=("half", "map"))(_noop)
    pipe.stage("half_stats", on="half")(_noop)
    pipe.stage("map_stats", on="map")(_noop)
    pipe.validate()
    overview = pipe.stages["overview"]
    assert overview.produces == ("half", "map")
    assert overview.emits is None  # ctx.emit(key=...) would not know which kind


def test_one_emitted_kind_is_the_default_kind_of_ctx_emit() -> None:
    pipe = football()
    pipe.stage("overview", on="match", emits="half")(_noop)
    assert pipe.stages["overview"].emits == "half"
    assert pipe.stages["overview"].produces == ("half",)
