"""Stage selection (only these stages, skip those), as a pure decision."""

from __future__ import annotations

import pytest

from scrapeline.errors import ConfigError
from scrapeline.runner.selection import selected_stages

NAMES = ("overview", "half_stats", "events")


@pytest.mark.parametrize(
    ("only", "skip", "selected"),
    [
        (None, (), None),
        (("overview",), (), ("overview",)),
        (None, ("half_stats",), ("overview", "events")),
        (("overview", "events"), ("events",), ("overview",)),
        (None, NAMES, ()),  # every stage skipped: the run only discovers
    ],
)
def test_the_stages_a_run_claims(
    only: tuple[str, ...] | None, skip: tuple[str, ...], selected: tuple[str, ...] | None
) -> None:
    assert selected_stages(NAMES, only=only, skip=skip, pipeline="football") == selected


@pytest.mark.parametrize(
    ("only", "skip", "message"),
    [
        (
            None,
            ("stats",),
            "skip_stages: unknown stage 'stats': pipeline 'football' has "
            "overview, half_stats, events",
        ),
        (
            ("overview", "Overview"),
            (),
            "stages: unknown stage 'Overview': pipeline 'football' has "
            "overview, half_stats, events",
        ),
    ],
)
def test_an_unknown_stage_is_refused_naming_the_pipelines(
    only: tuple[str, ...] | None, skip: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        selected_stages(NAMES, only=only, skip=skip, pipeline="football")
    assert str(refused.value) == message
