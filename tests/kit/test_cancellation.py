"""`cancel_and_wait` stops a task even when Python 3.11's `asyncio.wait_for` loses the cancel."""

from __future__ import annotations

import asyncio
import sys

import pytest

from mboa.kit.cancellation import RECANCEL_AFTER_SECONDS, cancel_and_wait


async def _victim(inner: asyncio.Future[int], reached_after: asyncio.Event) -> None:
    await asyncio.wait_for(inner, 10)
    reached_after.set()
    await asyncio.Event().wait()  # like a pub/sub read: blocks until cancelled


async def _waiting_in_wait_for() -> tuple[asyncio.Task[None], asyncio.Future[int], asyncio.Event]:
    """A task waiting inside `wait_for(inner)`; completing `inner` in the same turn as a cancel
    is what loses the cancel."""
    inner: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    reached_after = asyncio.Event()
    task = asyncio.create_task(_victim(inner, reached_after))
    await asyncio.sleep(0)
    return task, inner, reached_after


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="wait_for was fixed in 3.12")
async def test_a_single_cancel_can_be_lost_on_311() -> None:
    # The race itself (python/cpython#86296), shown so the helper below is known to be needed.
    task, inner, reached_after = await _waiting_in_wait_for()
    inner.set_result(1)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=0.3)
    assert not done
    assert reached_after.is_set()
    await cancel_and_wait(task)


async def test_cancel_and_wait_stops_a_task_whose_cancel_was_lost() -> None:
    task, inner, _ = await _waiting_in_wait_for()
    # The helper runs on its own (a version that hangs fails here rather than being rescued by a
    # cancellation of the test), and its first cancel lands in the same turn as the inner
    # future's result: that is the cancel wait_for loses.
    stopping = asyncio.create_task(cancel_and_wait(task))
    inner.set_result(1)
    done, _ = await asyncio.wait({stopping}, timeout=RECANCEL_AFTER_SECONDS + 2)
    try:
        assert stopping in done, "cancel_and_wait did not stop the task"
        stopping.result()
        assert task.cancelled()
    finally:  # after a failure, leave nothing running
        stopping.cancel()
        task.cancel()


async def test_cleanup_after_the_cancel_is_not_cut_short() -> None:
    cleaned_up = asyncio.Event()

    async def with_slow_cleanup() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(RECANCEL_AFTER_SECONDS / 4)  # closing a connection, say
            cleaned_up.set()

    task = asyncio.create_task(with_slow_cleanup())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert cleaned_up.is_set()


async def test_cancel_and_wait_raises_what_the_task_raised() -> None:
    async def failing() -> None:
        raise ValueError("boom")

    task = asyncio.create_task(failing())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="boom"):
        await cancel_and_wait(task)


async def test_cancel_and_wait_on_a_finished_task_returns() -> None:
    async def quick() -> int:
        return 1

    task = asyncio.create_task(quick())
    await task
    await cancel_and_wait(task)
