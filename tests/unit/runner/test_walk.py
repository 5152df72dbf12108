"""Where a discovery's walk goes after each page: a pure decision, tested by table."""

from __future__ import annotations

import pytest

from scrapeline.runner.walk import (
    Continue,
    JumpTo,
    Position,
    Step,
    Stop,
    after_error,
    after_page,
    before_page,
    resume_point,
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
        after_page(new=new, keys=keys, position=20, following=40, full=full, furthest=furthest)
        == expected
    )


@pytest.mark.parametrize(
    ("new", "keys", "following", "expected"),
    [
        # the page a walk jumped to may have been stored by the cut-short walk just
        # before it was killed (before it saved where it was): a known page there
        # goes on, once
        (0, 20, 40, Continue(next=40)),
        (3, 20, 40, Continue(next=40)),
        (0, 0, 40, Stop(reason="end of listing", finished=True, next_position=20)),
        (0, 20, None, Stop(reason="last page", finished=True, next_position=20)),
    ],
)
def test_after_the_page_a_walk_resumed_at(
    new: int, keys: int, following: int | None, expected: Step
) -> None:
    got = after_page(
        new=new,
        keys=keys,
        position=20,
        following=following,
        full=False,
        furthest=None,
        resumed=True,
    )
    assert got == expected


@pytest.mark.parametrize(
    ("new", "keys", "position", "following", "full", "furthest", "expected"),
    [
        # the response said this page is the last: finished, once its items are stored
        (5, 20, 3, None, False, None, Stop(reason="last page", finished=True, next_position=3)),
        (5, 20, 3, None, True, 9, Stop(reason="last page", finished=True, next_position=3)),
        (0, 20, 3, None, False, 9, Stop(reason="last page", finished=True, next_position=3)),
        # ... an empty page says more: there was nothing on it
        (0, 0, 3, None, False, None, Stop(reason="end of listing", finished=True, next_position=3)),
        # cursors: the discovery named the next page
        (5, 20, None, "c2", False, None, Continue(next="c2")),
        (5, 20, "c2", "c3", False, "c9", Continue(next="c3")),
        (0, 20, "c2", "c3", True, None, Continue(next="c3")),
        # ... it named none: the listing ended
        (
            5,
            20,
            "c2",
            None,
            False,
            None,
            Stop(reason="last page", finished=True, next_position="c2"),
        ),
        (
            5,
            20,
            None,
            None,
            False,
            None,
            Stop(reason="last page", finished=True, next_position=None),
        ),
        # a known page ends an incremental walk by cursor as by offset
        (
            0,
            20,
            None,
            "c2",
            False,
            None,
            Stop(reason="known page", finished=True, next_position="c2"),
        ),
        # ... unless a cut-short walk left a cursor: cursors have no order, so go there
        (0, 20, None, "c2", False, "c9", JumpTo(position="c9")),
        (0, 20, "c5", "c6", False, "c2", JumpTo(position="c2")),
    ],
)
def test_after_a_page_the_response_said_where_next(
    new: int,
    keys: int,
    position: Position,
    following: Position,
    full: bool,
    furthest: Position,
    expected: Step,
) -> None:
    assert (
        after_page(
            new=new,
            keys=keys,
            position=position,
            following=following,
            full=full,
            furthest=furthest,
        )
        == expected
    )


@pytest.mark.parametrize(
    ("position", "furthest", "expected"),
    [
        (40, None, 40),
        (40, 400, 400),  # a walk over the top of the listing keeps the backfill's place
        (500, 400, 500),
        ("c2", None, "c2"),
        ("c2", "c9", "c9"),  # cursors have no order: the cut-short walk's until it is reached
        (None, None, None),
    ],
)
def test_where_a_walk_is_saved_to_resume(
    position: Position, furthest: Position, expected: Position
) -> None:
    assert resume_point(position, furthest) == expected


def test_a_cursor_past_the_end_offset_is_not_compared() -> None:
    assert before_page(position="c2", end=100, stopping=False) is None


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
