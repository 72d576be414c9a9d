"""Load several engines at once, and close a set of engines whatever fails."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from vocable.engines.base import Engine

log = logging.getLogger("vocable.engines.loader")


async def load_concurrently(
    loaders: Mapping[str, Callable[[], Awaitable[Any]]],
) -> tuple[dict[str, Any], dict[str, BaseException], dict[str, float]]:
    """Run every loader at once. Returns (loaded, failed, seconds) by name, in loader order.

    If the caller is cancelled, the loads are cancelled too and whatever loaded is closed.
    """

    async def timed(load: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
        start = time.perf_counter()
        engine = await load()
        return engine, time.perf_counter() - start

    tasks = {
        name: asyncio.create_task(timed(load), name=f"vocable:load-{name}")
        for name, load in loaders.items()
    }
    if not tasks:
        return {}, {}, {}
    try:
        await asyncio.wait(tasks.values())
    except asyncio.CancelledError:
        for task in tasks.values():
            task.cancel()
        await asyncio.wait(tasks.values())
        await close_all([t.result()[0] for t in tasks.values() if succeeded(t)])
        raise
    loaded: dict[str, Any] = {}
    failed: dict[str, BaseException] = {}
    seconds: dict[str, float] = {}
    for name, task in tasks.items():
        if succeeded(task):
            loaded[name], seconds[name] = task.result()
        else:
            failed[name] = (
                asyncio.CancelledError() if task.cancelled() else task.exception()
            ) or RuntimeError("the load task ended without a result")
    return loaded, failed, seconds


def succeeded(task: asyncio.Task[Any]) -> bool:
    """Whether `task` finished with a result (not cancelled, no exception)."""
    return task.done() and not task.cancelled() and task.exception() is None


async def close_all(engines: Sequence[Engine]) -> None:
    """Close each engine; a failure is logged and does not stop the others."""
    for engine in engines:
        try:
            await engine.close()
        except Exception:  # noqa: BLE001 - closing the rest matters more
            log.exception("closing the %s engine failed", engine.info.kind)
