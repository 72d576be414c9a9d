"""Waiting on tasks without losing the waiter's own cancellation.

``task.cancel(); with suppress(CancelledError): await task`` and ``except CancelledError`` around
``await task`` cannot tell the task's cancellation from the caller's: when the caller is cancelled
while it waits, the error is swallowed and the caller runs on. A loop that should have stopped
then waits for input that never comes, and whoever awaits it hangs. These helpers wait through
`asyncio.wait`, which never raises the awaited task's outcome, so only the caller's own
cancellation reaches it.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

T = TypeVar("T")


async def finished(task: asyncio.Future[T]) -> T | None:
    """Await `task` and return its result, or None if it was cancelled.

    Its exception, if it failed, is raised. As with ``await task``, a cancellation of the caller
    cancels `task` too, and propagates.
    """
    try:
        await asyncio.wait({task})
    except asyncio.CancelledError:
        task.cancel()
        raise
    return None if task.cancelled() else task.result()


async def cancel_and_wait(*tasks: asyncio.Future[Any] | None) -> None:
    """Cancel `tasks` (None and the running task are skipped) and wait until each has ended.

    Their results and errors are dropped; a cancellation of the caller propagates.
    """
    pending = {t for t in tasks if t is not None and t is not asyncio.current_task()}
    for task in pending:
        task.cancel()
    if not pending:
        return
    await asyncio.wait(pending)
    for task in pending:
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it as never retrieved
