"""Talk tab: a full voice turn through Chromium's fake microphone and the realtime WebSocket."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright.async_api import expect

from tests.e2e.ui.conftest import (
    GRADIO_WARNINGS,
    browser,
    screenshot,
    sign_in,
    ui_server,
    ui_settings,
)
from vocable.bench.corpus import synthesize_speech

pytestmark = GRADIO_WARNINGS


def question_wav(tmp_path: Path) -> Path:
    """A flite question with silence around it (the fake microphone plays it once)."""
    spoken = synthesize_speech("What is the capital of France?", tmp_path / "q.wav", voice="awb")
    audio, rate = sf.read(spoken, dtype="float32")
    silence = np.zeros(int(rate * 1.0), np.float32)
    out = tmp_path / "question.wav"
    sf.write(out, np.concatenate([silence, audio, silence, silence, silence]), rate)
    return out


@pytest.mark.slow
async def test_talk_tab_answers_a_spoken_question(tmp_path: Path) -> None:
    wav = question_wav(tmp_path)
    mic = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}%noloop",
    ]
    async with ui_server(ui_settings(tmp_path)) as base, browser(mic) as page:
        await sign_in(page, base)
        await expect(page.locator("#vt-state")).to_have_text("idle")
        await page.locator("#vt-start").click()
        await expect(page.locator("#vt-state")).to_have_attribute(
            "data-state", "listening", timeout=15_000
        )
        user = page.locator("#vt-log .vt-user").first
        await expect(user).to_contain_text("capital", timeout=30_000, ignore_case=True)
        assert "france" in (await user.inner_text()).lower()
        reply = page.locator("#vt-log .vt-assistant").first
        await expect(reply).not_to_have_text("", timeout=30_000)
        talk = page.locator("#vocable-talk")
        await expect(talk).not_to_have_attribute("data-audio-chunks", "0", timeout=30_000)
        # The first chunk can be under 200 ms (its lead-in silence is cut): wait for more.
        await page.wait_for_function(
            "Number(document.querySelector('#vocable-talk')"
            ".getAttribute('data-audio-scheduled-ms')) > 200",
            timeout=30_000,
        )
        chunks = int(await talk.get_attribute("data-audio-chunks") or 0)
        scheduled_ms = float(await talk.get_attribute("data-audio-scheduled-ms") or 0)
        assert chunks >= 1 and scheduled_ms > 200, (chunks, scheduled_ms)
        level = await page.locator("#vt-level").get_attribute("data-db")
        assert level is not None and float(level) < 0  # the level meter saw the microphone
        await screenshot(page, "talk-turn")
        await page.keyboard.press("Escape")  # interrupt: playback stops, the session listens
        await expect(page.locator("#vt-state")).to_have_attribute("data-state", "listening")
        await page.locator("#vt-stop").click()
        await expect(page.locator("#vt-state")).to_have_text("idle")
