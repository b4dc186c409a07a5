"""Shutdown must not hang on a task that swallowed its cancel (redis-py can do that when
the cancel lands in a blocking XREADGROUP: the read returns in the cancelled task)."""

from __future__ import annotations

import asyncio
import time

from engine.service import _cancel_and_wait


def test_a_task_that_swallows_its_cancel_is_cancelled_again_until_it_ends():
    async def main():
        stages = []

        async def stubborn():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                stages.append("swallowed")  # as redis-py does: the read "returns"
            stages.append("waiting on something else")
            await asyncio.sleep(10)  # e.g. a full hand-off queue nobody reads any more

        task = asyncio.get_running_loop().create_task(stubborn(), name="stubborn")
        await asyncio.sleep(0.01)
        t0 = time.monotonic()
        await _cancel_and_wait(task, every=0.05)
        took = time.monotonic() - t0
        assert task.cancelled()
        assert stages == ["swallowed", "waiting on something else"]
        assert took < 1.0  # not the ten seconds it would otherwise wait

        async def obedient():
            await asyncio.sleep(10)

        task = asyncio.get_running_loop().create_task(obedient())
        await asyncio.sleep(0)
        t0 = time.monotonic()
        await _cancel_and_wait(task, every=5.0)
        assert task.cancelled() and time.monotonic() - t0 < 1.0

    asyncio.run(main())
