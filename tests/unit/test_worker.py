"""BlockingWorker: one thread per engine for blocking calls, closed without leftovers."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator

import pytest

from vocable.engines.worker import BlockingWorker
from vocable.errors import PipelineClosedError


def live(name: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(f"vocable-{name}")]


async def test_run_returns_the_result_from_the_worker_thread() -> None:
    worker = BlockingWorker("t-run")
    try:
        name = await worker.run(lambda: threading.current_thread().name)
        assert name.startswith("vocable-t-run")
        assert await worker.run(pow, 2, 10) == 1024
    finally:
        await worker.close()


async def test_run_does_not_block_the_loop() -> None:
    worker = BlockingWorker("t-block")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        await worker.run(time.sleep, 0.2)
    finally:
        ticker.cancel()
        await worker.close()
    assert ticks >= 10


async def test_calls_run_one_at_a_time_in_order() -> None:
    worker = BlockingWorker("t-order")
    seen: list[int] = []

    def record(i: int) -> None:
        time.sleep(0.002)
        seen.append(i)

    try:
        await asyncio.gather(*(worker.run(record, i) for i in range(10)))
    finally:
        await worker.close()
    assert seen == list(range(10))


async def test_stream_yields_every_item_in_order() -> None:
    worker = BlockingWorker("t-stream")
    try:
        items = [i async for i in worker.stream(lambda stop: iter(range(50)))]
    finally:
        await worker.close()
    assert items == list(range(50))


async def test_stopping_early_stops_the_generator() -> None:
    worker = BlockingWorker("t-early")
    produced: list[int] = []
    finished = threading.Event()
    stop_seen: list[bool] = []

    def make(stop: threading.Event) -> Iterator[int]:
        try:
            for i in range(1000):
                time.sleep(0.002)
                produced.append(i)
                yield i
        finally:
            stop_seen.append(stop.is_set())
            finished.set()

    try:
        stream = worker.stream(make)
        assert [await anext(stream), await anext(stream)] == [0, 1]
        start = time.perf_counter()
        await stream.aclose()
        close_s = time.perf_counter() - start
        assert finished.is_set()  # aclose waited for the thread to leave the generator
        assert stop_seen == [True]
        assert close_s < 0.1
        assert len(produced) < 20
        assert await worker.run(lambda: "idle") == "idle"
    finally:
        await worker.close()


async def test_cancelling_the_consumer_stops_the_generator() -> None:
    worker = BlockingWorker("t-cancel")
    finished = threading.Event()

    def make(stop: threading.Event) -> Iterator[int]:
        try:
            i = 0
            while not stop.is_set():
                time.sleep(0.002)
                i += 1
                yield i
        finally:
            finished.set()

    async def consume() -> None:
        async with contextlib.aclosing(worker.stream(make)) as items:
            async for _ in items:
                await asyncio.sleep(0)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished.is_set()
    await worker.close()


async def test_exceptions_propagate_from_run_and_stream() -> None:
    worker = BlockingWorker("t-error")

    def boom() -> None:
        raise ValueError("bad input")

    def broken(stop: threading.Event) -> Iterator[int]:
        yield 1
        raise KeyError("lost")

    try:
        with pytest.raises(ValueError, match="bad input"):
            await worker.run(boom)
        got: list[int] = []
        with pytest.raises(KeyError, match="lost"):
            async for item in worker.stream(broken):
                got.append(item)
        assert got == [1]
        assert await worker.run(lambda: "still works") == "still works"
    finally:
        await worker.close()


async def test_close_joins_the_thread_and_a_closed_worker_refuses_work() -> None:
    worker = BlockingWorker("t-close")
    await worker.run(lambda: None)
    assert live("t-close")
    await worker.close()
    assert live("t-close") == []
    await worker.close()  # safe twice
    with pytest.raises(PipelineClosedError):
        await worker.run(lambda: None)
    with pytest.raises(PipelineClosedError):
        await anext(worker.stream(lambda stop: iter([1])))


async def test_close_waits_for_the_running_call() -> None:
    worker = BlockingWorker("t-wait")
    done = threading.Event()

    def slow() -> None:
        time.sleep(0.1)
        done.set()

    call = asyncio.create_task(worker.run(slow))
    await asyncio.sleep(0.01)
    await worker.close()
    assert done.is_set() and live("t-wait") == []
    await call
    with contextlib.suppress(PipelineClosedError):
        await worker.close()
