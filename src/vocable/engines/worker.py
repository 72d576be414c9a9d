"""A dedicated thread for an engine's blocking calls, so the event loop never blocks.

Each engine owns one `BlockingWorker`. `run` awaits one call; `stream` turns a blocking generator
into an async iterator, and stops the generator between items as soon as the consumer stops
(barge-in). `close` joins the thread, so nothing is left running after shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from vocable.errors import PipelineClosedError

T = TypeVar("T")

_DONE = object()


class BlockingWorker:
    """One worker thread that runs blocking model calls in order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._executor: ThreadPoolExecutor | None = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"vocable-{name}"
        )

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            raise PipelineClosedError(f"worker {self.name} is closed")
        return self._executor

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` on the worker thread and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), fn, *args)

    async def stream(
        self, make: Callable[[threading.Event], Iterator[T]]
    ) -> AsyncGenerator[T, None]:
        """Iterate a blocking generator on the worker thread.

        ``make(stop)`` builds the generator; it should check ``stop.is_set()`` between items when
        an item can take long. When the consumer stops early (break, cancel, aclose), `stop` is
        set and this waits until the thread has left the generator.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()

        def put(item: object) -> None:
            with contextlib.suppress(RuntimeError):  # loop closed while the thread finished
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def produce() -> None:
            try:
                for item in make(stop):
                    if stop.is_set():
                        break
                    put(item)
            except BaseException as err:  # noqa: BLE001 - handed to the consumer as is
                put(err)
            finally:
                put(_DONE)

        future = loop.run_in_executor(self._pool(), produce)
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item  # type: ignore[misc]  # items put by produce() are T
        finally:
            stop.set()
            # Shielded so a cancelled consumer still waits for the thread to leave the model call.
            await asyncio.shield(future)

    async def close(self) -> None:
        """Wait for the running call to finish and stop the thread. Safe to call twice."""
        executor, self._executor = self._executor, None
        if executor is not None:
            # Queue a no-op behind any running call, so the join below does not block the loop.
            await asyncio.get_running_loop().run_in_executor(executor, lambda: None)
            executor.shutdown(wait=True)
