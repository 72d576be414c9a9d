"""Speech first on a shared CPU: llama.cpp pauses between tokens while Piper synthesises."""

from __future__ import annotations

import asyncio
import contextlib

from tests.integration.conftest import with_settings
from vocable.config import Settings
from vocable.engines.llm.base import ChatMessage
from vocable.engines.llm.llama_cpp import LlamaCppLLM
from vocable.engines.tts.piper import PiperTTS
from vocable.hardware.priority import PRIORITY

LONG = " ".join(["The quick brown fox jumps over the lazy dog near the quiet river bank."] * 6)


async def test_generation_waits_while_speech_is_synthesised(
    tiny_llm: LlamaCppLLM, piper_tts: PiperTTS
) -> None:
    assert tiny_llm.yields_cpu and piper_tts.speech_first  # the defaults on a CPU

    async def generate() -> int:
        count = 0
        messages = [ChatMessage("user", "tell me a story")]
        for _ in range(6):  # the tiny model stops early: keep it generating for a while
            async with contextlib.aclosing(tiny_llm.stream(messages)) as pieces:
                async for _ in pieces:
                    count += 1
        return count

    async def speak() -> int:
        return sum([len(c.pcm) async for c in piper_tts.synthesize(LONG)])

    before = PRIORITY.waited_s
    generated, audio = await asyncio.gather(generate(), speak())
    assert audio > 0 and generated > 0
    assert PRIORITY.waited_s - before > 0.05  # tokens really waited for the synthesis
    assert not PRIORITY.busy


async def test_speech_first_off_leaves_both_engines_free(tiny_llm_settings: Settings) -> None:
    settings = with_settings(tiny_llm_settings, hardware={"speech_first": False})
    llm = await LlamaCppLLM.load(settings)
    tts = await PiperTTS.load(settings)
    try:
        assert not llm.yields_cpu and not tts.speech_first
        before = PRIORITY.waited_s
        async for _ in tts.synthesize("Hello there."):
            pass
        assert PRIORITY.waited_s == before
    finally:
        await llm.close()
        await tts.close()
