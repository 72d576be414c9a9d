"""The LLM fallback chain from ``llm.engines``: Ollama first, embedded llama.cpp behind it."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import with_settings, worker_threads
from tests.integration.test_llm_loopback import (
    TEXT,
    LoopbackServer,
    Reply,
    json_reply,
    ollama_server,
)
from vocable.config import Settings
from vocable.engines.llm.base import ChatMessage
from vocable.engines.llm.chain import LLMChain, load_llm_chain
from vocable.engines.loader import load_engines, load_llm
from vocable.errors import ConfigError, EngineUnavailableError

HELLO = [ChatMessage("user", "hello")]


def chain_settings(settings: Settings, tiny_gguf: Path, url: str, **llm: Any) -> Settings:
    values = {
        "engines": ["ollama", "llama_cpp"],
        "model_path": tiny_gguf,
        "max_tokens": 8,
        "ollama_url": url,
        "http_retry_backoff_s": 0.01,
        "first_token_timeout_s": 5.0,  # generous: llama.cpp gets it too, on a busy machine
    }
    return with_settings(settings, llm={**values, **llm})


class Switches(list[tuple[str, str, str]]):
    def __call__(self, before: str, after: str, reason: str) -> None:
        self.append((before, after, reason))


async def test_default_is_embedded_llama_cpp_alone_with_no_budget(
    session_settings: Settings, tiny_gguf: Path
) -> None:
    llm = await load_llm(with_settings(session_settings, llm={"model_path": tiny_gguf}))
    try:
        assert isinstance(llm, LLMChain)
        assert [e.info.name for e in llm.engines] == ["llama.cpp"]
        assert llm.chain.first_item_timeout_s is None
        assert llm.info.name == "llama.cpp" and not llm.supports_tools
        assert [p async for p in llm.stream(HELLO)]
    finally:
        await llm.close()


async def test_an_unreachable_ollama_is_skipped_with_its_reason(
    session_settings: Settings, tiny_gguf: Path
) -> None:
    async with LoopbackServer() as gone:
        url = gone.url
    settings = chain_settings(session_settings, tiny_gguf, url)
    engines = await load_engines(settings, kinds=("llm",))
    try:
        health = engines.health()["llm"]
        assert health["ready"] and health["chain"] == ["llama.cpp"]
        assert health["active"] == "llama.cpp"
        assert "llm.unreachable" in health["skipped"]["ollama"]
        assert url in health["skipped"]["ollama"]
    finally:
        await engines.close()


async def test_a_stalling_ollama_falls_back_on_the_first_token_budget(
    session_settings: Settings, tiny_gguf: Path
) -> None:
    switches = Switches()
    async with ollama_server(Reply(stall_before_headers=True)) as server:
        settings = chain_settings(
            session_settings, tiny_gguf, server.url, first_token_timeout_s=1.0
        )
        llm = await load_llm_chain(settings, on_switch=switches)
        try:
            assert [e.info.name for e in llm.engines] == ["ollama", "llama.cpp"]
            assert llm.info.name == "ollama" and llm.supports_tools
            loop = asyncio.get_running_loop()
            start = loop.time()
            pieces = [p async for p in llm.stream(HELLO)]
            took = loop.time() - start
            await asyncio.wait_for(server.hung_up.wait(), timeout=2)
            again = [p async for p in llm.stream(HELLO)]
        finally:
            await llm.close()
    assert pieces and again and 1.0 <= took < 4
    assert len(switches) == 1
    before, after, reason = switches[0]
    assert (before, after) == ("ollama", "llama.cpp") and "no first item within 1 s" in reason
    assert llm.info.name == "llama.cpp" and not llm.supports_tools
    # The abandoned request was closed; the second call went straight to llama.cpp.
    assert server.hung_up_mid_reply == 1 and len(server.chat_requests()) == 1


async def test_a_model_missing_at_run_time_falls_back_at_once(
    session_settings: Settings, tiny_gguf: Path
) -> None:
    switches = Switches()
    missing = json_reply({"error": 'model "llama3.2" not found, try pulling it first'}, 404)
    async with ollama_server(missing) as server:
        llm = await load_llm_chain(
            chain_settings(session_settings, tiny_gguf, server.url), on_switch=switches
        )
        try:
            pieces = [p async for p in llm.stream(HELLO)]
        finally:
            await llm.close()
    assert pieces and len(server.chat_requests()) == 1
    assert "ollama pull llama3.2" in switches[0][2]


async def test_after_the_cooldown_the_primary_is_back(
    session_settings: Settings, tiny_gguf: Path
) -> None:
    switches = Switches()
    async with ollama_server(json_reply({"error": "boom"}, 500), TEXT) as server:
        settings = chain_settings(session_settings, tiny_gguf, server.url)
        llm = await load_llm_chain(settings, on_switch=switches)
        now = [0.0]
        llm.chain.clock = lambda: now[0]
        try:
            fallback = [p async for p in llm.stream(HELLO)]
            now[0] += settings.llm.fallback_cooldown_s
            primary = [p async for p in llm.stream(HELLO)]
        finally:
            await llm.close()
    assert fallback and primary == ["Hello", " there", "."]
    assert [(b, a) for b, a, _ in switches] == [("ollama", "llama.cpp"), ("llama.cpp", "ollama")]


async def test_no_engine_at_all_lists_every_reason(
    session_settings: Settings, tmp_path: Path
) -> None:
    async with LoopbackServer() as gone:
        url = gone.url
    settings = with_settings(
        session_settings,
        llm={
            "engines": ["ollama", "openai"],
            "ollama_url": url,
            "openai_base_url": f"{url}/v1",
        },
    )
    before = worker_threads()
    with pytest.raises(EngineUnavailableError) as caught:
        await load_llm_chain(settings)
    assert "ollama: [llm.unreachable]" in caught.value.message
    assert "openai: [llm.unreachable]" in caught.value.message
    assert worker_threads() == before


async def test_one_engine_keeps_its_own_error(session_settings: Settings, tmp_path: Path) -> None:
    settings = with_settings(session_settings, llm={"model_path": tmp_path / "gone.gguf"})
    with pytest.raises(ConfigError, match="VOCABLE_LLM__MODEL_PATH"):
        await load_llm_chain(settings)


async def test_a_cancelled_load_closes_what_loaded(
    session_settings: Settings, tiny_gguf: Path
) -> None:
    async with ollama_server(TEXT) as server:
        server.route("GET", "/api/tags", Reply(stall_before_headers=True))
        settings = chain_settings(session_settings, tiny_gguf, server.url)
        before = worker_threads()
        task = asyncio.create_task(load_llm_chain(settings))
        while not worker_threads() or len(server.requests) < 2:  # noqa: ASYNC110 - threads have no event
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # llama.cpp has loaded by now; Ollama is still stuck
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert task.cancelled()
    assert worker_threads() == before
