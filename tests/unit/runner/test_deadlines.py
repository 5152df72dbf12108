"""Deadlines: every in-flight item's time limit on one timer."""

from __future__ import annotations

import asyncio

import pytest

from scrapeline.runner.execute import Deadlines


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
