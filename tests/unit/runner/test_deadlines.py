"""Deadlines: every in-flight item's time limit on one timer."""

from __future__ import annotations

import asyncio

import pytest

from scrapeline.runner.execute import Deadlines, deadline_from, time_left


async def test_an_item_done_in_time_is_never_cancelled() -> None:
    deadlines = Deadlines()

    async def quick() -> bool:
        me = deadlines.arm(0.05)
        await asyncio.sleep(0)
        return deadlines.disarm(me)

    assert await asyncio.gather(*(quick() for _ in range(10))) == [False] * 10
    await asyncio.sleep(0.1)  # the timer fires with nothing armed
    deadlines.close()


async def test_an_expired_item_is_cancelled_and_the_cancel_taken_back() -> None:
    deadlines = Deadlines()

    async def stuck() -> tuple[bool, int]:
        me = deadlines.arm(0.02)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            return deadlines.disarm(me), me.cancelling()
        raise AssertionError("not cancelled")

    assert await asyncio.wait_for(stuck(), timeout=5) == (True, 0)
    deadlines.close()


async def test_each_item_has_its_own_limit_on_the_one_timer() -> None:
    deadlines = Deadlines()
    loop = asyncio.get_running_loop()
    ended: dict[float, float] = {}

    async def one(limit: float) -> None:
        me = deadlines.arm(limit)
        started = loop.time()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            assert deadlines.disarm(me)
            ended[limit] = loop.time() - started

    # armed longest first: the shorter ones move the timer earlier
    await asyncio.wait_for(asyncio.gather(one(0.3), one(0.1), one(0.2)), timeout=5)
    assert sorted(ended, key=ended.__getitem__) == [0.1, 0.2, 0.3]
    assert all(limit <= took < limit + 0.1 for limit, took in ended.items())
    deadlines.close()


async def test_a_cancel_from_the_run_as_well_is_not_taken_for_the_timeout() -> None:
    deadlines = Deadlines()
    ready = asyncio.Event()

    async def stuck() -> None:
        me = deadlines.arm(0.02)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            me.cancel()  # the run cancels it too (a second Ctrl+C)
            ready.set()
            assert not deadlines.disarm(me)
            raise

    task = asyncio.ensure_future(stuck())
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)
    assert ready.is_set()
    deadlines.close()


# -- an item's clock stops while it waits for the host ---------------------------------


def limit_at_end(limit: float, began: float, events: list[tuple[str, float]]) -> float | None:
    """Where an item's limit stands after ``events`` (("pause" | "resume", loop time)),
    through the arithmetic Deadlines uses: its deadline while it works, None while it
    waits."""
    deadline: float | None = began + limit
    left = 0.0
    for what, now in events:
        if what == "pause" and deadline is not None:
            left, deadline = time_left(deadline, now), None
        elif what == "resume" and deadline is None:
            deadline = deadline_from(left, now)
    return deadline


@pytest.mark.parametrize(
    ("limit", "events", "deadline"),
    [
        (10.0, [], 10.0),
        (10.0, [("pause", 3.0), ("resume", 8.0)], 15.0),  # 5 s of waiting do not count
        (10.0, [("pause", 3.0), ("resume", 8.0), ("pause", 9.0), ("resume", 20.0)], 26.0),
        (10.0, [("pause", 3.0)], None),  # still waiting: no deadline
        (10.0, [("pause", 3.0), ("pause", 5.0), ("resume", 8.0)], 15.0),  # paused once
        (10.0, [("resume", 4.0)], 10.0),  # not waiting: nothing to resume
        (10.0, [("pause", 12.0), ("resume", 30.0)], 30.0),  # past its limit: none left
        (0.5, [("pause", 0.25), ("resume", 100.0)], 100.25),
    ],
)
def test_the_time_an_item_waits_is_left_out_of_its_limit(
    limit: float, events: list[tuple[str, float]], deadline: float | None
) -> None:
    assert limit_at_end(limit, 0.0, events) == deadline


async def test_a_waiting_item_is_not_cancelled_when_its_limit_would_have_passed() -> None:
    deadlines = Deadlines()

    async def waits() -> bool:
        me = deadlines.arm(0.02)
        deadlines.pause(me)
        await asyncio.sleep(0.2)  # ten times its limit, all of it waiting
        deadlines.resume(me)
        return deadlines.disarm(me)

    assert await asyncio.wait_for(waits(), timeout=5) is False
    deadlines.close()


async def test_a_resumed_item_is_cancelled_once_the_time_it_had_left_is_used_up() -> None:
    deadlines = Deadlines()

    async def stuck() -> bool:
        me = deadlines.arm(0.05)
        deadlines.pause(me)
        await asyncio.sleep(0.2)  # its limit would have passed meanwhile
        deadlines.resume(me)
        try:
            await asyncio.sleep(3600)  # now it works: the time it had left runs out
        except asyncio.CancelledError:
            return deadlines.disarm(me)
        raise AssertionError("not cancelled")

    assert await asyncio.wait_for(stuck(), timeout=5) is True
    deadlines.close()


async def test_an_item_that_ends_while_waiting_leaves_nothing_armed() -> None:
    deadlines = Deadlines()

    async def ends_waiting() -> bool:
        me = deadlines.arm(0.02)
        deadlines.pause(me)
        return deadlines.disarm(me)  # cancelled or failed in its wait

    assert await ends_waiting() is False
    await asyncio.sleep(0.05)  # the timer, had it been set again, would fire here
    deadlines.close()


async def test_a_wait_that_keeps_its_worker_stops_the_clock_but_gives_no_slot_up() -> None:
    from scrapeline.runner.slots import ItemWaits, WorkerSlots

    freed: list[int] = []
    slots = WorkerSlots(1, on_free=lambda: freed.append(slots.free))
    slots.take()
    deadlines = Deadlines()
    task = deadlines.arm(60.0)
    waits = ItemWaits(slots, deadlines, task)
    waits.began(keeps_worker=True)
    assert slots.free == 0 and freed == []  # still this item's worker
    waits.began()  # a retry's backoff as well: now the slot goes
    assert slots.free == 1 and freed == [1]
    waits.ended()
    assert slots.free == 0
    waits.ended(keeps_worker=True)
    assert slots.free == 0
    deadlines.disarm(task)
    deadlines.close()
