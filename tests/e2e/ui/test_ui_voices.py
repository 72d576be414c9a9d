"""Voices tab: upload a sample, see the checks, get a voice with its similarity; a 2 s sample
is refused with the duration error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright.async_api import expect

from tests.e2e.ui.conftest import (
    GRADIO_WARNINGS,
    browser,
    open_tab,
    screenshot,
    sign_in,
    ui_server,
    ui_settings,
)
from vocable.bench.corpus import synthesize_speech

pytestmark = GRADIO_WARNINGS
TEXT = (
    "My grandmother kept bees behind the old stone house. Every summer we carried the honey "
    "down the hill in heavy glass jars, and sold it at the market on Saturday mornings."
)


def sample(tmp_path: Path, seconds: float | None, name: str) -> Path:
    """Flite speech, cut to `seconds` (None: as spoken), as a 16 kHz WAV."""
    spoken = synthesize_speech(TEXT, tmp_path / f"{name}-raw.wav", voice="slt")
    audio, rate = sf.read(spoken, dtype="float32")
    if seconds is not None:
        audio = audio[: int(seconds * rate)]
    out = tmp_path / f"{name}.wav"
    sf.write(out, np.asarray(audio, np.float32), rate)
    return out


@pytest.mark.slow
async def test_voice_upload_shows_the_checks_then_the_new_voice(tmp_path: Path) -> None:
    good = sample(tmp_path, None, "grandma")
    short = sample(tmp_path, 2.0, "short")
    assert 6 < sf.info(good).duration < 30
    async with ui_server(ui_settings(tmp_path)) as base, browser() as page:
        await sign_in(page, base)
        await open_tab(page, "Voices")
        await expect(page.locator("#vv-table")).to_contain_text("No voices yet")
        await page.locator("#vv-sample input[type=file]").set_input_files(str(short))
        refused = page.locator('#vv-report [data-valid="false"]')
        await expect(refused).to_have_attribute("data-check", "too_short", timeout=30_000)
        await expect(refused).to_contain_text("2.0 s long")
        await screenshot(page, "voices-too-short")

        await page.locator("#vv-sample button[aria-label='Clear']").click()
        await page.locator("#vv-sample input[type=file]").set_input_files(str(good))
        report = page.locator('#vv-report [data-valid="true"]')
        await report.wait_for(timeout=60_000)
        for check in ("duration", "SNR", "clipping", "speech"):
            row = page.locator(f'#vv-report tr[data-check="{check}"] .vc-ok')
            await expect(row).to_have_text("✓")
        await page.locator("#vv-name").get_by_role("textbox").fill("Grandma")
        await page.locator("#vv-create").click()
        await expect(page.locator("#vv-status")).to_contain_text(
            "Voice 'Grandma' created: similarity", timeout=120_000
        )
        row = page.locator("#vv-table tbody tr").first
        await expect(row).to_contain_text("Grandma")
        cells = [c.strip() for c in await row.locator("td").all_inner_texts()]
        similarity = float(cells[1])
        assert 0 < similarity <= 1, cells
        assert cells[0] == "Grandma" and cells[3] == "", cells  # not the default voice yet
        await page.locator("#vv-default").click()
        await expect(row).to_contain_text("★")
        await screenshot(page, "voices")
