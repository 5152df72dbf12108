"""Where a discovery's walk goes after each page: a pure decision, tested by table."""

from __future__ import annotations

import pytest

from scrapeline.runner.walk import (
    Continue,
    JumpTo,
    Step,
    Stop,
    after_error,
    after_page,
    before_page,
)


@pytest.mark.parametrize(
    ("position", "end", "stopping", "expected"),
    [
        (0, None, False, None),
        (100, 100, False, None),  # the end offset itself is walked
        (120, 100, False, Stop(reason="end offset")),
        (120, 100, True, Stop(reason="end offset")),  # past the end says so, not "interrupted"
        (0, None, True, Stop(reason="interrupted")),
    ],
)
def test_before_a_page(
    position: int, end: int | None, stopping: bool, expected: Stop | None
) -> None:
    assert before_page(position=position, end=end, stopping=stopping) == expected


@pytest.mark.parametrize(
    ("new", "keys", "full", "furthest", "expected"),
    [
        # something new: go on to the next page
        (5, 20, False, None, Continue(next=40)),
        (20, 20, False, 400, Continue(next=40)),
        # an empty page ends the listing, wherever the walk was
        (0, 0, False, None, Stop(reason="end of listing", finished=True, next_position=20)),
        (0, 0, True, 400, Stop(reason="end of listing", finished=True, next_position=20)),
        # a known page stops an incremental walk
        (0, 20, False, None, Stop(reason="known page", finished=True, next_position=40)),
        # ... unless an earlier walk was cut short further on: resume there
        (0, 20, False, 400, JumpTo(position=400)),
        (0, 20, False, 40, JumpTo(position=40)),
        # a cut-short walk that got no further than here: nothing to resume
        (0, 20, False, 39, Stop(reason="known page", finished=True, next_position=40)),
        # --full walks past known pages
        (0, 20, True, None, Continue(next=40)),
        (0, 20, True, 400, Continue(next=40)),
    ],
)
def test_after_a_page(
    new: int, keys: int, full: bool, furthest: int | None, expected: Step
) -> None:
    assert (
        after_page(new=new, keys=keys, position=20, step=20, full=full, furthest=furthest)
        == expected
    )


@pytest.mark.parametrize(
    ("status", "first", "expected"),
    [
        # past the last page a listing answers 404 or 410: the walk is finished there
        (404, False, Stop(reason="end of listing", finished=True, next_position=20)),
        (410, False, Stop(reason="end of listing", finished=True, next_position=20)),
        # on the first page the walk fetches, a 404 is a wrong URL, not an empty listing
        (404, True, None),
        (410, True, None),
        # any other failure fails the walk
        (403, False, None),
        (500, False, None),
        (None, False, None),
    ],
)
def test_after_a_failed_page(status: int | None, first: bool, expected: Stop | None) -> None:
    assert after_error(status=status, position=20, first=first) == expected
