"""The HTTP layer of the LLM engines against a real HTTP/1.1 server on 127.0.0.1.

Retries before the first token only, typed errors, hanging up on close, and no leaks.
"""

from __future__ import annotations

import asyncio
import gc
import time
import warnings

import pytest

from tests.integration.conftest import with_settings
from tests.integration.test_llm_loopback import (
    TEXT,
    LoopbackServer,
    Reply,
    json_reply,
    ollama_server,
    ollama_settings,
    open_fds,
    settle,
)
from vocable.config import Settings
from vocable.engines.llm.base import ChatMessage
from vocable.engines.llm.http import HttpPolicy, ServerTransportError
from vocable.engines.llm.ollama import OllamaLLM
from vocable.errors import EngineUnavailableError, PipelineClosedError

HELLO = [ChatMessage("user", "hello")]


async def test_transient_failures_before_the_first_token_are_retried(
    session_settings: Settings,
) -> None:
    busy = json_reply({"error": "loading"}, status=503)
    dropped = Reply(lines=[], abort_after=0)
    async with ollama_server(busy, dropped, TEXT) as server:
        llm = await OllamaLLM.load(ollama_settings(session_settings, server, http_retries=2))
        try:
            pieces = [p async for p in llm.stream(HELLO)]
        finally:
            await llm.close()
    assert pieces == ["Hello", " there", "."]
    assert len(server.chat_requests()) == 3


async def test_retries_are_bounded_then_the_failure_is_permanent(
    session_settings: Settings,
) -> None:
    async with ollama_server(json_reply({"error": "busy"}, status=503)) as server:
        llm = await OllamaLLM.load(ollama_settings(session_settings, server, http_retries=2))
        try:
            with pytest.raises(EngineUnavailableError, match="after 3 attempts") as caught:
                [_ async for _ in llm.stream(HELLO)]
        finally:
            await llm.close()
    assert caught.value.code == "llm.server_busy" and not caught.value.transient
    assert len(server.chat_requests()) == 3


async def test_a_stall_before_the_first_token_times_out_and_is_retried(
    session_settings: Settings,
) -> None:
    async with ollama_server(Reply(stall_before_headers=True), TEXT) as server:
        settings = ollama_settings(session_settings, server, http_read_timeout_s=0.2)
        llm = await OllamaLLM.load(settings)
        try:
            start = time.perf_counter()
            pieces = [p async for p in llm.stream(HELLO)]
            took = time.perf_counter() - start
        finally:
            await llm.close()
    assert pieces == ["Hello", " there", "."]
    assert 0.2 <= took < 2.0
    assert len(server.chat_requests()) == 2


async def test_the_server_going_away_mid_stream_is_a_typed_error_and_never_retried(
    session_settings: Settings,
) -> None:
    half = Reply(lines=TEXT.lines, abort_after=2)
    async with ollama_server(half, TEXT) as server:
        llm = await OllamaLLM.load(ollama_settings(session_settings, server))
        received: list[object] = []
        try:
            with pytest.raises(ServerTransportError) as caught:
                async for item in llm.stream(HELLO):
                    received.append(item)
        finally:
            await llm.close()
    assert received == ["Hello", " there"]
    assert caught.value.code == "llm.stream_broken" and caught.value.transient
    assert len(server.chat_requests()) == 1


async def test_closing_the_stream_hangs_up_at_once(session_settings: Settings) -> None:
    async with ollama_server(Reply(lines=TEXT.lines, stall_after=2)) as server:
        llm = await OllamaLLM.load(ollama_settings(session_settings, server))
        try:
            stream = llm.stream(HELLO)
            assert [await anext(stream), await anext(stream)] == ["Hello", " there"]
            start = time.perf_counter()
            await stream.aclose()
            closed_s = time.perf_counter() - start
            await asyncio.wait_for(server.hung_up.wait(), timeout=2)
        finally:
            await llm.close()
    assert closed_s < 0.1
    assert server.hung_up_mid_reply == 1


async def test_an_unreachable_server_fails_fast_and_clearly(session_settings: Settings) -> None:
    async with LoopbackServer() as gone:
        url = gone.url
    settings = with_settings(session_settings, llm={"ollama_url": url})
    start = time.perf_counter()
    with pytest.raises(EngineUnavailableError, match="Ollama is not reachable at") as caught:
        await OllamaLLM.load(settings)
    assert time.perf_counter() - start < 2.0
    assert caught.value.code == "llm.unreachable"
    assert url in caught.value.message and "VOCABLE_LLM__OLLAMA_URL" in caught.value.message


async def test_a_closed_engine_refuses_to_stream(session_settings: Settings) -> None:
    async with ollama_server(TEXT) as server:
        llm = await OllamaLLM.load(ollama_settings(session_settings, server))
        await llm.close()
        await llm.close()
        with pytest.raises(PipelineClosedError):
            [_ async for _ in llm.stream(HELLO)]


def test_backoff_doubles_with_jitter() -> None:
    policy = HttpPolicy(backoff_s=0.1)
    for retry in range(4):
        delays = [policy.backoff(retry) for _ in range(200)]
        top = 0.1 * 2**retry
        assert all(top / 2 <= d <= top for d in delays)
        assert max(delays) - min(delays) > top / 10  # jittered, not fixed


async def test_200_streamed_requests_leak_no_socket_nor_descriptor(
    session_settings: Settings,
) -> None:
    async with ollama_server(TEXT) as server:
        settings = ollama_settings(session_settings, server, http_max_connections=2)
        gc.collect()
        baseline = open_fds()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            llm = await OllamaLLM.load(settings)
            peak_sockets = 0
            for _ in range(200):
                assert [p async for p in llm.stream(HELLO)] == ["Hello", " there", "."]
                peak_sockets = max(peak_sockets, open_fds()[1])
            await llm.close()
            after = await settle(baseline)
            gc.collect()
        assert len(server.chat_requests()) == 200
    assert after == baseline
    # Pooled: both ends of at most `http_max_connections` connections were ever open at once.
    assert peak_sockets <= baseline[1] + 2 * 2
    assert server.connections <= 2
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


async def test_more_replies_than_connections_wait_then_report_busy(
    session_settings: Settings,
) -> None:
    async with ollama_server(Reply(lines=TEXT.lines, stall_after=1)) as server:
        settings = ollama_settings(
            session_settings,
            server,
            http_max_connections=1,
            http_connect_timeout_s=0.2,
            http_retries=0,
        )
        llm = await OllamaLLM.load(settings)
        try:
            holding = llm.stream(HELLO)
            assert await anext(holding) == "Hello"
            with pytest.raises(EngineUnavailableError, match="http_max_connections") as caught:
                [_ async for _ in llm.stream(HELLO)]
            await holding.aclose()
        finally:
            await llm.close()
    assert caught.value.code == "llm.server_busy"
    assert len(server.chat_requests()) == 1


async def test_a_stall_mid_reply_is_a_timeout_and_never_retried(
    session_settings: Settings,
) -> None:
    async with ollama_server(Reply(lines=TEXT.lines, stall_after=1)) as server:
        settings = ollama_settings(session_settings, server, http_read_timeout_s=0.2)
        llm = await OllamaLLM.load(settings)
        received: list[object] = []
        try:
            with pytest.raises(ServerTransportError, match="sent nothing for 0.2 s") as caught:
                async for item in llm.stream(HELLO):
                    received.append(item)
        finally:
            await llm.close()
    assert received == ["Hello"]
    assert caught.value.code == "llm.timeout" and caught.value.transient
    assert len(server.chat_requests()) == 1
