"""The OpenAI-compatible engine against a real ``llama_cpp.server`` on loopback.

The server runs as a subprocess (llama-cpp-python's server extra) with the tiny random GGUF, or
SmolLM2 for real text. Tool-call streaming is in test_llm_openai_sse.py.
"""

from __future__ import annotations

import gc
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import with_settings
from tests.integration.test_llm_loopback import open_fds, settle
from vocable.config import Settings
from vocable.engines.llm.base import ChatMessage, ToolSpec
from vocable.engines.llm.http import ServerTransportError
from vocable.engines.llm.llama_cpp import default_model_path
from vocable.engines.llm.openai_compat import OpenAICompatLLM
from vocable.errors import EngineUnavailableError

QUESTION = [ChatMessage("system", "You are terse."), ChatMessage("user", "hello there")]
CLOCK = ToolSpec("get_time", "The current time.", {"type": "object", "properties": {}})


@dataclass
class LlamaServer:
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    model: str

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_llama_server(model: Path, log: Path, *args: str) -> LlamaServer:
    """Start ``python -m llama_cpp.server`` and wait until it lists its model."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "4096",
                "--n_threads",
                "1",
                *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited: {log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                return LlamaServer(process, url, log, str(model))
        except httpx.TransportError:
            time.sleep(0.05)
    stop(process)
    raise RuntimeError("llama_cpp.server did not start within 60 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()


@pytest.fixture(scope="module")
def llama_server(
    tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LlamaServer]:
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    # No interrupt on a new request: a request that keeps generating would make the next wait.
    server = start_llama_server(tiny_gguf, log, "--interrupt_requests", "False")
    yield server
    stop(server.process)


def openai_settings(settings: Settings, url: str, **llm: Any) -> Settings:
    fast = {"openai_base_url": url, "http_retry_backoff_s": 0.01, "max_tokens": 16}
    return with_settings(settings, llm={**fast, **llm})


async def test_load_picks_the_served_model(
    session_settings: Settings, llama_server: LlamaServer
) -> None:
    engine = await OpenAICompatLLM.load(openai_settings(session_settings, llama_server.url))
    await engine.close()
    info = engine.info
    assert (info.kind, info.name, info.model) == ("llm", "openai", llama_server.model)
    assert info.model_path == llama_server.url and engine.supports_tools


async def test_an_unknown_model_lists_the_served_ones(
    session_settings: Settings, llama_server: LlamaServer
) -> None:
    settings = openai_settings(session_settings, llama_server.url, openai_model="gpt-9")
    with pytest.raises(EngineUnavailableError, match="does not serve 'gpt-9'") as caught:
        await OpenAICompatLLM.load(settings)
    assert llama_server.model in caught.value.message and "VOCABLE_LLM__OPENAI_MODEL" in str(
        caught.value
    )


async def test_text_streams_up_to_max_tokens_with_tools_offered(
    session_settings: Settings, llama_server: LlamaServer
) -> None:
    engine = await OpenAICompatLLM.load(openai_settings(session_settings, llama_server.url))
    try:
        items = [item async for item in engine.stream(QUESTION, [CLOCK])]
    finally:
        await engine.close()
    # The server validated the tools against its schema and answered; the random model talks.
    assert items and all(isinstance(i, str) and i for i in items)
    assert len(items) <= 16 and "".join(map(str, items)).strip()


async def test_closing_the_stream_makes_the_server_stop(
    session_settings: Settings, llama_server: LlamaServer
) -> None:
    settings = openai_settings(session_settings, llama_server.url, max_tokens=3000)
    engine = await OpenAICompatLLM.load(settings)
    try:
        stream = engine.stream(QUESTION)
        assert len([await anext(stream) for _ in range(3)]) == 3
        start = time.perf_counter()
        await stream.aclose()
        close_s = time.perf_counter() - start
        # Generating 3000 tokens takes this server about 10 s; it serves one request at a time,
        # so the next reply comes quickly only if the first one stopped.
        engine.sampling["max_tokens"] = 2
        start = time.perf_counter()
        after = [item async for item in engine.stream(QUESTION)]
        next_s = time.perf_counter() - start
    finally:
        await engine.close()
    assert close_s < 0.1 and len(after) == 2
    assert next_s < 1.5, next_s
    assert "Disconnected from client" in llama_server.log_text()


async def test_the_server_killed_mid_stream_is_a_typed_transient_error(
    session_settings: Settings, tiny_gguf: Path, tmp_path: Path
) -> None:
    server = start_llama_server(tiny_gguf, tmp_path / "server.log")
    try:
        settings = openai_settings(session_settings, server.url, max_tokens=3000)
        engine = await OpenAICompatLLM.load(settings)
        received: list[object] = []
        try:
            with pytest.raises(ServerTransportError) as caught:
                async for item in engine.stream(QUESTION):
                    received.append(item)
                    if len(received) == 2:
                        server.process.send_signal(signal.SIGKILL)
        finally:
            await engine.close()
    finally:
        stop(server.process)
    assert caught.value.code == "llm.stream_broken" and caught.value.transient
    assert 2 <= len(received) < 3000


async def test_200_streamed_requests_leak_nothing(
    session_settings: Settings, llama_server: LlamaServer
) -> None:
    settings = openai_settings(session_settings, llama_server.url, max_tokens=1)
    gc.collect()
    baseline = open_fds()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        engine = await OpenAICompatLLM.load(settings)
        peak = 0
        for _ in range(200):
            assert len([i async for i in engine.stream(QUESTION)]) == 1
            peak = max(peak, open_fds()[1])
        await engine.close()
        after = await settle(baseline)
        gc.collect()
    assert after == baseline
    assert peak <= baseline[1] + settings.llm.http_max_connections
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


@pytest.mark.slow
async def test_smollm2_behind_the_server_answers_in_english(
    session_settings: Settings, tmp_path: Path
) -> None:
    server = start_llama_server(default_model_path(), tmp_path / "server.log")
    try:
        settings = openai_settings(session_settings, server.url, temperature=0.0, max_tokens=48)
        engine = await OpenAICompatLLM.load(settings)
        try:
            question = [
                ChatMessage("system", settings.llm.system_prompt),
                ChatMessage("user", "What color is the sky on a clear day?"),
            ]
            reply = "".join([str(p) async for p in engine.stream(question)]).strip()
        finally:
            await engine.close()
    finally:
        stop(server.process)
    words = reply.lower().replace(".", " ").replace(",", " ").split()
    assert len(words) >= 3, reply
    assert {"sky", "blue"} & set(words), reply
