"""llama.cpp through llama-cpp-python: a random tiny GGUF for behaviour, SmolLM2 for one reply."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from pathlib import Path

import llama_cpp
import pytest

from tests.integration.conftest import with_settings, worker_threads
from vocable.config import Settings
from vocable.engines.llm.base import ChatMessage, ToolCall, ToolSpec
from vocable.engines.llm.llama_cpp import (
    LlamaCppLLM,
    _plain,
    default_model_path,
    resolve_model_path,
)
from vocable.errors import ConfigError, EngineError, PipelineClosedError

QUESTION = [ChatMessage("system", "You are terse."), ChatMessage("user", "hello there")]


async def first_piece_s(llm: LlamaCppLLM, messages: list[ChatMessage]) -> float:
    """Seconds to the first piece of a reply (the reply is read to its end)."""
    start = time.perf_counter()
    first: float | None = None
    async with contextlib.aclosing(llm.stream(messages)) as pieces:
        async for _ in pieces:
            if first is None:
                first = time.perf_counter() - start
    assert first is not None
    return first


def prompt_tokens(llm: LlamaCppLLM) -> int:
    """Tokens now in the model's context (prompt plus what it generated)."""
    return int(llm._llama.n_tokens)


def test_info(tiny_llm: LlamaCppLLM, tiny_gguf: Path) -> None:
    info = tiny_llm.info
    assert (info.kind, info.name, info.model) == ("llm", "llama.cpp", "tiny")
    assert info.model_path == str(tiny_gguf)
    assert info.version == llama_cpp.__version__
    assert info.device == "cpu" and info.threads >= 1


async def test_streams_non_empty_pieces_up_to_max_tokens(tiny_llm: LlamaCppLLM) -> None:
    pieces = [p async for p in tiny_llm.stream(QUESTION)]
    assert pieces and all(pieces)
    assert len(pieces) <= tiny_llm.max_tokens
    assert "".join(pieces).strip()


async def test_tools_are_ignored_and_tool_results_read_as_text(tiny_llm: LlamaCppLLM) -> None:
    assert tiny_llm.supports_tools is False
    call = ToolCall("call_0", "get_time", {})
    history = [
        *QUESTION,
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", "12:00", tool_call_id="call_0", name="get_time"),
    ]
    items = [i async for i in tiny_llm.stream(history, [ToolSpec("get_time", "The time.")])]
    assert items and all(isinstance(i, str) for i in items)
    assert _plain(history[-1]) == {"role": "user", "content": "Result of get_time: 12:00"}
    assert _plain(history[-2]) == {"role": "assistant", "content": ""}


async def test_closing_the_stream_stops_generation_at_once(tiny_llm_settings: Settings) -> None:
    max_tokens = 3000
    settings = with_settings(tiny_llm_settings, llm={"max_tokens": max_tokens})
    llm = await LlamaCppLLM.load(settings)
    try:
        llm.max_tokens = 1
        [_ async for _ in llm.stream(QUESTION)]
        prompt = prompt_tokens(llm) - 1
        llm.max_tokens = max_tokens
        stream = llm.stream(QUESTION)
        received = [await anext(stream) for _ in range(3)]
        start = time.perf_counter()
        await stream.aclose()
        close_s = time.perf_counter() - start
        idle_start = time.perf_counter()
        await asyncio.wait_for(llm._worker.run(lambda: None), timeout=0.1)
        idle_s = time.perf_counter() - idle_start
        generated = prompt_tokens(llm) - prompt
    finally:
        await llm.close()
    assert len(received) == 3
    assert close_s < 0.1 and idle_s < 0.1
    assert generated < max_tokens / 10, generated


async def test_cancelling_the_consumer_stops_generation(tiny_llm: LlamaCppLLM) -> None:
    first = asyncio.Event()

    async def consume() -> None:
        async with contextlib.aclosing(tiny_llm.stream(QUESTION)) as pieces:
            async for _ in pieces:
                first.set()
                await asyncio.sleep(10)

    task = asyncio.create_task(consume())
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(tiny_llm._worker.run(lambda: None), timeout=0.1)


async def test_prompt_cache_brings_back_an_earlier_conversation(tiny_llm: LlamaCppLLM) -> None:
    # Two long conversations in turn: the KV cache holds only the latest, so the first one's
    # time to first piece comes back down only through the RAM prompt cache.
    a = [ChatMessage("system", "You are helpful. " * 100), ChatMessage("user", "hello there")]
    b = [ChatMessage("system", "Something else. " * 100), ChatMessage("user", "goodbye")]
    cold = await first_piece_s(tiny_llm, a)
    await first_piece_s(tiny_llm, b)
    warm = min([await first_piece_s(tiny_llm, a), await first_piece_s(tiny_llm, a)])
    assert warm < cold / 3, (cold, warm)


def test_long_conversations_are_trimmed_oldest_first(tiny_llm_settings: Settings) -> None:
    llm = LlamaCppLLM.__new__(LlamaCppLLM)
    llm._llama = llama_cpp.Llama(
        str(tiny_llm_settings.llm.model_path), vocab_only=True, verbose=False
    )
    llm.n_ctx, llm.max_tokens = 512, 64
    history = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "the " * 40}
        for i in range(30)
    ]
    prompt = [{"role": "system", "content": "Be brief."}, *history]
    fitted = llm._fit(prompt)
    assert fitted[0] == prompt[0] and fitted[-1] == prompt[-1]
    assert fitted[1:] == history[-(len(fitted) - 1) :]
    assert 2 < len(fitted) < len(prompt)
    sizes = sum(llm._count(m["content"]) + 8 for m in fitted) + 8
    assert sizes <= 512 - 64

    with pytest.raises(EngineError, match="llm.n_ctx") as caught:
        llm._fit([{"role": "system", "content": "the " * 600}, {"role": "user", "content": "hi"}])
    assert caught.value.code == "llm.prompt_too_long"
    llm._llama.close()


async def test_a_conversation_longer_than_the_context_still_streams(
    tiny_llm_settings: Settings,
) -> None:
    llm = await LlamaCppLLM.load(with_settings(tiny_llm_settings, llm={"n_ctx": 256}))
    try:
        history = [ChatMessage("user", "the " * 20) for _ in range(10)]
        pieces = [p async for p in llm.stream([ChatMessage("system", "Be brief."), *history])]
    finally:
        await llm.close()
    assert pieces


def test_default_model_is_the_bundled_smollm2(session_settings: Settings) -> None:
    path = resolve_model_path(session_settings)
    assert path == default_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()


async def test_missing_model_file_is_a_config_error(
    session_settings: Settings, tmp_path: Path
) -> None:
    missing = tmp_path / "model.gguf"
    before = worker_threads()
    with pytest.raises(ConfigError, match=re.escape(str(missing))) as caught:
        await LlamaCppLLM.load(with_settings(session_settings, llm={"model_path": missing}))
    assert "VOCABLE_LLM__MODEL_PATH" in caught.value.message
    assert worker_threads() == before


async def test_closed_engine_refuses_to_stream(tiny_llm_settings: Settings) -> None:
    before = worker_threads()
    llm = await LlamaCppLLM.load(tiny_llm_settings)
    await llm.close()
    await llm.close()
    assert worker_threads() == before
    with pytest.raises(PipelineClosedError):
        [_ async for _ in llm.stream(QUESTION)]


@pytest.mark.slow
async def test_smollm2_answers_in_english(session_settings: Settings) -> None:
    settings = with_settings(session_settings, llm={"temperature": 0.0, "max_tokens": 48})
    llm = await LlamaCppLLM.load(settings)
    try:
        assert llm.info.model == "SmolLM2-135M-Instruct"
        messages = [
            ChatMessage("system", settings.llm.system_prompt),
            ChatMessage("user", "What color is the sky on a clear day?"),
        ]
        cold = await first_piece_s(llm, messages)
        warm = await first_piece_s(llm, messages)
        reply = "".join([p async for p in llm.stream(messages)]).strip()
    finally:
        await llm.close()
    words = re.findall(r"[A-Za-z']+", reply.lower())
    assert len(words) >= 3, reply
    english = {"the", "is", "a", "sky", "blue", "it", "on", "clear", "day", "of", "and", "color"}
    assert len(english.intersection(words)) >= 2, reply
    assert sum(c.isascii() for c in reply) / len(reply) > 0.95, reply
    assert warm < cold, (cold, warm)


def counting_evals(llm: LlamaCppLLM, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Spy on the model: the number of tokens of each evaluation, as they happen."""
    model = llm._llama
    counts: list[int] = []
    real = model.eval

    def counted(tokens: list[int]) -> None:
        counts.append(len(tokens))
        real(tokens)

    monkeypatch.setattr(model, "eval", counted)
    return counts


async def test_a_prefilled_turn_is_not_read_again_and_changes_no_reply(
    tiny_llm: LlamaCppLLM, tiny_llm_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = ChatMessage("system", "You are terse.")

    def turn(text: str) -> list[ChatMessage]:
        return [system, ChatMessage("user", text)]

    evals = counting_evals(tiny_llm, monkeypatch)
    await first_piece_s(tiny_llm, turn("hello there"))  # the cache holds another turn
    evals.clear()
    await first_piece_s(tiny_llm, turn("why is the rain today"))
    cold = sum(evals)

    # A turn as long, whose first letter no earlier turn shares (this vocabulary spells most
    # words out), so that neither the context nor a saved state holds any of it.
    await first_piece_s(tiny_llm, turn("hello there"))
    evals.clear()
    read = await tiny_llm.prefill(turn("saw is the"))
    assert read == sum(evals) > 0
    assert await tiny_llm.prefill(turn("saw is the")) == 0  # already read
    more = await tiny_llm.prefill(turn("saw is the rain"))
    assert 0 < more < read  # only the new word
    evals.clear()
    reply = "".join([p async for p in tiny_llm.stream(turn("saw is the rain there"))])
    assert sum(evals) == cold - read - more  # a turn as long, less what was read ahead

    fresh = await LlamaCppLLM.load(tiny_llm_settings)
    try:
        assert reply == "".join([p async for p in fresh.stream(turn("saw is the rain there"))])
    finally:
        await fresh.close()


async def test_prefill_reads_nothing_it_cannot_render_or_fit(
    tiny_llm: LlamaCppLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    evals = counting_evals(tiny_llm, monkeypatch)
    too_long = [ChatMessage("system", "x"), ChatMessage("user", "word " * 5000)]
    assert await tiny_llm.prefill(too_long) == 0
    assert await tiny_llm.prefill([]) == 0
    monkeypatch.setattr(tiny_llm, "_formatter", None)  # a GGUF without a chat template
    assert await tiny_llm.prefill([ChatMessage("user", "what is the time")]) == 0
    assert evals == []
    assert "".join([p async for p in tiny_llm.stream(QUESTION)]).strip()  # replies go on


@pytest.mark.slow
async def test_smollm2_judges_where_a_spoken_question_ends(session_settings: Settings) -> None:
    """The chance of an end after the words, as a turn without a final mark is judged by."""
    llm = await LlamaCppLLM.load(session_settings)
    system = ChatMessage("system", session_settings.llm.system_prompt)

    async def chance(text: str) -> float:
        judged = await llm.judge_ending([system, ChatMessage("user", text)])
        assert judged is not None and 0 <= judged <= 1
        return judged

    try:
        finished = [await chance(t) for t in ("what is frozen water called", "Turn off the lights")]
        going_on = [await chance(t) for t in ("What is the tallest mountain", "How many legs does")]
        # The reply to judged words reads only the template's tail: its first piece comes fast.
        messages = [system, ChatMessage("user", "what is frozen water called")]
        await chance("what is frozen water called")
        warm = await first_piece_s(llm, messages)
    finally:
        await llm.close()
    threshold = Settings().realtime.ending_judge
    assert min(finished) >= threshold > max(going_on) * 2, (finished, going_on)
    assert warm < 0.5


async def test_a_judged_turn_is_not_read_again(
    tiny_llm_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    turn = [ChatMessage("system", "You are terse."), ChatMessage("user", "saw is the rain")]
    cold_llm = await LlamaCppLLM.load(tiny_llm_settings)
    llm = await LlamaCppLLM.load(tiny_llm_settings)
    try:
        evals = counting_evals(cold_llm, monkeypatch)
        await first_piece_s(cold_llm, turn)
        cold = evals[0]  # the whole prompt, in one evaluation

        evals = counting_evals(llm, monkeypatch)
        chance = await llm.judge_ending(turn)
        read = sum(evals)
        assert chance is not None and 0 <= chance <= 1 and 0 < read < cold
        evals.clear()
        assert await llm.judge_ending(turn) == pytest.approx(chance, abs=1e-4)
        assert sum(evals) <= 1  # at most its last token again, for fresh logits
        evals.clear()
        await first_piece_s(llm, turn)
        assert evals[0] == cold - read  # the reply read only the template's tail

        monkeypatch.setattr(llm, "_formatter", None)  # a GGUF without a chat template
        assert await llm.judge_ending(turn) is None
        assert await llm.judge_ending([]) is None
    finally:
        await cold_llm.close()
        await llm.close()
