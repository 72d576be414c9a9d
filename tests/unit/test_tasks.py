"""Waiting on tasks keeps the waiter's own cancellation (vocable.pipeline.tasks)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from vocable.pipeline.tasks import cancel_and_wait, finished


async def slow_to_stop(release: asyncio.Event) -> None:
    """A task that, once cancelled, takes until `release` to end (a thread leaving a model)."""
    try:
        await asyncio.sleep(60)
    finally:
        await release.wait()


async def test_cancel_and_wait_ends_tasks_and_drops_their_outcomes() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    failed = asyncio.create_task(fails())
    await asyncio.sleep(0)
    sleeper = asyncio.create_task(asyncio.sleep(60))
    await cancel_and_wait(failed, sleeper, None)
    assert failed.done() and sleeper.cancelled()


async def test_cancel_and_wait_skips_the_running_task() -> None:
    await cancel_and_wait(asyncio.current_task())  # would wait for itself forever
    await asyncio.sleep(0)  # and is not cancelled


async def test_the_callers_cancellation_goes_through_cancel_and_wait() -> None:
    release = asyncio.Event()
    inner = asyncio.create_task(slow_to_stop(release))
    await asyncio.sleep(0)
    outer = asyncio.create_task(cancel_and_wait(inner))
    await asyncio.sleep(0.01)
    outer.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await outer
    await asyncio.wait({inner})
    assert inner.cancelled()


async def test_the_suppress_idiom_loses_the_callers_cancellation() -> None:
    """Why the helpers exist: this is the bug they replace."""
    release = asyncio.Event()
    inner = asyncio.create_task(slow_to_stop(release))
    await asyncio.sleep(0)

    async def old_idiom() -> str:
        inner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await inner
        return "ran on"

    outer = asyncio.create_task(old_idiom())
    await asyncio.sleep(0.01)
    outer.cancel()
    release.set()
    assert await outer == "ran on"


async def test_finished_returns_the_result_none_if_cancelled_and_raises_failures() -> None:
    async def value() -> int:
        return 7

    async def fails() -> int:
        raise ValueError("bad")

    assert await finished(asyncio.create_task(value())) == 7
    cancelled = asyncio.create_task(asyncio.sleep(60))
    await asyncio.sleep(0)
    cancelled.cancel()
    assert await finished(cancelled) is None
    with pytest.raises(ValueError, match="bad"):
        await finished(asyncio.create_task(fails()))


async def test_a_caller_cancelled_while_waiting_in_finished_is_cancelled() -> None:
    """`except CancelledError` around `await task` would read this as "the task was cancelled"."""
    inner = asyncio.create_task(asyncio.sleep(60))
    outer = asyncio.create_task(finished(inner))
    await asyncio.sleep(0.01)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    await asyncio.wait({inner})
    assert inner.cancelled()  # as with `await inner`, it goes down with its waiter
