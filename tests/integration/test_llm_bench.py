"""`vocable bench llm`: every configured engine, measured; the house bench format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.integration.conftest import with_settings
from tests.integration.test_llm_loopback import LoopbackServer, Reply, ollama_server, piece
from vocable.bench.llm import questions, run_llm_bench, summary_line
from vocable.cli import app
from vocable.config import Settings


def test_questions_are_seeded_and_varied() -> None:
    assert questions(5, seed=1) == questions(5, seed=1)
    assert questions(5, seed=1) != questions(5, seed=2)
    assert len(questions(5)) == 6 and len(set(questions(20))) > 5


async def test_each_configured_engine_is_timed_and_the_unreachable_skipped(
    session_settings: Settings, tiny_gguf: Path
) -> None:
    # Ten tokens, 20 ms apart: Ollama's decode rate is about 50 tokens/s.
    lines = [json.dumps(piece(f" w{i}")) for i in range(10)] + [json.dumps(piece("", True))]
    async with LoopbackServer() as gone:
        unreachable = f"{gone.url}/v1"
    async with ollama_server(Reply(lines=lines, line_delay_s=0.02)) as server:
        settings = with_settings(
            session_settings,
            llm={
                "engines": ["ollama", "openai", "llama_cpp"],
                "model_path": tiny_gguf,
                "max_tokens": 12,
                "ollama_url": server.url,
                "openai_base_url": unreachable,
            },
        )
        progress: list[str] = []
        result = await run_llm_bench(settings, n=3, progress=progress.append)
    assert (result["bench"], result["n"], result["primary"]) == ("llm", 3, "ollama")
    assert set(result["engines"]) == {"llama_cpp", "ollama"}
    assert "llm.unreachable" in result["skipped"]["openai"]
    ollama = result["engines"]["ollama"]
    assert ollama["n"] == 3 and ollama["tokens_mean"] == 10
    assert 20 <= ollama["tokens_per_s"] <= 55
    assert 0 < ollama["ttft_p50_ms"] <= ollama["ttft_p95_ms"]
    assert result["ttft_p50_ms"] == ollama["ttft_p50_ms"]  # the primary's figures on top
    local = result["engines"]["llama_cpp"]
    assert local["tokens_mean"] == 12 and local["tokens_per_s"] > 0
    assert len(server.chat_requests()) == 4  # one warm-up, then n
    assert set(result["machine"]["engines"]) == {"llm.llama_cpp", "llm.ollama"}
    assert result["machine"]["engines"]["llm.llama_cpp"]["model_path"] == str(tiny_gguf)
    assert any("ollama 3/3" in p for p in progress)
    line = summary_line(result)
    assert line.startswith("bench llm n=3: llama_cpp: first token p50 ")
    assert "openai skipped" in line


def test_the_command_prints_one_json_object(
    tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOCABLE_LLM__MODEL_PATH", str(tiny_gguf))
    monkeypatch.setenv("VOCABLE_LLM__MAX_TOKENS", "8")
    runner = CliRunner()
    result = runner.invoke(app, ["bench", "llm", "-n", "2", "--json"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1  # progress goes to stderr
    body = json.loads(lines[0])
    assert body["n"] == 2 and body["primary"] == "llama_cpp" and body["skipped"] == {}
    assert 0 < body["ttft_p50_ms"] <= body["ttft_p95_ms"] and body["tokens_per_s"] > 0
    assert body["machine"]["cores"] >= 1
    assert "llama_cpp 2/2" in result.stderr
    human = runner.invoke(app, ["bench", "llm", "-n", "1"])
    assert human.exit_code == 0 and human.stdout.startswith("bench llm n=1: llama_cpp: ")
